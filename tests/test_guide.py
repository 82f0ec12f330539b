"""docs/guide.md, walked end to end with the real commands on a copy of a legacy project."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import REPO, Project, url_text

SAMPLES = sorted(p.stem for p in (REPO / "migrations").glob("2*.py"))


def legacy_project(tmp_path, database_url) -> Project:
    """A legacy project: web_server/migrations/, a .env, and a database the old runner migrated."""
    root = tmp_path / "trading"
    legacy = root / "web_server" / "migrations"
    legacy.mkdir(parents=True)
    for stem in SAMPLES[:-2]:
        shutil.copy(REPO / "migrations" / f"{stem}.py", legacy)
    shutil.copy(REPO / "migrations" / "models.py", root / "models.py")
    project = Project(root, database_url)
    project.run(
        "python",
        str(REPO / "tests" / "legacy_runner.py"),
        "--url",
        url_text(database_url),
        "--dir",
        str(legacy),
        check=True,
    )
    for stem in SAMPLES[-2:]:  # two files added since the old runner last ran
        shutil.copy(REPO / "migrations" / f"{stem}.py", legacy)
    return project


@pytest.mark.slow
def test_the_adoption_guide_from_legacy_only_to_native_revisions(tmp_path, database_url):
    project = legacy_project(tmp_path, database_url)
    rows_before = project.rows()
    assert rows_before == SAMPLES[:-2] and project.version() == []

    # 1. Install and onboard: files only.
    project.run("alembic-bridge", "init", "--legacy", "web_server/migrations", check=True)
    assert project.version() == [] and project.rows() == rows_before

    # 2. Look before you leap: reads only.
    status = json.loads(project.run("alembic-bridge", "status", "--json", check=True).stdout)
    states = [m["state"] for m in status["migrations"]]
    assert states == ["old-runner-only"] * (len(SAMPLES) - 2) + ["pending", "pending"]
    dry = project.run("alembic-bridge", "sync", "--dry-run", check=True)
    assert dry.stdout.startswith("sync would make 1 change(s) (--dry-run: none made):\n"), dry.stdout
    assert f"\n  alembic_version: set to {SAMPLES[-3]} (adopt" in dry.stdout
    assert project.run("alembic-bridge", "lint", check=True).stdout.startswith("All checks passed")
    assert "(head), " in project.run("alembic", "history", check=True).stdout
    assert "alembic_version" not in project.tables()

    # 3. Adopt: nothing already applied runs again; the two new files run.
    adopted = project.run("alembic", "upgrade", "head", check=True)
    assert f"set to {SAMPLES[-3]} (adopt" in adopted.output
    assert adopted.output.count("Running upgrade") == 2
    assert project.rows() == SAMPLES and project.version() == [SAMPLES[-1]]

    # 4. Switch the entry point, gate CI: one line of Python; check is quiet.
    project.run("python", "-c", "import bridge; bridge.upgrade()", check=True)
    assert project.run("alembic-bridge", "check", check=True).output == ""

    # 5. New migrations as native revisions, with autogenerate.
    ini = project.root / "alembic.ini"
    ini.write_text(
        ini.read_text().replace("# target_metadata = myapp.models:Base.metadata", "target_metadata = models:metadata")
    )
    project.run("alembic", "check", check=True)
    models = project.root / "models.py"
    models.write_text(
        models.read_text().replace(
            '    sa.Column("display_name", sa.String(50), nullable=False),\n',
            '    sa.Column("display_name", sa.String(50), nullable=False),\n    sa.Column("website", sa.String(200)),\n',
        )
    )
    project.run("alembic", "revision", "--autogenerate", "-m", "add website", "--rev-id", "a1website", check=True)
    project.run("alembic", "upgrade", "head", check=True)
    assert project.version() == ["a1website"]
    project.run("alembic", "check", check=True)
    refused = project.run("alembic-bridge", "new", "late legacy file", "--date", "20991231")
    assert refused.returncode == 1 and "would branch the history" in refused.stderr

    # 6. Old runners are retired (nothing to run). 7. Convert: no database changes.
    converted = project.run("alembic-bridge", "convert", "--all", check=True)
    assert "WARNING: Old runners" in converted.output
    assert list(project.legacy.glob("2*.py")) == []
    status = json.loads(project.run("alembic-bridge", "status", "--json", check=True).stdout)
    assert status["pending_count"] == 0
    assert "Running upgrade" not in project.run("alembic", "upgrade", "head", check=True).output
    assert project.rows() == SAMPLES and project.version() == ["a1website"]


@pytest.mark.slow
def test_converted_and_baselined_chains_build_new_databases_with_the_same_schema(tmp_path, database_url, pg_admin_url):
    import sqlalchemy as sa

    project = legacy_project(tmp_path, database_url)
    project.run("alembic-bridge", "init", "--legacy", "web_server/migrations", check=True)
    project.run("alembic", "upgrade", "head", check=True)
    reference = tables_and_columns(project)

    # 8. Baseline: a new, empty database runs one revision, not the chain.
    project.run("alembic-bridge", "baseline", "-m", "schema as of 2025-11", check=True)
    admin = sa.create_engine(pg_admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    fresh = database_url.set(database=database_url.database + "_new")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{fresh.database}"')
    try:
        new_db = Project(project.root, fresh)
        result = new_db.run("alembic", "upgrade", "head", check=True)
        assert result.output.count("Running upgrade") == 1
        assert tables_and_columns(new_db) == reference
        assert new_db.rows() == SAMPLES
        # The existing database is recognised as already past it.
        assert "Running upgrade" not in project.run("alembic", "upgrade", "head", check=True).output
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{fresh.database}" WITH (FORCE)')
        admin.dispose()


def tables_and_columns(project):
    return project.sql(
        "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_schema = 'public' AND table_name NOT IN ('schema_migrations', 'alembic_bridge_checksums', 'alembic_bridge_log', 'alembic_version') "
        "ORDER BY 1, 2"
    )
