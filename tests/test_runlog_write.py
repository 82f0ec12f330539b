"""The run log's write (bridge.runlog.record) on real PostgreSQL: one round trip, and never a failed migration.

On psycopg2 the row travels as one string (SAVEPOINT; INSERT; RELEASE); on any
other driver through SQLAlchemy's ``begin_nested``. Both are run here against
the same failures: hostile text, a write failing halfway, the table missing, a
column dropped by hand, a role that may not insert. In each, the work done
before and after the write in the same transaction (the migration's) commits.
"""

from __future__ import annotations

import datetime
import logging
import uuid

import pytest
import sqlalchemy as sa

from bridge import masking, runlog

LOG = runlog.TABLE
PASSWORD = "hunter2-Zq9"
HOSTILE = f"it's a \"quote\"; DROP TABLE work; -- $$ $tag$ %s %(x)s \\ {PASSWORD} ;; '' end"
DRIVERS = ["psycopg2", "psycopg"]


@pytest.fixture(params=DRIVERS)
def driver_engine(request, database_url):
    url = database_url.set(drivername=f"postgresql+{request.param}")
    eng = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with eng.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE work (n int)")
    yield eng
    eng.dispose()


@pytest.fixture
def password():
    masking.remember_password(PASSWORD)
    yield PASSWORD
    masking.forget_all()


def _entry(error: str | None = None, revision: str = "20251001_a") -> runlog.Entry:
    t0 = datetime.datetime(2025, 10, 1, 12, 0, 0)
    outcome = runlog.RETRIED if error else runlog.APPLIED
    return runlog.Entry(revision, "upgrade", t0, t0 + datetime.timedelta(seconds=1), outcome, 1, "55P03", error)


def _migrate(engine: sa.Engine, entries: list[runlog.Entry], before=None) -> tuple[bool, list[str]]:
    """One 'migration': work, the run-log write, more work, a savepoint of SQLAlchemy's, COMMIT.

    Returns whether the row was written and the statements the write sent.
    """
    sent: list[str] = []
    with engine.connect() as conn:
        if before is not None:
            before(conn)
            conn.commit()
        with conn.begin():
            conn.exec_driver_sql("INSERT INTO work VALUES (1)")
            with conn.begin_nested():  # SQLAlchemy's own savepoint around the write: its bookkeeping holds
                listener = lambda *args: sent.append(args[2])  # noqa: E731 - the statement of each execute
                sa.event.listen(conn, "before_cursor_execute", listener)
                try:
                    written = runlog.record(conn, "run-1", entries, "tester")
                finally:
                    sa.event.remove(conn, "before_cursor_execute", listener)
                conn.exec_driver_sql("INSERT INTO work VALUES (2)")  # the transaction is not aborted
            conn.exec_driver_sql("INSERT INTO work VALUES (3)")
    return written, sent


def _work(engine) -> list[int]:
    with engine.connect() as conn:
        return [n for (n,) in conn.exec_driver_sql("SELECT n FROM work ORDER BY n")]


def _log_rows(engine) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(f"SELECT revision, outcome, error FROM {LOG} ORDER BY id")]


def _make_log(engine) -> None:
    with engine.begin() as conn:
        runlog.ensure_table(conn)


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_hostile_text_is_written_as_given_and_psycopg2_sends_one_statement(driver_engine, password):
    _make_log(driver_engine)
    written, sent = _migrate(driver_engine, [_entry(HOSTILE), _entry()])
    assert written
    assert _work(driver_engine) == [1, 2, 3]
    stored = runlog.short_error(HOSTILE)
    assert stored is not None and PASSWORD not in stored and "$$ $tag$ %s %(x)s" in stored
    assert _log_rows(driver_engine) == [("20251001_a", "retried", stored), ("20251001_a", "applied", None)]
    if driver_engine.dialect.driver == "psycopg2":
        assert len(sent) == 1 and sent[0].startswith("SAVEPOINT ") and "RELEASE SAVEPOINT" in sent[0], sent
    else:
        assert len(sent) == 3, sent  # SQLAlchemy's SAVEPOINT, the INSERT, RELEASE


def test_a_write_failing_halfway_is_one_warning_and_the_migration_commits(driver_engine, password, caplog):
    _make_log(driver_engine)
    with driver_engine.begin() as conn:  # the INSERT itself fails, on the server, after the SAVEPOINT
        conn.exec_driver_sql(f"ALTER TABLE {LOG} ADD CONSTRAINT no_drop CHECK (position('DROP' in error) = 0)")
    with caplog.at_level(logging.WARNING, logger="bridge"):
        written, _ = _migrate(driver_engine, [_entry(HOSTILE)])
    assert not written
    assert _work(driver_engine) == [1, 2, 3]
    assert _log_rows(driver_engine) == []
    [warning] = _warnings(caplog)
    assert "no_drop" in warning and "20251001_a retried" in warning
    assert PASSWORD not in caplog.text


def test_a_missing_table_is_created_by_the_write_in_the_migrations_transaction(driver_engine):
    written, _ = _migrate(driver_engine, [_entry()])
    assert written
    assert _work(driver_engine) == [1, 2, 3]
    assert _log_rows(driver_engine) == [("20251001_a", "applied", None)]


def test_a_column_dropped_by_hand_is_one_warning_and_the_migration_commits(driver_engine, caplog):
    _make_log(driver_engine)
    with driver_engine.begin() as conn:
        conn.exec_driver_sql(f"ALTER TABLE {LOG} DROP COLUMN host")
    with caplog.at_level(logging.WARNING, logger="bridge"):
        written, _ = _migrate(driver_engine, [_entry()])
    assert not written
    assert _work(driver_engine) == [1, 2, 3]
    [warning] = _warnings(caplog)
    assert '"host"' in warning or "host" in warning


def test_a_role_without_insert_is_one_warning_and_the_migration_commits(driver_engine, caplog):
    _make_log(driver_engine)
    role = f"noinsert_{uuid.uuid4().hex[:10]}"
    with driver_engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE ROLE {role} NOSUPERUSER")
        conn.exec_driver_sql(f"GRANT SELECT, INSERT ON work TO {role}")
        conn.exec_driver_sql(f"GRANT SELECT ON {LOG} TO {role}")
    try:
        with caplog.at_level(logging.WARNING, logger="bridge"):
            written, _ = _migrate(driver_engine, [_entry()], before=lambda c: c.exec_driver_sql(f"SET ROLE {role}"))
        assert not written
        assert _work(driver_engine) == [1, 2, 3]
        assert _log_rows(driver_engine) == []
        [warning] = _warnings(caplog)
        assert f"permission denied for table {LOG}" in warning
    finally:
        with driver_engine.begin() as conn:
            conn.exec_driver_sql(f"DROP OWNED BY {role}")
            conn.exec_driver_sql(f"DROP ROLE {role}")


def test_a_role_that_may_not_create_the_missing_table_is_one_warning_and_the_migration_commits(driver_engine, caplog):
    role = f"nocreate_{uuid.uuid4().hex[:10]}"
    with driver_engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE ROLE {role} NOSUPERUSER")
        conn.exec_driver_sql("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA public TO {role}")
        conn.exec_driver_sql(f"GRANT SELECT, INSERT ON work TO {role}")
    try:
        with caplog.at_level(logging.WARNING, logger="bridge"):
            written, _ = _migrate(driver_engine, [_entry()], before=lambda c: c.exec_driver_sql(f"SET ROLE {role}"))
        assert not written
        assert _work(driver_engine) == [1, 2, 3]
        [warning] = _warnings(caplog)
        assert "permission denied for schema public" in warning
    finally:
        with driver_engine.begin() as conn:
            conn.exec_driver_sql(f"DROP OWNED BY {role}")
            conn.exec_driver_sql(f"DROP ROLE {role}")
