"""The run log under faults, on real PostgreSQL: a record, never a gate.

A NUL byte in an error, a lost connection, savepoints the migration left open,
``standard_conforming_strings`` off, one transaction for the run, a step ending in an
AUTOCOMMIT block: the write never fails a migration, and what it stores is what happened.
"""

from __future__ import annotations

import datetime
import logging

import pytest
import sqlalchemy as sa
from conftest import legacy_source

from bridge import runlog, runner
from bridge.errors import MigrationError

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
