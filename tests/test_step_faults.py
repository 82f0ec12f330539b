"""The step wrapper's retries under faults, on real PostgreSQL: a file that stops importing,
Ctrl-C during the backoff or a statement, ``sys.exit()`` in a native revision, an AUTOCOMMIT
lock timeout on the first migration of a fresh database.
"""

from __future__ import annotations

import types

import pytest
import sqlalchemy as sa
from conftest import legacy_source, make_project

from bridge import runlog, runner
from bridge.errors import MigrationError

# -- the step wrapper (bridge.steps) ---------------------------------------------------------------

FIRST_ATTEMPT_HELD = '''"""Its first attempt hits a lock timeout; then WHAT_THEN."""

from pathlib import Path

from sqlalchemy import text

MARK = Path(MARK_PATH)
lock_retries = 2
lock_retry_backoff = 0.01


def upgrade(engine):
    with engine.begin() as conn:
        if not MARK.exists():
            MARK.write_text("1")
            BEFORE_RAISING
            conn.execute(text("DO $$ BEGIN RAISE EXCEPTION 'held' USING ERRCODE = '55P03'; END $$"))
        conn.execute(text("CREATE TABLE held_done (id INT)"))


def downgrade(engine):
    pass
'''


def _held_file(project, tmp_path, stem: str, what_then: str, before_raising: str = "pass") -> None:
    source = (
        FIRST_ATTEMPT_HELD.replace("MARK_PATH", repr(str(tmp_path / f"{stem}.mark")))
        .replace("WHAT_THEN", what_then)
        .replace("BEFORE_RAISING", before_raising)
    )
    project.write(f"{stem}.py", source)


def _write_kind(project, kind: str, legacy: tuple[str, str], native: tuple[str, str]) -> str:
    """Write the legacy file or the native revision (each a (name, source)) as *kind* says; return its name."""
    name, source = legacy if kind == "legacy" else native
    if kind == "legacy":
        project.write(f"{name}.py", source)
    else:
        (project.versions / f"{name}.py").write_text(source)
    return name


def _log(project) -> list[tuple]:
    return [
        tuple(r) for r in project.sql(f"SELECT revision, outcome, attempts, sqlstate FROM {runlog.TABLE} ORDER BY id")
    ]


def test_a_file_that_no_longer_imports_on_the_retry_fails_naming_it_and_logs_both_attempts(project, tmp_path):
    stem = "20251001_breaks_itself"
    # Attempt 1 breaks its own file on disk; the retry imports it afresh and finds a syntax error.
    _held_file(project, tmp_path, stem, "it no longer imports", "Path(__file__).write_text('def upgrade(:\\n')")
    with pytest.raises(MigrationError, match="syntax error") as caught:
        runner.upgrade(project.config())
    assert str(caught.value).startswith(str(project.legacy / f"{stem}.py"))
    assert _log(project) == [(stem, "retried", 1, "55P03"), (stem, "failed", 2, None)]
    assert project.rows() == [] and "held_done" not in project.tables()


def test_ctrl_c_during_the_backoff_still_logs_the_attempt_and_the_failure(project, tmp_path, monkeypatch):
    from bridge import steps

    def interrupted(seconds):
        raise KeyboardInterrupt

    monkeypatch.setattr(steps, "time", types.SimpleNamespace(sleep=interrupted))
    stem = "20251001_held"
    _held_file(project, tmp_path, stem, "Ctrl-C")
    with pytest.raises(KeyboardInterrupt):
        runner.upgrade(project.config())
    assert [(r[0], r[1]) for r in _log(project)] == [(stem, "retried"), (stem, "failed")]
    assert project.rows() == []


AUTOCOMMIT_HELD_FIRST = '''"""An AUTOCOMMIT statement, first thing; its first attempt hits a lock timeout."""

from pathlib import Path

from sqlalchemy import text

MARK = Path(MARK_PATH)
lock_retries = 2
lock_retry_backoff = 0.01


def upgrade(engine):
    with engine.connect() as conn:
        auto = conn.execution_options(isolation_level="AUTOCOMMIT")
        if not MARK.exists():
            MARK.write_text("1")
            auto.execute(text("DO $$ BEGIN RAISE EXCEPTION 'held' USING ERRCODE = '55P03'; END $$"))
        auto.execute(text("CREATE TABLE ac_done (id INT)"))


def downgrade(engine):
    pass
'''

NATIVE_AUTOCOMMIT_HELD_FIRST = '''"""An autocommit_block(), first thing; its first attempt hits a lock timeout."""
from pathlib import Path

from alembic import op

revision = "n1_ac_held"
down_revision = None
branch_labels = None
depends_on = None
MARK = Path(MARK_PATH)
lock_retries = 2
lock_retry_backoff = 0.01


def upgrade():
    with op.get_context().autocommit_block():
        if not MARK.exists():
            MARK.write_text("1")
            op.execute("DO $$ BEGIN RAISE EXCEPTION 'held' USING ERRCODE = '55P03'; END $$")
        op.execute("CREATE TABLE ac_done (id INT)")


def downgrade():
    pass
'''


@pytest.mark.parametrize("kind", ["legacy", "native"])
@pytest.mark.parametrize("fresh", [True, False])
def test_an_autocommit_lock_timeout_on_the_first_migration_is_retried_when_nothing_committed(
    tmp_path, database_url, kind, fresh
):
    # Nothing of the migration committed before its AUTOCOMMIT statement failed, so it
    # is retried; on a fresh database too, where Alembic creates alembic_version in
    # the first migration's transaction.
    project = make_project(tmp_path / "project", database_url)
    mark = repr(str(tmp_path / "mark"))
    revision = _write_kind(
        project,
        kind,
        legacy=("20251001_ac_held", AUTOCOMMIT_HELD_FIRST.replace("MARK_PATH", mark)),
        native=("n1_ac_held", NATIVE_AUTOCOMMIT_HELD_FIRST.replace("MARK_PATH", mark)),
    )
    if not fresh:
        project.sql("CREATE TABLE alembic_version (version_num VARCHAR(255) NOT NULL PRIMARY KEY)")
    runner.upgrade(project.config())
    assert project.version() == [revision]
    assert [(r[1], r[2]) for r in _log(project)] == [("retried", 1), ("applied", 2)]


def _interrupt_when_running(url, marker: str):
    """Start a thread that sends Ctrl-C (KeyboardInterrupt) to the main thread once *marker* runs."""
    import _thread
    import threading
    import time

    def watch():
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn:
                for _ in range(1000):
                    running = conn.exec_driver_sql(
                        "SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
                        f"AND state = 'active' AND query LIKE '{marker}%%'"
                    ).scalar()
                    if running:
                        _thread.interrupt_main()
                        return
                    conn.rollback()
                    time.sleep(0.01)
        finally:
            engine.dispose()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


@pytest.mark.slow  # the statement runs 1.5 s
@pytest.mark.parametrize("retries", [0, 2])
def test_ctrl_c_during_a_statement_is_what_the_run_ends_with_and_the_next_run_works(project, retries):
    # A real Ctrl-C arrives while the server runs a statement: SQLAlchemy then
    # invalidates the connection (an "exit exception"). The run must still end with
    # the KeyboardInterrupt, log the failure, and leave nothing held.
    stem = "20251001_long"
    source = legacy_source(["CREATE TABLE long_one (id INT)", "SELECT pg_sleep(1.5)"])
    project.write(f"{stem}.py", source + f"\nlock_retries = {retries}\n")
    watcher = _interrupt_when_running(project.url, "SELECT pg_sleep(1.5)")
    try:
        with pytest.raises(KeyboardInterrupt):
            runner.upgrade(project.config())
    finally:
        watcher.join()
    assert _log(project) == [(stem, "failed", 1, None)]
    assert "long_one" not in project.tables() and project.rows() == []
    project.table(stem, "whole")
    runner.upgrade(project.config())
    assert project.rows() == [stem]


NATIVE_EXITS = '''"""calls sys.exit()"""
import sys

revision = "n1_exits"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    sys.exit(0)


def downgrade():
    pass
'''


def test_sys_exit_in_a_native_revision_fails_the_run_as_in_a_legacy_file(project):
    # sys.exit(0) must not end a run whose migration was rolled back as a success.
    (project.versions / "n1_exits.py").write_text(NATIVE_EXITS)
    with pytest.raises(MigrationError, match="SystemExit"):
        runner.upgrade(project.config())
    assert project.version() == []
    assert _log(project) == [("n1_exits", "failed", 1, None)]


WRITES_THEN_AUTOCOMMIT_HELD = '''"""Writes, then an AUTOCOMMIT statement that hits a lock timeout: its write is committed."""

from sqlalchemy import text

lock_retries = 2
lock_retry_backoff = 0.01


def upgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE written_first (id INT)"))
    with engine.connect() as conn:
        auto = conn.execution_options(isolation_level="AUTOCOMMIT")
        auto.execute(text("DO $$ BEGIN RAISE EXCEPTION 'held' USING ERRCODE = '55P03'; END $$"))


def downgrade(engine):
    pass
'''


@pytest.mark.parametrize("fresh", [True, False])
def test_an_autocommit_lock_timeout_after_the_migration_wrote_is_never_retried(tmp_path, database_url, fresh):
    project = make_project(tmp_path / "project", database_url)
    project.write("20251001_writes_first.py", WRITES_THEN_AUTOCOMMIT_HELD)
    if not fresh:
        project.sql("CREATE TABLE alembic_version (version_num VARCHAR(255) NOT NULL PRIMARY KEY)")
    with pytest.raises(MigrationError, match="Not retried: an AUTOCOMMIT statement had already committed"):
        runner.upgrade(project.config())
    assert [(r[1], r[2]) for r in _log(project)] == [("failed", 1)]
    assert "written_first" in project.tables()  # committed by the AUTOCOMMIT statement, as the message says


# -- a session lost after the migration's body ----------------------------------------------------

KILL_OWN_SESSION = """
def _kill_own_session(pid):
    # Another session terminates this one, and waits until it is gone: the next statement
    # the bridge sends (the ledger's row, the run log's, the version's, COMMIT) finds it dead.
    import time

    import psycopg2

    other = psycopg2.connect(DSN)
    other.autocommit = True
    cur = other.cursor()
    cur.execute("SELECT pg_terminate_backend(%s)", (pid,))
    for _ in range(250):
        cur.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,))
        if not cur.fetchone()[0]:
            break
        time.sleep(0.02)
    other.close()
"""

LEGACY_KILLED_AFTER = (
    "from sqlalchemy import text\n"
    + KILL_OWN_SESSION
    + """

def upgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE killed_after (id INT)"))
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
    _kill_own_session(pid)


def downgrade(engine):
    pass
"""
)

NATIVE_KILLED_AFTER = (
    'revision = "n1_killed"\ndown_revision = None\nbranch_labels = None\ndepends_on = None\n'
    + KILL_OWN_SESSION
    + """

def upgrade():
    from alembic import op

    op.execute("CREATE TABLE killed_after (id INT)")
    _kill_own_session(op.get_bind().exec_driver_sql("SELECT pg_backend_pid()").scalar())


def downgrade():
    pass
"""
)


@pytest.mark.parametrize("retries", [0, 2], ids=["", "retries"])
@pytest.mark.parametrize("kind", ["legacy", "native"])
def test_a_session_lost_after_the_migration_ran_is_named_as_a_lost_connection(project, kind, retries):
    # After the body, the bridge writes the ledger's row (legacy), the run log's, Alembic the
    # version's, then COMMIT: whichever meets the dead session must say the connection was
    # lost, name the migration and say nothing is applied (not a raw OperationalError, nor
    # "its COMMIT failed: Can't reconnect until invalid transaction is rolled back").
    dsn = repr(project.url.set(drivername="postgresql").render_as_string(hide_password=False))
    # With retries, the attempt runs on a savepoint: its RELEASE is the first statement after the body.
    setting = f"lock_retries = {retries}\n"
    name = _write_kind(
        project,
        kind,
        legacy=("20251001_killed", setting + LEGACY_KILLED_AFTER.replace("DSN", dsn)),
        native=("n1_killed", setting + NATIVE_KILLED_AFTER.replace("DSN", dsn)),
    )
    with pytest.raises(MigrationError) as raised:
        runner.upgrade(project.config())
    message = str(raised.value)
    assert name in message
    assert "lost its connection to the database" in message, message
    assert "Can't reconnect" not in message and "COMMIT failed" not in message, message
    assert "Run again" in message, message
    assert "killed_after" not in project.tables() and project.rows() == [] and project.version() == []
    assert [row[:2] for row in _log(project)] == [(name, "failed")]  # written afterwards, on a new session


NATIVE_KILLED_DURING = (
    'revision = "n1_killed"\ndown_revision = None\nbranch_labels = None\ndepends_on = None\n'
    + KILL_OWN_SESSION
    + """

def upgrade():
    from alembic import op

    op.execute("CREATE TABLE killed_during (id INT)")
    _kill_own_session(op.get_bind().exec_driver_sql("SELECT pg_backend_pid()").scalar())
    op.execute("CREATE TABLE never_reached (id INT)")


def downgrade():
    pass
"""
)


def test_a_native_revision_whose_session_is_lost_in_its_body_is_not_said_to_have_run(project):
    # The session dies before the body's last statement: upgrade() did not run to its end, so
    # the error must not say "upgrade() ran" (that is for a session lost after it, while recording).
    dsn = repr(project.url.set(drivername="postgresql").render_as_string(hide_password=False))
    (project.versions / "n1_killed.py").write_text(NATIVE_KILLED_DURING.replace("DSN", dsn))
    with pytest.raises(MigrationError) as raised:
        runner.upgrade(project.config())
    message = str(raised.value)
    assert "n1_killed" in message
    assert "lost its connection to the database" in message, message
    assert "ran, but" not in message and "while recording it" not in message, message
    assert "killed_during" not in project.tables() and project.version() == []


# -- an error caught without a rollback ------------------------------------------------------------

SWALLOWS_THEN_COMMITS = """from sqlalchemy import text


def upgrade(engine):
    with engine.connect() as conn:
        conn.execute(text("CREATE TABLE swallowed (id INT)"))
        try:
            conn.execute(text("SELECT 1/0"))
        except Exception:
            pass  # caught, not rolled back: the transaction is aborted
        conn.commit()


def downgrade(engine):
    pass
"""

NATIVE_SWALLOWS = """revision = "n1_swallows"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    from alembic import op

    op.execute("CREATE TABLE swallowed (id INT)")
    try:
        op.execute("SELECT 1/0")
    except Exception:
        pass  # caught, not rolled back: the transaction is aborted


def downgrade():
    pass
"""


@pytest.mark.parametrize("kind", ["legacy", "native"])
def test_an_error_caught_without_a_rollback_is_named_not_called_a_failed_commit(project, kind):
    # PostgreSQL refuses every statement after an error until the transaction ends: the next
    # one (the file's commit, or Alembic's version row after a native revision) fails with
    # "current transaction is aborted". The message must say why and how to write it, and
    # must not call it a failed COMMIT (none was sent).
    name = _write_kind(
        project,
        kind,
        legacy=("20251001_swallows", SWALLOWS_THEN_COMMITS),
        native=("n1_swallows", NATIVE_SWALLOWS),
    )
    with pytest.raises(MigrationError) as raised:
        runner.upgrade(project.config())
    message = str(raised.value)
    assert name in message
    assert "caught the error without rolling back" in message, message
    assert "begin_nested()" in message, message
    assert "COMMIT failed" not in message, message
    assert "swallowed" not in project.tables() and project.rows() == [] and project.version() == []
