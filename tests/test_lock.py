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

# A legacy migration that ends the bridge's lock session, as pg_terminate_backend,
# idle_session_timeout or a network drop would.
KILL_THE_LOCK_SESSION = (
    "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted "
    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "AND pid <> pg_backend_pid()"
)


def test_the_lock_key_of_a_database_never_changes():
    # Old runners that share the lock compute this same number: it must never change silently.
    assert bridge.lock_key("trading_system") == 7792003332590520080
    assert lock.lock_key("trading_system") == 7792003332590520080
    assert 0 < bridge.lock_key("") < 2**63


def test_the_documented_sql_computes_the_same_key_on_the_server(engine):
    with engine.connect() as conn:
        key = conn.execute(sa.text(f"SELECT {lock.LOCK_KEY_SQL}")).scalar()
    assert key == bridge.lock_key(engine.url.database)
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


@pytest.mark.slow
def test_losing_the_lock_stops_the_run_before_the_next_migration_and_names_it(project):
    project.table("20251001_create_a", "a")
    project.write("20251002_kill_lock.py", legacy_source(KILL_THE_LOCK_SESSION))
    project.table("20251003_create_c", "c")
    result = project.run("alembic", "upgrade", "head")
    assert result.returncode == 255, result.output
    assert (
        "FAILED: The bridge's migration lock was lost (its database session ended: "
        "terminated by an administrator, idle_session_timeout, or a network drop) after "
        "20251002_kill_lock; 20251003_create_c was not run, and nothing after it." in result.output
    )
    assert "Another runner may have started: run `alembic upgrade head` again" in result.output
    assert "Traceback" not in result.output and "pg_advisory_unlock" not in result.output
    assert project.rows() == ["20251001_create_a", "20251002_kill_lock"]
    assert project.version() == ["20251002_kill_lock"] and "c" not in project.tables()
    again = project.run("alembic", "upgrade", "head")
    # The file kills the lock again, but no migration follows it any more.
    assert again.returncode == 0, again.output
    assert project.rows() == ["20251001_create_a", "20251002_kill_lock", "20251003_create_c"]


@pytest.mark.slow
def test_losing_the_lock_through_alembic_bridge_upgrade_exits_1_and_counts_what_ran(project):
    project.table("20251001_create_a", "a")
    project.write("20251002_kill_lock.py", legacy_source(KILL_THE_LOCK_SESSION))
    project.table("20251003_create_c", "c")
    result = project.run("alembic-bridge", "upgrade")
    assert result.returncode == 1, result.output
    assert "Error: The bridge's migration lock was lost" in result.stderr
    assert "20251003_create_c was not run" in result.stderr
    assert project.rows() == ["20251001_create_a", "20251002_kill_lock"]


@pytest.mark.slow
def test_a_failed_unlock_after_a_successful_run_is_a_warning_not_a_failure(project):
    project.table("20251001_create_a", "a")
    project.write("20251002_kill_lock.py", legacy_source(KILL_THE_LOCK_SESSION))
    result = project.run("alembic", "upgrade", "head")
    assert result.returncode == 0, result.output
    assert (
        "[bridge.lock] Could not release the bridge's migration lock: its session had "
        "already ended (which released it). The run itself succeeded." in result.stderr
    )
    assert "Traceback" not in result.output
    assert project.rows() == ["20251001_create_a", "20251002_kill_lock"]


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
