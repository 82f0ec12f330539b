"""Tenant-safe migrations: LB601 (names pinned to ``public``), and the example migrations run for a tenant schema."""

from __future__ import annotations

import pytest
from conftest import REPO

from bridge import runner
from bridge.context import set_request
from bridge.lint import lint_paths
from bridge.lint.engine import lint_source
from bridge.lint.rules.rule import ERROR, WARNING, upgrade_example
from bridge.lint.settings import LintSettings


def _execute(sql: str, params: str = "") -> str:
    call = f"conn.execute(text({sql!r}){', ' + params if params else ''})"
    return upgrade_example(f"with engine.begin() as conn:\n    {call}")


def _lb601(source: str, settings: LintSettings | None = None):
    return [v for v in lint_source(source, "20251031_x.py", settings) if v.code == "LB601"]


@pytest.mark.parametrize(
    "sql, params, shown",
    [
        (
            "SELECT 1 FROM information_schema.tables WHERE table_schema = 'public' AND table_name = 'a'",
            "",
            "table_schema = 'public'",
        ),
        ("SELECT 1 FROM pg_tables WHERE schemaname='PUBLIC' AND tablename = 'a'", "", "schemaname = 'public'"),
        ("SELECT 1 FROM pg_namespace n WHERE 'public' = n.nspname", "", "n.nspname = 'public'"),
        ("SELECT 1 FROM pg_type WHERE typnamespace = 'public'::regnamespace", "", "'public'::regnamespace"),
        ("SELECT to_regclass('public.open_orders')", "", "'public.open_orders'"),
        ("SELECT 'public.open_orders'::regclass", "", "'public.open_orders'"),
        ("CREATE TABLE IF NOT EXISTS public.open_orders (id int)", "", "public.open_orders"),
        ("ALTER TABLE a ADD COLUMN IF NOT EXISTS b int REFERENCES public.accounts (id)", "", "public.accounts"),
        ('CREATE TABLE "public"."open_orders" (id int)', "", "public.open_orders"),
        ('ALTER TABLE public."open_orders" ADD COLUMN b int', "", "public.open_orders"),
        ('CREATE INDEX i ON "public".open_orders (id)', "", "public.open_orders"),
        (
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = :schema",
            '{"schema": "public"}',
            '"public"',
        ),
        ("SELECT to_regclass(:name)", '{"name": "public.open_orders"}', '"public.open_orders"'),
        ("SET search_path TO public", "", "search_path"),
        ("SET LOCAL search_path = public, extensions; CREATE TABLE a (id int)", "", "search_path"),
        ("SET search_path = 'public'", "", "search_path"),  # a literal and a quoted name are PostgreSQL's too
        ('SET search_path TO "$user", "public"', "", "search_path"),
        (
            "SELECT 1 FROM information_schema.columns WHERE table_schema = :s AND table_name = :t",
            '{"s": "public", "t": "a"}',
            '"s": "public"',
        ),
    ],
)
def test_names_pinned_to_public_are_reported_with_the_schema_neutral_rewrite(sql, params, shown):
    found = _lb601(_execute(sql, params))
    assert len(found) == 1, found
    assert shown.lower() in found[0].message.lower()
    assert found[0].severity == WARNING
    assert "current_schema()" in found[0].hint and "unqualified" in found[0].hint


@pytest.mark.parametrize(
    "sql, params",
    [
        ("SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'a'", ""),
        ("SELECT to_regclass('open_orders')", ""),
        ("CREATE TABLE IF NOT EXISTS open_orders (id int)", ""),
        ("SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'pg_catalog'", ""),
        ("UPDATE posts SET visibility = 'public' WHERE visibility IS NULL", ""),
        ("CREATE TABLE IF NOT EXISTS republic (id int)", ""),
        ("SELECT 1 FROM a WHERE note = :note", '{"note": "public"}'),
        ("SELECT 1 FROM a WHERE note = :s AND table_schema = current_schema()", '{"s": "public"}'),
        ("SELECT 'SET search_path TO public' AS note", ""),
        ("SET search_path TO republic", ""),
        ("SET search_path TO tenant_a -- not public\n", ""),
        ('SET search_path TO "PUBLIC"', ""),  # another schema: quoted names keep their case
        ("-- checks public.a\nSELECT to_regclass('a')", ""),
        ('CREATE TABLE "PUBLIC".a (id int)', ""),  # another schema: quoted names keep their case
        ("SELECT 'see \"public\".a' AS note", ""),
    ],
)
def test_schema_neutral_sql_and_other_uses_of_the_word_are_not_reported(sql, params):
    assert _lb601(_execute(sql, params)) == []


def test_the_rule_is_an_error_when_tenant_schemas_are_configured():
    source = _execute("SELECT to_regclass('public.open_orders')")
    [violation] = _lb601(source, LintSettings().with_rules(tenant_schemas=True))
    assert violation.severity == ERROR
    # The project's own severity setting still wins.
    settings = LintSettings(severity=(("LB601", WARNING),)).with_rules(tenant_schemas=True)
    assert _lb601(source, settings)[0].severity == WARNING


def test_the_example_migrations_are_tenant_safe():
    found = [v for v in lint_paths([REPO / "migrations"]) if v.code == "LB601"]
    assert found == []


@pytest.mark.slow
def test_lint_fails_on_a_pinned_name_only_when_the_configuration_names_tenant_schemas(project):
    project.write("20251031_x.py", _execute("SELECT to_regclass('public.open_orders')"))
    plain = project.run("alembic-bridge", "lint")
    assert plain.returncode == 0 and "LB601" in plain.output, plain.output
    ini = project.root / "alembic.ini"
    ini.write_text(ini.read_text().replace("path_separator = os\n", "path_separator = os\nfleet_schemas = tenant_*\n"))
    tenants = project.run("alembic-bridge", "lint")
    assert tenants.returncode == 1 and "LB601" in tenants.output, tenants.output


@pytest.mark.slow
def test_the_example_migrations_run_for_a_tenant_create_every_table_in_the_tenant(sample_project):
    project = sample_project
    runner.upgrade(project.config())  # public first: its tables must not fool the tenant's checks
    project.sql("CREATE SCHEMA t_b")
    config = project.config()
    set_request(config, schema="t_b")
    result = runner.upgrade(config)
    stems = sorted(p.stem for p in (REPO / "migrations").glob("2*.py"))
    assert [s.revision for s in result.steps] == stems

    def tables(schema: str) -> set[str]:
        return {r[0] for r in project.sql("SELECT tablename FROM pg_tables WHERE schemaname = :s", s=schema)}

    def columns(schema: str) -> set[tuple[str, str]]:
        rows = project.sql(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = :s", s=schema
        )
        return {(t, c) for t, c in rows}

    assert len(tables("public")) > 5
    assert tables("t_b") == tables("public")
    assert columns("t_b") == columns("public")
    indexes = "SELECT indexname FROM pg_indexes WHERE schemaname = :s"
    assert {r[0] for r in project.sql(indexes, s="t_b")} == {r[0] for r in project.sql(indexes, s="public")}
