"""``alembic-bridge check``: every problem that should stop a merge, as one list.

`findings` returns them as `Finding` objects, which the command prints as
text, JSON, SARIF or GitHub annotations; `run_checks` as one line each. With a
database, each lock-danger finding on an existing table carries that table's
size and traffic from the live catalog (`bridge.tablestats`), and a finding on
a table smaller than ``small-table-rows`` is a warning, not an error.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from alembic.util import CommandError

from . import linting, runner, tablestats
from .database import config_file, engine_for, target_for
from .lint import ERROR, WARNING, Violation, lint_errors, lint_paths, load_settings, project_pyproject, report, scope
from .masking import mask_text
from .script import LegacyScriptDirectory, settings_for


@dataclass(frozen=True)
class Finding:
    """One problem `check` reports: a lint violation (with its file and rule) or a check of the history."""

    message: str
    severity: str = ERROR
    violation: Violation | None = None
    table: tablestats.TableStats | None = None  # the live catalog's figures for a lock danger's table

    def __post_init__(self) -> None:
        # A history problem may quote a driver's message: no output (SARIF included) shows a password.
        object.__setattr__(self, "message", mask_text(self.message))

    def __str__(self) -> str:
        return self.message if self.violation is None else str(self.violation)

    def as_dict(self) -> dict:
        data = self.violation.to_dict() if self.violation else {"code": None, "message": self.message}
        data["severity"] = self.severity
        if self.table is not None:
            data["table"] = self.table.as_dict()
        return data


def findings(config, database: bool = True, diff_base: str | None = None) -> list[Finding]:
    """Return every problem (errors, and lock dangers on small tables as warnings); see `run_checks`."""
    try:
        target_for(config)  # its password is remembered, offline too: no finding shows it
    except CommandError:
        pass  # no database configured, or a bad option: reported below
    found: list[Finding] = []
    violations: list[Violation] = []
    lines = _problems(config, database, diff_base, violations)
    stats = _table_stats(config, [v.table for v in violations if v.table]) if database else {}
    small_rows = _small_table_rows(config) if stats else 0  # pyproject.toml read again only when needed
    for v in violations:
        table = stats.get(v.table) if v.table else None
        if table is not None:
            # e.g. "orders: 12.4 M rows, 3.1 GB, 41 k writes/min since stats reset: CREATE INDEX ..."
            small = table.rows < small_rows and v.severity != WARNING
            why = f" (a warning: fewer rows than small-table-rows, {small_rows:,})" if small else ""
            severity = WARNING if small else v.severity
            v = dataclasses.replace(v, severity=severity, message=f"{table.describe()}{why}: {v.message}")
        found.append(Finding(str(v), v.severity, v, table))
    found += [Finding(line) for line in lines]
    return found


def sarif(found: list[Finding]) -> dict:
    """Return *found* as a SARIF 2.1.0 log (lint findings with their rules, the table figures as properties)."""
    lint = [f for f in found if f.violation is not None]
    return report.sarif(
        [f.violation for f in lint if f.violation is not None],
        properties=[{"table": f.table.as_dict()} if f.table else None for f in lint],
        others=[(f.severity, f.message) for f in found if f.violation is None],
        tool="alembic-bridge check",
    )


def github_annotations(found: list[Finding]) -> list[str]:
    """Return *found* as GitHub Actions workflow commands."""
    return report.github_annotations(
        [f.violation for f in found if f.violation is not None],
        others=[(f.severity, f.message) for f in found if f.violation is None],
    )


def run_checks(config, database: bool = True, diff_base: str | None = None) -> list[str]:
    """Return one line per error; see `_problems` for what is checked."""
    return [str(f) for f in findings(config, database, diff_base) if f.severity == ERROR]


def _small_table_rows(config) -> int:
    return load_settings(project_pyproject(config_file(config))).small_table_rows


def _table_stats(config, tables: list[str]) -> dict[str, tablestats.TableStats]:
    if not tables:
        return {}
    engine = engine_for(config)
    try:
        with engine.connect() as conn:
            return tablestats.read(conn, tables)
    finally:
        engine.dispose()


def _problems(config, database: bool, diff_base: str | None, violations: list[Violation]) -> list[str]:
    """Return one line per problem: names, heads, then (with *database*) holes, migrations
    recorded under both names, and drift; add the lint errors to *violations*.

    The lock-danger lint rules apply to the legacy files not yet applied (with
    *database*), else to those dated on or after ``lock-rules-since`` or changed
    against git revision *diff_base* (`bridge.lint.scope`).
    """
    problems: list[str] = []
    try:
        script = runner.script_directory(config)
        heads = script.get_heads()
    except CommandError as err:
        return [str(err)]
    if len(heads) > 1:
        problems.append(
            f"{len(heads)} heads ({', '.join(heads)}): the history has branched. "
            "Merge them with `alembic merge heads -m merge`."
        )
    status, status_error = None, None
    if database:
        try:
            status = runner.status(config)
        except CommandError as err:
            status_error = str(err)
    if isinstance(script, LegacyScriptDirectory):
        violations += _lint_problems(config, script, status, database, diff_base)
    if not database:
        return problems
    if status is None:
        return problems + [status_error or "the database's status could not be read"]
    problems += status.plan.duplicate_problems()
    problems += status.invalid_indexes
    for m in status.migrations:
        if m.state == "out-of-order":
            problems.append(
                f"{m.path}: out of order (not applied, dated before applied migrations). "
                "Rename it to a later date, or apply it with `alembic-bridge upgrade --out-of-order`."
            )
        elif m.state == "file-missing":
            problems.append(
                f"{m.revision}: in {status.plan.legacy}, but the file is gone. Restore it, or "
                "remove its rows with `alembic-bridge repair --yes` (`alembic-bridge repair` "
                "shows the repair first)."
            )
        if m.edited:
            problems.append(
                f"{m.path}: edited after it was applied (SHA-256 differs). Revert the "
                "edit and put the change in a new migration."
            )
    return problems


def _lint_problems(
    config, script: LegacyScriptDirectory, status, database: bool, diff_base: str | None
) -> list[Violation]:
    """Lint the legacy folder; only the files that are new get the lock-danger rules."""
    location = script.legacy_location
    settings = linting.project_settings(config, settings_for(script, config), near=Path(location))
    natives = scope.native_files(script.native_locations)
    pending = [Path(m.path) for m in status.pending if m.path] if status is not None else []
    since = None if database else settings.lock_rules_since  # online, the database says what is new
    new = scope.lock_rule_files(Path(location), script.legacy_ignore, natives, since, diff_base, pending)
    violations = lint_errors(
        location, settings, script.legacy_ignore, lock_rules_for=lambda path: path.resolve() in new
    )
    # Native revisions get only the lock-danger rules: only the new ones are linted.
    fresh = [path for path in natives if path.resolve() in new]
    violations += [v for v in lint_paths(fresh, settings=settings) if v.severity == ERROR] if fresh else []
    return violations
