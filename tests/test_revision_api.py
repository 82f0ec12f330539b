"""``bridge.revision_api``: what generated revisions import, and old revisions that must keep running.

tests/fixtures/converted_v01 is the sample chain as ``alembic-bridge convert
--all`` wrote it before `bridge.revision_api` existed (its revisions import
``from bridge.convert``), and tests/fixtures/baseline_v01 the baseline that
``alembic-bridge baseline`` wrote then (``from bridge.baseline``). They are
frozen byte for byte: users committed files like them.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, legacy_source, make_project, url_text
from test_baseline import normalized
from test_convert import SAMPLES, other_database_url, schema_and_seed  # noqa: F401 (a fixture)

import bridge.revision_api as revision_api

FIXTURES = Path(__file__).resolve().parent / "fixtures"
CONVERTED_V01 = FIXTURES / "converted_v01"
BASELINE_V01 = FIXTURES / "baseline_v01"


def schema_tables(project) -> list[str]:
    """The project's tables other than the history tables (the bridge's, Alembic's, schema_migrations)."""
    return [t for t in project.tables() if not t.startswith("alembic_") and t != "schema_migrations"]


def imported_names(source: str) -> dict[str, list[str]]:
    """Return {module: names} for the ``from bridge... import`` lines of *source*."""
    found: dict[str, list[str]] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("bridge"):
            found.setdefault(node.module, []).extend(alias.name for alias in node.names)
    return found


# -- the old import paths ------------------------------------------------------------------------


def test_the_fixtures_are_the_old_revisions_importing_from_the_old_paths():
    converted = sorted(CONVERTED_V01.glob("*.py"))
    assert [p.stem for p in converted] == SAMPLES
    modules = {module for p in converted for module in imported_names(p.read_text())}
    assert modules == {"bridge.convert"}
    (baseline,) = BASELINE_V01.glob("*.py")
    assert imported_names(baseline.read_text()) == {"bridge.baseline": ["apply_baseline", "revert_baseline"]}


def test_the_old_import_paths_give_the_revision_api_s_functions():
    import bridge.baseline
    import bridge.convert

    for name in (
        "record_legacy_row",
        "delete_legacy_row",
        "legacy_row_recorded",
        "run_legacy_code",
        "migration_ledger",
    ):
        assert getattr(bridge.convert, name) is getattr(revision_api, name)
    for name in ("apply_baseline", "revert_baseline", "BaselineError"):
        assert getattr(bridge.baseline, name) is getattr(revision_api, name)


def test_the_packages_heavier_names_load_on_first_use():
    import bridge.baseline
    import bridge.convert
    from bridge.baseline import pgdump, render
    from bridge.convert import plan, rewrite

    assert bridge.convert.convert_source is rewrite.convert_source
    assert bridge.convert.plan_conversion is plan.plan_conversion
    assert bridge.baseline.restorable is pgdump.restorable
    assert bridge.baseline.render_baseline is render.render_baseline
    with pytest.raises(AttributeError, match="module 'bridge.convert' has no attribute 'nothing'"):
        bridge.convert.nothing  # noqa: B018


HEAVY = (
    "click",
    "bridge.cli",
    "bridge.convert.rewrite",
    "bridge.convert.plan",
    "bridge.baseline.build",
    "bridge.baseline.pgdump",
    "bridge.baseline.render",
    "bridge.baseline.plan",
    "bridge.runner",
)


@pytest.mark.parametrize(
    "statement",
    [
        "import bridge.revision_api",
        "from bridge.revision_api import record_legacy_row, apply_baseline",
        "from bridge.convert import legacy_row_recorded, record_legacy_row, delete_legacy_row, run_legacy_code",
        "from bridge.baseline import apply_baseline, revert_baseline",
    ],
)
def test_what_revisions_import_loads_neither_click_nor_the_rewriter(statement):
    code = f"import sys; {statement}; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]", result.stderr


# -- what is written from now on -----------------------------------------------------------------


def test_a_newly_converted_revision_imports_from_the_revision_api():
    from bridge.convert.rewrite import convert_source

    text = convert_source(
        legacy_source("CREATE TABLE t (id INT)", "DROP TABLE t"), stem="20251001_x", down_revision=None, origin="x.py"
    ).text
    assert imported_names(text) == {
        "bridge.revision_api": ["legacy_row_recorded", "record_legacy_row", "delete_legacy_row"]
    }
    kept = convert_source(
        "from sqlalchemy import text\n\n\ndef upgrade(engine):\n    helper(engine)\n\n\ndef helper(engine):\n    pass\n",
        stem="20251001_x",
        down_revision=None,
        origin="x.py",
    ).text
    assert imported_names(kept) == {
        "bridge.revision_api": ["legacy_row_recorded", "record_legacy_row", "run_legacy_code"]
    }
    assert set(imported_names(kept)["bridge.revision_api"]) <= set(revision_api.__all__)


def test_a_new_baseline_imports_from_the_revision_api(tmp_path):
    from bridge.baseline.plan import BaselinePlan
    from bridge.baseline.render import render_baseline

    plan = BaselinePlan("20251002_b", ["20251001_a", "20251002_b"], [], tmp_path / "20251002_b.py")
    text = render_baseline(plan, "CREATE TABLE t (id INT);\n", "DROP TABLE IF EXISTS t;\n")
    assert imported_names(text) == {"bridge.revision_api": ["apply_baseline", "revert_baseline"]}


# -- old revisions on a real database ------------------------------------------------------------


def install(project, folder: Path) -> None:
    """Put *folder*'s revisions in the project's version location, as committed; no legacy files."""
    for path in sorted(folder.glob("*.py")):
        shutil.copy(path, project.versions / path.name)


@pytest.fixture
def chain_schema(tmp_path, request):
    """The schema, seed data and rows the unconverted sample chain builds (on another database)."""
    url = request.getfixturevalue("other_database_url")
    chain = make_project(tmp_path / "chain", url)
    for path in sorted((REPO / "migrations").glob("2*.py")):
        shutil.copy(path, chain.legacy / path.name)
    chain.run("alembic", "upgrade", "head", check=True)
    return schema_and_seed(url)


@pytest.mark.slow
def test_revisions_converted_before_the_revision_api_still_upgrade_and_downgrade(project, chain_schema):
    install(project, CONVERTED_V01)
    result = project.run("alembic", "upgrade", "head", check=True)
    assert "Trigram index skipped" in result.stdout  # kept legacy code ran through run_legacy_code
    assert schema_and_seed(project.url) == chain_schema
    assert project.version() == [SAMPLES[-1]]

    project.run("alembic", "downgrade", "-3", check=True)
    assert project.rows() == SAMPLES[:-3]
    project.run("alembic", "downgrade", "base", check=True)
    assert project.rows() == [] and schema_tables(project) == []
    project.run("alembic", "upgrade", "head", check=True)
    assert project.rows() == SAMPLES


@pytest.mark.slow
def test_a_baseline_written_before_the_revision_api_still_upgrades_and_downgrades(project, chain_schema):
    install(project, BASELINE_V01)
    project.run("alembic", "upgrade", "head", check=True)
    schema, data, rows = schema_and_seed(project.url)
    assert (normalized(schema), data, rows) == (normalized(chain_schema[0]), *chain_schema[1:])
    assert project.version() == [SAMPLES[-1]]

    project.run("alembic", "downgrade", "base", check=True)
    assert project.rows() == [] and schema_tables(project) == []
    project.run("alembic", "upgrade", "head", check=True)
    assert project.rows() == SAMPLES


@pytest.mark.slow
def test_an_old_baseline_adopts_a_database_an_old_runner_migrated(sample_project):
    sample_project.run(
        "python",
        str(REPO / "tests" / "legacy_runner.py"),
        "--url",
        url_text(sample_project.url),
        "--dir",
        str(sample_project.legacy),
        check=True,
    )
    for path in sample_project.legacy.glob("2*.py"):
        path.unlink()  # as `alembic-bridge baseline` left the folder
    install(sample_project, BASELINE_V01)
    result = sample_project.run("alembic", "upgrade", "head", check=True)
    assert f"schema_migrations lists all {len(SAMPLES)} migrations this baseline replaces" in result.stderr
    assert sample_project.version() == [SAMPLES[-1]]
    assert sample_project.rows() == SAMPLES
