"""What generated revisions call at run time: public API, stable forever.

Revisions that ``alembic-bridge convert`` and ``alembic-bridge baseline`` write
are committed in users' repositories and run for years, so every name here
keeps its signature and meaning. Revisions written from now on import from
this module; older ones import the same functions from ``bridge.convert`` and
``bridge.baseline``, which re-export them (without loading the rewriter or
click).

- a converted revision keeps its ``schema_migrations`` row (`record_legacy_row`,
  `delete_legacy_row`), skips its body when an old runner already applied it
  (`legacy_row_recorded`), and runs legacy code it kept through
  `run_legacy_code`;
- a baseline revision creates (`apply_baseline`) or drops (`revert_baseline`)
  the schema of the chain it replaces, with one ``schema_migrations`` row per
  replaced migration;
- both declare `REPLACES_ATTRIBUTE` (``replaces_legacy``): the legacy stems
  whose rows they account for.

Importing this module is cheap: Alembic imports every revision file for
``alembic history``; what only running a revision needs is imported when it
runs.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from .errors import BridgeError
from .loader import LegacyFile, parse_name

__all__ = [
    "REPLACES_ATTRIBUTE",
    "BaselineError",
    "apply_baseline",
    "delete_legacy_row",
    "legacy_row_recorded",
    "migration_ledger",
    "record_legacy_row",
    "revert_baseline",
    "run_legacy_code",
]

# The loggers these helpers have always used (their names show in the users' log format).
_convert_log = logging.getLogger("bridge.convert")
_baseline_log = logging.getLogger("bridge.baseline")

# The module attribute naming the legacy stems a native revision stands for (see bridge.script).
REPLACES_ATTRIBUTE = "replaces_legacy"


class BaselineError(BridgeError):
    """The baseline cannot be written, or cannot be applied to this database."""


def _migration_context():
    from alembic import op

    return op.get_context()


def migration_ledger():
    """Return the `Ledger` on the running migration's connection, as the configuration sets it up."""
    from alembic import op

    from .ledger import Ledger  # deferred: only running a revision needs the ledger (see above)
    from .settings import BridgeSettings  # deferred, as the ledger

    context = op.get_context()
    config = getattr(context, "config", None)
    return Ledger.of(op.get_bind(), BridgeSettings.from_config(config) if config is not None else None)


# -- converted revisions ------------------------------------------------------------------------


def legacy_row_recorded(revision: str) -> bool:
    """Return whether ``schema_migrations`` already lists *revision* (an old runner applied it)."""
    if _migration_context().as_sql:
        return False  # a --sql script starts where Alembic says; there is no table to read
    ledger = migration_ledger()
    recorded = revision in ledger.applied()
    if recorded:
        _convert_log.warning(
            "%s: schema_migrations already lists it (applied before it was converted, "
            "e.g. by an old runner); recording it in alembic_version without running it again",
            revision,
        )
    return recorded


def record_legacy_row(revision: str) -> None:
    """Insert the ``schema_migrations`` row of a converted revision, in its transaction."""
    _write_row(revision, "upgrade")


def delete_legacy_row(revision: str) -> None:
    """Delete the ``schema_migrations`` row (and checksum) of a converted revision."""
    _write_row(revision, "downgrade")


def _write_row(revision: str, direction: str) -> None:
    context = _migration_context()
    if context.as_sql:
        from .ledger import emit_ledger_sql  # deferred: only running a revision needs the ledger

        emit_ledger_sql(revision, direction, context)
    else:
        migration_ledger().record(revision, direction)


def run_legacy_code(function: Callable) -> None:
    """Run a converted revision's original ``function(engine)`` with the legacy engine's semantics.

    The engine is the bridge's `LegacyEngine` on Alembic's connection, as when
    the file was a legacy migration: its transactions are SAVEPOINTs in
    Alembic's transaction, and work it never commits is an error.
    """
    from .executor import call_legacy, render_function_offline  # deferred: loads the engine proxy

    context = _migration_context()
    path = Path(function.__code__.co_filename)
    direction = "downgrade" if "downgrade" in function.__name__ else "upgrade"
    legacy = _as_legacy_file(path)
    if context.as_sql:
        render_function_offline(function, legacy, direction, context, name=function.__name__)
    else:
        call_legacy(function, legacy, direction, context.connection, context, name=function.__name__)


def _as_legacy_file(path: Path) -> LegacyFile:
    parsed = parse_name(path.name)
    if isinstance(parsed, tuple):
        return LegacyFile(path, path.stem, parsed[0], parsed[1])
    return LegacyFile(path, path.stem, datetime.date.min, path.stem)


# -- baseline revisions -------------------------------------------------------------------------


def apply_baseline(revision: str, replaces: tuple[str, ...], schema_sql: str) -> None:
    """Create the baseline's schema on an empty database and record every replaced migration."""
    from alembic import op

    from .ledger import emit_ledger_sql  # deferred: only running a revision needs the ledger

    context = op.get_context()
    if context.as_sql:
        context.impl.static_output(schema_sql.strip())
        for stem in replaces:
            emit_ledger_sql(stem, "upgrade", context)
        return
    ledger = migration_ledger()
    applied = set(ledger.applied()) | set(ledger.applied_checksums())
    done = [stem for stem in replaces if stem in applied]
    if len(done) == len(replaces):
        _baseline_log.warning(
            "%s: schema_migrations lists all %d migrations this baseline replaces (an old "
            "runner applied them); recording it in alembic_version without creating anything",
            revision,
            len(replaces),
        )
        return
    if done:
        missing = [stem for stem in replaces if stem not in applied]
        raise BaselineError(
            f"This database has applied {len(done)} of the {len(replaces)} legacy migrations "
            f"that the baseline {revision} replaces (the latest: {done[-1]}), but not "
            f"{', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}: it stopped part-way "
            f"through the chain. Bring it to {revision} with the code from before the "
            f"baseline (the legacy files are in version control), then upgrade with this "
            "one. Nothing was changed."
        )
    bind = op.get_bind()
    search_path = bind.exec_driver_sql("SELECT pg_catalog.current_setting('search_path')").scalar()
    try:
        bind.exec_driver_sql(schema_sql, execution_options={"no_parameters": True})
    except sa.exc.DBAPIError as err:
        reason = str(err.orig).strip().splitlines()[0] if err.orig is not None else str(err)
        raise BaselineError(
            f"The baseline {revision} could not create the schema: {reason}. It runs only on a "
            "database without the schema: if this one was built by the legacy migrations but "
            f"has no record of them, record that with `alembic stamp {revision}` instead. "
            "Nothing was changed."
        ) from err
    # pg_dump's script empties search_path for the transaction; the version table needs it back.
    bind.execute(sa.text("SELECT pg_catalog.set_config('search_path', :path, true)"), {"path": search_path})
    for stem in replaces:
        ledger.record_applied(stem)


def revert_baseline(revision: str, replaces: tuple[str, ...], drop_sql: str) -> None:
    """Drop everything the baseline created and delete the replaced migrations' rows."""
    from alembic import op

    from .ledger import emit_ledger_sql  # deferred: only running a revision needs the ledger

    context = op.get_context()
    if context.as_sql:
        context.impl.static_output(drop_sql.strip())
        for stem in reversed(replaces):
            emit_ledger_sql(stem, "downgrade", context)
        return
    bind = op.get_bind()
    search_path = bind.exec_driver_sql("SELECT pg_catalog.current_setting('search_path')").scalar()
    bind.exec_driver_sql(drop_sql, execution_options={"no_parameters": True})
    bind.execute(sa.text("SELECT pg_catalog.set_config('search_path', :path, true)"), {"path": search_path})
    ledger = migration_ledger()
    for stem in reversed(replaces):
        ledger.record_unapplied(stem)
