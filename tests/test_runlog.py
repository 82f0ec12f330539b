"""The run log (bridge.runlog) is a record, not a gate: best effort, created only by a run that applies something.

A read-only role (SELECT only, no CREATE, not a superuser) must be able to run
every read command and a no-op upgrade on a database without the run-log
table; a run-log table that cannot be written (a dropped column) costs one
WARNING, never a migration.
"""

from __future__ import annotations

import logging
import shutil
import uuid

import pytest
import sqlalchemy as sa
from conftest import REPO, Project, legacy_source, make_project, url_text

from bridge import runner

LOG = "alembic_bridge_log"


def _admin(url):
    return sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)


@pytest.fixture
def reader(database_url):
    """Return a function that makes a SELECT-only, non-superuser role on the test database; its URL."""
    roles: list[str] = []

    def make(schema: str = "public"):
        role = f"reader_{uuid.uuid4().hex[:10]}"
        roles.append(role)
        engine = _admin(database_url)
        with engine.connect() as conn:
            conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN PASSWORD 'read-only' NOSUPERUSER NOCREATEDB NOCREATEROLE")
            conn.exec_driver_sql("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
            conn.exec_driver_sql(f'REVOKE CREATE, TEMPORARY ON DATABASE "{database_url.database}" FROM PUBLIC')
            conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA {schema} TO {role}")
            conn.exec_driver_sql(f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {role}")
            conn.exec_driver_sql(f"GRANT SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {role}")
        engine.dispose()
        return database_url.set(username=role, password="read-only")

    yield make
    engine = _admin(database_url)
    with engine.connect() as conn:
        for role in roles:
            conn.exec_driver_sql(f"DROP OWNED BY {role}")
            conn.exec_driver_sql(f"DROP ROLE {role}")
    engine.dispose()


def _log_exists(url) -> bool:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return conn.exec_driver_sql(f"SELECT to_regclass('{LOG}') IS NOT NULL").scalar()
    finally:
        engine.dispose()


# -- in process ------------------------------------------------------------------------------


def test_a_no_op_upgrade_does_not_create_the_run_log_table(project):
    project.table("20251001_create_a", "a")
    runner.upgrade(project.config())
    project.sql(f"DROP TABLE {LOG}")
    result = runner.upgrade(project.config())
    assert result.steps == []
    assert not _log_exists(project.url)


def test_a_run_that_applies_something_creates_the_run_log_and_logs_its_step(project):
    project.table("20251001_create_a", "a")
    runner.upgrade(project.config())
    rows = project.sql(f"SELECT revision, outcome FROM {LOG}")
    assert rows == [("20251001_create_a", "applied")]


def test_a_run_log_with_a_dropped_column_costs_one_warning_and_no_migration(project, caplog):
    project.table("20251001_create_a", "a")
    runner.upgrade(project.config())
    project.sql(f"ALTER TABLE {LOG} DROP COLUMN host")
    project.table("20251002_create_b", "b")
    project.table("20251003_create_c", "c")
    with caplog.at_level(logging.WARNING, logger="bridge"):
        result = runner.upgrade(project.config())
    assert [s.revision for s in result.steps] == ["20251002_create_b", "20251003_create_c"]
    assert project.rows() == ["20251001_create_a", "20251002_create_b", "20251003_create_c"]
    assert {"a", "b", "c"} <= set(project.tables())
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    message = warnings[0].getMessage()
    assert LOG in message and "host" in message and "20251002_create_b" in message
    assert "applied" in message


def test_a_run_log_with_a_dropped_column_is_still_read_by_status_and_log(project):
    project.table("20251001_create_a", "a")
    runner.upgrade(project.config())
    project.sql(f"ALTER TABLE {LOG} DROP COLUMN host")
    [row] = runner.run_log(project.config())
    assert (row["revision"], row["outcome"], row["host"]) == ("20251001_create_a", "applied", None)
    assert [r["revision"] for r in runner.status(project.config()).last_run] == ["20251001_create_a"]


def test_a_password_in_a_row_written_before_masking_is_hidden_when_read(project):
    # A database whose run log an older bridge (or a hand) wrote: the bridge knows the password now.
    from bridge.masking import forget_all, remember_url

    project.table("20251001_create_a", "a")
    runner.upgrade(project.config())
    project.sql(f"UPDATE {LOG} SET error = :e", e="why: S3cr@t-Old-Row")
    remember_url("postgresql://app:S3cr%40t-Old-Row@h/d")
    try:
        [row] = runner.run_log(project.config())
        [last] = runner.status(project.config()).last_run
    finally:
        forget_all()
    assert row["error"] == last["error"] == "why: ***"


def test_a_failed_migration_is_still_logged_when_it_was_the_runs_first_step(project):
    project.write("20251001_fail.py", legacy_source("SELECT * FROM nowhere"))
    with pytest.raises(Exception, match="nowhere"):
        runner.upgrade(project.config())
    assert project.sql(f"SELECT revision, outcome FROM {LOG}") == [("20251001_fail", "failed")]


# -- a read-only role, end to end ------------------------------------------------------------


@pytest.fixture
def migrated_repo(tmp_path, database_url) -> Project:
    """This repository's layout (run.py, alembic.ini, migrations/) migrated, then its run log dropped
    (as on a database migrated before the run log existed, or by the old runner)."""
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copy(REPO / "run.py", root / "run.py")
    shutil.copy(REPO / "alembic.ini", root / "alembic.ini")
    shutil.copytree(REPO / "migrations", root / "migrations", ignore=shutil.ignore_patterns("__pycache__"))
    repo = Project(root, database_url)
    repo.run("alembic", "upgrade", "head", check=True)
    repo.sql(f"DROP TABLE {LOG}")
    return repo


READ_AND_NO_OP = [
    ("alembic", "upgrade", "head"),
    ("alembic", "current"),
    ("alembic", "history"),
    ("alembic-bridge", "upgrade"),
    ("alembic-bridge", "status"),
    ("alembic-bridge", "log"),
    ("alembic-bridge", "check"),
    ("python", "run.py", "start"),
    ("alembic", "heads"),
    ("alembic-bridge", "upgrade", "--dry-run"),
    ("alembic-bridge", "sync", "--dry-run"),
    ("alembic-bridge", "repair"),
    ("alembic-bridge", "fleet", "status", "--schemas", "public"),
    ("alembic-bridge", "fleet", "plan", "--schemas", "public"),
    ("alembic-bridge", "fleet", "upgrade", "--schemas", "public"),
    ("python", "run.py", "status"),
]


@pytest.mark.slow
def test_a_read_only_role_runs_every_read_command_and_a_no_op_upgrade_without_the_run_log(migrated_repo, reader):
    url = url_text(reader())
    for argv in READ_AND_NO_OP:
        result = migrated_repo.run(*argv, env={"DATABASE_URL": url})
        assert result.returncode == 0, f"{argv}: {result.output}"
        assert "Traceback" not in result.output and "ERROR" not in result.output, f"{argv}: {result.output}"
        assert "permission denied" not in result.output, f"{argv}: {result.output}"
    upgrade = migrated_repo.run("alembic-bridge", "upgrade", env={"DATABASE_URL": url})
    assert "Nothing to apply" in upgrade.output
    assert not _log_exists(migrated_repo.url)


@pytest.mark.slow
def test_a_run_log_with_a_dropped_column_warns_once_under_stock_alembic_and_applies_everything(project):
    project.table("20251001_create_a", "a")
    project.run("alembic", "upgrade", "head", check=True)
    project.sql(f"ALTER TABLE {LOG} DROP COLUMN db_user")
    project.table("20251002_create_b", "b")
    project.table("20251003_create_c", "c")
    result = project.run("alembic", "upgrade", "head")
    assert result.returncode == 0, result.output
    assert "Traceback" not in result.output
    assert result.output.count("WARNI") == 1, result.output
    assert project.rows() == ["20251001_create_a", "20251002_create_b", "20251003_create_c"]


@pytest.mark.slow
def test_a_role_that_may_not_read_the_run_log_still_gets_status_and_a_clear_log_error(tmp_path, database_url, reader):
    project = make_project(tmp_path / "project", database_url)
    project.table("20251001_create_a", "a")
    project.run("alembic", "upgrade", "head", check=True)
    url = reader()
    project.sql(f"REVOKE SELECT ON {LOG} FROM {url.username}")
    env = {"DATABASE_URL": url_text(url)}
    status = project.run("alembic-bridge", "status", env=env)
    assert status.returncode == 0, status.output
    assert f"The run log ({LOG}) could not be read" in status.output and "Traceback" not in status.output
    assert "20251001_create_a" in status.output
    log = project.run("alembic-bridge", "log", env=env)
    assert log.returncode == 1 and "Traceback" not in log.output
    assert f"The run log ({LOG}) could not be read: permission denied for table {LOG}" in log.output
    assert f"Grant this role SELECT on {LOG}" in log.output
    assert project.run("alembic", "upgrade", "head", env=env).returncode == 0
