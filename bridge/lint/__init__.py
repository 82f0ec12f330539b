"""``alembic-bridge lint``: the legacy manual's checklist as a linter, in the shape of ruff.

Files are read, never imported or run. `lint_paths` lints files and folders
and returns `Violation` objects (selection, per-file ignores and ``# noqa``
applied); `lint_errors` returns only the error-level ones for ``check``;
`lint_command` is the click command ``bridge.cli`` registers. The rules
themselves, and their documentation, live in `bridge.lint_rules`.

Settings come from ``[tool.alembic-bridge.lint]`` in pyproject.toml::

    [tool.alembic-bridge.lint]
    select = ["ALL"]                 # codes or prefixes, e.g. ["LB1", "LB401"]
    ignore = ["LB403"]
    per-file-ignores = { "20240101_*.py" = ["LB401"] }

Regenerate the rule documentation with
``python -m bridge.lint --write-docs docs/lint-rules.md``.
"""

from __future__ import annotations

import fnmatch
import io
import json
import os
import re
import sys
import tokenize
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import click

from ..errors import ConfigError
from .rules import checks, sqlcheck
from .rules.catalog import ERROR, RULES, RULES_BY_CODE, WARNING, Rule

PYPROJECT_TABLE = "tool.alembic-bridge.lint"
_SETTING_KEYS = {"select", "ignore", "per-file-ignores", "per_file_ignores"}
_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?", re.IGNORECASE)
_FILE_NOQA = re.compile(
    r"#\s*alembic-bridge:\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?",
    re.IGNORECASE,
)
ALL = "ALL"


@dataclass(frozen=True)
class Violation:
    """One finding in one file, as reported to the user."""

    path: str
    line: int
    col: int
    code: str
    severity: str
    message: str
    hint: str
    end_line: int

    @property
    def rule(self) -> Rule:
        return RULES_BY_CODE[self.code]

    def format(self) -> str:
        """Return the ruff-style line ``path:line:col: CODE message``."""
        return f"{self.path}:{self.line}:{self.col}: {self.code} {self.message}"

    def __str__(self) -> str:
        return f"{self.format()} (fix: {self.hint})"

    def to_dict(self) -> dict:
        """Return the JSON form (ruff's field names where they exist)."""
        data = asdict(self)
        return {
            "code": data["code"],
            "name": self.rule.name,
            "severity": data["severity"],
            "message": data["message"],
            "hint": data["hint"],
            "filename": data["path"],
            "location": {"row": self.line, "column": self.col},
            "end_location": {"row": self.end_line},
        }


@dataclass(frozen=True)
class LintSettings:
    """Which rules run where: selectors, ignores and per-file ignores (globs)."""

    select: tuple[str, ...] = (ALL,)
    ignore: tuple[str, ...] = ()
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    root: Path | None = None  # per-file-ignores globs are relative to this folder

    def with_options(self, select: Sequence[str] | None, ignore: Sequence[str] | None) -> LintSettings:
        """Return these settings with command-line --select (replaces) and --ignore (adds)."""
        return LintSettings(
            select=tuple(normalize_selectors(select, "--select")) if select else self.select,
            ignore=self.ignore + tuple(normalize_selectors(ignore or (), "--ignore")),
            per_file_ignores=self.per_file_ignores,
            root=self.root,
        )

    def enabled(self, code: str, path: str | Path | None = None) -> bool:
        """Return whether *code* is reported (for *path*, if given)."""
        ignore = self.ignore
        if path is not None and self.per_file_ignores:
            ignore = ignore + self._file_ignores(Path(path))
        chosen = _specificity(code, self.select)
        return chosen >= 0 and chosen > _specificity(code, ignore)

    def _file_ignores(self, path: Path) -> tuple[str, ...]:
        candidates = {path.name, path.as_posix()}
        try:
            base = (self.root or Path.cwd()).resolve()
            candidates.add(path.resolve().relative_to(base).as_posix())
        except (ValueError, OSError):
            pass
        codes: tuple[str, ...] = ()
        for pattern, pattern_codes in self.per_file_ignores:
            if any(fnmatch.fnmatch(candidate, pattern) for candidate in candidates):
                codes += pattern_codes
        return codes


def _specificity(code: str, selectors: Iterable[str]) -> int:
    best = -1
    for selector in selectors:
        if selector == ALL:
            best = max(best, 0)
        elif code.startswith(selector):
            best = max(best, len(selector))
    return best


def normalize_selectors(values: Iterable[str], where: str) -> list[str]:
    """Split comma-separated rule selectors, upper-case them, and reject unknown ones."""
    selectors = []
    for value in values:
        for part in re.split(r"[,\s]+", str(value)):
            part = part.strip().upper()
            if not part:
                continue
            if part != ALL and not any(rule.code.startswith(part) for rule in RULES):
                known = ", ".join(rule.code for rule in RULES)
                raise ConfigError(
                    f"{where}: {part!r} matches no lint rule. Use a code or a prefix of one "
                    f"({known}), or ALL."
                )
            selectors.append(part)
    return selectors


def load_settings(pyproject: Path | str | None) -> LintSettings:
    """Read ``[tool.alembic-bridge.lint]`` from *pyproject* (defaults if absent)."""
    if pyproject is None:
        return LintSettings()
    pyproject = Path(pyproject)
    if not pyproject.is_file():
        return LintSettings()
    text = pyproject.read_text(encoding="utf-8")
    if "alembic-bridge" not in text:
        return LintSettings(root=pyproject.resolve().parent)
    try:
        import tomllib
    except ImportError:  # Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ImportError:
            raise ConfigError(
                f"{pyproject} configures alembic-bridge, but reading TOML on this Python "
                "needs the package tomli: pip install tomli"
            ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{pyproject} is not valid TOML: {err}") from None
    table = data.get("tool", {}).get("alembic-bridge", {}).get("lint", {})
    where = f"[{PYPROJECT_TABLE}] in {pyproject}"
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table.")
    unknown = sorted(set(table) - _SETTING_KEYS)
    if unknown:
        raise ConfigError(
            f"{where} has unknown key(s) {', '.join(unknown)}; the keys are select, ignore "
            "and per-file-ignores."
        )

    def codes(key: str, value) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: {key} must be a list of rule codes, e.g. [\"LB403\"].")
        return tuple(normalize_selectors(value, f"{key} in {where}"))

    per_file = table.get("per-file-ignores", table.get("per_file_ignores", {}))
    if not isinstance(per_file, dict):
        raise ConfigError(f"{where}: per-file-ignores must map file globs to lists of codes.")
    return LintSettings(
        select=codes("select", table["select"]) if "select" in table else (ALL,),
        ignore=codes("ignore", table.get("ignore", [])),
        per_file_ignores=tuple(
            (pattern, codes(f"per-file-ignores[{pattern!r}]", value)) for pattern, value in per_file.items()
        ),
        root=pyproject.resolve().parent,
    )


# -- linting --------------------------------------------------------------------------


def _require_pglast() -> None:
    if not sqlcheck.pglast_available():
        raise ConfigError(
            "alembic-bridge lint parses SQL with pglast, which is not installed. "
            "Install it with `pip install 'alembic-bridge[lint]'`."
        )


def lint_source(source: str, path: str | Path, settings: LintSettings | None = None) -> list[Violation]:
    """Lint one file's text; *path* names it (its file name is checked too)."""
    _require_pglast()
    settings = settings or LintSettings()
    path = str(path)
    line_noqa, file_noqa = _noqa_comments(source)
    violations = []
    for finding in checks.check_file(source, path):
        if not settings.enabled(finding.code, path):
            continue
        if _suppressed(finding.code, file_noqa):
            continue
        end = finding.end_line or finding.line
        if any(_suppressed(finding.code, line_noqa.get(n, False)) for n in range(finding.line, end + 1)):
            continue
        rule = RULES_BY_CODE[finding.code]
        violations.append(
            Violation(path, finding.line, finding.col, finding.code, rule.severity, finding.message,
                      finding.hint or rule.hint, end)
        )
    return sorted(violations, key=lambda v: (v.line, v.col, v.code))


def _noqa_comments(source: str) -> tuple[dict[int, set[str] | None], set[str] | None | bool]:
    """Return ({line: codes or None for bare noqa}, file-level codes / None / False)."""
    comments: list[tuple[int, str]] = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.COMMENT:
                comments.append((token.start[0], token.string))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        comments = [(n, line[line.index("#"):]) for n, line in enumerate(source.splitlines(), 1) if "#" in line]
    per_line: dict[int, set[str] | None] = {}
    file_level: set[str] | None | bool = False
    for line, comment in comments:
        whole = _FILE_NOQA.search(comment)
        if whole:
            file_level = _merge_codes(file_level, whole.group("codes"))
            continue
        match = _NOQA.search(comment)
        if match:
            per_line[line] = _merge_codes(per_line.get(line, False), match.group("codes"))
    return per_line, file_level


def _merge_codes(existing, codes: str | None):
    if codes is None or existing is None:
        return None  # a bare noqa silences everything
    found = {c.upper() for c in re.split(r"[\s,]+", codes) if c}
    return found | (existing or set())


def _suppressed(code: str, noqa: set[str] | None | bool) -> bool:
    """Return whether a noqa value (False: none, None: bare, set: codes) covers *code*."""
    if noqa is False:
        return False
    return noqa is None or any(code.startswith(c) for c in noqa)


def lint_paths(
    paths: Iterable[str | Path],
    select: Sequence[str] | None = None,
    ignore: Sequence[str] | None = None,
    *,
    settings: LintSettings | None = None,
    legacy_ignore: Sequence[str] = (),
) -> list[Violation]:
    """Lint files and folders (a folder: its legacy files, as the loader sees them)."""
    _require_pglast()
    settings = (settings or LintSettings()).with_options(select, ignore)
    violations: list[Violation] = []
    for path in expand_paths(paths, legacy_ignore):
        violations += lint_source(read_source(path), display_path(path), settings)
    return sorted(violations, key=lambda v: (v.path, v.line, v.col, v.code))


def lint_errors(
    legacy_dir: str | Path,
    settings: LintSettings | None = None,
    legacy_ignore: Sequence[str] = (),
) -> list[Violation]:
    """Return only the error-level violations in a legacy folder (for ``alembic-bridge check``).

    Without *settings*, the nearest pyproject.toml at or above *legacy_dir* is
    read, so ``check`` honours the same ignores as ``lint``.
    """
    if settings is None:
        settings = load_settings(nearest_pyproject(Path(legacy_dir)))
    violations = lint_paths([legacy_dir], settings=settings, legacy_ignore=legacy_ignore)
    return [v for v in violations if v.severity == ERROR]


def nearest_pyproject(path: Path) -> Path | None:
    """Return the pyproject.toml in *path* or its closest parent that has one."""
    for folder in (path.resolve(), *path.resolve().parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def expand_paths(paths: Iterable[str | Path], legacy_ignore: Sequence[str] = ()) -> list[Path]:
    """Return the files to lint: files as given; for a folder, what the loader would consider."""
    from .. import loader

    result: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            scan = loader.scan(path, tuple(legacy_ignore))
            found = [f.path for f in scan.files] + [p for p, _ in scan.problems]
            files = sorted(found, key=lambda p: p.name)
        elif path.exists():
            files = [path]
        else:
            raise ConfigError(f"{path} does not exist. Pass legacy migration files or the folder holding them.")
        for file in files:
            if file not in result:
                result.append(file)
    return result


def read_source(path: Path) -> str:
    """Read a Python file honouring its encoding declaration, as the interpreter would."""
    try:
        with tokenize.open(path) as handle:
            return handle.read()
    except (SyntaxError, UnicodeDecodeError):
        return path.read_bytes().decode("utf-8", errors="replace")


def display_path(path: Path) -> str:
    """Show *path* relative to the working directory when it is inside it."""
    try:
        return os.path.relpath(path) if path.is_absolute() and Path.cwd() in path.resolve().parents else str(path)
    except ValueError:
        return str(path)


# -- configuration --------------------------------------------------------------------


def find_pyproject(config_path: str | None) -> Path | None:
    """Return the pyproject.toml that holds lint settings (next to --config, else in the cwd)."""
    if config_path:
        config = Path(config_path)
        candidate = config if config.suffix == ".toml" else config.parent / "pyproject.toml"
    else:
        candidate = Path("pyproject.toml")
    return candidate if candidate.is_file() else None


def configured_legacy_location(config_path: str | None) -> tuple[Path, tuple[str, ...]]:
    """Return legacy_location (and legacy_ignore) from the Alembic configuration."""
    from alembic.config import Config

    from ..settings import BridgeSettings

    if config_path:
        path = Path(config_path)
        if not path.is_file():
            raise ConfigError(f"Config file {path} does not exist. Check -c/--config.")
    elif Path("alembic.ini").is_file():
        path = Path("alembic.ini")
    elif Path("pyproject.toml").is_file():
        path = Path("pyproject.toml")
    else:
        raise ConfigError(
            f"No PATH given, and there is no alembic.ini or pyproject.toml in {Path.cwd()} to "
            "read legacy_location from. Pass the files or folder to lint, e.g. "
            "`alembic-bridge lint migrations/`, or run from the project root."
        )
    config = Config(toml_file=str(path)) if path.suffix == ".toml" else Config(str(path))
    options = BridgeSettings.from_config(config)
    if options.legacy_location is None:
        raise ConfigError(
            f"No PATH given, and {path} sets no legacy_location. Pass the files or folder to "
            "lint, e.g. `alembic-bridge lint migrations/`, or set legacy_location in [alembic] "
            "of alembic.ini (or [tool.alembic] of pyproject.toml)."
        )
    return options.legacy_location, options.legacy_ignore


# -- documentation --------------------------------------------------------------------


def _anchor(rule: Rule) -> str:
    return f"{rule.code.lower()}-{rule.name}"


def render_rule(rule: Rule) -> str:
    """Return the Markdown section documenting one rule."""
    lines = [f"### {rule.code} {rule.name}", "", f"*Severity: {rule.severity}.* {rule.summary}.", ""]
    lines += [rule.explanation, "", f"Hint shown: {rule.hint}.", ""]
    if rule.bad == rule.good:
        lines += [f"Bad: a file named `{rule.bad_filename}`.", "", f"Good: `{rule.good_filename}`.", ""]
        return "\n".join(lines)
    for label, filename, code in (("Bad", rule.bad_filename, rule.bad), ("Good", rule.good_filename, rule.good)):
        lines += [f"{label} (`{filename}`):", "", "```python", code.rstrip("\n"), "```", ""]
    return "\n".join(lines)


def render_docs() -> str:
    """Return docs/lint-rules.md, generated from the rule definitions."""
    errors = ", ".join(r.code for r in RULES if r.severity == ERROR)
    warnings = ", ".join(r.code for r in RULES if r.severity == WARNING)
    lines = [
        "# Lint rules",
        "",
        "<!-- Generated from bridge/lint_rules/catalog.py by "
        "`python -m bridge.lint --write-docs docs/lint-rules.md`. Do not edit by hand: "
        "tests/test_lint.py fails when this file and the rules disagree. -->",
        "",
        "`alembic-bridge lint [PATH ...]` checks legacy migration files "
        "(`{YYYYMMDD}_{description}.py` with `upgrade(engine)`) against the legacy system's "
        "rules and common mistakes. It reads the files and never imports or runs them; SQL "
        "inside `text()`, `execute()` and `exec_driver_sql()` is parsed with PostgreSQL's own "
        "parser (pglast, installed by `pip install 'alembic-bridge[lint]'`).",
        "",
        "## Usage",
        "",
        "```console",
        "$ alembic-bridge lint                      # the configured legacy_location",
        "$ alembic-bridge lint migrations/20251031_add_error_message.py",
        "$ alembic-bridge lint --select LB4 --ignore LB403 migrations/",
        "$ alembic-bridge lint --format json migrations/",
        "$ alembic-bridge lint --explain LB302",
        "```",
        "",
        "Each finding is printed as `path:line:col: CODE message`, followed by a one-line hint. "
        f"The exit status is 1 when an error-level rule ({errors}) reports anything, else 0; "
        f"warnings ({warnings}) are printed but do not fail the run.",
        "",
        "A folder is linted the way the bridge loads it: its `*.py` files except `env.py`, "
        "`__init__.py`, `conftest.py` and the `legacy_ignore` globs, not its subfolders (so "
        "native Alembic revisions in `versions/` are left alone). A file that sets both "
        "`revision` and `down_revision` is a native Alembic revision and is skipped.",
        "",
        "### Selecting rules",
        "",
        "`--select` and `--ignore` take codes or prefixes, comma-separated (`--select LB1,LB401`, "
        "`--ignore LB4`); `ALL` selects everything. As in ruff, the more specific selector wins, "
        "and `--ignore` wins a tie. `--select` replaces the configured selection, `--ignore` adds "
        "to it. In pyproject.toml:",
        "",
        "```toml",
        "[tool.alembic-bridge.lint]",
        'select = ["ALL"]',
        'ignore = ["LB403"]',
        'per-file-ignores = { "20240101_*.py" = ["LB401", "LB102"] }',
        "```",
        "",
        "The pyproject.toml read is the one next to `-c/--config` (or the config file itself "
        "if it is a .toml), else the one in the working directory. per-file-ignores globs match "
        "the file name or its path relative to that pyproject.toml.",
        "",
        "### Silencing one finding",
        "",
        "Add `# noqa: LB401` (or a bare `# noqa`) at the end of any line of the statement that "
        "is reported, e.g. after the closing `\"\"\"))` of a multi-line SQL string. "
        "`# alembic-bridge: noqa: LB102` anywhere in a file silences a rule for the whole file.",
        "",
        "### pre-commit",
        "",
        "```yaml",
        "repos:",
        "  - repo: https://github.com/<owner>/alembic-bridge",
        "    rev: v0.1.0",
        "    hooks:",
        "      - id: alembic-bridge-lint",
        "```",
        "",
        "The hook runs on files matching `\\d{8}_.*\\.py$`; narrow it with `files:` if other "
        "files in the repository are named like that.",
        "",
        "## Rules",
        "",
        "| Code | Name | Severity | What it reports |",
        "| --- | --- | --- | --- |",
    ]
    for rule in RULES:
        lines.append(f"| [{rule.code}](#{_anchor(rule)}) | {rule.name} | {rule.severity} | {rule.summary} |")
    lines.append("")
    for rule in RULES:
        lines.append(render_rule(rule))
    return "\n".join(lines).rstrip("\n") + "\n"


# -- command line ---------------------------------------------------------------------


def _summary(violations: list[Violation]) -> str:
    if not violations:
        return "All checks passed!"
    errors = sum(v.severity == ERROR for v in violations)
    warnings = len(violations) - errors
    parts = []
    if errors:
        parts.append(f"{errors} error{'s' if errors != 1 else ''}")
    if warnings:
        codes = sorted({v.code for v in violations if v.severity == WARNING})
        parts.append(f"{warnings} warning{'s' if warnings != 1 else ''} ({', '.join(codes)}: do not fail the run)")
    total = len(violations)
    return f"Found {total} problem{'s' if total != 1 else ''}: {', '.join(parts)}."


@click.command("lint")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--select", multiple=True, metavar="CODES",
              help="Only these rules: codes or prefixes, comma-separated (e.g. LB1,LB401). Replaces the configured selection.")
@click.option("--ignore", multiple=True, metavar="CODES",
              help="Skip these rules: codes or prefixes, comma-separated. Adds to the configured ignores.")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Output format.")
@click.option("--explain", metavar="CODE", help="Show the documentation of one rule and exit.")
@click.pass_obj
def lint_command(obj, paths, select, ignore, output_format, explain):
    """Check legacy migration files without running them.

    PATH is a migration file or a folder of them (default: the configured
    legacy_location). Exits 1 if an error-level rule reports anything.
    """
    if explain:
        rule = RULES_BY_CODE.get(explain.upper())
        if rule is None:
            raise click.BadParameter(f"{explain!r} is not a rule code; see docs/lint-rules.md.", param_hint="--explain")
        click.echo(render_rule(rule).rstrip("\n"))
        return
    config_path = getattr(obj, "config_path", None)
    quiet = bool(getattr(obj, "quiet", False))
    try:
        settings = load_settings(find_pyproject(config_path)).with_options(select, ignore)
    except ConfigError as err:
        if select or ignore:
            raise click.UsageError(str(err)) from None
        raise
    legacy_ignore: tuple[str, ...] = ()
    if not paths:
        location, legacy_ignore = configured_legacy_location(config_path)
        paths = (location,)
    violations = lint_paths(paths, settings=settings, legacy_ignore=legacy_ignore)
    if output_format == "json":
        click.echo(json.dumps([v.to_dict() for v in violations], indent=2, ensure_ascii=False))
    else:
        for violation in violations:
            click.echo(violation.format())
            click.echo(f"    hint: {violation.hint}")
        if not quiet:
            click.echo(_summary(violations))
    if any(v.severity == ERROR for v in violations):
        # SystemExit, not ctx.exit(): bridge.cli.main runs click with
        # standalone_mode=False, where a click Exit's code would be returned and lost.
        sys.exit(1)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bridge.lint --write-docs PATH`` / ``--check-docs PATH``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bridge.lint", description=main.__doc__)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write-docs", metavar="PATH", help="write the rule documentation to PATH")
    group.add_argument("--check-docs", metavar="PATH", help="exit 1 if PATH differs from the generated documentation")
    args = parser.parse_args(argv)
    text = render_docs()
    if args.write_docs:
        Path(args.write_docs).write_text(text, encoding="utf-8")
        return 0
    current = Path(args.check_docs).read_text(encoding="utf-8") if Path(args.check_docs).is_file() else ""
    if current != text:
        print(f"{args.check_docs} is out of date: run python -m bridge.lint --write-docs {args.check_docs}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
