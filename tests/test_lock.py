"""The runner lock: a stable, public advisory-lock key, and what happens when the lock is lost."""

from __future__ import annotations

import os
import subprocess
import time

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
# happens to the run), that it started and how many other sessions were inside the same
# migration at that moment; then works for a while inside its transaction.
SLOW_STARTS = '''\
"""
Migration: slow
Purpose: records each start, then works for a while
"""
from sqlalchemy import text


def upgrade(engine):
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS starts (pid int, others int)"))
        conn.execute(text(
            "INSERT INTO starts SELECT pg_backend_pid(), count(*) FROM pg_stat_activity "
            "WHERE state = 'active' AND query LIKE 'SELECT pg_sleep(%' AND pid <> pg_backend_pid()"
        ))
    with engine.connect() as conn:
        trans = conn.begin()
        conn.execute(text("SELECT pg_sleep({seconds})"))
        conn.execute(text("CREATE TABLE slow (id int)"))
        trans.commit()


def downgrade(engine):
    with engine.connect() as conn:
        trans = conn.begin()
        conn.execute(text("DROP TABLE slow"))
        trans.commit()
'''

MAIN_BLOCK = '\n\nif __name__ == "__main__":\n    from bridge.manual import run_file\n\n    run_file(__file__)\n'


def _popen(project, *argv, env=None):
    argv = [str(BIN / argv[0]) if argv[0] in ("alembic", "alembic-bridge") else argv[0], *argv[1:]]
    return subprocess.Popen(
        argv,
        cwd=project.root,
        env={**os.environ, "DATABASE_URL": url_text(project.url), **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_until(predicate, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting until {what}")


def _starts(project) -> list[tuple[int, int]]:
    if not project.sql("SELECT to_regclass('starts') IS NOT NULL")[0][0]:
        return []
    return [tuple(r) for r in project.sql("SELECT pid, others FROM starts ORDER BY 1")]


def _advisory_holders(project) -> set[int]:
    return {
        r[0]
        for r in project.sql(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
    }


@pytest.mark.slow
def test_terminating_the_lock_holder_mid_migration_never_lets_a_second_runner_run_it_alongside(project):
    project.table("20251001_create_a", "a")
    project.write("20251002_slow.py", SLOW_STARTS.format(seconds=4))
    project.table("20251003_create_c", "c")
    first = _popen(project, "alembic", "upgrade", "head")
    try:
        _wait_until(lambda: len(_starts(project)) == 1, "the first runner is inside 20251002_slow")
        holders = _advisory_holders(project)  # the first runner's lock, whichever session holds it
        assert holders
        second = _popen(project, "alembic", "upgrade", "head")
        time.sleep(1)  # the second runner is waiting for the lock
        assert second.poll() is None
        # What an administrator does to "the lock holder": terminate it.
        project.sql("SELECT pg_terminate_backend(pid) FROM unnest(CAST(:pids AS int[])) AS pid", pids=list(holders))
        out2, err2 = second.communicate(timeout=60)
    finally:
        out1, err1 = first.communicate(timeout=60)
    starts = _starts(project)
    # The second runner never started the migration while the first one's transaction was open.
    assert [others for _, others in starts] == [0, 0], (starts, out1 + err1, out2 + err2)
    assert first.returncode != 0, out1 + err1  # its session was the lock's: its migration died with it
    assert "lost its connection to the database" in out1 + err1
    assert "Traceback" not in out1 + err1
    assert second.returncode == 0, out2 + err2
    assert project.rows() == ["20251001_create_a", "20251002_slow", "20251003_create_c"]
    assert project.version() == ["20251003_create_c"] and {"slow", "c"} <= set(project.tables())


@pytest.mark.slow
def test_fleet_upgrade_of_the_public_schema_and_alembic_upgrade_head_exclude_each_other(project):
    project.table("20251001_create_a", "a")
    project.write("20251002_slow.py", SLOW_STARTS.format(seconds=3))
    first = _popen(project, "alembic", "upgrade", "head")
    try:
        _wait_until(lambda: len(_starts(project)) == 1, "alembic upgrade head is inside 20251002_slow")
        fleet = project.run("alembic-bridge", "--url", url_text(project.url), "fleet", "upgrade", "--schemas", "public")
    finally:
        out1, err1 = first.communicate(timeout=60)
    assert first.returncode == 0, out1 + err1
    assert fleet.returncode == 0, fleet.output
    assert len(_starts(project)) == 1, (_starts(project), fleet.output)  # 20251002_slow ran once
    assert project.rows() == ["20251001_create_a", "20251002_slow"]
    assert project.version() == ["20251002_slow"]


@pytest.mark.slow
def test_a_file_reverted_by_hand_is_decided_under_the_lock_not_before_it(project):
    project.table("20250101_create_a", "a")
    path = project.table("20250102_create_b", "b")
    path.write_text(path.read_text() + MAIN_BLOCK)
    project.run("alembic", "upgrade", "head", check=True)
    project.write("20250103_slow.py", SLOW_STARTS.format(seconds=3))
    upgrading = _popen(project, "alembic", "upgrade", "head")
    try:
        _wait_until(lambda: len(_starts(project)) == 1, "an upgrade is inside 20250103_slow")
        by_hand = project.run("python", str(path), "--downgrade")
    finally:
        out, err = upgrading.communicate(timeout=60)
    assert upgrading.returncode == 0, out + err
    # When the lock came free, 20250103_slow was the head: reverting "this file" is refused.
    assert by_hand.returncode == 1, by_hand.output
    assert "reverted" not in by_hand.stdout
    assert "❌ 20250102_create_b is not the current head (20250103_slow)" in by_hand.stdout, by_hand.output
    assert "Traceback" not in by_hand.output
    assert project.rows() == ["20250101_create_a", "20250102_create_b", "20250103_slow"]
    assert project.version() == ["20250103_slow"] and "slow" in project.tables()


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
