"""The runner lock: a stable, public advisory-lock key, and what happens when the lock is lost."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import pytest
import sqlalchemy as sa
from conftest import BIN, legacy_source, url_text

import bridge
from bridge import lock


def test_the_lock_key_of_a_database_never_changes():
    # Old runners that share the lock compute this same number: it must never change silently.
    assert bridge.lock_key("trading_system") == 7792003332590520080
    assert lock.lock_key("trading_system") == 7792003332590520080
    assert 0 < bridge.lock_key("") < 2**63


def test_the_documented_sql_computes_the_same_key_on_the_server(engine):
    with engine.connect() as conn:
        key = conn.execute(sa.text(f"SELECT {lock.LOCK_KEY_SQL}")).scalar()
        schema_key = conn.execute(sa.text(f"SELECT {lock.SCHEMA_LOCK_KEY_SQL}")).scalar()
    assert key == bridge.lock_key(engine.url.database)
    assert schema_key == bridge.lock_key(engine.url.database, "public")
    readme_text = open(lock.__file__.rsplit("/bridge/", 1)[0] + "/README.md", encoding="utf-8").read()
    assert f"SELECT pg_advisory_lock_shared({lock.LOCK_KEY_SQL})," in readme_text
    assert f"pg_advisory_lock({lock.SCHEMA_LOCK_KEY_SQL});" in readme_text
    readme = (lock.__file__.rsplit("/bridge/", 1)[0]) + "/README.md"
    guide = (lock.__file__.rsplit("/bridge/", 1)[0]) + "/docs/guide.md"
    for doc in (readme, guide):
        text = open(doc, encoding="utf-8").read()
        assert f"SELECT pg_advisory_lock({lock.LOCK_KEY_SQL})" in text, doc
        assert "bridge.lock_key(" in text, doc


@pytest.mark.slow
def test_a_plain_session_holding_the_advisory_lock_makes_alembic_upgrade_wait(project, engine):
    project.table("20251001_create_a", "a")
    with engine.connect() as holder:
        holder.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": bridge.lock_key(engine.url.database)})
        holder.commit()
        holder_pid = holder.execute(sa.text("SELECT pg_backend_pid()")).scalar()
        holder.commit()
        env = {**os.environ, "DATABASE_URL": url_text(project.url)}
        proc = subprocess.Popen(
            [str(BIN / "alembic"), "upgrade", "head"],
            cwd=project.root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            time.sleep(3)
            assert proc.poll() is None, proc.communicate()
            assert project.rows() == [] and "a" not in project.tables()
        finally:
            holder.execute(sa.text("SELECT pg_advisory_unlock_all()"))
            holder.commit()
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err
    assert f"Waiting for another migration runner to finish (the lock is held by pid {holder_pid} " in err
    assert project.rows() == ["20251001_create_a"] and "a" in project.tables()


SWALLOWS_ITS_SESSION_LOSS = '''\
"""
Migration: loses its session on an AUTOCOMMIT connection and carries on
"""
from sqlalchemy import text


def upgrade(engine):
    with engine.connect() as conn:
        trans = conn.begin()
        conn.execute(text("CREATE TABLE b (id int)"))
        trans.commit()
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
    except Exception:
        pass
    with engine.connect() as conn:
        trans = conn.begin()
        conn.execute(text("CREATE TABLE after_loss (id int)"))
        trans.commit()


def downgrade(engine):
    pass
'''


@pytest.mark.slow
def test_a_migration_that_carries_on_after_losing_its_session_runs_nothing_more_unlocked(project):
    # The lock is the migrations' own session: once it is gone, a reconnected session
    # would run without it. Nothing may run there, and the run stops naming what happened.
    project.table("20251001_create_a", "a")
    project.write("20251002_loses_session.py", SWALLOWS_ITS_SESSION_LOSS)
    project.table("20251003_create_c", "c")
    result = project.run("alembic", "upgrade", "head")
    assert result.returncode == 255, result.output
    assert "FAILED: " in result.stdout, result.output
    assert "20251002_loses_session is not recorded" in result.stdout
    assert "Traceback" not in result.output
    assert "after_loss" not in project.tables() and "c" not in project.tables()
    assert project.rows() == ["20251001_create_a"] and project.version() == ["20251001_create_a"]
    again = project.run("alembic", "upgrade", "head")
    assert again.returncode != 0  # b exists (committed before the AUTOCOMMIT statement): not idempotent
    assert "20251002_loses_session" in again.output


@pytest.mark.slow
def test_when_the_server_goes_away_mid_migration_the_error_names_that_migration(project):
    project.table("20251001_create_a", "a")
    project.write(
        "20251002_server_gone.py",
        legacy_source(
            [
                "CREATE TABLE half (id INT)",
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()",
                "SELECT pg_terminate_backend(pg_backend_pid())",
            ]
        ),
    )
    project.table("20251003_create_c", "c")
    result = project.run("alembic", "upgrade", "head")
    assert result.returncode == 255, result.output
    # The failed unlock on the dead lock session does not replace the story, and neither
    # does the migration's own trans.rollback() on the dead connection.
    assert "FAILED: " in result.stdout and "20251002_server_gone.py:" in result.stdout
    assert "lost its connection to the database" in result.stdout, result.output
    assert "PendingRollbackError" not in result.output
    assert "pg_advisory_unlock" not in result.output and "Traceback" not in result.output
    assert project.rows() == ["20251001_create_a"] and "half" not in project.tables()


@pytest.mark.slow
def test_idle_session_timeout_does_not_end_the_lock_session_during_a_long_migration(project, engine):
    with engine.connect() as conn:
        conn.exec_driver_sql(f"ALTER DATABASE \"{engine.url.database}\" SET idle_session_timeout = '1s'")
        conn.commit()
    project.write("20251001_slow.py", legacy_source("SELECT pg_sleep(2.5)"))
    project.table("20251002_create_b", "b")
    result = project.run("alembic", "upgrade", "head")
    assert result.returncode == 0, result.output
    assert "lock was lost" not in result.output
    assert project.rows() == ["20251001_slow", "20251002_create_b"]


@pytest.mark.slow
def test_the_lock_follows_the_database_connected_to_not_the_url_spelling(project, engine):
    # A URL naming its database as ?dbname= (or not at all: the user's database) has no
    # database in its path; the key must still be the one the documented SQL computes,
    # or an old runner sharing the lock runs beside the bridge.
    project.table("20251001_create_a", "a")
    url = url_text(project.url.set(database="").update_query_dict({"dbname": project.url.database}))
    assert sa.engine.make_url(url).database == ""
    with engine.connect() as holder:
        holder.execute(sa.text(f"SELECT pg_advisory_lock({lock.LOCK_KEY_SQL})"))
        holder.commit()
        try:
            (project.root / "alembic.ini").write_text(
                (project.root / "alembic.ini")
                .read_text()
                .replace("path_separator = os", "path_separator = os\nlock_timeout = 1")
            )
            result = project.run("alembic", "upgrade", "head", env={"DATABASE_URL": url})
        finally:
            holder.execute(sa.text("SELECT pg_advisory_unlock_all()"))
            holder.commit()
    assert result.returncode == 255, result.output
    assert "still holds the bridge's lock after 1 s" in result.output
    assert project.rows() == [] and "a" not in project.tables()


# -- issue 21: the lock lives on the session that runs the migrations ----------------------

# A legacy migration that records, on an AUTOCOMMIT connection (committed at once, whatever
# happens to the run), that it started and how many other sessions were inside it at that
# moment; then, in its transaction, waits at the test's gate (a table the test keeps locked).
GATED = '''\
"""
Migration: gated
Purpose: records each start, then waits at the gate
"""
from sqlalchemy import text


def upgrade(engine):
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(
            "INSERT INTO starts SELECT pg_backend_pid(), count(*) FROM pg_stat_activity "
            "WHERE state = 'active' AND query LIKE 'SELECT count(*) FROM gate%' AND pid <> pg_backend_pid()"
        ))
    with engine.connect() as conn:
        trans = conn.begin()
        conn.execute(text("SELECT count(*) FROM gate"))
        conn.execute(text("CREATE TABLE gated (id int)"))
        trans.commit()


def downgrade(engine):
    with engine.connect() as conn:
        trans = conn.begin()
        conn.execute(text("DROP TABLE gated"))
        trans.commit()
'''

MAIN_BLOCK = '\n\nif __name__ == "__main__":\n    from bridge.manual import run_file\n\n    run_file(__file__)\n'


class Gate:
    """The test's session holding the gate table locked: a migration at the gate waits for `open`."""

    def __init__(self, project):
        project.sql("CREATE TABLE IF NOT EXISTS starts (pid int, others int)")
        project.sql("CREATE TABLE IF NOT EXISTS gate (id int)")
        self.engine = sa.create_engine(project.url, poolclass=sa.pool.NullPool)
        self.conn = self.engine.connect()
        self.conn.exec_driver_sql("LOCK TABLE gate IN ACCESS EXCLUSIVE MODE")

    def open(self) -> None:
        if not self.conn.closed:
            self.conn.rollback()
            self.conn.close()
            self.engine.dispose()


class _Runner(subprocess.Popen):
    """A runner in a subprocess whose stderr goes to a file, so a test can read it while it runs."""

    def __init__(self, argv, *, cwd, env, stderr_path):
        self.stderr_path = stderr_path
        with open(stderr_path, "w") as stderr:
            super().__init__(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True)

    def stderr_so_far(self) -> str:
        return self.stderr_path.read_text()

    def communicate(self, *args, **kwargs):
        out, _ = super().communicate(*args, **kwargs)
        return out, self.stderr_so_far()


def _popen(project, *argv, env=None):
    program = sys.executable if argv[0] == "python" else str(BIN / argv[0])
    argv = (program, *argv[1:])
    return _Runner(
        argv,
        cwd=project.root,
        env={**os.environ, "DATABASE_URL": url_text(project.url), **(env or {})},
        stderr_path=project.root.parent / f"stderr-{uuid.uuid4().hex}.txt",
    )


def _wait_until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def _starts(project) -> list[int]:
    """For each start of the gated migration, how many other sessions were inside it then."""
    return [r[0] for r in project.sql("SELECT others FROM starts ORDER BY ctid")]


def _advisory_holders(project) -> set[int]:
    return {
        r[0]
        for r in project.sql(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
    }


def _waiting_for_the_lock(runner) -> bool:
    """Whether *runner* has said it waits for the runner lock (polling leaves no trace in
    pg_locks, and pg_stat_activity shows its try-lock query only between it and its ROLLBACK)."""
    return "Waiting for another migration runner to finish" in runner.stderr_so_far()


@pytest.mark.slow
def test_terminating_the_lock_holder_mid_migration_never_lets_a_second_runner_run_it_alongside(project):
    project.table("20251001_create_a", "a")
    project.write("20251002_gated.py", GATED)
    project.table("20251003_create_c", "c")
    gate = Gate(project)
    first = second = None
    try:
        first = _popen(project, "alembic", "upgrade", "head")
        assert _wait_until(lambda: len(_starts(project)) == 1, 60), "the first runner never reached the gate"
        holders = _advisory_holders(project)  # the first runner's lock, whichever session holds it
        assert holders
        second = _popen(project, "alembic", "upgrade", "head")
        assert _wait_until(lambda: _waiting_for_the_lock(second), 60), "the second runner never waited"
        # What an administrator does to "the lock holder": terminate it.
        project.sql("SELECT pg_terminate_backend(pid) FROM unnest(CAST(:pids AS int[])) AS pid", pids=list(holders))
        assert _wait_until(lambda: len(_starts(project)) == 2, 60), "the second runner never started the migration"
    finally:
        gate.open()
        out1, err1 = first.communicate(timeout=60) if first else ("", "")
        out2, err2 = second.communicate(timeout=60) if second else ("", "")
    # When the second runner started the migration, the first one was no longer inside it.
    assert _starts(project) == [0, 0], (out1 + err1, out2 + err2)
    assert first.returncode != 0, out1 + err1  # its session was the lock's: its migration ended with it
    assert "lost its connection to the database" in out1 + err1
    assert "Traceback" not in out1 + err1
    assert second.returncode == 0, out2 + err2
    assert project.rows() == ["20251001_create_a", "20251002_gated", "20251003_create_c"]
    assert project.version() == ["20251003_create_c"] and {"gated", "c"} <= set(project.tables())


@pytest.mark.slow
def test_fleet_upgrade_of_the_public_schema_and_alembic_upgrade_head_exclude_each_other(project):
    project.table("20251001_create_a", "a")
    project.write("20251002_gated.py", GATED)
    gate = Gate(project)
    first = fleet = None
    try:
        first = _popen(project, "alembic", "upgrade", "head")
        assert _wait_until(lambda: len(_starts(project)) == 1, 60), "alembic upgrade head never reached the gate"
        fleet = _popen(
            project, "alembic-bridge", "--url", url_text(project.url), "fleet", "upgrade", "--schemas", "public"
        )
        # Running beside it, the fleet would start the migration too: give it the time to.
        _wait_until(lambda: len(_starts(project)) == 2 or fleet.poll() is not None, 5)
    finally:
        gate.open()
        out1, err1 = first.communicate(timeout=60) if first else ("", "")
        out2, err2 = fleet.communicate(timeout=60) if fleet else ("", "")
    assert _starts(project) == [0], (out1 + err1, out2 + err2)  # 20251002_gated ran once
    assert first.returncode == 0, out1 + err1
    assert fleet.returncode == 0, out2 + err2
    assert project.rows() == ["20251001_create_a", "20251002_gated"]
    assert project.version() == ["20251002_gated"]


@pytest.mark.slow
def test_a_file_reverted_by_hand_is_decided_under_the_lock_not_before_it(project):
    project.table("20250101_create_a", "a")
    path = project.table("20250102_create_b", "b")
    path.write_text(path.read_text() + MAIN_BLOCK)
    project.run("alembic", "upgrade", "head", check=True)
    project.write("20250103_gated.py", GATED)
    gate = Gate(project)
    upgrading = by_hand = None
    try:
        upgrading = _popen(project, "alembic", "upgrade", "head")
        assert _wait_until(lambda: len(_starts(project)) == 1, 60), "the upgrade never reached the gate"
        by_hand = _popen(project, "python", str(path), "--downgrade")  # sees 20250102_create_b as the head
        assert _wait_until(lambda: _waiting_for_the_lock(by_hand), 60), "the helper never waited"
    finally:
        gate.open()
        out1, err1 = upgrading.communicate(timeout=60) if upgrading else ("", "")
        out2, err2 = by_hand.communicate(timeout=60) if by_hand else ("", "")
    assert upgrading.returncode == 0, out1 + err1
    # When the lock came free, 20250103_gated was the head: reverting "this file" is refused.
    assert by_hand.returncode == 1, out2 + err2
    assert "reverted" not in out2
    assert "❌ 20250102_create_b is not the current head (20250103_gated)" in out2, out2 + err2
    assert "Traceback" not in out2 + err2
    assert project.rows() == ["20250101_create_a", "20250102_create_b", "20250103_gated"]
    assert project.version() == ["20250103_gated"] and "gated" in project.tables()


@pytest.mark.slow
def test_a_sql_script_takes_the_same_lock_as_an_online_run_when_it_is_applied(project, engine):
    project.table("20251001_create_a", "a")
    project.table("20251002_create_b", "b")
    script = project.run("alembic", "upgrade", "head", "--sql", check=True).stdout
    assert script.startswith("-- The bridge's runner lock (see bridge.lock)")
    with engine.connect() as online:
        with lock.runner_lock(online, None):  # an online run holds this schema's lock
            with engine.connect() as applying:  # an operator applies the script in one session
                applying.exec_driver_sql("SET lock_timeout = '300ms'")
                with pytest.raises(sa.exc.OperationalError, match="lock timeout"):
                    applying.exec_driver_sql(script)
                applying.rollback()
    assert project.rows() == [] and "a" not in project.tables()
    with engine.connect() as applying:
        applying.exec_driver_sql(script)
        assert applying.exec_driver_sql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'").scalar() == 0
    assert project.rows() == ["20251001_create_a", "20251002_create_b"] and project.version() == ["20251002_create_b"]


def test_a_run_waits_for_the_runner_lock_and_gives_up_after_lock_timeout_changing_nothing(tmp_path, database_url):
    # In-process and on real PostgreSQL: the fast tier's test of the runner lock.
    from conftest import make_project

    from bridge.errors import LockTimeout

    project = make_project(tmp_path / "project", database_url, "lock_timeout = 0.5\n")
    project.table("20251001_create_a", "a")
    holder = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    try:
        with holder.connect() as conn:
            conn.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": bridge.lock_key(database_url.database)})
            started = time.monotonic()
            with pytest.raises(LockTimeout):
                bridge.upgrade(project.config())
            waited = time.monotonic() - started
    finally:
        holder.dispose()
    assert 0.5 <= waited < 10
    assert project.version() == [] and project.rows() == []


CONCURRENT_INDEX = '''\
"""
Migration: builds an index concurrently on its AUTOCOMMIT connection
"""
from sqlalchemy import text


def upgrade(engine):
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("INSERT INTO starts VALUES (pg_backend_pid(), 0)"))
        conn.execute(text("SELECT count(*) FROM gate"))
        conn.execute(text("CREATE INDEX CONCURRENTLY a_id ON a (id)"))


def downgrade(engine):
    pass
'''


@pytest.mark.slow
def test_a_concurrent_index_build_on_an_autocommit_connection_stays_under_the_lock(project):
    # The AUTOCOMMIT statements run on the locked session: a second runner waits through
    # them (and its polling never holds up CREATE INDEX CONCURRENTLY, which waits for
    # older transactions), then finds the migration applied.
    project.table("20251001_create_a", "a")
    project.write("20251002_index_a.py", CONCURRENT_INDEX)
    gate = Gate(project)
    first = second = None
    try:
        first = _popen(project, "alembic", "upgrade", "head")
        assert _wait_until(lambda: len(_starts(project)) == 1, 60), "the first runner never reached the gate"
        second = _popen(project, "alembic", "upgrade", "head")
        assert _wait_until(lambda: _waiting_for_the_lock(second), 60), "the second runner never waited"
    finally:
        gate.open()
        out1, err1 = first.communicate(timeout=120) if first else ("", "")
        out2, err2 = second.communicate(timeout=120) if second else ("", "")
    assert first.returncode == 0 and second.returncode == 0, (out1 + err1, out2 + err2)
    assert len(_starts(project)) == 1, (out1 + err1, out2 + err2)  # the second runner never started it
    assert "Waiting for another migration runner to finish" in err2
    assert project.rows() == ["20251001_create_a", "20251002_index_a"]
    assert project.sql("SELECT indisvalid FROM pg_index WHERE indexrelid = 'a_id'::regclass") == [(True,)]
