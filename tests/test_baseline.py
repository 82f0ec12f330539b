"""``alembic-bridge baseline``: one revision that builds the legacy chain's schema, on real PostgreSQL."""

from __future__ import annotations

import ast
import re

import pytest
from conftest import REPO, url_text
from test_convert import SAMPLES, other_database_url, schema_and_seed, status  # noqa: F401 (a fixture)

from bridge.baseline.pgdump import drop_statements, restorable
from bridge.baseline.render import _python_string
from bridge.sqltext import split_statements

HEAD = SAMPLES[-1]


def normalized(dump: str) -> str:
    """A schema dump with CHECK expressions reduced to their operands.

    ``x IN ('a', 'b')`` round-trips through pg_dump as an equivalent expression
    spelled differently (``= ANY ((ARRAY['a'::varchar])::text[])`` becomes
    ``= ANY (ARRAY[('a'::varchar)::text])``), a known PostgreSQL deparse quirk.
    """

    def operands(match):
        return "CHECK " + re.sub(r"::[a-z ]+(\[\])?|[()\s]", "", match.group(1))

    return re.sub(r"CHECK (\(.*\))", operands, dump)


def baseline(project, *args, check=True):
    return project.run("alembic-bridge", "baseline", *args, check=check, timeout=300)


def revision_module(project) -> dict:
    (path,) = project.versions.glob("*.py")
    tree = ast.parse(path.read_text())
    return {
        n.targets[0].id: ast.literal_eval(n.value)
        for n in tree.body
        if isinstance(n, ast.Assign) and isinstance(n.targets[0], ast.Name)
    } | {"__doc__": ast.get_docstring(tree), "__path__": path}


# -- the SQL it embeds -----------------------------------------------------------------------------


def test_the_dump_splitter_honours_quotes_dollar_bodies_comments_and_psql_commands():
    sql = (
        "-- a; comment\n\\restrict abc\nSET x = 1;\n"
        "INSERT INTO t VALUES ('a;b', E'c\\';d', \"e;f\");\n"
        "CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;\n"
        "/* x; /* nested; */ */ SELECT $1;\n"
    )
    chunks = split_statements(sql, psql=True)
    assert [(c.meta, c.statement.strip()) for c in chunks] == [
        (True, "\\restrict abc"),
        (False, "SET x = 1;"),
        (False, "INSERT INTO t VALUES ('a;b', E'c\\';d', \"e;f\");"),
        (False, "CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;"),
        (False, "SELECT $1;"),
        (False, ""),
    ]
    assert "".join(c.lead + c.statement for c in chunks) == sql


def test_pg_dump_s_script_is_made_to_run_inside_one_migration_transaction():
    dump = (
        "\\restrict k1\n\nSET statement_timeout = 0;\nSET transaction_timeout = 0;\n"
        "SELECT pg_catalog.set_config('search_path', '', false);\nSET check_function_bodies = false;\n"
        "CREATE TABLE public.t (note text DEFAULT 'SET x = 1;');\n\\unrestrict k1\n"
    )
    assert restorable(dump) == (
        "SET LOCAL statement_timeout = 0;\n\n"
        "SELECT pg_catalog.set_config('search_path', '', true);\nSET LOCAL check_function_bodies = false;\n"
        "CREATE TABLE public.t (note text DEFAULT 'SET x = 1;');\n"
    )


def test_the_drop_script_is_the_clean_section_of_pg_dump_clean():
    dump = (
        "SET lock_timeout = 0;\nALTER TABLE IF EXISTS ONLY public.a DROP CONSTRAINT IF EXISTS a_b_fkey;\n"
        "DROP TABLE IF EXISTS public.a;\nDROP TYPE IF EXISTS public.t;\n--\n-- Name: t\n--\n"
        "CREATE TYPE public.t AS ENUM ('x');\nDROP TABLE never_reached;\n"
    )
    assert drop_statements(dump) == (
        "SET LOCAL lock_timeout = 0;\nALTER TABLE IF EXISTS ONLY public.a DROP CONSTRAINT IF EXISTS a_b_fkey;\n"
        "DROP TABLE IF EXISTS public.a;\nDROP TYPE IF EXISTS public.t;\n"
    )


@pytest.mark.parametrize(
    "text",
    [
        "plain\n",
        "a \\d+ regex '^\\d$'\n",
        'ends with a quote "',
        'has """ inside',
        'has \\" inside',
        "ends with a backslash \\",
        "carriage\r\nreturn",
        "émoji ✅ and 'quotes'\n",
    ],
)
def test_sql_is_embedded_as_an_exact_python_literal(text):
    assert ast.literal_eval(_python_string(text)) == text


# -- on a real database ------------------------------------------------------------------------------


def test_where_flyway_users_look_baseline_says_it_is_not_flyway_s_baseline():
    from click.testing import CliRunner

    from bridge.cli.baseline import baseline_command

    shown = " ".join(CliRunner().invoke(baseline_command, ["--help"]).output.split())
    assert "Not Flyway's baseline (marking an existing database as migrated): the bridge adopts" in shown
    convert_docs = " ".join((REPO / "docs" / "convert.md").read_text().split())
    assert "**Coming from Flyway?** There, `baseline` means" in convert_docs
    assert "`--upto STEM` converts STEM and every legacy file before it" in convert_docs


@pytest.mark.slow
def test_baseline_replaces_the_chain_with_one_revision_that_keeps_the_head_id(sample_project):
    result = baseline(sample_project)
    assert result.stdout.startswith(
        f"Squashing {len(SAMPLES)} legacy migration(s), {SAMPLES[0]} .. {HEAD}, into "
        f"alembic/versions/{HEAD}.py (revision {HEAD}, down_revision None).\n"
    )
    assert "WARNING: Old runners" in result.stderr
    assert list(sample_project.legacy.glob("2*.py")) == []
    module = revision_module(sample_project)
    assert module["__path__"].name == f"{HEAD}.py"
    assert (module["revision"], module["down_revision"], module["replaces_legacy"]) == (HEAD, None, tuple(SAMPLES))
    assert module["__doc__"].startswith(f"Baseline: the schema of {HEAD}\n\nRevision ID: {HEAD}\n")
    assert "CREATE TABLE public.open_orders" in module["SCHEMA_SQL"]
    assert "DROP TABLE IF EXISTS public.open_orders;" in module["DROP_SQL"]
    assert "schema_migrations" not in module["SCHEMA_SQL"]
    history = sample_project.run("alembic", "history", check=True).stdout
    assert history.strip() == f"<base> -> {HEAD} (head), Baseline: the schema of {HEAD}"


@pytest.mark.slow
def test_a_new_database_runs_only_the_baseline_and_gets_the_chain_s_schema_rows_and_seed_data(
    sample_project,
    other_database_url,  # noqa: F811 (the fixture imported above)
):
    sample_project.run("alembic", "upgrade", "head", check=True)
    schema, seed, rows = schema_and_seed(sample_project.url)
    baseline(sample_project, "-m", "squash the legacy chain")

    sample_project.url = other_database_url
    result = sample_project.run("alembic", "upgrade", "head", check=True)
    assert re.findall(r"Running upgrade (.*)", result.stderr) == [f" -> {HEAD}, squash the legacy chain"]
    assert "Starting migration" not in result.stdout  # no legacy file ran
    new_schema, new_seed, new_rows = schema_and_seed(other_database_url)
    assert normalized(new_schema) == normalized(schema)
    assert new_seed.replace("schema_migrations_id_seq', 12", "") == seed.replace("schema_migrations_id_seq', 12", "")
    assert "INSERT INTO public.supported_exchanges" in new_seed
    assert new_rows == rows == SAMPLES
    assert sample_project.version() == [HEAD]
    assert sample_project.sql("SHOW search_path") == [('"$user", public',)]


@pytest.mark.slow
def test_a_database_at_the_head_before_the_baseline_runs_nothing(sample_project):
    sample_project.run("alembic", "upgrade", "head", check=True)
    before = schema_and_seed(sample_project.url)
    baseline(sample_project)
    report = status(sample_project)
    assert report["pending_count"] == 0 and report["current"] == [HEAD]
    result = sample_project.run("alembic", "upgrade", "head", check=True)
    assert "Running upgrade" not in result.stderr
    assert schema_and_seed(sample_project.url) == before
    assert "not in the legacy directory" not in result.stderr


@pytest.mark.slow
def test_a_database_an_old_runner_migrated_is_adopted_without_creating_anything(sample_project, tmp_path):
    archive = tmp_path / "legacy-copy"
    archive.mkdir()
    for path in sample_project.legacy.glob("2*.py"):
        (archive / path.name).write_text(path.read_text())
    baseline(sample_project)  # written on another database: the scratch one is on the same server
    sample_project.run(
        "python",
        str(REPO / "tests" / "legacy_runner.py"),
        "--url",
        url_text(sample_project.url),
        "--dir",
        str(archive),
        check=True,
    )
    result = sample_project.run("alembic", "upgrade", "head", check=True)
    assert f"{HEAD}: schema_migrations lists all {len(SAMPLES)} migrations this baseline replaces" in result.stderr
    assert sample_project.version() == [HEAD]
    assert sample_project.rows() == SAMPLES


@pytest.mark.slow
def test_a_database_an_old_runner_left_part_way_through_the_chain_is_refused(sample_project, tmp_path):
    partial = tmp_path / "partial"
    partial.mkdir()
    for stem in SAMPLES[:3]:
        (partial / f"{stem}.py").write_text((sample_project.legacy / f"{stem}.py").read_text())
    sample_project.run(
        "python",
        str(REPO / "tests" / "legacy_runner.py"),
        "--url",
        url_text(sample_project.url),
        "--dir",
        str(partial),
        check=True,
    )
    baseline(sample_project)
    result = sample_project.run("alembic", "upgrade", "head")
    assert result.returncode != 0
    assert (
        f"FAILED: This database has applied 3 of the {len(SAMPLES)} legacy migrations that the baseline "
        f"{HEAD} replaces (the latest: {SAMPLES[2]}), but not {SAMPLES[3]}, {SAMPLES[4]}, {SAMPLES[5]}, ...: "
        f"it stopped part-way through the chain. Bring it to {HEAD} with the code from before the baseline"
    ) in result.output
    assert sample_project.version() == [] and sample_project.rows() == SAMPLES[:3]


@pytest.mark.slow
def test_a_database_the_bridge_left_part_way_through_the_chain_is_refused(sample_project):
    sample_project.run("alembic", "upgrade", SAMPLES[3], check=True)
    baseline(sample_project)
    result = sample_project.run("alembic", "upgrade", "head")
    assert result.returncode != 0
    assert (
        f"FAILED: alembic_version holds '{SAMPLES[3]}', a legacy migration that was squashed into the "
        f"baseline '{HEAD}': this database stopped part-way through the legacy chain"
    ) in result.output
    assert sample_project.version() == [SAMPLES[3]]


@pytest.mark.slow
def test_native_revisions_after_the_legacy_head_follow_the_baseline(sample_project, other_database_url):  # noqa: F811 (the fixture imported above)
    (sample_project.versions / "n1_add_website.py").write_text(
        '"""add website"""\nfrom alembic import op\nimport sqlalchemy as sa\n\n'
        f'revision = "n1"\ndown_revision = "{HEAD}"\nbranch_labels = None\ndepends_on = None\n\n\n'
        'def upgrade():\n    op.add_column("supported_exchanges", sa.Column("website", sa.Text))\n\n\n'
        'def downgrade():\n    op.drop_column("supported_exchanges", "website")\n'
    )
    sample_project.run("alembic", "upgrade", "head", check=True)
    result = baseline(sample_project)
    assert "1 revision(s) after it stay as they are (first: n1)." in result.stdout
    assert "website" not in (sample_project.versions / f"{HEAD}.py").read_text()  # built up to the legacy head only
    assert status(sample_project)["pending_count"] == 0

    sample_project.url = other_database_url
    result = sample_project.run("alembic", "upgrade", "head", check=True)
    assert re.findall(r"Running upgrade (\S*) -> (\S*),", result.stderr) == [("", HEAD), (HEAD, "n1")]
    assert sample_project.version() == ["n1"]


@pytest.mark.slow
def test_downgrade_base_drops_what_the_baseline_created_and_its_rows(sample_project):
    baseline(sample_project)
    sample_project.run("alembic", "upgrade", "head", check=True)
    sample_project.run("alembic", "downgrade", "base", check=True)
    assert sample_project.tables() == [
        "alembic_bridge_checksums",
        "alembic_bridge_log",
        "alembic_version",
        "schema_migrations",
    ]
    assert sample_project.rows() == [] and sample_project.version() == []
    assert sample_project.sql(
        "SELECT COUNT(*) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
        "WHERE n.nspname = 'public' AND t.typtype = 'e'"
    ) == [(0,)]
    sample_project.run("alembic", "upgrade", "head", check=True)
    assert sample_project.rows() == SAMPLES


@pytest.mark.slow
def test_the_baseline_renders_with_sql(sample_project):
    baseline(sample_project)
    sql = sample_project.run("alembic", "upgrade", "head", "--sql", check=True).stdout
    assert "CREATE TABLE public.accounts" in sql
    assert f"INSERT INTO schema_migrations (migration_name) VALUES ('{HEAD}');" in sql


@pytest.mark.slow
def test_baseline_after_convert_squashes_the_converted_revisions_too(sample_project, other_database_url):  # noqa: F811 (the fixture imported above)
    sample_project.run("alembic", "upgrade", "head", check=True)
    sample_project.run("alembic-bridge", "convert", "--all", check=True)
    result = baseline(sample_project)
    assert f"into alembic/versions/{HEAD}.py" in result.stdout
    assert [p.name for p in sample_project.versions.glob("*.py")] == [f"{HEAD}.py"]
    assert revision_module(sample_project)["replaces_legacy"] == tuple(SAMPLES)
    assert status(sample_project)["pending_count"] == 0
    sample_project.url = other_database_url
    sample_project.run("alembic", "upgrade", "head", check=True)
    assert sample_project.rows() == SAMPLES


@pytest.mark.slow
def test_baseline_has_help(project):
    assert project.run("alembic-bridge", "baseline", "--help", check=True).stdout.startswith(
        "Usage: alembic-bridge baseline [OPTIONS]"
    )


@pytest.mark.slow
def test_dry_run_changes_nothing_and_needs_no_database(sample_project):
    result = sample_project.run(
        "alembic-bridge",
        "baseline",
        "--dry-run",
        check=True,
        env={"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"},
    )
    assert result.stdout.startswith(f"Would squash {len(SAMPLES)} legacy migration(s)")
    assert f"  would remove legacy/{SAMPLES[0]}.py" in result.stdout
    assert sorted(p.stem for p in sample_project.legacy.glob("2*.py")) == SAMPLES
    assert list(sample_project.versions.glob("*.py")) == []


@pytest.mark.slow
def test_a_chain_that_fails_to_build_leaves_everything_as_it_was(project):
    project.table("20251001_create_a", "a")
    project.write(
        "20251002_broken.py", "from sqlalchemy import text\n\n\ndef upgrade(engine):\n    raise Exception('boom')\n"
    )
    result = baseline(project, check=False)
    assert result.returncode == 1
    assert "Error: Building the schema of 20251002_broken on a scratch database failed:" in result.stderr
    assert "upgrade() raised Exception: boom" in result.stderr
    assert len(list(project.legacy.glob("*.py"))) == 2 and list(project.versions.glob("*.py")) == []
    admin_databases = project.sql("SELECT datname FROM pg_database WHERE datname LIKE '%baseline%'")
    assert admin_databases == []  # the scratch database was dropped
