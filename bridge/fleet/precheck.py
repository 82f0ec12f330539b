"""The cheap "is this database at head?" check: the files, one short connection, no Alembic.

A full ``upgrade head`` on a database that has nothing to do still imports
Alembic, builds the revision map, takes the lock and reconciles the history
tables. When `decide` says *at head*, that full run would change nothing: the
version table holds exactly the script's heads, every legacy file has its
``schema_migrations`` row, every row and checksum names a known file (or a
stem a converted revision replaced), no file's checksum differs and no
migration is recorded twice. Anything else is *not decided here*: the full run
(same code path, same lock) decides, and warns or refuses as it always does.
So the check can only ever skip work that would have been a no-op.

(A version table whose ``version_num`` is narrower than 255 is widened by the
next full run that writes to it, before it writes: skipping a no-op leaves it
as it was.)

This module imports no Alembic: ``python run.py start`` uses it to decide from
the files and one query whether anything is pending.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from ..ledger import LedgerState, read_history, read_history_by_schema
from ..loader import LegacyFile, scan
from ..settings import VersionTable


@dataclass
class Expected:
    """What a database at head holds, read from the files once per process."""

    files: list[LegacyFile]
    heads: frozenset[str]  # the script's heads: the last legacy file, or the native revisions after it
    version_table: VersionTable = VersionTable()
    retired: frozenset[str] = frozenset()  # legacy stems converted revisions stand for
    _digests: dict[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_legacy_folder(cls, folder: Path, ignore: tuple[str, ...], version_table: VersionTable) -> Expected | None:
        """Return what head is for a folder of legacy files alone; None if the folder cannot say."""
        found = scan(folder, ignore)
        if found.problems or not found.files:
            return None  # the full run names the bad files (or there is nothing to be at)
        return cls(found.files, frozenset({found.files[-1].stem}), version_table)

    @property
    def stems(self) -> dict[str, LegacyFile]:
        return {f.stem: f for f in self.files}

    def digest(self, legacy: LegacyFile) -> str:
        """Return the file's SHA-256, hashed once per process however many targets ask."""
        digest = self._digests.get(legacy.stem)
        if digest is None:
            digest = self._digests[legacy.stem] = legacy.sha256()
        return digest


@dataclass(frozen=True)
class Verdict:
    """One target's pre-check: at head (skip it), or left to the full run, and why."""

    at_head: bool
    current: tuple[str, ...]
    reason: str
    pending: int | None = None  # migrations a run would apply, when the check can count them


def decide(expected: Expected, state: LedgerState) -> Verdict:
    """Return whether a full ``upgrade head`` on a database in *state* would change nothing."""
    current = tuple(sorted(state.heads))
    stems = expected.stems
    if not state.heads:
        return Verdict(False, current, "new database" if not state.rows else "not yet adopted", len(stems) or None)
    if set(state.heads) != expected.heads:
        return Verdict(False, current, "behind head", _pending(expected, state))
    if state.duplicates:
        return Verdict(False, current, "schema_migrations records a migration twice")
    known = stems.keys() | expected.retired
    if set(state.rows) - known or set(state.checksums) - known:
        return Verdict(False, current, "schema_migrations names files that are gone")
    if stems.keys() - set(state.rows):
        return Verdict(False, current, "schema_migrations is missing rows")
    for stem, recorded in state.checksums.items():
        legacy = stems.get(stem)
        if legacy is not None and expected.digest(legacy) != recorded:
            return Verdict(False, current, f"{stem} was edited after it was applied")
    return Verdict(True, current, "at head", 0)


def _pending(expected: Expected, state: LedgerState) -> int | None:
    order = [f.stem for f in expected.files]
    positions = [order.index(h) for h in state.heads if h in order]
    if len(positions) == len(state.heads) == 1 and len(expected.heads) == 1 and order[-1] in expected.heads:
        return len(order) - 1 - positions[0]
    return None


# -- reading -----------------------------------------------------------------------------------

def read_state(engine: sa.Engine, version_table: VersionTable) -> LedgerState:
    """Read one database's history tables on one short connection, rolled back."""
    with engine.connect() as connection:
        try:
            return read_history(connection, version_table.name, version_table.schema)
        finally:
            connection.rollback()


def read_schema_states(engine: sa.Engine, schemas: Iterable[str], version_table: VersionTable) -> dict[str, LedgerState]:
    """Read every tenant schema's history tables in two round trips, rolled back."""
    with engine.connect() as connection:
        try:
            return read_history_by_schema(connection, schemas, version_table.name)
        finally:
            connection.rollback()


def native_revision_files(version_dirs: Iterable[Path]) -> bool:
    """Return whether any of *version_dirs* holds an Alembic revision file (``*.py``)."""
    for directory in version_dirs:
        try:
            with os.scandir(directory) as entries:
                if any(e.name.endswith(".py") and e.name != "__init__.py" for e in entries):
                    return True
        except FileNotFoundError:
            continue
    return False
