"""`alembic-bridge lint`: every rule on a broken file and its near-identical good twin.

tests/lint_cases/<CODE>/<case>/bad/*.py are broken migrations; each line that
must be reported carries ``# expect: CODE`` (a finding matches when the marker
is on any line of the statement it reports, the same lines a ``# noqa`` works
on). tests/lint_cases/<CODE>/<case>/good/ holds the fixed twin, and
tests/lint_cases/manual/ the legacy manual's own correct patterns: both must
report nothing. No database is needed: the linter never runs a file.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bridge.errors import ConfigError
from bridge.lint import (
    LintSettings,
    Violation,
    lint_errors,
    lint_paths,
    lint_source,
    load_settings,
    render_docs,
)
from bridge.lint.rules.catalog import ERROR, RULES, RULES_BY_CODE, WARNING

REPO = Path(__file__).resolve().parent.parent
CASES = Path(__file__).resolve().parent / "lint_cases"
CLI = Path(sys.executable).parent / "alembic-bridge"
EXPECT = re.compile(r"#\s*expect:\s*(LB\d+)")

BAD_FILES = sorted(CASES.glob("LB*/*/bad/*.py"))
GOOD_FILES = sorted(CASES.glob("LB*/*/good/*.py"))
MANUAL_FILES = sorted((CASES / "manual").glob("*.py"))
SAMPLE_MIGRATIONS = sorted((REPO / "migrations").glob("2*.py"))
# Realistic files in the legacy template: existence checks guarding whole blocks, concurrent
# indexes on AUTOCOMMIT connections, batched backfills, NOT VALID then VALIDATE.
CORPUS_FILES = sorted((Path(__file__).resolve().parent / "lint_corpus").glob("2*.py"))

CLEAN = """\
from sqlalchemy import text


def upgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE open_orders ADD COLUMN IF NOT EXISTS error_message TEXT"))


def downgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE open_orders DROP COLUMN IF EXISTS error_message"))
"""


def _id(path: Path) -> str:
    return str(path.relative_to(CASES).parent.parent) if CASES in path.parents else path.name


def expected_findings(path: Path) -> list[tuple[str, int]]:
    return [
        (match.group(1), number)
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        for match in EXPECT.finditer(line)
    ]


def rule_settings(code: str) -> LintSettings:
    """LB520 judges the Alembic configuration too: its cases run against one without a lock timeout.

    LB511 (CLUSTER, VACUUM FULL) is reported from PostgreSQL 19 on, when REPACK (CONCURRENTLY) exists.
    Rules off by default (LB72x, LB730) are selected by their code.
    """
    rule = RULES_BY_CODE.get(code)
    select = ("ALL", code) if rule is not None and not rule.default_enabled else ("ALL",)
    settings = LintSettings(postgres_version=19 if code == "LB511" else 16, select=select)
    return settings.with_rules(lock_timeout_configured=False if code == "LB520" else None)


def case_settings(path: Path) -> LintSettings:
    return rule_settings(next((part for part in path.parts if re.fullmatch(r"LB\d{3}", part)), ""))


def shown(violations: list[Violation]) -> list[str]:
    return [f"{v.line}: {v.code} {v.message}" for v in violations]


def write(folder: Path, name: str, source: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return path


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(CLI), "lint", *args], cwd=cwd, capture_output=True, text=True, timeout=120)


# -- the case folder -------------------------------------------------------------------


@pytest.mark.parametrize("path", BAD_FILES, ids=_id)
def test_broken_migration_reports_exactly_its_expected_findings(path):
    expected = expected_findings(path)
    assert expected, f"{path} has no `# expect: CODE` marker"
    violations = lint_paths([path], settings=case_settings(path))
    unmatched = list(expected)
    unexpected = []
    for violation in violations:
        match = next(
            (e for e in unmatched if e[0] == violation.code and violation.line <= e[1] <= violation.end_line),
            None,
        )
        if match is None:
            unexpected.append(violation)
        else:
            unmatched.remove(match)
    assert (unmatched, shown(unexpected)) == ([], [])


@pytest.mark.parametrize("path", GOOD_FILES, ids=_id)
def test_good_twin_of_a_broken_migration_reports_nothing(path):
    assert shown(lint_paths([path], settings=case_settings(path))) == []


@pytest.mark.parametrize("path", MANUAL_FILES, ids=lambda p: p.stem)
def test_legacy_manuals_correct_pattern_reports_nothing(path):
    assert shown(lint_paths([path])) == []


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_every_rule_has_a_broken_case_and_a_good_twin(rule):
    cases = [c for c in (CASES / rule.code).iterdir() if c.is_dir()] if (CASES / rule.code).is_dir() else []
    assert cases, f"no case folder for {rule.code}"
    for case in cases:
        bad, good = sorted((case / "bad").glob("*.py")), sorted((case / "good").glob("*.py"))
        assert len(bad) == len(good) == 1, case
        assert rule.code in {code for code, _ in expected_findings(bad[0])}, bad[0]


def test_the_bad_and_good_twins_differ_only_in_a_few_lines():
    import difflib

    for bad in BAD_FILES:
        good = next((bad.parent.parent / "good").glob("*.py"))
        diff = [
            line
            for line in difflib.unified_diff(
                bad.read_text().splitlines(), good.read_text().splitlines(), lineterm="", n=0
            )
            if line[:1] in "+-" and not line.startswith(("+++", "---"))
        ]
        assert len(diff) <= 14, f"{bad.parent.parent} twins differ in {len(diff)} lines"


# -- documentation ----------------------------------------------------------------------


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_documented_bad_example_raises_only_its_rule_and_good_example_nothing(rule):
    settings = rule_settings(rule.code)
    bad = lint_source(rule.bad, rule.bad_filename, settings)
    good = lint_source(rule.good, rule.good_filename, settings)
    assert ({v.code for v in bad}, shown(good)) == ({rule.code}, [])


def test_docs_file_is_generated_from_the_rule_definitions():
    committed = (REPO / "docs" / "lint-rules.md").read_text(encoding="utf-8")
    assert committed == render_docs(), "run: alembic-bridge lint --write-docs docs/lint-rules.md"


def test_rule_codes_are_unique_and_severities_known():
    codes = [rule.code for rule in RULES]
    assert len(codes) == len(set(codes))
    assert all(re.fullmatch(r"LB\d{3}", code) for code in codes)
    assert {rule.severity for rule in RULES} == {ERROR, WARNING}


# -- the repository's own sample migrations ---------------------------------------------------


# The samples are history written before the lock-danger rules: building indexes and setting NOT
# NULL inside the migration's transaction. `check` holds only unapplied files to those rules.
SAMPLE_LOCK_DANGERS = {
    "20251022_add_trading_indexes.py": ["56: LB501", "70: LB501", "70: LB501", "70: LB501"],
    "20251104_add_client_order_id.py": ["56: LB505", "61: LB501"],
}


@pytest.mark.parametrize("path", SAMPLE_MIGRATIONS, ids=lambda p: p.name)
def test_repository_sample_migration_lints_clean_but_for_its_lock_dangers(path):
    assert [f"{v.line}: {v.code}" for v in lint_paths([path])] == SAMPLE_LOCK_DANGERS.get(path.name, [])
    assert shown(lint_paths([path], settings=LintSettings().with_rules(lock_rules=False))) == []


# -- messages and positions ------------------------------------------------------------------


def test_finding_in_a_multiline_sql_string_points_at_the_statement_line(tmp_path):
    path = write(
        tmp_path,
        "20251031_add_index.py",
        '''\
        from sqlalchemy import text


        def upgrade(engine):
            with engine.begin() as conn:
                conn.execute(text("""
                    SELECT 1;
                    CREATE INDEX idx_open_orders_status ON open_orders (status)
                """))


        def downgrade(engine):
            pass
        ''',
    )
    [violation] = lint_paths([path], select=["LB4"])
    assert (violation.line, violation.col, violation.code, violation.message) == (
        8,
        13,
        "LB401",
        "CREATE INDEX idx_open_orders_status has no IF NOT EXISTS",
    )
    assert violation.hint == "write CREATE INDEX IF NOT EXISTS idx_open_orders_status ..."
    assert violation.end_line == 9


def test_unparsable_sql_is_reported_with_pglasts_message_at_its_position(tmp_path):
    path = write(
        tmp_path,
        "20251031_broken.py",
        """\
        from sqlalchemy import text


        def upgrade(engine):
            with engine.begin() as conn:
                conn.execute(text("ALTER TABLE open_orders ADD COLUMN IF NOT EXISTS x TEXT WHERE"))


        def downgrade(engine):
            pass
        """,
    )
    [violation] = lint_paths([path])
    assert violation.format() == (f'{path}:6:84: LB402 SQL does not parse: syntax error at or near "WHERE"')


def test_early_return_after_a_write_names_the_write_line(tmp_path):
    path = write(
        tmp_path,
        "20251031_early_return.py",
        """\
        from sqlalchemy import text


        def upgrade(engine):
            with engine.connect() as conn:
                trans = conn.begin()
                try:
                    conn.execute(text("UPDATE open_orders SET status = 'NEW' WHERE status IS NULL"))
                    if conn.execute(text("SELECT COUNT(*) FROM open_orders")).scalar() == 0:
                        return
                    trans.commit()
                except Exception:
                    trans.rollback()
                    raise


        def downgrade(engine):
            pass
        """,
    )
    assert shown(lint_paths([path])) == [
        "10: LB302 `return` leaves writes from line 8 uncommitted; closing the connection silently rolls them back"
    ]


def test_a_guard_on_another_object_does_not_excuse_the_ddl(tmp_path):
    path = write(
        tmp_path,
        "20251031_guard.py",
        """\
        from sqlalchemy import text


        def upgrade(engine):
            with engine.begin() as conn:
                found = conn.execute(text("SELECT 1 FROM pg_type WHERE typname = 'order_kind'")).scalar()
                if found is None:
                    conn.execute(text("CREATE TYPE order_kind AS ENUM ('a')"))
                    conn.execute(text("CREATE TYPE order_side AS ENUM ('buy', 'sell')"))


        def downgrade(engine):
            pass
        """,
    )
    assert [v.message for v in lint_paths([path])] == [
        "CREATE TYPE order_side fails when the type exists (PostgreSQL has no CREATE TYPE IF NOT EXISTS)"
    ]


def test_linting_never_imports_or_runs_the_file(tmp_path):
    marker = tmp_path / "imported"
    path = write(
        tmp_path,
        "20251031_side_effect.py",
        f"""\
        open({str(marker)!r}, "w").close()
        raise SystemExit(3)


        def upgrade(engine):
            pass


        def downgrade(engine):
            pass
        """,
    )
    assert lint_paths([path]) == []
    assert not marker.exists()


def test_native_alembic_revision_is_skipped(tmp_path):
    path = write(
        tmp_path,
        "20251031_abc123_native.py",
        """\
        revision = "abc123"
        down_revision = "20251031_add_error_message"


        def upgrade() -> None:
            pass
        """,
    )
    assert lint_paths([path]) == []


def test_folder_is_linted_the_way_the_loader_reads_it(tmp_path):
    write(tmp_path, "20251031_good.py", CLEAN)
    write(tmp_path, "2025-11-01_bad_name.py", CLEAN)
    write(tmp_path, "env.py", "import psycopg2\n")
    write(tmp_path, "helpers.py", "import psycopg2\n")
    (tmp_path / "versions").mkdir()
    write(tmp_path / "versions", "20251102_native.py", "import psycopg2\n")
    assert [(Path(v.path).name, v.code) for v in lint_paths([tmp_path])] == [("2025-11-01_bad_name.py", "LB001")]


# -- noqa, select, ignore, settings -------------------------------------------------------------

NOISY = '''\
import psycopg2{noqa_import}
from sqlalchemy import text


def upgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("""
            ALTER TABLE open_orders ADD COLUMN error_message TEXT
        """)){noqa_sql}
        conn.execute("SELECT 1"){noqa_execute}
'''


def noisy(noqa_import="", noqa_sql="", noqa_execute="", header=""):
    return header + NOISY.format(noqa_import=noqa_import, noqa_sql=noqa_sql, noqa_execute=noqa_execute)


def codes(violations) -> list[str]:
    return [v.code for v in violations]


def test_noisy_file_reports_every_rule_it_breaks():
    assert codes(lint_source(noisy(), "20251031_x.py")) == ["LB102", "LB201", "LB401", "LB203"]


def test_noqa_with_a_code_silences_only_that_code_on_its_line():
    found = lint_source(noisy(noqa_import="  # noqa: LB401", noqa_execute="  # noqa: LB203"), "20251031_x.py")
    assert codes(found) == ["LB102", "LB201", "LB401"]


def test_bare_noqa_silences_everything_on_its_line():
    # File-level findings (LB001, LB002, LB101, LB102) are reported at 1:1, so line 1's noqa covers them too.
    assert codes(lint_source(noisy(noqa_import="  # noqa"), "20251031_x.py")) == ["LB401", "LB203"]
    assert codes(lint_source(noisy(noqa_execute="  # noqa"), "20251031_x.py")) == ["LB102", "LB201", "LB401"]


def test_noqa_after_a_multiline_sql_string_covers_the_statement():
    found = lint_source(noisy(noqa_sql="  # noqa: LB401"), "20251031_x.py")
    assert codes(found) == ["LB102", "LB201", "LB203"]


def test_file_level_noqa_silences_a_rule_everywhere_in_the_file():
    found = lint_source(noisy(header="# alembic-bridge: noqa: LB102, LB2\n"), "20251031_x.py")
    assert codes(found) == ["LB401"]


def test_select_by_prefix_keeps_only_matching_rules(tmp_path):
    path = write(tmp_path, "20251031_x.py", noisy())
    assert codes(lint_paths([path], select=["LB2"])) == ["LB201", "LB203"]
    assert codes(lint_paths([path], select=["LB1,LB401"])) == ["LB102", "LB401"]


def test_ignore_by_prefix_and_the_more_specific_selector_wins(tmp_path):
    path = write(tmp_path, "20251031_x.py", noisy())
    assert codes(lint_paths([path], ignore=["LB2"])) == ["LB102", "LB401"]
    assert codes(lint_paths([path], select=["LB203"], ignore=["LB2"])) == ["LB203"]
    assert codes(lint_paths([path], select=["LB2"], ignore=["LB2"])) == []


def test_unknown_rule_selector_is_rejected():
    with pytest.raises(ConfigError, match=r"'LB9' matches no lint rule"):
        lint_paths([], select=["LB9"])


def test_pyproject_settings_select_ignore_and_per_file_ignores(tmp_path):
    pyproject = write(
        tmp_path,
        "pyproject.toml",
        """\
        [tool.alembic-bridge.lint]
        select = ["LB1", "LB2"]
        ignore = ["LB102"]
        per-file-ignores = { "20251101_*.py" = ["LB201"] }
        """,
    )
    settings = load_settings(pyproject)
    assert settings == LintSettings(("LB1", "LB2"), ("LB102",), (("20251101_*.py", ("LB201",)),), tmp_path.resolve())
    first = write(tmp_path, "20251031_x.py", noisy())
    second = write(tmp_path, "20251101_y.py", noisy())
    assert [(Path(v.path).name, v.code) for v in lint_paths([first, second], settings=settings)] == [
        ("20251031_x.py", "LB201"),
        ("20251031_x.py", "LB203"),
        ("20251101_y.py", "LB203"),
    ]


def test_pyproject_with_an_unknown_key_is_a_clear_error(tmp_path):
    pyproject = write(tmp_path, "pyproject.toml", '[tool.alembic-bridge.lint]\nselct = ["LB1"]\n')
    with pytest.raises(
        ConfigError,
        match=r"unknown key\(s\) selct; the keys are select, ignore, per-file-ignores, severity, postgres-version, lock-rules-since, small-table-rows",
    ):
        load_settings(pyproject)


def test_lint_errors_returns_only_error_level_findings(tmp_path):
    write(tmp_path, "20251031_x.py", noisy())
    assert [v.code for v in lint_errors(tmp_path)] == ["LB201", "LB401", "LB203"]
    assert {v.severity for v in lint_errors(tmp_path)} == {ERROR}


def test_lint_errors_honours_the_projects_lint_settings_and_legacy_ignore(tmp_path):
    legacy = tmp_path / "db" / "legacy"
    legacy.mkdir(parents=True)
    write(legacy, "20251031_x.py", noisy())
    write(legacy, "20251101_old.py", noisy())
    write(tmp_path, "pyproject.toml", '[tool.alembic-bridge.lint]\nignore = ["LB2"]\n')
    [violation] = lint_errors(legacy, legacy_ignore=["20251101_*"])
    assert str(violation) == (
        f"{violation.path}:8:13: LB401 ALTER TABLE open_orders ADD COLUMN error_message has no IF NOT EXISTS "
        "(fix: write ADD COLUMN IF NOT EXISTS error_message ...)"
    )


# -- the real command line ----------------------------------------------------------------------


@pytest.mark.slow
def test_cli_exits_1_and_prints_ruff_style_lines_with_hints(tmp_path):
    write(tmp_path, "20251031_x.py", noisy())
    result = run_cli("20251031_x.py", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines() == [
        "20251031_x.py:1:1: LB102 no module-level `downgrade(engine)` function",
        "    hint: define `def downgrade(engine):` that undoes upgrade(), or raises if it cannot",
        "20251031_x.py:1:1: LB201 `psycopg2` is imported: migrations must use the SQLAlchemy engine they are given, not the driver",
        "    hint: remove the import: run SQL through the engine you are given, `with engine.begin() as conn: "
        "conn.execute(text(...))`; in `__main__` use `create_engine(url)`",
        "20251031_x.py:8:13: LB401 ALTER TABLE open_orders ADD COLUMN error_message has no IF NOT EXISTS",
        "    hint: write ADD COLUMN IF NOT EXISTS error_message ...",
        "20251031_x.py:10:22: LB203 `execute()` is given a plain string; SQLAlchemy 2.x raises "
        "ObjectNotExecutableError (Not an executable object)",
        '    hint: wrap the SQL in text(): `conn.execute(text("..."))`',
        "Found 4 problems: 3 errors, 1 warning (LB102: do not fail the run).",
    ]


@pytest.mark.slow
@pytest.mark.parametrize("output_format", ["json", "sarif"])
def test_json_and_sarif_are_utf_8_json_when_a_file_name_is_not_utf_8(tmp_path, output_format):
    # os.fsdecode gives such a name a lone surrogate, which stdout writes back as the raw byte.
    (tmp_path / b"20251031_caf\xe9.py".decode(sys.getfilesystemencoding(), "surrogateescape")).write_text(CLEAN)
    result = subprocess.run(
        [str(CLI), "lint", "--format", output_format, "."], cwd=tmp_path, capture_output=True, timeout=120
    )
    assert result.returncode == 1, result.stderr
    data = json.loads(result.stdout.decode("utf-8"))  # strict: what jq and GitHub read
    assert "20251031_caf" in json.dumps(data)


@pytest.mark.slow
def test_cli_exits_0_when_only_warnings_are_found(tmp_path):
    write(tmp_path, "20251031_x.py", CLEAN.split("\n\ndef downgrade")[0] + "\n")
    result = run_cli("20251031_x.py", cwd=tmp_path)
    assert (result.returncode, result.stdout.splitlines()[-1]) == (
        0,
        "Found 1 problem: 1 warning (LB102: do not fail the run).",
    )


@pytest.mark.slow
def test_cli_exits_0_and_says_so_when_everything_passes(tmp_path):
    write(tmp_path, "20251031_x.py", CLEAN)
    result = run_cli(".", cwd=tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (0, "All checks passed!\n", "")


@pytest.mark.slow
def test_cli_select_and_ignore_change_the_exit_code(tmp_path):
    write(tmp_path, "20251031_x.py", noisy())
    assert run_cli("--select", "LB1", "20251031_x.py", cwd=tmp_path).returncode == 0
    assert run_cli("--ignore", "LB2,LB4", "20251031_x.py", cwd=tmp_path).returncode == 0
    assert run_cli("--ignore", "LB2", "20251031_x.py", cwd=tmp_path).returncode == 1


@pytest.mark.slow
def test_cli_json_output_is_a_list_of_findings(tmp_path):
    write(tmp_path, "20251031_x.py", noisy())
    result = run_cli("--format", "json", "--select", "LB401", "20251031_x.py", cwd=tmp_path)
    assert result.returncode == 1
    assert json.loads(result.stdout) == [
        {
            "code": "LB401",
            "name": "non-idempotent-ddl",
            "severity": "error",
            "message": "ALTER TABLE open_orders ADD COLUMN error_message has no IF NOT EXISTS",
            "hint": "write ADD COLUMN IF NOT EXISTS error_message ...",
            "filename": "20251031_x.py",
            "location": {"row": 8, "column": 13},
            "end_location": {"row": 9},
        }
    ]


@pytest.mark.slow
def test_cli_reads_lint_settings_from_pyproject(tmp_path):
    write(tmp_path, "20251031_x.py", noisy())
    write(tmp_path, "pyproject.toml", '[tool.alembic-bridge.lint]\nignore = ["LB2", "LB4"]\n')
    result = run_cli("20251031_x.py", cwd=tmp_path)
    assert (result.returncode, result.stdout.splitlines()[-1]) == (
        0,
        "Found 1 problem: 1 warning (LB102: do not fail the run).",
    )


@pytest.mark.slow
def test_lint_and_check_read_the_same_settings_the_projects_pyproject(project):
    """One place: the pyproject.toml next to alembic.ini, not one nearer the files."""
    write(project.legacy, "20251031_x.py", noisy())
    (project.root / "pyproject.toml").write_text('[tool.alembic-bridge.lint]\nignore = ["LB2", "LB4", "LB5"]\n')
    (project.legacy / "pyproject.toml").write_text("[tool.alembic-bridge.lint]\nignore = []\n")
    linted = project.run("alembic-bridge", "lint", "legacy/20251031_x.py")
    assert (linted.returncode, linted.stdout.splitlines()[-1]) == (
        0,
        "Found 1 problem: 1 warning (LB102: do not fail the run).",
    )
    checked = project.run("alembic-bridge", "check", "--offline")
    assert (checked.returncode, checked.stderr) == (0, "")


@pytest.mark.slow
def test_cli_without_paths_lints_the_configured_legacy_location(tmp_path):
    (tmp_path / "migrations").mkdir()
    write(tmp_path / "migrations", "20251031_x.py", noisy())
    write(tmp_path / "migrations", "20251101_skipped.py", noisy())
    write(
        tmp_path,
        "alembic.ini",
        "[alembic]\nscript_location = migrations\nlegacy_location = migrations\nlegacy_ignore = 20251101_*\n",
    )
    result = run_cli("--select", "LB201", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines()[0] == (
        "migrations/20251031_x.py:1:1: LB201 `psycopg2` is imported: migrations must use the "
        "SQLAlchemy engine they are given, not the driver"
    )
    assert result.stdout.splitlines()[-1] == "Found 1 problem: 1 error."


@pytest.mark.slow
def test_cli_without_paths_or_configuration_fails_with_a_clear_message(tmp_path):
    result = run_cli(cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == (
        f"Error: No PATH given, and there is no alembic.ini or pyproject.toml in {tmp_path} to "
        "read legacy_location from. Pass the files or folder to lint, e.g. "
        "`alembic-bridge lint migrations/`, or run from the project root.\n"
    )


@pytest.mark.slow
def test_cli_rejects_an_unknown_rule_code_as_a_usage_error(tmp_path):
    write(tmp_path, "20251031_x.py", CLEAN)
    result = run_cli("--select", "LB999", "20251031_x.py", cwd=tmp_path)
    assert result.returncode == 2
    assert "'LB999' matches no lint rule" in result.stderr


@pytest.mark.slow
def test_cli_explain_prints_a_rules_documentation(tmp_path):
    result = run_cli("--explain", "lb302", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.startswith("### LB302 uncommitted-writes\n\n*Severity: error.*")


def test_lint_command_works_without_the_shared_context_object(tmp_path):
    from click.testing import CliRunner

    from bridge.cli.lint import lint_command

    path = write(tmp_path, "20251031_x.py", noisy())
    result = CliRunner().invoke(lint_command, ["--select", "LB203", str(path)])
    assert (result.exit_code, result.output.splitlines()[-1]) == (1, "Found 1 problem: 1 error.")


# -- pre-commit -------------------------------------------------------------------------------


def test_pre_commit_hook_runs_alembic_bridge_lint_on_date_named_python_files():
    text = (REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8")
    assert "- id: alembic-bridge-lint\n" in text
    assert "\n  entry: alembic-bridge lint\n" in text
    assert "\n  language: python\n" in text
    files = re.search(r"^  files: '(.+)'$", text, re.MULTILINE).group(1)
    assert re.search(files, "web_server/migrations/20251031_add_error_message.py")
    assert not re.search(files, "web_server/migrations/env.py")


# -- hints that name the right function and are code that runs (issue 16) -----------------------


def test_wrong_arity_hint_names_downgrade_when_downgrade_is_wrong():
    source = CLEAN.replace("def downgrade(engine):", "def downgrade():")
    [violation] = lint_source(source, "20251031_add_error_message.py")
    assert (violation.code, violation.hint) == ("LB103", "declare exactly one parameter: `def downgrade(engine):`")


@pytest.mark.parametrize(
    ("call", "hint"),
    [
        (
            'engine.execute(text("SELECT 1"))',
            'open a connection first: `with engine.begin() as conn: conn.execute(text("SELECT 1"))`',
        ),
        ("engine.commit()", "remove `engine.commit()`: `with engine.begin() as conn:` commits when the block ends"),
    ],
)
def test_engine_used_as_connection_hint_is_code_that_runs(call, hint):
    source = CLEAN.replace(
        '    with engine.begin() as conn:\n        conn.execute(text("ALTER TABLE open_orders ADD COLUMN IF NOT EXISTS error_message TEXT"))',
        "    " + call,
        1,
    )
    [violation] = lint_source(source, "20251031_add_error_message.py")
    assert (violation.code, violation.hint) == ("LB205", hint)
    code = hint.split("`")[1]
    if code.startswith("with"):
        compile(code, "<hint>", "exec")


def test_engine_execute_of_a_plain_string_is_one_finding_not_two():
    source = CLEAN.replace(
        '    with engine.begin() as conn:\n        conn.execute(text("ALTER TABLE open_orders ADD COLUMN IF NOT EXISTS error_message TEXT"))',
        '    engine.execute("SELECT 1")',
        1,
    )
    assert [v.code for v in lint_source(source, "20251031_add_error_message.py")] == ["LB205"]


# -- which files `check` holds to the lock-danger rules (issue 16) ----------------------------------

INDEX_FILE = """\
from sqlalchemy import text


def upgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS orders_{n} (id INT, status TEXT)"))


def downgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS orders_{n}"))
"""
SIZES_OFF = "[tool.alembic-bridge.lint]\nsmall-table-rows = 0\n"  # every table counts as large
UNSAFE_INDEX = INDEX_FILE.replace(
    'conn.execute(text("CREATE TABLE IF NOT EXISTS orders_{n} (id INT, status TEXT)"))',
    'conn.execute(text("CREATE INDEX IF NOT EXISTS idx_orders_{n}_status ON orders_1 (status)"))',
).replace("DROP TABLE IF EXISTS orders_{n}", "DROP INDEX IF EXISTS idx_orders_{n}_status")


def _lock_problems(problems: list[str]) -> list[str]:
    return [p.split(": LB")[0].rsplit("/", 1)[-1] + " LB" + p.split(": LB")[1][:3] for p in problems if ": LB5" in p]


@pytest.mark.slow  # `alembic upgrade head` in a subprocess
def test_check_fails_an_unapplied_unsafe_index_but_not_the_same_statement_already_applied(project):
    from bridge import runner
    from bridge.checks import run_checks

    # Empty tables: without this, check (now sizing the table) makes these findings warnings.
    (project.root / "pyproject.toml").write_text(SIZES_OFF)
    project.write("20251001_orders.py", INDEX_FILE.format(n=1))
    project.write("20251002_index.py", UNSAFE_INDEX.format(n=2))
    project.run("alembic", "upgrade", "head", check=True)
    project.write("20251003_index.py", UNSAFE_INDEX.format(n=3))
    config = runner.load_config(project.root / "alembic.ini", url=project.url.render_as_string(hide_password=False))
    assert _lock_problems(run_checks(config)) == ["20251003_index.py:6:28 LB501"]
    # Offline nothing says which files are new, unless lock-rules-since does.
    assert _lock_problems(run_checks(config, database=False)) == []
    (project.root / "pyproject.toml").write_text(SIZES_OFF + "lock-rules-since = 2025-10-02\n")
    assert _lock_problems(run_checks(config, database=False)) == [
        "20251002_index.py:6:28 LB501",
        "20251003_index.py:6:28 LB501",
    ]


def test_check_offline_diff_holds_files_changed_against_the_git_base_to_the_lock_rules(tmp_path):
    from bridge.lint import scope

    legacy = tmp_path / "legacy"
    legacy.mkdir()
    write(legacy, "20251001_orders.py", INDEX_FILE.format(n=1))
    write(legacy, "20251002_index.py", UNSAFE_INDEX.format(n=2))

    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "-q")
    git("-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-q", "--allow-empty", "-m", "base")
    git("add", "legacy/20251001_orders.py")
    git("-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-q", "-m", "orders")
    assert scope.changed_since(legacy, "HEAD") == {(legacy / "20251002_index.py").resolve()}
    assert scope.changed_since(legacy, "HEAD~1") == {
        (legacy / "20251001_orders.py").resolve(),
        (legacy / "20251002_index.py").resolve(),
    }
    with pytest.raises(ConfigError, match="--diff no-such-base: git failed"):
        scope.changed_since(legacy, "no-such-base")


def test_lint_of_an_explicit_path_applies_every_rule_and_severity_downgrades_one(tmp_path):
    path = write(tmp_path, "20251002_index.py", UNSAFE_INDEX.format(n=2))
    [violation] = lint_paths([path])
    assert (violation.code, violation.severity) == ("LB501", ERROR)
    (tmp_path / "pyproject.toml").write_text('[tool.alembic-bridge.lint]\nseverity = { LB5 = "warning" }\n')
    [violation] = lint_paths([path], settings=load_settings(tmp_path / "pyproject.toml"))
    assert (violation.code, violation.severity) == ("LB501", WARNING)
    assert lint_errors(tmp_path, settings=load_settings(tmp_path / "pyproject.toml")) == []


def test_postgres_version_changes_the_answer_for_a_constant_default(tmp_path):
    source = CLEAN.replace("error_message TEXT", "retries INT NOT NULL DEFAULT 0")
    assert shown(lint_source(source, "20251031_add_error_message.py")) == []
    (tmp_path / "pyproject.toml").write_text("[tool.alembic-bridge.lint]\npostgres-version = 10\n")
    old = lint_source(source, "20251031_add_error_message.py", load_settings(tmp_path / "pyproject.toml"))
    assert [v.code for v in old] == ["LB507"]


# -- output formats (issue 16) ------------------------------------------------------------------


def test_sarif_log_names_each_rule_and_result_with_its_location(tmp_path):
    from bridge.lint import report

    path = write(tmp_path, "20251002_index.py", UNSAFE_INDEX.format(n=2))
    log = report.sarif(lint_paths([path]))
    run = log["runs"][0]
    assert log["version"] == "2.1.0" and len(run["tool"]["driver"]["rules"]) == len(RULES)
    [result] = run["results"]
    assert run["tool"]["driver"]["rules"][result["ruleIndex"]]["id"] == result["ruleId"] == "LB501"
    assert result["level"] == "error"
    assert result["locations"][0]["physicalLocation"]["region"] == {"startLine": 6, "startColumn": 28, "endLine": 6}


def test_github_annotation_is_one_workflow_command_per_finding(tmp_path):
    from bridge.lint import report

    path = write(tmp_path, "20251002_index.py", UNSAFE_INDEX.format(n=2))
    [line] = report.github_annotations(lint_paths([path]))
    assert line.startswith(
        f"::error file={path.as_posix()},line=6,endLine=6,col=28,title=LB501 index-without-concurrently::LB501 CREATE INDEX"
    )


@pytest.mark.slow
def test_cli_json_flag_and_sarif_format_print_the_findings(tmp_path):
    write(tmp_path, "20251002_index.py", UNSAFE_INDEX.format(n=2))
    as_json = run_cli("--json", "20251002_index.py", cwd=tmp_path)
    assert as_json.returncode == 1 and [f["code"] for f in json.loads(as_json.stdout)] == ["LB501"]
    sarif = run_cli("--format", "sarif", "20251002_index.py", cwd=tmp_path)
    assert sarif.returncode == 1 and json.loads(sarif.stdout)["runs"][0]["results"][0]["ruleId"] == "LB501"
    github = run_cli("--format", "github", "20251002_index.py", cwd=tmp_path)
    assert github.stdout.startswith("::error file=20251002_index.py,line=6,")


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: p.name)
def test_realistic_safe_idempotent_legacy_file_reports_nothing_with_every_rule(path):
    settings = LintSettings().with_rules(lock_timeout_configured=False)
    assert shown(lint_paths([path], settings=settings)) == []


@pytest.mark.parametrize(
    "call", ['conn.execute("UPDATE t SET a = %s", (1,))', 'conn.execute("UPDATE t SET a = %s", 1)']
)
def test_positional_parameters_are_one_finding_per_call(call):
    source = CLEAN.replace(
        'conn.execute(text("ALTER TABLE open_orders ADD COLUMN IF NOT EXISTS error_message TEXT"))', call, 1
    )
    assert [v.code for v in lint_source(source, "20251031_add_error_message.py")] == ["LB209"]


@pytest.mark.slow  # `alembic upgrade head` in a subprocess
def test_check_holds_a_pending_native_revision_to_the_lock_rules(project):
    from bridge import runner
    from bridge.checks import run_checks

    # Empty tables: without this, check (now sizing the table) makes these findings warnings.
    (project.root / "pyproject.toml").write_text(SIZES_OFF)
    project.write("20251001_orders.py", INDEX_FILE.format(n=1))
    project.run("alembic", "upgrade", "head", check=True)
    (project.versions / "a1b2c3d4e5f6_index.py").write_text(
        'from alembic import op\n\nrevision = "a1b2c3d4e5f6"\ndown_revision = "20251001_orders"\n\n\n'
        'def upgrade():\n    op.create_index("idx_orders_1_status", "orders_1", ["status"])\n\n\n'
        'def downgrade():\n    op.drop_index("idx_orders_1_status", table_name="orders_1")\n'
    )
    config = runner.load_config(project.root / "alembic.ini", url=project.url.render_as_string(hide_password=False))
    assert _lock_problems(run_checks(config)) == ["a1b2c3d4e5f6_index.py:8:5 LB501"]


def test_check_finds_a_native_revision_in_a_sub_folder_as_alembic_does(project):
    """recursive_version_locations: `check` lints what Alembic runs (bridge.locations), not only versions/*.py."""
    from bridge import runner
    from bridge.checks import run_checks

    # Empty tables: without this, check (now sizing the table) makes these findings warnings.
    (project.root / "pyproject.toml").write_text(SIZES_OFF)
    ini = project.root / "alembic.ini"
    ini.write_text(
        ini.read_text().replace("path_separator = os\n", "path_separator = os\nrecursive_version_locations = true\n")
    )
    project.write("20251001_orders.py", INDEX_FILE.format(n=1))
    config = runner.load_config(ini, url=project.url.render_as_string(hide_password=False))
    runner.upgrade(config)
    (project.versions / "2026").mkdir()
    (project.versions / "2026" / "a1b2c3d4e5f6_index.py").write_text(
        'from alembic import op\n\nrevision = "a1b2c3d4e5f6"\ndown_revision = "20251001_orders"\n\n\n'
        'def upgrade():\n    op.create_index("idx_orders_1_status", "orders_1", ["status"])\n\n\n'
        'def downgrade():\n    op.drop_index("idx_orders_1_status", table_name="orders_1")\n'
    )
    assert _lock_problems(run_checks(config)) == ["a1b2c3d4e5f6_index.py:8:5 LB501"]


def test_metadata_with_a_schema_name_is_sqlalchemy_2_and_not_reported():
    source = CLEAN.replace(
        "from sqlalchemy import text\n", 'from sqlalchemy import MetaData, text\n\nmeta = MetaData("trading")\n', 1
    )
    assert shown(lint_source(source, "20251031_add_error_message.py")) == []
    bound = source.replace('MetaData("trading")', "MetaData(engine)")
    assert [v.code for v in lint_source(bound, "20251031_add_error_message.py")] == ["LB207"]


@pytest.mark.parametrize(
    ("sql", "codes"),
    [
        ("ALTER TABLE t ADD COLUMN b INT REFERENCES o (id)", ["LB504"]),
        ("ALTER TABLE t ADD COLUMN b INT UNIQUE", ["LB503"]),
        ("ALTER TABLE t ADD COLUMN b INT", []),
        ("ALTER TABLE t ADD COLUMN b TIMESTAMPTZ NOT NULL DEFAULT now()", []),
        ("ALTER TABLE t ADD COLUMN b BIGSERIAL", ["LB507"]),
        ("ALTER TABLE t ADD CONSTRAINT c PRIMARY KEY USING INDEX i", []),
        ("ALTER TABLE t RENAME TO u", ["LB509"]),
        ("DROP INDEX CONCURRENTLY IF EXISTS i", []),
        ("REINDEX TABLE t", ["LB501"]),
        ("LOCK TABLE t", ["LB512"]),
        ("LOCK TABLE t IN SHARE MODE", []),
        ("CREATE TABLE n (id INT); CREATE INDEX i ON n (id); ALTER TABLE n ADD CONSTRAINT c CHECK (id > 0)", []),
        # issue 23's false positives
        ("VACUUM (FULL false) t", []),
        ("REINDEX SYSTEM db", []),  # no concurrent form exists
        ("REINDEX (CONCURRENTLY false) INDEX i", ["LB501"]),  # not concurrent: LB501, not LB502
        ("REINDEX (CONCURRENTLY) INDEX i", []),
        ("ALTER TABLE t ADD COLUMN g INT GENERATED ALWAYS AS (a * 2) STORED NOT NULL", ["LB507"]),  # not LB506
        ("CLUSTER t USING i", []),  # before PostgreSQL 19 only pg_repack avoids the lock
        ("VACUUM FULL t", []),
        # issue 23's misses: unknown or volatile default functions count as volatile
        ("ALTER TABLE t ADD COLUMN b UUID DEFAULT uuid()", ["LB507"]),
        ("ALTER TABLE t ADD COLUMN b TIMESTAMPTZ DEFAULT now(123)", ["LB507"]),
        ("ALTER TABLE t ADD COLUMN b INT DEFAULT app.next_id()", ["LB507"]),
        ("ALTER TABLE t ADD COLUMN b TEXT DEFAULT upper('x') || pg_catalog.lower('Y')", []),
        ("ALTER TABLE t ADD COLUMN b TEXT DEFAULT concat('a', 'b', 'c')", []),  # VARIADIC, stable
        ("ALTER TABLE t ADD COLUMN b FLOAT DEFAULT random()", ["LB507"]),
        # a validated CHECK (x IS NOT NULL) proves x only
        (
            "ALTER TABLE t ADD CONSTRAINT c CHECK (a IS NOT NULL) NOT VALID; ALTER TABLE t VALIDATE CONSTRAINT c; "
            "ALTER TABLE t ALTER COLUMN b SET NOT NULL",
            ["LB504", "LB505"],  # LB504: the VALIDATE shares the ADD's transaction
        ),
        ("ALTER TABLE t ADD CONSTRAINT c CHECK (a IS NOT NULL); ALTER TABLE t ALTER COLUMN a SET NOT NULL", ["LB504"]),
    ],
)
def test_lock_dangers_of_one_statement(sql, codes):
    assert _dangers(sql) == codes


@pytest.mark.parametrize(
    ("sql", "codes"),
    [("CLUSTER t USING i", ["LB511"]), ("VACUUM FULL t", ["LB511"]), ("VACUUM (FULL false) t", [])],
)
def test_table_rewrites_from_19_when_repack_concurrently_exists(sql, codes):
    assert _dangers(sql, postgres_version=19) == codes


def _dangers(sql: str, postgres_version: int = 16) -> list[str]:
    from bridge.lint.rules import sqlcheck
    from bridge.lint.rules.locks import dangers
    from bridge.lint.rules.lockstate import LockContext

    context, found = LockContext(postgres_version=postgres_version), []
    for statement in sqlcheck.parse(sql, "text"):
        found += [d.code for d in dangers(statement.node, context) if RULES_BY_CODE[d.code].default_enabled]
        context.record(statement.node)
    return found


@pytest.mark.slow  # `alembic-bridge check` in subprocesses
def test_check_speaks_text_json_sarif_and_github_with_the_same_findings(project):
    import bridge

    # Empty tables: without this, check (now sizing the table) makes these findings warnings.
    (project.root / "pyproject.toml").write_text(SIZES_OFF)
    project.write("20251001_orders.py", INDEX_FILE.format(n=1))
    bridge.upgrade(project.config())
    project.write("20251002_index.py", UNSAFE_INDEX.format(n=2))
    project.table("20250930_early", "early")  # dated before an applied file: out of order
    text = project.run("alembic-bridge", "check")
    assert text.returncode == 1 and text.stdout == ""
    assert "20251002_index.py:6:28: LB501" in text.stderr and "out of order" in text.stderr

    as_json = project.run("alembic-bridge", "check", "--format", "json")
    found = json.loads(as_json.stdout)
    assert as_json.returncode == 1
    assert [f["code"] for f in found if f["code"]] == ["LB501"]
    assert found[0]["filename"].endswith("20251002_index.py") and found[0]["severity"] == "error"
    assert any(f["code"] is None and "out of order" in f["message"] for f in found)

    sarif = json.loads(project.run("alembic-bridge", "check", "--format", "sarif").stdout)
    results = sarif["runs"][0]["results"]
    assert sarif["version"] == "2.1.0" and sarif["runs"][0]["tool"]["driver"]["name"] == "alembic-bridge check"
    assert sorted(r["ruleId"] for r in results) == ["LB501", "check"]

    github = project.run("alembic-bridge", "check", "--format", "github").stdout.splitlines()
    assert any(line.startswith("::error file=") and "LB501" in line for line in github)
    assert any(line.startswith("::error::") and "out of order" in line for line in github)


@pytest.mark.slow
def test_lint_without_a_path_says_how_many_files_got_only_the_checklist_and_how_to_lint_them(tmp_path):
    (tmp_path / "migrations").mkdir()
    write(tmp_path / "migrations", "20251001_orders.py", INDEX_FILE.format(n=1))
    write(tmp_path / "migrations", "20251002_index.py", UNSAFE_INDEX.format(n=2))
    write(tmp_path / "migrations", "20251003_more.py", INDEX_FILE.format(n=3))
    write(tmp_path, "alembic.ini", "[alembic]\nscript_location = migrations\nlegacy_location = migrations\n")
    write(tmp_path, "pyproject.toml", "[tool.alembic-bridge.lint]\nlock-rules-since = 2025-10-03\n")
    result = run_cli(cwd=tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (
        0,
        "All checks passed!\n",
        "Note: 2 files (dated before lock-rules-since (2025-10-03)) were held to the checklist only, "
        "as already-applied history; lint them with the lock-danger rules too: alembic-bridge lint migrations\n",
    )
    full = run_cli("migrations", cwd=tmp_path)
    assert full.returncode == 1
    assert "migrations/20251002_index.py:6:28: LB501" in full.stdout
    assert "Note:" not in full.stdout + full.stderr
    # CI reads json, sarif or github output: the note still goes to stderr, stdout stays the format's alone.
    for output_format in ("json", "sarif", "github"):
        machine = run_cli("--format", output_format, cwd=tmp_path)
        assert (machine.returncode, machine.stderr) == (0, result.stderr), output_format
        assert "Note:" not in machine.stdout


@pytest.mark.slow  # `alembic upgrade` in a subprocess
def test_check_sizes_the_table_a_lock_danger_blocks_and_a_small_table_makes_it_a_warning(project):
    import sqlalchemy as sa

    from bridge import runner
    from bridge.checks import findings

    project.write("20251001_orders.py", INDEX_FILE.format(n=1))
    project.write("20251002_orders.py", INDEX_FILE.format(n=2))
    project.run("alembic", "upgrade", "head", check=True)
    engine = sa.create_engine(project.url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO orders_1 SELECT g, 'NEW' FROM generate_series(1, 20000) g")
        conn.exec_driver_sql("INSERT INTO orders_2 VALUES (1, 'NEW')")
        conn.exec_driver_sql("ANALYZE orders_1; ANALYZE orders_2")
    for n in (3, 4):
        unsafe = UNSAFE_INDEX.format(n=n).replace("ON orders_1", f"ON orders_{n - 2}")
        project.write(f"2025100{n}_index.py", unsafe)
    config = runner.load_config(project.root / "alembic.ini", url=project.url.render_as_string(hide_password=False))
    lock = {
        f.violation.path.rsplit("/", 1)[-1]: f for f in findings(config) if f.violation and f.violation.code == "LB501"
    }
    big, small = lock["20251003_index.py"], lock["20251004_index.py"]
    assert (big.severity, big.table.name, big.table.rows) == ("error", "orders_1", 20000)
    assert big.violation.message.startswith("orders_1: 20.0 k rows, ")
    assert (small.severity, small.table.name, small.table.rows) == ("warning", "orders_2", 1)


@pytest.mark.slow  # `alembic-bridge check` in subprocesses
def test_check_shows_sizes_and_the_small_table_warning_in_every_format(project):
    import sqlalchemy as sa

    import bridge

    project.write("20251001_orders.py", INDEX_FILE.format(n=1))
    project.write("20251002_orders.py", INDEX_FILE.format(n=2))
    bridge.upgrade(project.config())
    engine = sa.create_engine(project.url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO orders_1 SELECT g, 'NEW' FROM generate_series(1, 20000) g")
        conn.exec_driver_sql("INSERT INTO orders_2 VALUES (1, 'NEW')")
        conn.exec_driver_sql("ANALYZE orders_1; ANALYZE orders_2")
    engine.dispose()
    project.write("20251003_index.py", UNSAFE_INDEX.format(n=3))  # on orders_1: 20,000 rows
    project.write("20251004_index.py", UNSAFE_INDEX.format(n=4).replace("ON orders_1", "ON orders_2"))

    text = project.run("alembic-bridge", "check")
    big = next(line for line in text.stderr.splitlines() if "20251003_index.py:6:28: LB501" in line)
    small = next(line for line in text.stderr.splitlines() if "20251004_index.py:6:28: LB501" in line)
    assert text.returncode == 1, text.stderr
    assert "LB501 orders_1: 20.0 k rows, " in big and " writes/min since stats reset: CREATE INDEX" in big
    assert small.startswith("warning: ") and "LB501 orders_2: 1 row, " in small
    assert " since stats reset (a warning: fewer rows than small-table-rows, 10,000): CREATE INDEX" in small
    assert "small-table-rows" not in big
    assert not big.startswith("warning: ")

    as_json = json.loads(project.run("alembic-bridge", "check", "--format", "json").stdout)
    found = {f["filename"].rsplit("/", 1)[-1]: f for f in as_json if f["code"]}
    assert (found["20251003_index.py"]["severity"], found["20251004_index.py"]["severity"]) == ("error", "warning")
    assert found["20251003_index.py"]["table"]["rows"] == 20000 and found["20251004_index.py"]["table"]["rows"] == 1
    assert set(found["20251003_index.py"]["table"]) == {"table", "rows", "bytes", "writes_per_minute"}

    sarif = json.loads(project.run("alembic-bridge", "check", "--format", "sarif").stdout)
    results = {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].rsplit("/", 1)[-1]: r
        for r in sarif["runs"][0]["results"]
    }
    assert (results["20251003_index.py"]["level"], results["20251004_index.py"]["level"]) == ("error", "warning")
    assert results["20251003_index.py"]["properties"]["table"]["rows"] == 20000

    github = project.run("alembic-bridge", "check", "--format", "github").stdout.splitlines()
    assert any(
        line.startswith("::error file=") and "20251003_index.py" in line and "20.0 k rows" in line for line in github
    )
    assert any(
        line.startswith("::warning file=") and "20251004_index.py" in line and " 1 row," in line for line in github
    )
