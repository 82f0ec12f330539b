"""``alembic-bridge repair``: the repairs Flyway's ``repair`` and Liquibase's ``changelog-sync`` make, and no other.

1. **Rows of deleted files.** A legacy file that was applied and then deleted
   (not converted or squashed: those revisions stand for their rows) leaves a
   ``schema_migrations`` row, maybe a checksum, and maybe the version row.
   The repair deletes the row and the checksum, and moves a version row that
   names a deleted file to the last applied file that still exists (no row at
   all if none does).
2. **Applied files without a checksum** (applied by the old runner before the
   bridge recorded checksums at adoption): their current checksum is recorded,
   marked ``repair``, so that ``check`` finds a later edit.

Anything else the two tables disagree on is `bridge.reconcile`'s (``sync``),
out-of-order files are ``upgrade --out-of-order``'s. `plan` reads only;
`repair` plans again and applies on the caller's connection, under the
runner lock the caller holds, in one transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

import sqlalchemy as sa

from . import reconcile
from .ledger import LEGACY_TABLE, REPAIR, Ledger, LedgerState, read_history
from .loader import is_legacy_stem

log = logging.getLogger(__name__)


@dataclass
class RepairPlan:
    """What ``repair`` would change (nothing: an empty plan), and the tables' plan once it has."""

    missing: list[str] = field(default_factory=list)  # stems with a row or checksum, no file
    stale_heads: tuple[str, ...] = ()  # version rows naming a deleted legacy file
    new_head: str | None = None  # what replaces them (None: they are only removed)
    checksums: list[str] = field(default_factory=list)  # applied files without a checksum
    table: str = reconcile.DEFAULT_VERSION_TABLE
    # The two tables' plan once repaired (what `sync` would then still do).
    after: reconcile.Plan = field(default_factory=reconcile.Plan, repr=False)

    @property
    def changes(self) -> list[str]:
        """Return one human-readable line per change."""
        lines = [f"schema_migrations: delete {stem} (its file is gone)" for stem in self.missing]
        if self.stale_heads:
            why = "the last applied file that exists" if self.new_head else "no applied file exists: row removed"
            lines.append(f"{self.table}: {', '.join(self.stale_heads)} -> {self.new_head or '<none>'} ({why})")
        lines += [f"alembic_bridge_checksums: record {stem} (applied, no checksum yet)" for stem in self.checksums]
        return lines

    def as_dict(self) -> dict:
        """Return the plan as JSON-ready data (the shape docs/guide.md documents)."""
        return {
            "remove_rows": self.missing,
            "version_table": self.table,
            "version_from": list(self.stale_heads),
            "version_to": self.new_head if self.stale_heads else None,
            "record_checksums": self.checksums,
            "changes": self.changes,
        }


def plan(
    script, state: LedgerState, table: str = reconcile.DEFAULT_VERSION_TABLE, legacy: str = LEGACY_TABLE
) -> RepairPlan:
    """Return the repairs *state* needs; reads no table and writes nothing (it hashes files)."""
    files = reconcile.legacy_chain(script)
    if files is None:
        return RepairPlan(table=table, after=reconcile.plan_for(script, state, table, legacy))
    known = lambda rev: reconcile.is_known_revision(script, rev)  # noqa: E731
    result = plan_files(files, state, known, reconcile.retired_stems(script), table, legacy)
    reconcile.refuse_overlapping_native_heads(script, result.after.old_heads, table)
    return result


def plan_files(
    files, state: LedgerState, known_revision, retired=(), table=reconcile.DEFAULT_VERSION_TABLE, legacy=LEGACY_TABLE
) -> RepairPlan:
    """Return the repairs for the legacy *files* (arguments as for `bridge.reconcile.plan`)."""
    known = {f.stem for f in files} | set(retired)
    missing = reconcile.missing_files(files, state, retired)
    stale = tuple(h for h in state.heads if h not in known and is_legacy_stem(h) and not known_revision(h))
    kept_heads = tuple(h for h in state.heads if h not in stale)
    repaired = state._replace(
        rows={s: n for s, n in state.rows.items() if s not in missing},
        checksums={s: d for s, d in state.checksums.items() if s not in missing},
        heads=kept_heads,
        duplicates=tuple(d for d in state.duplicates if d not in missing),
    )
    after = replace(reconcile.plan(files, repaired, known_revision, retired, table), legacy=legacy)
    new_head = None
    if stale:
        # The version row moves to the last applied file that exists: the plan of the
        # repaired tables says which (adopting it), and `sync` then has nothing to do.
        new_head = after.new_head
        after = replace(after, new_head=None, old_heads=kept_heads + ((new_head,) if new_head else ()))
    return RepairPlan(missing, stale, new_head, list(after.unchecksummed), table, after)


def repair(connection: sa.Connection, script, settings) -> RepairPlan:
    """Plan on *connection* and make the repairs in one transaction; return what was done.

    The caller holds the runner lock (`bridge.lock.runner_lock`) and commits.
    """
    table = settings.version_table
    state = read_history(connection, table.name, table.schema, settings.legacy_table)
    result = plan(script, state, str(table), settings.legacy_table.name)
    if not result.changes:
        return result
    by_stem = {f.stem: f for f in reconcile.legacy_chain(script) or []}
    with reconcile.transaction(connection):
        ledger = Ledger.of(connection, settings)
        for stem in result.missing:
            ledger.record_unapplied(stem)
        if result.stale_heads:
            reconcile.write_head(connection, table, result.stale_heads, result.new_head)
        if result.checksums:
            ledger.record_checksums({stem: by_stem[stem].sha256() for stem in result.checksums}, REPAIR)
    for line in result.changes:
        log.info("repair: %s", line)
    return result
