"""Linting files: which files, the rules run over each, then selection and ``# noqa`` applied.

Files are read, never imported or run.
"""

from __future__ import annotations

import os
import tokenize
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from .. import loader
from ..errors import ConfigError
from ..masking import mask_text
from .noqa import noqa_comments, suppressed
from .rules.catalog import ERROR, RULES_BY_CODE, Rule
from .rules.lintfile import check_file
from .settings import LintSettings, load_settings, project_pyproject


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
    table: str | None = None  # the existing table a lock danger blocks, where the rule knows it

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


def lint_source(source: str, path: str | Path, settings: LintSettings | None = None) -> list[Violation]:
    """Lint one file's text; *path* names it (its file name is checked too)."""
    settings = settings or LintSettings()
    path = str(path)
    line_noqa, file_noqa = noqa_comments(source)
    violations = []
    for finding in check_file(source, path, settings.rule_options):
        if not settings.enabled(finding.code, path):
            continue
        if suppressed(finding.code, file_noqa):
            continue
        end = finding.end_line or finding.line
        if any(suppressed(finding.code, line_noqa.get(n, False)) for n in range(finding.line, end + 1)):
            continue
        rule = RULES_BY_CODE[finding.code]
        violations.append(
            Violation(
                path,
                finding.line,
                finding.col,
                finding.code,
                settings.severity_of(finding.code),
                mask_text(finding.message),  # a finding may quote a URL or a password from the file
                mask_text(finding.hint or rule.hint),
                end,
                finding.table,
            )
        )
    return sorted(violations, key=lambda v: (v.line, v.col, v.code))


def lint_paths(
    paths: Iterable[str | Path],
    select: Sequence[str] | None = None,
    ignore: Sequence[str] | None = None,
    *,
    settings: LintSettings | None = None,
    legacy_ignore: Sequence[str] = (),
    lock_rules_for: Callable[[Path], bool] | None = None,
) -> list[Violation]:
    """Lint files and folders (a folder: its legacy files, as the loader sees them).

    *lock_rules_for* says which files get the lock-danger rules (default: every one).
    """
    settings = (settings or LintSettings()).with_options(select, ignore)
    without_locks = settings.with_lock_rules(False)
    violations: list[Violation] = []
    for path in expand_paths(paths, legacy_ignore):
        chosen = settings if lock_rules_for is None or lock_rules_for(path) else without_locks
        violations += lint_source(read_source(path), display_path(path), chosen)
    return sorted(violations, key=lambda v: (v.path, v.line, v.col, v.code))


def lint_errors(
    legacy_dir: str | Path,
    settings: LintSettings | None = None,
    legacy_ignore: Sequence[str] = (),
    lock_rules_for: Callable[[Path], bool] | None = None,
) -> list[Violation]:
    """Return only the error-level violations in a legacy folder (for ``alembic-bridge check``).

    Without *settings*, the nearest pyproject.toml at or above *legacy_dir* is
    read, so ``check`` honours the same ignores as ``lint``.
    """
    if settings is None:
        settings = load_settings(project_pyproject(None, near=legacy_dir))
    violations = lint_paths([legacy_dir], settings=settings, legacy_ignore=legacy_ignore, lock_rules_for=lock_rules_for)
    return [v for v in violations if v.severity == ERROR]


def expand_paths(paths: Iterable[str | Path], legacy_ignore: Sequence[str] = ()) -> list[Path]:
    """Return the files to lint: files as given; for a folder, what the loader would consider."""
    result: list[Path] = []
    seen: set[Path] = set()  # a set: `file not in result` made 1,000 files half a million comparisons
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
            if file not in seen:
                seen.add(file)
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
    if not path.is_absolute():
        return str(path)
    try:
        # Strings, not `Path.cwd() in path.resolve().parents`: that built every parent Path, for every file.
        cwd = os.getcwd().rstrip(os.sep) + os.sep
        return os.path.relpath(path) if os.path.realpath(path).startswith(cwd) else str(path)
    except ValueError:
        return str(path)
