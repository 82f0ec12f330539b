"""The legacy table's shape: ``legacy_table``, ``legacy_name_column``, ``legacy_applied_column``.

Runners of the legacy family name the table and its columns differently
(``filename``, ``version``, ``name``): every path (runs, status, sync, the
``run.py start`` pre-check, fleet, ``--sql``) reads the configured names, and a
table without the configured column is one clear error naming the table, the
column and the option.
"""

from __future__ import annotations

import shutil

import pytest
from conftest import REPO, Project, make_project, url_text

from bridge import checks, runner
from bridge.context import set_request
from bridge.errors import ConfigError
from bridge.fleet import api
from bridge.fleet.precheck import single_database_at_head
from bridge.fleet.targets import Target

FILENAME_TABLE = (
    "CREATE TABLE {table} (id SERIAL PRIMARY KEY, filename VARCHAR(255) UNIQUE NOT NULL, "
    "applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)"
)
CUSTOM = "legacy_table = migration_history\nlegacy_name_column = filename\n"


@pytest.fixture
def filename_project(tmp_path, database_url):
    """A project whose old runner keeps its history in ``schema_migrations(filename)``, one file applied."""
    project = make_project(tmp_path / "project", database_url)
    project.table("20251001_create_a", "a")
    project.table("20251002_create_b", "b")
    project.sql(FILENAME_TABLE.format(table="schema_migrations"))
    project.sql("CREATE TABLE a (id SERIAL PRIMARY KEY)")
    project.sql("INSERT INTO schema_migrations (filename) VALUES ('20251001_create_a.py')")
    return project


def _configure(project, options: str) -> None:
    ini = project.root / "alembic.ini"
    ini.write_text(ini.read_text().replace("path_separator = os\n", f"path_separator = os\n{options}", 1))


MISSING = (
    "The legacy table schema_migrations has no column migration_name, which legacy_name_column names "
    "(default migration_name); its columns are id, filename, applied_at. Set legacy_name_column = filename "
    "in the [alembic] section of alembic.ini"
)


def test_a_table_without_the_configured_column_is_one_clear_error_and_nothing_is_written(filename_project):
    project = filename_project
    with pytest.raises(ConfigError) as status_error:
        runner.status(project.config())
    assert MISSING in str(status_error.value)
    with pytest.raises(ConfigError, match="has no column migration_name"):
        runner.upgrade(project.config())
    with pytest.raises(ConfigError, match="has no column migration_name"):
        runner.sync_tables(project.config())
    assert project.version() == [] and "b" not in project.tables()


def test_the_configured_name_column_is_read_and_written_by_runs_status_and_sync(filename_project):
    project = filename_project
    _configure(project, "legacy_name_column = filename\n")
    status = runner.status(project.config())
    assert [m.revision for m in status.pending] == ["20251002_create_b"]
    result = runner.upgrade(project.config())
    assert [s.revision for s in result.steps] == ["20251002_create_b"]  # a adopted, not run again
    rows = project.sql("SELECT filename FROM schema_migrations ORDER BY id")
    assert rows == [("20251001_create_a.py",), ("20251002_create_b.py",)]  # the old runner's format kept
    assert runner.sync_tables(project.config()).changes == []
    runner.downgrade(project.config(), "20251001_create_a")
    assert project.sql("SELECT filename FROM schema_migrations") == [("20251001_create_a.py",)]


def test_the_plans_and_warnings_name_the_configured_table(filename_project, caplog):
    project = filename_project
    project.sql("ALTER TABLE schema_migrations RENAME TO migration_history")
    project.sql("INSERT INTO migration_history (filename) VALUES ('20240101_gone.py')")
    _configure(project, CUSTOM)
    problems = checks.run_checks(project.config())
    assert any(p.startswith("20240101_gone: in migration_history, but the file is gone.") for p in problems), problems
    plan = runner.sync_tables(project.config(), dry_run=True)
    assert plan.changes == ["alembic_version: set to 20251001_create_a (adopt a database migrated by the old runner)"]
    assert "migration_history has rows for files that are not in the legacy directory: 20240101_gone" in caplog.text
    project.sql("DELETE FROM migration_history WHERE filename = '20240101_gone.py'")
    runner.upgrade(project.config())
    project.sql("DELETE FROM migration_history WHERE filename LIKE '20251002_create_b%'")
    assert runner.sync_tables(project.config()).changes == [
        "migration_history: insert 20251002_create_b (backfill: alembic_version is past it)"
    ]


def test_a_table_of_another_name_and_shape_is_created_with_the_configured_names(project):
    _configure(
        project, "legacy_table = migration_history\nlegacy_name_column = version\nlegacy_applied_column = run_on\n"
    )
    project.table("20251001_create_a", "a")
    runner.upgrade(project.config())
    assert project.sql("SELECT version FROM migration_history") == [("20251001_create_a",)]
    columns = project.sql(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'migration_history' ORDER BY ordinal_position"
    )
    assert columns == [("id",), ("version",), ("run_on",)]
    assert "schema_migrations" not in project.tables()


def test_a_configured_applied_column_the_table_lacks_is_refused(filename_project):
    _configure(filename_project, "legacy_name_column = filename\nlegacy_applied_column = run_on\n")
    with pytest.raises(ConfigError, match="has no column run_on, which legacy_applied_column names"):
        runner.status(filename_project.config())


@pytest.mark.parametrize("option", ["legacy_table", "legacy_name_column", "legacy_applied_column"])
@pytest.mark.parametrize("value", ["public.schema_migrations", '"quoted"', "two words", "1st"])
def test_a_name_that_is_not_a_plain_identifier_is_refused_naming_the_option(project, option, value):
    _configure(project, f"{option} = {value}\n")
    with pytest.raises(ConfigError, match=f"{option} = .* is not a plain table or column name"):
        runner.status(project.config())


def test_the_run_py_start_pre_check_reads_the_configured_table(filename_project):
    project = filename_project
    _configure(project, "legacy_name_column = filename\n")
    runner.upgrade(project.config())
    (project.root / ".env").write_text(f"DATABASE_URL={url_text(project.url)}\n")
    assert single_database_at_head(project.root / "alembic.ini") is not None


def test_the_fleet_pre_check_reads_the_configured_table_in_every_tenant(project):
    _configure(project, CUSTOM)
    project.table("20251001_create_a", "a")
    for schema in ("tenant_a", "tenant_b"):
        project.sql(f"CREATE SCHEMA {schema}")
    config = project.config()
    set_request(config, schema="tenant_a")
    runner.upgrade(config)
    assert project.sql("SELECT filename FROM tenant_a.migration_history") == [("20251001_create_a",)]
    expected, _ = api.expected_of(project.config())
    targets = [Target("tenant_a", schema="tenant_a"), Target("tenant_b", schema="tenant_b")]
    checked = api.check(project.config(), targets, expected)
    assert [(c.target.name, c.verdict.at_head) for c in checked] == [("tenant_a", True), ("tenant_b", False)]
    assert checked[0].verdict.reason == "at head"  # read from migration_history(filename), not schema_migrations
    checked = api.check(project.config(), [Target("db", url_text(project.url))], expected)
    assert checked[0].error is None and checked[0].verdict.reason == "new database"


@pytest.mark.slow
def test_sql_scripts_write_the_configured_table(project):
    _configure(project, CUSTOM)
    project.table("20251001_create_a", "a")
    result = project.run("alembic", "upgrade", "head", "--sql", check=True)
    assert "CREATE TABLE IF NOT EXISTS migration_history" in result.stdout
    assert "INSERT INTO migration_history (filename) VALUES ('20251001_create_a')" in result.stdout


# -- every front end, end to end -------------------------------------------------------------


@pytest.mark.slow
def test_every_front_end_reports_the_missing_column_without_a_traceback(filename_project):
    project = filename_project
    shutil.copy(REPO / "run.py", project.root / "run.py")
    for argv in (
        ("alembic", "upgrade", "head"),
        ("alembic-bridge", "status"),
        ("alembic-bridge", "sync"),
        ("alembic-bridge", "upgrade"),
        ("python", "run.py", "start"),
    ):
        result = project.run(*argv)
        assert result.returncode != 0, f"{argv}: {result.output}"
        assert "Traceback" not in result.output, f"{argv}: {result.output}"
        assert "UndefinedColumn" not in result.output, f"{argv}: {result.output}"
        assert " ".join(MISSING.split()) in " ".join(result.output.split()), f"{argv}: {result.output}"
    assert project.version() == []


@pytest.mark.slow
def test_init_detects_an_existing_tables_columns_and_writes_the_options(tmp_path, database_url):
    root = tmp_path / "app"
    (root / "migrations").mkdir(parents=True)
    project = Project(root, database_url)
    project.sql(FILENAME_TABLE.format(table="schema_migrations"))
    result = project.run("alembic-bridge", "init", "--legacy", "migrations")
    assert result.returncode == 0, result.output
    ini = (root / "alembic.ini").read_text()
    assert "\nlegacy_name_column = filename\n" in ini
    assert "legacy_name_column = filename" in result.output


def test_repair_removes_the_rows_of_gone_files_from_the_configured_table(filename_project):
    project = filename_project
    project.sql("ALTER TABLE schema_migrations RENAME TO migration_history")
    _configure(project, CUSTOM)
    runner.upgrade(project.config())
    project.sql("INSERT INTO migration_history (filename) VALUES ('20240101_gone.py')")
    assert runner.repair(project.config()).missing == ["20240101_gone"]
    runner.repair(project.config(), apply=True)
    assert project.sql("SELECT filename FROM migration_history ORDER BY id") == [
        ("20251001_create_a.py",),
        ("20251002_create_b.py",),
    ]
