"""``schema_migrations`` names: ``stem`` or ``stem.py``, never one migration under both."""

from __future__ import annotations

import json

import pytest
from conftest import REPO, url_text

from bridge.ledger import read_history

STEMS = ["20251001_create_a", "20251002_create_b", "20251003_create_c"]


def files(project, stems=STEMS):
    for stem in stems:
        project.table(stem, stem.rsplit("_", 1)[1])


def old_runner(project, name_format):
    project.run(
        "python",
        str(REPO / "tests" / "legacy_runner.py"),
        "--url",
        url_text(project.url),
        "--dir",
        str(project.legacy),
        "--name-format",
        name_format,
        check=True,
    )


def insert_rows(project, *names):
    project.sql(
        "CREATE TABLE IF NOT EXISTS schema_migrations (id SERIAL PRIMARY KEY, "
        "migration_name VARCHAR(255) UNIQUE NOT NULL, applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)"
    )
    for name in names:
        project.sql("INSERT INTO schema_migrations (migration_name) VALUES (:n)", n=name)


def test_read_history_shows_a_migration_recorded_under_both_names(engine):
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE schema_migrations (id SERIAL PRIMARY KEY, migration_name VARCHAR(255) UNIQUE NOT NULL)"
        )
        conn.exec_driver_sql(
            "INSERT INTO schema_migrations (migration_name) VALUES "
            "('20251001_a'), ('20251002_b'), ('20251001_a.py'), ('20251003_c.py')"
        )
    with engine.connect() as conn:
        state = read_history(conn, "alembic_version")
    assert state.duplicates == ("20251001_a",)
    assert sorted(state.rows) == ["20251001_a", "20251002_b", "20251003_c"]


@pytest.mark.slow
def test_an_old_runner_re_running_everything_under_py_names_is_shown_by_status_and_fails_check(project):
    files(project, STEMS[:2])
    project.run("alembic", "upgrade", "head", check=True)
    assert project.rows() == STEMS[:2]  # auto on an empty table: stems
    old_runner(project, "filename")  # it does not recognise the stems: runs everything again
    assert project.rows() == [*STEMS[:2], *(f"{s}.py" for s in STEMS[:2])]

    status = project.run("alembic-bridge", "status", check=True)
    assert (
        "schema_migrations records 2 migration(s) under both names (stem and stem.py): "
        "a runner that writes the other name format ran them again:" in status.stdout
    )
    assert f"  {STEMS[0]}  ({STEMS[0]}, {STEMS[0]}.py)" in status.stdout
    data = json.loads(project.run("alembic-bridge", "status", "--json", check=True).stdout)
    assert data["duplicate_rows"] == STEMS[:2] and data["in_agreement"] is False

    check = project.run("alembic-bridge", "check")
    assert check.returncode == 1
    assert (
        f"schema_migrations records {STEMS[0]} twice, as {STEMS[0]} and {STEMS[0]}.py: a runner "
        "that writes the other name format ran it again. Check that running it twice did no "
        "harm, delete the row in the format your old runner does not write, and set "
        "legacy_name_format = stem or legacy_name_format = filename in alembic.ini to match it."
    ) in check.stderr
    assert f"{STEMS[1]} twice" in check.stderr

    sync = project.run("alembic-bridge", "sync")
    assert sync.returncode == 1, sync.output
    assert "The history tables agree" not in sync.output
    assert f"schema_migrations records {STEMS[0]} twice, as {STEMS[0]} and {STEMS[0]}.py" in sync.stderr
    assert project.rows() == [*STEMS[:2], *(f"{s}.py" for s in STEMS[:2])]  # sync guesses nothing


@pytest.mark.slow
def test_auto_refuses_to_choose_when_the_rows_disagree_and_applies_nothing(project):
    files(project)
    # Mostly stems, and one stray .py row last: auto used to follow the newest row.
    insert_rows(project, STEMS[0], f"{STEMS[1]}.py")
    result = project.run("alembic", "upgrade", "head")
    assert result.returncode == 255, result.output
    assert (
        "schema_migrations holds names in both formats (1 like '20251001_create_a', 1 like "
        "'20251002_create_b.py'), so legacy_name_format = auto cannot tell which one to write "
        "for 20251003_create_c." in result.output
    )
    assert (
        "Set legacy_name_format = stem or legacy_name_format = filename in the [alembic] "
        "section of alembic.ini (or [tool.alembic] in pyproject.toml) to match what your old "
        "runner writes." in result.output
    )
    assert "Traceback" not in result.output
    assert project.rows() == [STEMS[0], f"{STEMS[1]}.py"]
    assert "c" not in project.tables() and project.version() == [STEMS[1]]

    (project.root / "alembic.ini").write_text(
        (project.root / "alembic.ini")
        .read_text()
        .replace("[alembic]\n", "[alembic]\nlegacy_name_format = filename\n", 1)
    )
    project.run("alembic", "upgrade", "head", check=True)
    assert project.rows() == [STEMS[0], f"{STEMS[1]}.py", f"{STEMS[2]}.py"]


@pytest.mark.slow
def test_auto_follows_rows_that_all_agree(project):
    files(project)
    insert_rows(project, f"{STEMS[0]}.py", f"{STEMS[1]}.py")
    project.run("alembic", "upgrade", "head", check=True)
    assert project.rows() == [f"{STEMS[0]}.py", f"{STEMS[1]}.py", f"{STEMS[2]}.py"]


@pytest.mark.slow
def test_init_writes_the_name_format_option_commented_with_when_to_set_it(tmp_path, project):
    root = tmp_path / "fresh"
    (root / "migrations").mkdir(parents=True)
    project.root = root
    project.run("alembic-bridge", "init", "--legacy", "migrations", check=True)
    ini = (root / "alembic.ini").read_text()
    assert (
        "# What schema_migrations.migration_name holds: stem (20251031_add_x) or filename\n"
        "# (20251031_add_x.py); auto follows the rows already there. Set it when old runners\n"
        "# still run beside the bridge and the table is empty, to match what your old runner writes.\n"
        "# legacy_name_format = auto\n"
    ) in ini
    # Commented out: the default still applies.
    from alembic.config import Config

    from bridge.settings import BridgeSettings

    assert BridgeSettings.from_config(Config(str(root / "alembic.ini"))).name_format == "auto"


# -- unexpected shapes of schema_migrations ----------------------------------------------


@pytest.mark.slow
def test_an_extra_not_null_column_without_default_is_named_with_the_fix_and_nothing_is_applied(project):
    files(project, STEMS[:2])
    project.sql(
        "CREATE TABLE schema_migrations (id SERIAL PRIMARY KEY, migration_name VARCHAR(255) UNIQUE NOT NULL, "
        "applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, applied_by VARCHAR(50) NOT NULL)"
    )
    result = project.run("alembic", "upgrade", "head")
    assert result.returncode == 255, result.output
    assert (
        "FAILED: Recording 20251001_create_a in schema_migrations failed: its column applied_by "
        "is NOT NULL and has no default, but runners write only migration_name. Give it a default "
        "(ALTER TABLE schema_migrations ALTER COLUMN applied_by SET DEFAULT ...) or allow NULL "
        "(ALTER TABLE schema_migrations ALTER COLUMN applied_by DROP NOT NULL), then run again. "
        "20251001_create_a was not applied or recorded." in result.stdout
    )
    assert "Traceback" not in result.output
    assert project.rows() == [] and "a" not in project.tables() and project.version() == []
    bridge_cli = project.run("alembic-bridge", "upgrade")
    assert (
        bridge_cli.returncode == 1
        and "Error: Recording 20251001_create_a in schema_migrations failed: its column applied_by" in bridge_cli.stderr
    )
    assert "a" not in project.tables()


@pytest.mark.slow
def test_a_migration_name_column_too_short_for_the_stems_is_named_with_the_fix_and_nothing_is_applied(project):
    files(project, STEMS[:2])
    project.sql(
        "CREATE TABLE schema_migrations (id SERIAL PRIMARY KEY, migration_name VARCHAR(10) UNIQUE NOT NULL, "
        "applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)"
    )
    result = project.run("alembic", "upgrade", "head")
    assert result.returncode == 255, result.output
    assert (
        "FAILED: Recording 20251001_create_a in schema_migrations failed: its column "
        "migration_name is too short for '20251001_create_a' (17 characters): value too long "
        "for type character varying(10). Widen it to the legacy VARCHAR(255): ALTER TABLE "
        "schema_migrations ALTER COLUMN migration_name TYPE VARCHAR(255), then run again. "
        "20251001_create_a was not applied or recorded." in result.stdout
    )
    assert "Traceback" not in result.output
    assert project.rows() == [] and "a" not in project.tables() and project.version() == []
    project.sql("ALTER TABLE schema_migrations ALTER COLUMN migration_name TYPE VARCHAR(255)")
    project.run("alembic", "upgrade", "head", check=True)
    assert project.rows() == STEMS[:2]
