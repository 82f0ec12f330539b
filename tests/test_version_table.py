"""A custom version table (name or schema): every part of the bridge reads and writes the same one.

The name and schema are set by ``version_table`` / ``version_table_schema`` in
``[alembic]``; the bridge passes them to Alembic, and ``status``, ``sync``, the
plans, stamps and ``--sql`` read the same table. An env.py that passes other
values to ``run_migrations()`` is refused, since the commands that never run
env.py could not see them.
"""

from __future__ import annotations

import ast
import json

import pytest
from conftest import REPO, make_project, url_text

STEMS = ["20251001_first", "20251002_second", "20251003_third"]

LOGGED = """\
from sqlalchemy import text


def upgrade(engine):
    with engine.connect() as conn:
        trans = conn.begin()
        conn.execute(text("CREATE TABLE IF NOT EXISTS run_log (name TEXT)"))
        conn.execute(text("INSERT INTO run_log VALUES ('{stem}')"))
        trans.commit()


def downgrade(engine):
    with engine.connect() as conn:
        trans = conn.begin()
        conn.execute(text("DELETE FROM run_log WHERE name = '{stem}'"))
        trans.commit()
"""

# (ini lines, env.py arguments, the table's qualified name)
LAYOUTS = {
    "schema": ("version_table_schema = meta", "", "meta.alembic_version"),
    "name": ("version_table = legacy_version", "", "legacy_version"),
    "both": ("version_table = legacy_version\nversion_table_schema = meta", "", "meta.legacy_version"),
    "same in env.py": ("version_table_schema = meta", 'version_table_schema="meta"', "meta.alembic_version"),
}


def write(project, stems):
    for stem in stems:
        project.write(f"{stem}.py", LOGGED.format(stem=stem))


def set_env_py(project, arguments: str) -> None:
    (project.root / "alembic" / "env.py").write_text(
        f"from bridge.env import run_migrations\n\nrun_migrations({arguments})\n"
    )


def old_runner(project):
    project.run(
        "python",
        str(REPO / "tests" / "legacy_runner.py"),
        "--url",
        url_text(project.url),
        "--dir",
        str(project.legacy),
        check=True,
    )


def runs(project) -> list[tuple[str, int]]:
    return project.sql("SELECT name, count(*) FROM run_log GROUP BY name ORDER BY name")


def version_rows(project, qualified: str) -> list[str] | None:
    """Return the rows of *qualified* (None when the table does not exist)."""
    if not project.sql("SELECT to_regclass(:t) IS NOT NULL", t=qualified)[0][0]:
        return None
    return sorted(r[0] for r in project.sql(f"SELECT version_num FROM {qualified}"))


@pytest.fixture
def meta_project(tmp_path, database_url, request):
    ini, arguments, qualified = LAYOUTS[request.param]
    project = make_project(tmp_path / "p", database_url, extra_ini=ini)
    if arguments:
        set_env_py(project, arguments)
    project.sql("CREATE SCHEMA meta")
    project.qualified = qualified
    return project


@pytest.mark.slow
@pytest.mark.parametrize("meta_project", list(LAYOUTS), indirect=True)
def test_a_database_the_old_runner_migrated_is_adopted_into_the_configured_version_table(meta_project):
    project = meta_project
    write(project, STEMS[:2])
    old_runner(project)
    write(project, STEMS[2:])
    result = project.run("alembic", "upgrade", "head", check=True)
    assert f"reconcile: {project.qualified}: set to {STEMS[1]} (adopt" in result.output
    assert runs(project) == [(stem, 1) for stem in STEMS]  # nothing ran twice
    assert version_rows(project, project.qualified) == [STEMS[2]]
    assert version_rows(project, "public.alembic_version") is None
    assert project.rows() == STEMS
    # Every reader agrees on where the database is.
    current = project.run("alembic", "current", check=True)
    assert f"{STEMS[2]} (head)" in current.output
    status = project.run("alembic-bridge", "status", check=True)
    assert f"Current:  {STEMS[2]}" in status.stdout and "Pending:  0" in status.stdout
    assert "The history tables agree; nothing to change." in project.run("alembic-bridge", "sync", check=True).output
    assert "Nothing to apply." in project.run("alembic-bridge", "upgrade", "--dry-run", check=True).output
    assert version_rows(project, "public.alembic_version") is None


@pytest.mark.slow
@pytest.mark.parametrize("meta_project", ["both"], indirect=True)
def test_status_sync_plans_and_stamps_use_the_configured_version_table(meta_project):
    project = meta_project
    write(project, STEMS)
    project.run("alembic", "upgrade", STEMS[0], check=True)
    plan = project.run("alembic-bridge", "downgrade", "base", "--dry-run", check=True)
    assert f"downgrade {STEMS[0]}" in plan.output
    plan = project.run("alembic-bridge", "upgrade", "--dry-run", check=True)
    assert "Plan: 2 migration(s) to apply" in plan.output
    # An old runner moves on; status and sync see it against meta.legacy_version.
    old_runner(project)
    status = json.loads(project.run("alembic-bridge", "status", "--json", check=True).stdout)
    assert status["current"] == [STEMS[0]]
    assert status["changes_sync_would_make"] == [
        f"meta.legacy_version: {STEMS[0]} -> {STEMS[2]} (follow the old runner's schema_migrations rows)"
    ]
    project.run("alembic-bridge", "sync", check=True)
    assert version_rows(project, "meta.legacy_version") == [STEMS[2]]
    # Stamps write the same table, and schema_migrations follows them.
    project.run("alembic", "stamp", STEMS[1], check=True)
    assert version_rows(project, "meta.legacy_version") == [STEMS[1]]
    assert project.rows() == STEMS[:2]
    width = project.sql(
        "SELECT character_maximum_length FROM information_schema.columns "
        "WHERE table_schema = 'meta' AND table_name = 'legacy_version'"
    )
    assert width == [(255,)]  # wide enough for legacy stems, in the custom place too
    assert version_rows(project, "public.alembic_version") is None
    assert version_rows(project, "public.legacy_version") is None
    # --sql scripts write it too.
    sql = project.run("alembic", "upgrade", f"{STEMS[1]}:head", "--sql", check=True).stdout
    assert f"UPDATE meta.legacy_version SET version_num='{STEMS[2]}'" in sql
    assert "alembic_version" not in sql


@pytest.mark.slow
def test_env_py_naming_another_version_table_than_the_configuration_is_refused(project):
    write(project, STEMS[:2])
    old_runner(project)
    project.sql("CREATE SCHEMA meta")
    set_env_py(project, 'version_table_schema="meta"')
    result = project.run("alembic", "upgrade", "head")
    assert result.returncode != 0
    assert (
        "env.py passes version_table_schema='meta' to run_migrations(), but the configuration "
        "has no version_table_schema." in result.output
    )
    assert "Set `version_table_schema = meta` in the [alembic] section of alembic.ini" in result.output
    assert "Traceback" not in result.output
    assert runs(project) == [(stem, 1) for stem in STEMS[:2]]
    assert version_rows(project, "public.alembic_version") is None
    assert version_rows(project, "meta.alembic_version") is None


@pytest.mark.slow
def test_env_py_with_a_custom_table_name_and_none_in_the_configuration_is_refused(project):
    write(project, STEMS[:1])
    set_env_py(project, 'version_table="legacy_version"')
    result = project.run("alembic", "upgrade", "head")
    assert result.returncode != 0
    assert (
        "env.py passes version_table='legacy_version' to run_migrations(), but the configuration "
        "has version_table = alembic_version." in result.output
    )
    assert project.tables() == []


@pytest.mark.slow
def test_a_version_table_schema_that_does_not_exist_is_refused_before_anything_is_written(tmp_path, database_url):
    # Stock Alembic creates the version table, not its schema: it fails with the
    # server's `schema "meta" does not exist`. The bridge says so before writing.
    project = make_project(tmp_path / "p", database_url, extra_ini="version_table_schema = meta")
    write(project, STEMS[:2])
    old_runner(project)
    before = (project.rows(), project.tables())
    result = project.run("alembic", "upgrade", "head")
    assert result.returncode != 0
    assert (
        "version_table_schema = meta: the schema 'meta' does not exist in this database, so the "
        "version table meta.alembic_version cannot be created." in result.output
    )
    assert "CREATE SCHEMA meta" in result.output
    assert (project.rows(), project.tables()) == before
    sync = project.run("alembic-bridge", "sync")
    assert sync.returncode == 1
    assert "the schema 'meta' does not exist in this database" in sync.output
    assert "Traceback" not in sync.output
    assert (project.rows(), project.tables()) == before
    assert runs(project) == [(stem, 1) for stem in STEMS[:2]]
    # Read-only commands just find no version table there.
    assert project.run("alembic", "current").returncode == 0


@pytest.mark.slow
def test_baseline_and_convert_keep_the_configured_version_table(tmp_path, database_url, pg_admin_url):
    import uuid

    import sqlalchemy as sa

    project = make_project(tmp_path / "p", database_url, extra_ini="version_table_schema = meta")
    project.sql("CREATE SCHEMA meta")
    write(project, STEMS)
    project.run("alembic", "upgrade", "head", check=True)
    converted = project.run("alembic-bridge", "convert", "--upto", STEMS[0], check=True)
    assert f"moved legacy/{STEMS[0]}.py" in converted.output.replace(str(project.root) + "/", "")
    assert project.run("alembic", "upgrade", "head", check=True).output.count("Running upgrade") == 0
    project.run("alembic-bridge", "baseline", check=True, timeout=300)
    (path,) = project.versions.glob("*.py")
    tree = ast.parse(path.read_text())
    sql = {n.targets[0].id: ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign)}
    for key in ("SCHEMA_SQL", "DROP_SQL"):
        assert "alembic_version" not in sql[key] and "meta" not in sql[key]
    assert "CREATE TABLE public.run_log" in sql["SCHEMA_SQL"]
    # The database it was written on runs nothing; a new database (with its schema) runs the baseline.
    assert project.run("alembic", "upgrade", "head", check=True).output.count("Running upgrade") == 0
    assert version_rows(project, "meta.alembic_version") == [STEMS[2]]
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(pg_admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        project.url = pg_admin_url.set(database=name)
        project.sql("CREATE SCHEMA meta")
        project.run("alembic", "upgrade", "head", check=True)
        assert version_rows(project, "meta.alembic_version") == [STEMS[2]]
        assert version_rows(project, "public.alembic_version") is None
        assert project.rows() == STEMS
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.mark.slow
def test_init_writes_the_version_table_options_commented_and_uncommenting_them_works(tmp_path):
    import subprocess

    from alembic.config import Config
    from conftest import BIN

    from bridge.settings import BridgeSettings

    root = tmp_path / "fresh"
    (root / "migrations").mkdir(parents=True)
    subprocess.run([str(BIN / "alembic-bridge"), "init", "--legacy", "migrations"], cwd=root, check=True)
    ini = root / "alembic.ini"
    text = ini.read_text()
    assert "# version_table = alembic_version\n# version_table_schema = meta\n" in text
    assert str(BridgeSettings.from_config(Config(str(ini))).version_table) == "alembic_version"
    ini.write_text(text.replace("# version_table_schema = meta", "version_table_schema = meta"))
    assert str(BridgeSettings.from_config(Config(str(ini))).version_table) == "meta.alembic_version"
