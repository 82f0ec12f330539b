"""Adversarial checks of the run-log write, head resolution and the step wrapper, on real PostgreSQL.

Each test states a behaviour the bridge promises and drives it into a corner:
the run log is a record, never a gate (a NUL byte, a lost connection, savepoints
left open, ``standard_conforming_strings`` off, one transaction for the run); a
legacy-only chain's head is what Alembic says it is, in every version-location
form; a step's retries keep their promises when a file stops importing, when
Ctrl-C comes during the backoff, and on the first migration of a fresh database.
"""

from __future__ import annotations

import datetime
import logging
import py_compile
import types

import pytest
import sqlalchemy as sa
from conftest import legacy_source, make_project, native_source

from bridge import runlog, runner
from bridge.errors import BridgeError, MigrationError

DRIVERS = ["psycopg2", "psycopg"]


def _driver_engine(url, driver: str) -> sa.Engine:
    return sa.create_engine(url.set(drivername=f"postgresql+{driver}"), poolclass=sa.pool.NullPool)


def _entry(error: str | None, outcome: str = runlog.RETRIED) -> runlog.Entry:
    t0 = datetime.datetime(2025, 10, 1, 12, 0, 0)
    return runlog.Entry("20251001_a", "upgrade", t0, t0 + datetime.timedelta(seconds=1), outcome, 1, "55P03", error)


def _errors(engine: sa.Engine) -> list[str | None]:
    with engine.connect() as conn:
        return [e for (e,) in conn.exec_driver_sql(f"SELECT error FROM {runlog.TABLE} ORDER BY id")]


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


# -- the run-log write (bridge.runlog.record) ---------------------------------------------------


@pytest.mark.parametrize("driver", DRIVERS)
def test_an_error_text_with_a_nul_byte_is_written_and_never_raises(database_url, driver):
    # PostgreSQL text cannot hold NUL; psycopg2 refuses it on the client with a
    # ValueError (not a DBAPIError), psycopg with a DataError.
    engine = _driver_engine(database_url, driver)
    try:
        with engine.begin() as conn:
            runlog.ensure_table(conn)
            conn.exec_driver_sql("CREATE TABLE work (n int)")
        with engine.begin() as conn:
            written = runlog.record(conn, "run-1", [_entry("lock held on b\x00ytes")], "tester")
            conn.exec_driver_sql("INSERT INTO work VALUES (1)")
        assert written
        [stored] = _errors(engine)
        assert stored is not None and "\x00" not in stored and stored.startswith("lock held on b")
    finally:
        engine.dispose()


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_connection_lost_before_the_write_is_one_warning_not_an_error(database_url, driver, caplog):
    # The write is the first statement after the migration's body: a session killed
    # in between must surface at the migration's COMMIT, not as an error of the log.
    engine = _driver_engine(database_url, driver)
    try:
        with engine.begin() as conn:
            runlog.ensure_table(conn)
        with engine.connect() as conn:
            conn.begin()
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
            with engine.connect() as other:
                other.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
                for _ in range(100):  # until the session is gone
                    if not other.exec_driver_sql(f"SELECT count(*) FROM pg_stat_activity WHERE pid = {pid}").scalar():
                        break
                    other.exec_driver_sql("SELECT pg_sleep(0.02)")
            with caplog.at_level(logging.WARNING, logger="bridge"):
                written = runlog.record(conn, "run-1", [_entry(None, runlog.APPLIED)], "tester")
            assert written is False
            [warning] = _warnings(caplog)
            assert "could not be written" in warning
    finally:
        engine.dispose()


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("fails", [False, True])
def test_the_write_leaves_the_migrations_own_savepoints_as_they_were(database_url, driver, fails, caplog):
    # A migration that left savepoints open: SQLAlchemy's, the proxy's bridge_sp_N, and one
    # of its own that happens to share the run log's savepoint name. The write (or its
    # rollback) must leave each of them usable, and the transaction not aborted.
    engine = _driver_engine(database_url, driver)
    try:
        with engine.begin() as conn:
            runlog.ensure_table(conn)
            conn.exec_driver_sql("CREATE TABLE work (n int)")
            if fails:
                conn.exec_driver_sql(
                    f"ALTER TABLE {runlog.TABLE} ADD CONSTRAINT no_x CHECK (position('x' in error) = 0)"
                )
        with engine.connect() as conn:
            with conn.begin():
                conn.begin_nested()  # left open, as a migration may leave it
                conn.exec_driver_sql("SAVEPOINT bridge_sp_1")
                conn.exec_driver_sql("INSERT INTO work VALUES (1)")
                conn.exec_driver_sql("SAVEPOINT bridge_log_sp")
                conn.exec_driver_sql("INSERT INTO work VALUES (2)")
                with caplog.at_level(logging.WARNING, logger="bridge"):
                    written = runlog.record(conn, "run-1", [_entry("x marks it")], "tester")
                assert written is not fails
                conn.exec_driver_sql("ROLLBACK TO SAVEPOINT bridge_log_sp")  # the migration's own, still there
                conn.exec_driver_sql("ROLLBACK TO SAVEPOINT bridge_sp_1")
                conn.exec_driver_sql("INSERT INTO work VALUES (3)")
        with engine.connect() as conn:
            assert [n for (n,) in conn.exec_driver_sql("SELECT n FROM work")] == [3]
        assert _errors(engine) == []  # rolled back with the savepoint the migration rolled back to
    finally:
        engine.dispose()


@pytest.mark.parametrize("driver", DRIVERS)
def test_hostile_text_is_stored_as_given_with_standard_conforming_strings_off(database_url, driver):
    # psycopg2 quotes on the client: a migration that turns standard_conforming_strings off
    # changes what a backslash in a literal means.
    text = "back\\slash \\' it's E'\\x41' \\\\ $$ %s %(x)s"
    engine = _driver_engine(database_url, driver)
    try:
        with engine.begin() as conn:
            runlog.ensure_table(conn)
        with engine.begin() as conn:
            conn.exec_driver_sql("SET LOCAL standard_conforming_strings = off")
            conn.exec_driver_sql("SET LOCAL escape_string_warning = off")
            assert runlog.record(conn, "run-1", [_entry(text)], "tester")
        assert _errors(engine) == [runlog.short_error(text)]
    finally:
        engine.dispose()


NUL_THEN_RETRIED = '''"""Its first attempt hits a lock timeout, reported with a NUL byte in the message."""

from pathlib import Path

from sqlalchemy import text

MARK = Path(MARK_PATH)
lock_retries = 1
lock_retry_backoff = 0.01


def upgrade(engine):
    with engine.begin() as conn:
        if not MARK.exists():
            MARK.write_text("1")
            try:
                conn.execute(text("DO $$ BEGIN RAISE EXCEPTION 'held' USING ERRCODE = '55P03'; END $$"))
            except Exception as err:
                raise RuntimeError("lock held on b\\x00ytes") from err
        conn.execute(text("CREATE TABLE nul_done (id INT)"))


def downgrade(engine):
    pass
'''


def test_a_retried_attempt_whose_error_holds_a_nul_byte_does_not_fail_the_migration(project, tmp_path):
    stem = "20251001_nul_then_retried"
    project.write(f"{stem}.py", NUL_THEN_RETRIED.replace("MARK_PATH", repr(str(tmp_path / "mark"))))
    runner.upgrade(project.config())
    assert project.rows() == [stem]
    rows = project.sql(f"SELECT outcome, attempts, sqlstate, error FROM {runlog.TABLE} ORDER BY id")
    assert [tuple(r[:3]) for r in rows] == [("retried", 1, "55P03"), ("applied", 2, None)]
    assert "lock held on b" in rows[0][3]


def test_a_failure_whose_error_holds_a_nul_byte_is_logged(project):
    stem = "20251001_nul_failure"
    project.write(
        f"{stem}.py",
        'def upgrade(engine):\n    raise RuntimeError("bad b\\x00yte")\n\n\ndef downgrade(engine):\n    pass\n',
    )
    with pytest.raises(MigrationError, match="bad b"):
        runner.upgrade(project.config())
    rows = project.sql(f"SELECT revision, outcome FROM {runlog.TABLE} ORDER BY id")
    assert [tuple(r) for r in rows] == [(stem, "failed")]


ONE_TRANSACTION_ENV = (
    '"""The bridge, with one transaction for the whole run."""\n\n'
    "from bridge.env import run_migrations\n\n"
    "run_migrations(transaction_per_migration=False)\n"
)


def test_one_transaction_for_the_run_logs_each_step_once_committed(project):
    (project.root / "alembic" / "env.py").write_text(ONE_TRANSACTION_ENV)
    project.table("20251001_a", "a")
    project.table("20251002_b", "b")
    project.write("20251003_c.py", legacy_source("INSERT INTO missing_table VALUES (1)"))
    seen: list[str] = []
    with pytest.raises(MigrationError):
        runner.upgrade(project.config(), on_step=lambda step, seconds: seen.append(step.revision))
    # One transaction: the failure rolled a and b back too; nothing is reported as applied.
    assert seen == [] and project.rows() == [] and not {"a", "b"} & set(project.tables())
    rows = project.sql(f"SELECT revision, outcome FROM {runlog.TABLE} ORDER BY id")
    assert [tuple(r) for r in rows] == [("20251003_c", "failed")]
    project.write("20251003_c.py", legacy_source("SELECT 1"))
    runner.upgrade(project.config(), on_step=lambda step, seconds: seen.append(step.revision))
    assert seen == ["20251001_a", "20251002_b", "20251003_c"]
    rows = project.sql(f"SELECT revision, outcome FROM {runlog.TABLE} ORDER BY id")
    assert [tuple(r) for r in rows][1:] == [
        ("20251001_a", "applied"),
        ("20251002_b", "applied"),
        ("20251003_c", "applied"),
    ]


NATIVE_AUTOCOMMIT_LAST = '''"""ends in an autocommit_block()"""
from alembic import op

revision = "n1_ac_last"
down_revision = DOWN
branch_labels = None
depends_on = None


def upgrade():
    op.execute("CREATE TABLE before_block (id INT)")
    with op.get_context().autocommit_block():
        op.execute("CREATE INDEX CONCURRENTLY before_block_id ON before_block (id)")


def downgrade():
    pass
'''


def test_a_step_ending_in_an_autocommit_block_is_logged_in_the_transaction_after_it(project):
    project.table("20251001_a", "a")
    (project.versions / "n1_ac_last.py").write_text(NATIVE_AUTOCOMMIT_LAST.replace("DOWN", repr("20251001_a")))
    runner.upgrade(project.config())
    rows = project.sql(f"SELECT revision, outcome FROM {runlog.TABLE} ORDER BY id")
    assert [tuple(r) for r in rows] == [("20251001_a", "applied"), ("n1_ac_last", "applied")]
    assert project.version() == ["n1_ac_last"]


# -- head of a legacy-only chain without the revision map (bridge.script) -------------------------


def _legacy_only(root) -> None:
    for stem in ("20251001_a", "20251002_b"):
        (root / "legacy" / f"{stem}.py").write_text(legacy_source("SELECT 1"))


def _layout_ignored(root):
    _legacy_only(root)
    (root / "legacy" / "helpers.py").write_text("def upgrade(engine):\n    pass\n")
    (root / "legacy" / "__init__.py").write_text("")
    return "legacy_ignore = helpers.py\n"


def _layout_native_in_a_subfolder(recursive: bool):
    def layout(root):
        _legacy_only(root)
        (root / "alembic" / "versions" / "sub").mkdir()
        (root / "alembic" / "versions" / "sub" / "n1.py").write_text(native_source("n1", "20251002_b"))
        return "recursive_version_locations = true\n" if recursive else ""

    return layout


def _layout_sourceless(sourceless: bool):
    def layout(root):
        _legacy_only(root)
        source = root / "alembic" / "versions" / "n1.py"
        source.write_text(native_source("n1", "20251002_b"))
        py_compile.compile(str(source), cfile=str(source.with_suffix(".pyc")))
        source.unlink()
        return "sourceless = true\n" if sourceless else ""

    return layout


def _layout_converted(root):
    # `alembic-bridge convert` output: the first file is a native revision now.
    (root / "legacy" / "20251002_b.py").write_text(legacy_source("SELECT 1"))
    (root / "alembic" / "versions" / "20251001_a.py").write_text(
        native_source("20251001_a", None) + "\nreplaces_legacy = ('20251001_a',)\n"
    )
    return ""


LAYOUTS = {
    "empty": lambda root: "",
    "ignored files": _layout_ignored,
    "native in a sub-folder, recursive": _layout_native_in_a_subfolder(True),
    "native in a sub-folder, not recursive": _layout_native_in_a_subfolder(False),
    "sourceless .pyc, sourceless": _layout_sourceless(True),
    "sourceless .pyc, not sourceless": _layout_sourceless(False),
    "converted first file": _layout_converted,
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("id_", ["head", "heads"])
def test_head_is_what_alembic_answers_in_every_layout(tmp_path, monkeypatch, layout, id_):
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    monkeypatch.chdir(tmp_path)
    root = tmp_path / "p"
    make_project(root, None)
    extra = LAYOUTS[layout](root)
    ini = root / "alembic.ini"
    ini.write_text(ini.read_text().replace("path_separator = os\n", f"path_separator = os\n{extra}"))

    def fresh():
        return ScriptDirectory.from_config(Config(str(ini)))

    bridge_answer = fresh().as_revision_number(id_)
    alembic_answer = ScriptDirectory.as_revision_number(fresh(), id_)  # builds the revision map
    assert bridge_answer == alembic_answer


def test_a_misnamed_legacy_file_fails_head_as_the_revision_map_does(tmp_path):
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    root = tmp_path / "p"
    make_project(root, None)
    _legacy_only(root)
    (root / "legacy" / "2025-10-03_c.py").write_text(legacy_source("SELECT 1"))
    ini = str(root / "alembic.ini")
    with pytest.raises(BridgeError) as fast:
        ScriptDirectory.from_config(Config(ini)).as_revision_number("head")
    with pytest.raises(BridgeError) as full:
        ScriptDirectory.as_revision_number(ScriptDirectory.from_config(Config(ini)), "head")
    assert str(fast.value) == str(full.value)


def test_upgrade_heads_stamp_head_and_current_on_a_legacy_only_chain(project):
    import io

    from alembic import command

    project.table("20251001_a", "a")
    project.table("20251002_b", "b")
    command.stamp(project.config(), "head")  # a stamp, not an upgrade: nothing runs
    assert project.version() == ["20251002_b"] and not {"a", "b"} & set(project.tables())
    assert project.rows() == ["20251001_a", "20251002_b"]
    command.upgrade(project.config(), "heads")  # at head: nothing to do
    assert not {"a", "b"} & set(project.tables())
    config = project.config()
    config.stdout = io.StringIO()
    command.current(config)
    assert "20251002_b (head)" in config.stdout.getvalue()


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
    if kind == "legacy":
        project.write("20251001_ac_held.py", AUTOCOMMIT_HELD_FIRST.replace("MARK_PATH", mark))
        revision = "20251001_ac_held"
    else:
        (project.versions / "n1_ac_held.py").write_text(NATIVE_AUTOCOMMIT_HELD_FIRST.replace("MARK_PATH", mark))
        revision = "n1_ac_held"
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
