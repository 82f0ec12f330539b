"""`python run.py start` with nothing pending: decided from the files and one query, without Alembic."""

from __future__ import annotations

import shutil

import pytest
from conftest import REPO, Project, legacy_source

# Runs run.py's main as `python run.py start` does, then says whether Alembic was imported.
PROBE = (
    "import sys; from bridge.cli.runpy import main; code = main(['start']); "
    "print('ALEMBIC LOADED' if 'alembic' in sys.modules else 'NO ALEMBIC'); sys.exit(code)"
)


@pytest.fixture
def repo(tmp_path, database_url) -> Project:
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copy(REPO / "run.py", root / "run.py")
    shutil.copy(REPO / "alembic.ini", root / "alembic.ini")
    shutil.copytree(REPO / "migrations", root / "migrations", ignore=shutil.ignore_patterns("__pycache__"))
    return Project(root, database_url)


@pytest.mark.slow
def test_a_start_with_nothing_pending_never_imports_alembic_and_logs_as_before(repo):
    first = repo.run("python", "-c", PROBE, check=True)
    assert "ALEMBIC LOADED" in first.output and "Applied migration" in first.output
    second = repo.run("python", "-c", PROBE, check=True)
    assert "NO ALEMBIC" in second.output
    assert "No pending migrations; the database is up to date." in second.output
    assert "Database: " in second.output and "Database is ready (no APP_COMMAND configured" in second.output
    log = (repo.root / "logs" / "migrations.log").read_text()
    assert log.count("No pending migrations") == 1


@pytest.mark.slow
def test_a_new_file_or_rows_that_disagree_take_the_full_path(repo):
    repo.run("python", "run.py", "start", check=True)
    (repo.root / "migrations" / "20991231_later.py").write_text(
        legacy_source("CREATE TABLE IF NOT EXISTS later (id int)", "DROP TABLE IF EXISTS later")
    )
    pending = repo.run("python", "-c", PROBE, check=True)
    assert "ALEMBIC LOADED" in pending.output and "Applied migration 20991231_later" in pending.output
    repo.sql("DELETE FROM schema_migrations WHERE migration_name = '20991231_later'")
    backfill = repo.run("python", "-c", PROBE, check=True)
    assert "ALEMBIC LOADED" in backfill.output  # reconcile writes the row back
    assert repo.rows()[-1] == "20991231_later"
    assert "NO ALEMBIC" in repo.run("python", "-c", PROBE, check=True).output


def test_an_unreachable_database_still_fails_with_the_reason(repo):
    result = repo.run("python", "-c", PROBE, env={"DATABASE_URL": "postgresql://u:hunter2pw@127.0.0.1:1/x"})
    assert result.returncode == 1 and "Cannot connect to postgresql://u:***@127.0.0.1:1/x" in result.output
    assert "hunter2pw" not in result.output


NATIVE_IN_A_SUBFOLDER = '''"""a native revision in a sub-folder"""
from alembic import op

revision = "native_sub"
down_revision = "20251118_create_order_events"


def upgrade():
    op.execute("CREATE TABLE native_sub_t (id int)")


def downgrade():
    op.execute("DROP TABLE native_sub_t")
'''


@pytest.mark.slow
def test_a_native_revision_where_only_alembic_looked_is_applied_then_decided_quickly(repo):
    ini = repo.root / "alembic.ini"
    ini.write_text(
        ini.read_text().replace("path_separator = os\n", "path_separator = os\nrecursive_version_locations = true\n")
    )
    repo.run("python", "run.py", "start", check=True)
    sub = repo.root / "migrations" / "versions" / "2026"
    sub.mkdir(parents=True)
    (sub / "native_sub.py").write_text(NATIVE_IN_A_SUBFOLDER)
    pending = repo.run("python", "-c", PROBE, check=True)
    assert "Applied migration native_sub" in pending.output
    assert repo.sql("SELECT to_regclass('native_sub_t') IS NOT NULL") == [(True,)]
    # At head with a native revision: decided from the files, Alembic's revision map and one
    # query; env.py (and so the lock and the reconciliation) never runs.
    probe = PROBE.replace(
        "sys.exit(code)", "print('ENV.PY RAN' if 'bridge.env' in sys.modules else 'NO ENV.PY'); sys.exit(code)"
    )
    again = repo.run("python", "-c", probe, check=True)
    assert "No pending migrations; the database is up to date." in again.output
    assert "ALEMBIC LOADED" in again.output and "NO ENV.PY" in again.output
    assert "ENV.PY RAN" in repo.run("python", "-c", probe.replace("['start']", "['migrate']"), check=True).output


@pytest.mark.slow
def test_an_env_py_that_picks_its_own_database_always_takes_the_full_path(repo):
    repo.run("python", "run.py", "start", check=True)
    env = repo.root / "migrations" / "env.py"
    env.write_text("import os\n" + env.read_text())  # any change: no longer the bridge's own env.py
    result = repo.run("python", "-c", PROBE, check=True)
    assert "ALEMBIC LOADED" in result.output and "No pending migrations" in result.output
