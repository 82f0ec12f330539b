"""A failed migration's message: built from facts without touching a database.

`bridge.executor.translate_error` describes each kind of failure with a pure
function. Who blocked a statement is looked up where the error is caught
(`bridge.blockers.Blocking.look_up`, best effort) and handed to it. The first
tests build messages with no database anywhere (a SQLAlchemy engine connecting
during them fails the test); the last ones run a migration on real PostgreSQL
through each catch site: `bridge.executor.call_legacy` (a legacy file) and
`bridge.steps._native_failure` (a native revision, through `bridge.runner.upgrade`).
"""

from __future__ import annotations

import types

import psycopg2
import pytest
import sqlalchemy as sa
from sqlalchemy import exc

from bridge import executor
from bridge.blockers import Blocking
from bridge.errors import MigrationError
from bridge.loader import LegacyFile
from bridge.proxy import LegacyConnection, LegacyEngine, TransactionControlRefused

ALTER = "ALTER TABLE orders ADD COLUMN note TEXT"
HOLDER = "pid 4242 (application nightly_report) holds AccessShareLock on orders, idle in transaction"


class PgError(Exception):
    """What psycopg2 raises, as far as the messages read it: text, ``pgcode``, ``diag.message_detail``."""

    def __init__(self, message: str, pgcode: str, detail: str | None = None):
        super().__init__(message)
        self.pgcode = pgcode
        self.diag = types.SimpleNamespace(message_detail=detail)


def db_error(message: str, pgcode: str, statement: str = ALTER, detail: str | None = None, **kw) -> exc.DBAPIError:
    return exc.DBAPIError(statement, {}, PgError(message, pgcode, detail), **kw)


LOCK_TIMEOUT = db_error("canceling statement due to lock timeout", "55P03")


@pytest.fixture
def legacy(tmp_path) -> LegacyFile:
    return LegacyFile(tmp_path / "20251002_add_note.py", "20251002_add_note", None, "add note")


@pytest.fixture
def no_engine_connects():
    """Fail the test if any SQLAlchemy engine connects, or tries to, while it runs."""
    connected = []

    def record(*args) -> None:  # do_connect: a new connection tried (even one that fails); engine_connect: any
        connected.append(args)

    events = ("do_connect", "engine_connect")
    for event in events:
        sa.event.listen(sa.engine.Engine, event, record)
    try:
        yield
    finally:
        for event in events:
            sa.event.remove(sa.engine.Engine, event, record)
    assert connected == [], "building a message touched a database"


def test_a_lock_timeout_names_the_holders_it_is_given_with_no_database_at_hand(legacy, no_engine_connects):
    blocking = Blocking(holders=((4242, HOLDER), (4343, "pid 4343 idle")), own_pid=99)
    error = executor.translate_error(LOCK_TIMEOUT, legacy, "upgrade", "APPLIED", blocking)
    assert str(error) == (
        f"{legacy.path}: SQL failed: canceling statement due to lock timeout\n"
        f"  statement: {ALTER}\n"
        "The statement waited longer than lock_timeout for a lock another session holds:\n"
        f"  {HOLDER}\n"
        "  pid 4343 idle\n"
        "Let that session finish, or end it (SELECT pg_terminate_backend(4242, 4343)), then run again; "
        "or raise migration_lock_timeout (in alembic.ini, or at the top of the migration) to let it wait longer.\n"
        "APPLIED"
    )
    # A native revision's message (bridge.steps) is the same text, from the same facts.
    assert f"{legacy.path}: {executor.sql_failure(LOCK_TIMEOUT, blocking)}\nAPPLIED" == str(error)


def test_a_lock_timeout_without_holders_gives_the_generic_advice(legacy, no_engine_connects):
    error = str(executor.translate_error(LOCK_TIMEOUT, legacy, "upgrade"))
    assert "The statement waited longer than lock_timeout (or NOWAIT refused to wait)" in error
    assert "pg_blocking_pids(pid)) > 0` shows who blocks whom. Run again when it is free; or raise" in error
    assert "pg_terminate_backend" not in error
    assert error.endswith(executor.NOTHING_APPLIED)


DEADLOCK_DETAIL = (
    "Process 99 waits for ShareLock on transaction 7; blocked by process 123.\n"
    "Process 123 waits for ShareLock on transaction 8; blocked by process 99."
)


@pytest.mark.parametrize(("own_pid", "named"), [(99, "(pid 123)"), (None, "(pid 99, 123)")])
def test_a_deadlock_names_the_other_sessions_and_not_its_own(legacy, no_engine_connects, own_pid, named):
    err = db_error("deadlock detected", "40P01", detail=DEADLOCK_DETAIL)
    error = str(executor.translate_error(err, legacy, "upgrade", blocking=Blocking(own_pid=own_pid)))
    assert f"This migration and another session {named} each waited for a lock the other held;" in error


def test_other_sql_errors_say_fix_the_sql_and_native_revisions_keep_their_own_message(legacy, no_engine_connects):
    err = db_error("division by zero", "22012", statement="SELECT 1 / 0")
    assert str(executor.translate_error(err, legacy, "upgrade")) == (
        f"{legacy.path}: SQL failed: division by zero\n  statement: SELECT 1 / 0\n"
        f"Fix the SQL and run again.\n{executor.NOTHING_APPLIED}"
    )
    assert executor.sql_failure(err) is None


def _missing(obj, name: str) -> AttributeError:
    try:
        getattr(obj, name)
    except AttributeError as err:
        return err
    raise AssertionError(f"{type(obj).__name__}.{name} exists")


# One failure of each kind translate_error tells apart, in the order it tries them, and the text that
# only that kind's message has.
KINDS = {
    "sys.exit()": (SystemExit(3), "downgrade() raised SystemExit: 3: it tried to stop the program"),
    "GeneratorExit": (GeneratorExit(), "downgrade() raised GeneratorExit: it tried to stop the program"),
    "refused": (
        TransactionControlRefused("PREPARE TRANSACTION 'x';", "cannot be mapped.", 7),
        "`PREPARE TRANSACTION 'x'` cannot be mapped. The statement was not run.",
    ),
    "plain string": (exc.ObjectNotExecutableError("SELECT 1"), "conn.execute() was given a plain string."),
    "lost connection": (
        db_error("terminating connection\n due to administrator command", "57P01", connection_invalidated=True),
        "downgrade() lost its connection to the database (terminating connection due to administrator "
        "command): the server restarted",
    ),
    "statement timeout": (
        db_error("canceling statement due to statement timeout", "57014"),
        "The statement ran longer than statement_timeout allows and was cancelled.",
    ),
    "cancelled": (
        db_error("canceling statement due to user request", "57014"),
        "The statement was cancelled (pg_cancel_backend() or Ctrl-C); run again.",
    ),
    "closed": (
        exc.ResourceClosedError("This Connection is closed"),
        "This Connection is closed: a connection was used after its `with engine.connect() as conn:` block ended",
    ),
    "psycopg2 style": (
        _missing(LegacyEngine(None), "cursor"),
        "downgrade() uses its argument like a psycopg2 connection (.cursor()), but the runner passes",
    ),
    "engine attribute": (
        _missing(LegacyEngine(None), "raw_cursor"),
        "Engine.raw_cursor is not available to legacy migrations run by the bridge",
    ),
    "connection attribute": (
        _missing(LegacyConnection(LegacyEngine(None)), "cursor"),
        "Connection.cursor is not available to legacy migrations run by the bridge",
    ),
    "anything else": (AttributeError("no such thing"), "downgrade() raised AttributeError: no such thing"),
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_each_kind_of_failure_gets_its_own_message(legacy, no_engine_connects, kind):
    err, text = KINDS[kind]
    error = executor.translate_error(err, legacy, "downgrade", "APPLIED", Blocking(holders=((1, "pid 1"),)))
    line = 7 if kind == "refused" else None  # no frame of the file here: only a refused statement's own line
    assert error.line == line
    assert str(error).startswith(f"{legacy.path}:{line}: " if line else f"{legacy.path}: ")
    assert text in str(error)
    assert str(error).endswith("\nAPPLIED")
    others = [other for name, (_, other) in KINDS.items() if name != kind and other not in text]
    assert [other for other in others if other in str(error)] == []


# -- the catch site, on real PostgreSQL ----------------------------------------------------------

ADDS_A_COLUMN = f"""\
from sqlalchemy import text


def upgrade(engine):
    with engine.connect() as conn:
        trans = conn.begin()
        conn.execute(text("SET LOCAL lock_timeout = '200ms'"))
        conn.execute(text("{ALTER}"))
        trans.commit()


def downgrade(engine):
    pass
"""


def _blocked_upgrade(legacy: LegacyFile, engine: sa.Engine, blocker_url) -> tuple[MigrationError, int]:
    from test_live_traffic import Blocker

    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE orders (id INTEGER)")
    legacy.path.write_text(ADDS_A_COLUMN)
    blocker = Blocker(blocker_url)
    try:
        with engine.connect() as conn, conn.begin():
            with pytest.raises(MigrationError) as raised:
                executor.run_on_connection(legacy, "upgrade", conn)
    finally:
        blocker.close()
    return raised.value, blocker.pid


def test_the_catch_site_names_the_session_that_holds_the_lock(legacy, engine, database_url):
    error, pid = _blocked_upgrade(legacy, engine, database_url)
    assert error.line == 8
    assert f"{legacy.path}:8: SQL failed: canceling statement due to lock timeout" in str(error)
    assert f"\n  pid {pid} (application nightly_report) holds AccessShareLock on orders, idle in transaction" in str(
        error
    )
    assert f"end it (SELECT pg_terminate_backend({pid})), then run again" in str(error)


def test_a_lookup_that_cannot_connect_leaves_the_migrations_own_error_with_the_generic_advice(legacy, database_url):
    dialect = sa.create_engine(database_url).dialect
    args, kwargs = dialect.create_connect_args(database_url)
    connects = []

    def connect():  # the migration's connection works; the lookup's, the next one, is refused
        connects.append(True)
        if len(connects) > 1:
            raise psycopg2.OperationalError("connection refused: the server is full (a test)")
        return psycopg2.connect(*args, **kwargs)

    # A pool: the migration reuses the connection the table was made on; the lookup needs a second.
    engine = sa.create_engine("postgresql+psycopg2://", creator=connect)
    try:
        error, pid = _blocked_upgrade(legacy, engine, database_url)
    finally:
        engine.dispose()
    assert len(connects) == 2, "the lookup was not tried"
    assert f"{legacy.path}:8: SQL failed: canceling statement due to lock timeout" in str(error)
    assert "The statement waited longer than lock_timeout (or NOWAIT refused to wait)" in str(error)
    assert str(pid) not in str(error)
    assert error.__cause__ is not None and "lock timeout" in str(error.__cause__)


def test_a_native_revisions_catch_site_names_the_session_that_holds_the_lock(tmp_path, database_url):
    from conftest import legacy_source, make_project
    from test_live_traffic import Blocker
    from test_steps import NATIVE_ALTER

    from bridge import runner

    project = make_project(tmp_path / "project", database_url, "migration_lock_timeout = 200ms\n")
    project.write("20251001_create_orders.py", legacy_source("CREATE TABLE orders (id INT)", "DROP TABLE orders"))
    runner.upgrade(project.config())
    path = project.versions / "n1_note.py"
    path.write_text(NATIVE_ALTER)
    blocker = Blocker(project.url)
    try:
        with pytest.raises(MigrationError) as raised:
            runner.upgrade(project.config())
    finally:
        blocker.close()
    error = str(raised.value)
    assert f"{path}: SQL failed: canceling statement due to lock timeout\n  statement: {ALTER}\n" in error
    assert f"\n  pid {blocker.pid} (application nightly_report) holds AccessShareLock on orders" in error
    assert f"end it (SELECT pg_terminate_backend({blocker.pid})), then run again" in error
    assert project.version() == ["20251001_create_orders"]
