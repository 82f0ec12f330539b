"""``alembic-bridge check``: every problem that should stop a merge, as one list."""

from __future__ import annotations

from pathlib import Path

from alembic.util import CommandError

from . import runner
from .database import config_file
from .lint import ERROR, lint_errors, lint_paths, load_settings, project_pyproject, scope
from .script import LegacyScriptDirectory, settings_for


def run_checks(config, database: bool = True, diff_base: str | None = None) -> list[str]:
    """Return one line per problem: names, heads, lint errors, then (with *database*) holes,
    migrations recorded under both names, and drift.

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
        problems += _lint_problems(config, script, status, database, diff_base)
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
                f"{m.revision}: in schema_migrations, but the file is gone. Restore it, "
                "or delete the row if the migration was retired."
            )
        if m.edited:
            problems.append(
                f"{m.path}: edited after it was applied (SHA-256 differs). Revert the "
                "edit and put the change in a new migration."
            )
    return problems


def _lint_problems(config, script: LegacyScriptDirectory, status, database: bool, diff_base: str | None) -> list[str]:
    """Lint the legacy folder; only the files that are new get the lock-danger rules."""
    location = script.legacy_location
    settings = load_settings(project_pyproject(config_file(config), near=location))
    timeout = settings_for(script, config).migration_lock_timeout is not None
    settings = settings.with_rules(lock_timeout_configured=timeout)
    natives = scope.native_files(script.version_location_paths())
    pending = [Path(m.path) for m in status.pending if m.path] if status is not None else []
    since = None if database else settings.lock_rules_since  # online, the database says what is new
    new = scope.lock_rule_files(Path(location), script.legacy_ignore, natives, since, diff_base, pending)
    violations = lint_errors(
        location, settings, script.legacy_ignore, lock_rules_for=lambda path: path.resolve() in new
    )
    # Native revisions get only the lock-danger rules: only the new ones are linted.
    fresh = [path for path in natives if path.resolve() in new]
    violations += [v for v in lint_paths(fresh, settings=settings) if v.severity == ERROR] if fresh else []
    return [str(v) for v in violations]
