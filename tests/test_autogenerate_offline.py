"""The road to native Alembic: autogenerate after the legacy head, and offline SQL."""

from __future__ import annotations

import shutil

import pytest
import sqlalchemy as sa
from conftest import REPO, make_project

SAMPLES = sorted(p.stem for p in (REPO / "migrations").glob("2*.py"))
STATEMENT_ONLY_FROM = "20251104_add_client_order_id"


def models_project(tmp_path, database_url):
    project = make_project(tmp_path / "p", database_url, extra_ini="target_metadata = models:metadata")
    for stem in SAMPLES:
        shutil.copy(REPO / "migrations" / f"{stem}.py", project.legacy)
    shutil.copy(REPO / "migrations" / "models.py", project.root / "models.py")
    return project


@pytest.mark.slow
def test_after_upgrade_head_check_passes_and_autogenerate_is_empty_and_follows_the_head(tmp_path, database_url):
    project = models_project(tmp_path, database_url)
    project.run("alembic", "upgrade", "head", check=True)
    check = project.run("alembic", "check", check=True)
    assert "No new upgrade operations detected." in check.output
    project.run("alembic", "revision", "--autogenerate", "-m", "empty", "--rev-id", "e1", check=True)
    (path,) = project.versions.glob("e1_*.py")
    source = path.read_text()
    assert f"down_revision: Union[str, Sequence[str], None] = {SAMPLES[-1]!r}" in source
    assert "op." not in source  # no operations: models and database agree
    assert "schema_migrations" not in source and "alembic_bridge_checksums" not in source


@pytest.mark.slow
def test_a_model_change_becomes_a_native_revision_after_the_legacy_chain(tmp_path, database_url):
    project = models_project(tmp_path, database_url)
    project.run("alembic", "upgrade", "head", check=True)
    models = project.root / "models.py"
    models.write_text(
        models.read_text().replace(
            '    sa.Column("display_name", sa.String(50), nullable=False),\n',
            '    sa.Column("display_name", sa.String(50), nullable=False),\n    sa.Column("website", sa.String(200)),\n',
        )
    )
    assert project.run("alembic", "check").returncode != 0
    project.run("alembic", "revision", "--autogenerate", "-m", "add website", "--rev-id", "w1", check=True)
    (path,) = project.versions.glob("w1_*.py")
    assert "op.add_column('supported_exchanges', sa.Column('website'" in path.read_text()
    project.run("alembic", "upgrade", "head", check=True)
    assert project.version() == ["w1"]
    project.run("alembic", "check", check=True)
    project.run("alembic", "downgrade", SAMPLES[-1], check=True)
    cols = project.sql("SELECT column_name FROM information_schema.columns WHERE table_name = 'supported_exchanges'")
    assert ("website",) not in cols


def schema(project):
    """Columns, indexes, constraints and comments of the public schema."""
    return (
        project.sql(
            "SELECT table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns "
            "WHERE table_schema = 'public' ORDER BY 1, 2"
        ),
        project.sql("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1"),
        project.sql(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1"
        ),
        project.sql(
            "SELECT col_description('open_orders'::regclass, attnum) FROM pg_attribute WHERE attrelid = 'open_orders'::regclass AND attname = 'notes'"
        ),
        project.sql("SELECT code FROM supported_exchanges ORDER BY 1"),
    )


@pytest.mark.slow
def test_upgrade_sql_renders_runnable_sql_for_statement_only_migrations(tmp_path, database_url, pg_admin_url):
    project = models_project(tmp_path, database_url)
    project.run("alembic", "upgrade", STATEMENT_ONLY_FROM, check=True)
    rendered = project.run("alembic", "upgrade", f"{STATEMENT_ONLY_FROM}:head", "--sql", check=True).stdout
    assert "ALTER TABLE open_orders ADD COLUMN IF NOT EXISTS notes TEXT;" in rendered
    assert "VALUES ('KRAKEN', 'Kraken') ON CONFLICT (code) DO NOTHING;" in rendered
    assert "INSERT INTO schema_migrations (migration_name) VALUES ('20251118_create_order_events');" in rendered
    assert "-- 🚀 Starting migration: create order_events" in rendered  # prints become comments
    engine = sa.create_engine(project.url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        conn.exec_driver_sql(rendered)
    engine.dispose()
    assert project.rows() == SAMPLES and project.version() == [SAMPLES[-1]]
    offline_schema = schema(project)
    other = make_project(tmp_path / "online", project.url.set(database=project.url.database + "_b"))
    admin = sa.create_engine(pg_admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{other.url.database}"')
    try:
        for stem in SAMPLES:
            shutil.copy(REPO / "migrations" / f"{stem}.py", other.legacy)
        other.run("alembic", "upgrade", "head", check=True)
        assert schema(other) == offline_schema
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{other.url.database}" WITH (FORCE)')
        admin.dispose()


@pytest.mark.slow
def test_upgrade_sql_refuses_migrations_that_read_naming_every_one(tmp_path, database_url):
    project = models_project(tmp_path, database_url)
    result = project.run("alembic", "upgrade", "head", "--sql")
    assert result.returncode != 0
    assert "10 legacy migration(s) cannot be rendered as SQL" in result.output
    assert "20250312_create_accounts.py (line 42): upgrade() uses result.scalar()" in result.output
    assert (
        "20251015_add_error_message_to_open_orders.py (line 32): upgrade() uses sqlalchemy.inspect(engine)"
        in result.output
    )
    assert "-- NOT RENDERED: 20250312_create_accounts upgrade() reads from the database" in result.stdout
    assert "CREATE TABLE IF NOT EXISTS accounts" not in result.stdout  # no partial SQL of a refused one
    assert project.tables() == []  # offline never touches the database


@pytest.mark.slow
def test_downgrade_sql_renders_the_rollback_and_the_row_deletion(tmp_path, database_url):
    project = models_project(tmp_path, database_url)
    rendered = project.run("alembic", "downgrade", f"head:{STATEMENT_ONLY_FROM}", "--sql", check=True).stdout
    assert "DROP TABLE IF EXISTS order_events;" in rendered
    assert (
        "DELETE FROM schema_migrations WHERE schema_migrations.migration_name IN ('20251118_create_order_events', '20251118_create_order_events.py');"
        in rendered
    )


@pytest.mark.slow
def test_sql_mode_imports_each_legacy_file_once(project, tmp_path):
    # bridge.steps imports a file to read its settings; the rendering must use that import,
    # not import the file again (a module-level side effect would run twice).
    imports = tmp_path / "imports.txt"
    for stem, table in (("20251001_create_a", "a"), ("20251002_create_b", "b")):
        source = project.table(stem, table).read_text()
        marker = f"open({str(imports)!r}, 'a').write({stem!r} + '\\n')\n"
        (project.legacy / f"{stem}.py").write_text(
            source.replace("from sqlalchemy import text\n", "from sqlalchemy import text\n" + marker, 1)
        )
    project.run("alembic", "upgrade", "head", "--sql", check=True)
    assert imports.read_text().splitlines() == ["20251001_create_a", "20251002_create_b"]
