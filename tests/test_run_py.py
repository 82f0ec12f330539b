"""``python run.py start|restart|stop|status|migrate``: the legacy entry point on the bridge."""

from __future__ import annotations

import re
import shutil
import time

import pytest
from conftest import REPO, Project, legacy_source

SAMPLES = sorted(p.stem for p in (REPO / "migrations").glob("2*.py"))


def copy_repo(root, database_url) -> Project:
    """A copy of this repository's layout: run.py, alembic.ini, migrations/."""
    root.mkdir()
    shutil.copy(REPO / "run.py", root / "run.py")
    shutil.copy(REPO / "alembic.ini", root / "alembic.ini")
    shutil.copytree(REPO / "migrations", root / "migrations", ignore=shutil.ignore_patterns("__pycache__"))
    return Project(root, database_url)


@pytest.fixture
def repo(tmp_path, database_url) -> Project:
    return copy_repo(tmp_path / "repo", database_url)


@pytest.mark.slow
def test_start_applies_every_migration_logs_each_and_a_second_start_applies_nothing(repo):
    first = repo.run("python", "run.py", "start", check=True)
    for stem in SAMPLES:
        assert f"Applied migration {stem} (" in first.output
    assert "Database is ready (no APP_COMMAND configured" in first.output
    assert repo.rows() == SAMPLES
    log = (repo.root / "logs" / "migrations.log").read_text()
    assert all(f"Applied migration {stem}" in log for stem in SAMPLES)
    second = repo.run("python", "run.py", "start", check=True)
    assert "No pending migrations; the database is up to date." in second.output
    assert "Applied migration" not in second.output


@pytest.mark.slow
def test_status_shows_the_database_head_and_pending(repo):
    repo.run("python", "run.py", "migrate", check=True)
    new = repo.root / "migrations" / "20991231_later.py"
    new.write_text(legacy_source("CREATE TABLE IF NOT EXISTS later (id int)", "DROP TABLE IF EXISTS later"))
    result = repo.run("python", "run.py", "status", check=True)
    assert "Head:     20991231_later" in result.output
    assert "Pending:  1" in result.output and "pending  20991231_later" in result.output
    assert "***" in result.output or "@" not in result.output


@pytest.mark.slow
def test_the_app_starts_after_migrating_and_stop_stops_it(repo):
    app = {"APP_COMMAND": "python -c 'import time; time.sleep(60)'"}
    started = repo.run("python", "run.py", "start", env=app, check=True)
    assert "Started application (pid " in started.output
    pid = int((repo.root / ".bridge" / "app.pid").read_text())
    stopped = repo.run("python", "run.py", "stop", env=app, check=True)
    assert f"Stopped application (pid {pid})" in stopped.output
    time.sleep(0.2)
    import os

    with pytest.raises(OSError):
        os.kill(pid, 0)


@pytest.mark.slow
def test_the_app_never_starts_on_a_half_migrated_database(repo):
    (repo.root / "migrations" / "20991231_broken.py").write_text(
        "from sqlalchemy import text\n\ndef upgrade(engine):\n    with engine.begin() as c:\n        c.execute(text('SELECT * FROM nowhere'))\n"
    )
    result = repo.run("python", "run.py", "start", env={"APP_COMMAND": "python -c 'print(1)'"})
    assert result.returncode == 1
    assert "20991231_broken.py:5: SQL failed" in result.output
    assert not (repo.root / ".bridge" / "app.pid").exists()
    assert repo.rows() == SAMPLES  # everything before the broken file is applied, each atomically


@pytest.mark.slow
def test_an_unreachable_database_fails_start_with_the_reason(repo):
    result = repo.run("python", "run.py", "start", env={"DATABASE_URL": "postgresql://u:pw-secret@127.0.0.1:1/x"})
    assert result.returncode == 1
    assert "Cannot connect to postgresql://u:***@127.0.0.1:1/x (DATABASE_URL from the environment)" in result.output
    assert "pw-secret" not in result.output and "Traceback" not in result.output


@pytest.mark.slow
def test_with_nothing_configured_start_uses_the_embedded_postgresql_and_stop_stops_it(tmp_path):
    repo = copy_repo(tmp_path / "fresh", None)
    clean = {"DATABASE_URL": ""}
    started = repo.run("python", "run.py", "start", env=clean, check=True, timeout=300)
    assert "Started embedded PostgreSQL in" in started.output
    # News, not a warning (logs/migrations.log keeps each line's level).
    logged = (repo.root / "logs" / "migrations.log").read_text()
    assert re.search(r" INFO Started embedded PostgreSQL in ", logged), logged
    assert "Database: embedded PostgreSQL in" in started.output
    assert started.output.count("Applied migration ") == len(SAMPLES)
    again = repo.run("python", "run.py", "start", env=clean, check=True)
    assert "No pending migrations" in again.output and "Started embedded" not in again.output
    stopped = repo.run("python", "run.py", "stop", env=clean, check=True)
    assert "Stopped embedded PostgreSQL in" in stopped.output
    from bridge.embedded import is_running

    assert not is_running(repo.root / ".bridge" / "postgres")


@pytest.mark.slow
def test_restart_stops_the_app_then_starts_it_again_after_migrating(repo):
    app = {"APP_COMMAND": "python -c 'import time; time.sleep(60)'"}
    repo.run("python", "run.py", "start", env=app, check=True)
    first = int((repo.root / ".bridge" / "app.pid").read_text())
    restarted = repo.run("python", "run.py", "restart", env=app, check=True)
    second = int((repo.root / ".bridge" / "app.pid").read_text())
    assert f"Stopped application (pid {first})" in restarted.output
    assert "No pending migrations" in restarted.output
    assert f"Started application (pid {second})" in restarted.output and second != first
    repo.run("python", "run.py", "stop", env=app, check=True)
