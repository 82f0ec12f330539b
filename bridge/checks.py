"""``alembic-bridge check``: every problem that should stop a merge, as one list."""

from __future__ import annotations

from alembic.util import CommandError

from . import runner
from .lint import lint_errors
from .script import LegacyScriptDirectory


def run_checks(config, database: bool = True) -> list[str]:
    """Return one line per problem: names, heads, lint errors, then (with *database*) holes,
    migrations recorded under both names, and drift."""
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
    if isinstance(script, LegacyScriptDirectory):
        problems += [str(v) for v in lint_errors(script.legacy_location, legacy_ignore=script.legacy_ignore)]
    if not database:
        return problems
    try:
        status = runner.status(config)
    except CommandError as err:
        return problems + [str(err)]
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
