"""Keep ``schema_migrations`` and ``alembic_version`` in agreement.

One concept, kept whole although it is over 500 lines: what "applied" means
(`plan`, pure) and how the two tables are brought to say it (`reconcile`,
`sync_to_heads`), with the refusals that share its reasoning.

Reading the two tables gives a `LedgerState`; `plan` decides what the
database has applied and what, if anything, must change (it reads no table and
writes nothing; it reads the files' checksums); `reconcile` applies that plan
before Alembic reads its heads, under the runner lock (`bridge.lock`).

What "applied" means, per legacy file F of the chain L1..Ln:

- F has a ``schema_migrations`` row (the old runner or the bridge ran it), or
- F has a checksum row (the bridge ran it; its legacy row was deleted), or
- ``alembic_version`` is at F or at a later legacy file *and* no file between
  F and ``alembic_version`` has a row or checksum (the version row names a
  legacy position the bridge recorded without writing rows: backfill).

A native revision in ``alembic_version`` is weaker evidence: it says the
bridge ran the legacy chain *as it was when that revision ran*, and the chain
can have grown since (a legacy file added later, with the native revision's
``down_revision`` edited to it). So below a native head, only files with a row
or checksum are applied, and every other legacy file is a hole, since a
revision after it is applied; the one exception is a database with no legacy
record at all (its ``schema_migrations`` emptied or never written), where
``alembic_version`` is the only evidence and every legacy file is backfilled.

A file that is not applied but comes before one that is, is out of order (a
hole): it was added with an earlier date after later files ran. Alembic alone
would never run it; the bridge refuses to guess and names it. Several version
rows on the legacy chain, which is linear, are refused the same way: nothing is
written for a run that would then be refused.

Legacy stems that native revisions now stand for (*retired*: converted by
``alembic-bridge convert``, or squashed into a ``baseline``) come before the
legacy files. Their rows are accounted for, not "file missing"; an
``alembic_version`` at one of them implies none of the legacy files.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass, field

import sqlalchemy as sa

from .errors import ConfigError, HoleError, LedgerMismatch
from .ledger import ADOPTION, LEGACY_TABLE, Ledger, LedgerState, read_history
from .loader import LegacyFile, is_legacy_stem
from .script import LegacyScriptDirectory
from .settings import VersionTable

log = logging.getLogger(__name__)

DEFAULT_VERSION_TABLE = VersionTable.name


@dataclass
class Plan:
    """What the database has applied, and the changes that make both tables agree."""

    applied: list[str] = field(default_factory=list)
    holes: list[LegacyFile] = field(default_factory=list)
    backfill: list[str] = field(default_factory=list)
    new_head: str | None = None
    old_heads: tuple[str, ...] = ()
    missing_files: list[str] = field(default_factory=list)
    edited: list[str] = field(default_factory=list)
    native_heads: tuple[str, ...] = ()  # native revisions after the legacy chain in alembic_version
    table: str = DEFAULT_VERSION_TABLE  # the version table, as messages name it
    legacy: str = LEGACY_TABLE  # the legacy table (``legacy_table``), as messages name it
    duplicates: tuple[str, ...] = ()  # stems recorded under both names (x and x.py)
    unchecksummed: list[str] = field(default_factory=list)  # applied files with no checksum recorded

    def duplicate_problems(self) -> list[str]:
        """Return one message per migration recorded under both names, with the repair."""
        return [
            f"{self.legacy} records {stem} twice, as {stem} and {stem}.py: a runner that "
            "writes the other name format ran it again. Check that running it twice did no "
            "harm, delete the row in the format your old runner does not write, and set "
            "legacy_name_format = stem or legacy_name_format = filename in alembic.ini to match it."
            for stem in self.duplicates
        ]

    @property
    def changes(self) -> list[str]:
        """Return one human-readable line per change the plan makes."""
        lines = [f"{self.legacy}: insert {stem} (backfill: {self.table} is past it)" for stem in self.backfill]
        if self.new_head is not None:
            if self.old_heads:
                lines.append(
                    f"{self.table}: {', '.join(self.old_heads)} -> {self.new_head} "
                    f"(follow the old runner's {self.legacy} rows)"
                )
            else:
                lines.append(f"{self.table}: set to {self.new_head} (adopt a database migrated by the old runner)")
        return lines


def plan(
    files: list[LegacyFile], state: LedgerState, known_revision, retired=(), table: str = DEFAULT_VERSION_TABLE
) -> Plan:
    """Decide what is applied and what must change; reads no table and writes nothing.

    (It reads the files: an applied file's checksum is compared with its recorded one.)

    *known_revision(rev)* returns True for a native revision id Alembic knows;
    *retired* lists, in chain order, the legacy stems native revisions stand for;
    *table* names the version table in messages. In four steps: where the version
    table puts the database (`_position`), what the rows and checksums record,
    what is therefore applied (`_applied`), and what must change.
    """
    chain = _Chain(files, list(retired))
    position = _position(state.heads, chain, known_revision, table)
    _refuse_overlapping_heads(state.heads, chain.index, chain.retired_index, table)
    # Rows and checksums record single files; alembic_version records a position.
    recorded = {i for i, stem in enumerate(chain.stems) if stem in state.rows or stem in state.checksums}
    applied, implied_upto, must_upto = _applied(chain, state, position, recorded)
    top = max(applied, default=-1)
    if top >= 0:
        _refuse_converted_revisions_behind(chain, state, position.retired_upto, top)

    result = Plan(old_heads=state.heads, table=table, duplicates=tuple(state.duplicates))
    result.missing_files = missing_files(files, state, retired)
    result.native_heads = tuple(position.native_heads)
    result.holes = [files[i] for i in range(max(top, must_upto) + 1) if i not in applied]
    result.applied = [chain.stems[i] for i in sorted(applied)]
    result.backfill = [stem for stem in result.applied if stem not in state.rows]
    if top >= 0 and implied_upto < top:
        result.new_head = chain.stems[top]
    result.edited = [f.stem for f in files if f.stem in state.checksums and state.checksums[f.stem] != f.sha256()]
    result.unchecksummed = [stem for stem in result.applied if stem not in state.checksums]
    return result


@dataclass
class _Chain:
    """The legacy files in chain order, and the legacy stems converted revisions stand for."""

    files: list[LegacyFile]
    retired: list[str]

    def __post_init__(self) -> None:
        self.stems = [f.stem for f in self.files]
        self.index = {stem: i for i, stem in enumerate(self.stems)}
        self.retired_index = {stem: i for i, stem in enumerate(self.retired)}


@dataclass
class _Position:
    """Where the version table's rows put the database on the chain."""

    implied_upto: int = -1  # alembic_version implies files[0..implied_upto]
    retired_upto: int = -1  # ... and retired[0..retired_upto]
    native_heads: list[str] = field(default_factory=list)  # native revisions after the legacy files


def _position(heads, chain: _Chain, known_revision, table: str) -> _Position:
    """Read each version row as a position on the chain; refuse one that names nothing known."""
    position = _Position()
    everything_retired = len(chain.retired) - 1
    for head in heads:
        if head in chain.index:  # a legacy file: it and the files before it
            position.implied_upto = max(position.implied_upto, chain.index[head])
            position.retired_upto = everything_retired
        elif head in chain.retired_index and known_revision(head):  # a converted revision, before the files
            position.retired_upto = max(position.retired_upto, chain.retired_index[head])
        elif known_revision(head):  # a native revision: it follows the legacy head
            position.native_heads.append(head)
            position.retired_upto = everything_retired
        else:
            raise _unknown_head(head, chain, table)
    return position


def _unknown_head(head: str, chain: _Chain, table: str) -> LedgerMismatch:
    if head in chain.retired_index:
        return LedgerMismatch(
            f"{table} holds {head!r}, a legacy migration that was squashed into "
            f"the baseline {chain.retired[-1]!r}: this database stopped part-way through the "
            "legacy chain the baseline replaces. Bring it to the baseline's revision "
            "with the code from before the baseline (the legacy files), then upgrade "
            "with this one."
        )
    if is_legacy_stem(head):
        return LedgerMismatch(
            f"{table} holds {head!r}, a legacy migration whose file is not in the legacy "
            "directory: was it renamed or deleted? Restore it, or run `alembic-bridge repair` "
            "to see, then `alembic-bridge repair --yes` to make, the repair: the rows of "
            f"deleted files removed and {table} moved to the last applied file that exists. "
            "Nothing was changed."
        )
    return LedgerMismatch(
        f"{table} holds {head!r}, which is neither a legacy file in "
        "the legacy directory nor a known revision. Was a revision file renamed "
        "or deleted? Restore it, or run `alembic stamp --purge <revision>` to tell "
        "the bridge where this database really is."
    )


def _applied(chain: _Chain, state: LedgerState, position: _Position, recorded: set[int]) -> tuple[set[int], int, int]:
    """Return the indexes of the applied files, the last one the version table implies, and the
    last one that must be applied (-1: none).

    A file is applied if it is recorded, or if the version table is at it or at a
    later file with no recorded file between them: Alembic ran those without the
    bridge writing rows (backfill). A gap *before* a recorded file is a hole.
    """
    implied_upto, must_upto = position.implied_upto, -1
    if position.native_heads:
        # Every legacy file comes before an applied native revision. The chain as it was
        # when that revision ran ended at its last recorded file; with no record at all,
        # the version table is the only evidence there is.
        must_upto = len(chain.files) - 1
        evidence = recorded or any(stem in state.rows or stem in state.checksums for stem in chain.retired)
        implied_upto = max(implied_upto, max(recorded, default=-1) if evidence else len(chain.files) - 1)
    last_recorded = max((i for i in recorded if i <= implied_upto), default=-1)
    return recorded | set(range(last_recorded + 1, implied_upto + 1)), implied_upto, must_upto


def _refuse_converted_revisions_behind(chain: _Chain, state: LedgerState, retired_upto: int, top: int) -> None:
    """Refuse legacy files applied past converted revisions that never ran (an old runner got ahead)."""
    behind = [stem for stem in chain.retired[retired_upto + 1 :] if stem not in state.rows]
    if behind:
        raise LedgerMismatch(
            f"Legacy migrations up to {chain.stems[top]} are applied, but not the revisions "
            f"converted from the legacy migrations before them ({', '.join(behind[:5])}"
            f"{', ...' if len(behind) > 5 else ''}): an old runner applied the later files "
            "on a database the bridge had not brought that far. Run `alembic upgrade` "
            "to each of those revisions first, or `alembic stamp` if they are in fact applied."
        )


def missing_files(files: list[LegacyFile], state: LedgerState, retired=()) -> list[str]:
    """Return the stems recorded as applied (a row or a checksum) whose file is gone and not retired."""
    known = {f.stem for f in files} | set(retired)
    return sorted(stem for stem in {*state.rows, *state.checksums} if stem not in known)


STRAY_ROW_REPAIR = (
    "A manual stamp or a restore left rows that disagree, and the bridge cannot tell "
    "which one is true. Find the revision the database is really at and record it "
    "with `alembic stamp --purge <revision>` (it replaces every row; schema_migrations "
    "follows it). Nothing was changed."
)


def _refuse_overlapping_heads(heads, index, retired_index, table) -> None:
    """Refuse several version rows when one of them is on the (linear) legacy chain."""
    if len(heads) < 2:
        return
    chain = [h for h in heads if h in index or h in retired_index]
    if not chain:
        return  # native branches: see `refuse_overlapping_native_heads`
    order = {
        **{stem: i for stem, i in retired_index.items()},
        **{stem: len(retired_index) + i for stem, i in index.items()},
    }
    shown = sorted(heads, key=lambda h: (order.get(h, len(order)), h))
    if len(chain) == len(heads):
        raise LedgerMismatch(
            f"{table} holds {len(heads)} rows naming legacy revisions ({', '.join(shown)}), but "
            "the legacy chain is linear: a database is at one point of it. " + STRAY_ROW_REPAIR
        )
    raise _overlap_error(table, shown, shown[0], shown[-1])


def _overlap_error(table, heads, earlier: str, later: str) -> LedgerMismatch:
    return LedgerMismatch(
        f"{table} holds {len(heads)} rows ({', '.join(heads)}) that overlap: {earlier} "
        f"comes before {later} in the history, so the database cannot be at both. " + STRAY_ROW_REPAIR
    )


def refuse_overlapping_native_heads(script, heads, table: str = DEFAULT_VERSION_TABLE) -> None:
    """Refuse version rows of which one is an ancestor of another (Alembic would refuse them after reconcile wrote)."""
    if len(heads) < 2:
        return
    for head in heads:
        try:
            below = {rev.revision for rev in script.iterate_revisions(head, "base")} - {head}
        except Exception:
            continue  # Alembic names an unknown revision itself
        above = [other for other in heads if other in below]
        if above:
            raise _overlap_error(table, sorted(heads), above[0], head)


def plan_for(script, state: LedgerState, table: str = DEFAULT_VERSION_TABLE, legacy: str = LEGACY_TABLE) -> Plan:
    """Return `plan` for the legacy chain of *script*, refusing version rows Alembic would refuse."""
    files = legacy_chain(script) or []
    result = plan(files, state, lambda rev: is_known_revision(script, rev), retired_stems(script), table)
    result.legacy = legacy
    refuse_overlapping_native_heads(script, state.heads, table)
    return result


def hole_error(holes: list[LegacyFile], state_plan: Plan) -> HoleError:
    """Build the error that names each out-of-order file and the ways out."""
    if state_plan.native_heads and holes[-1].stem > (state_plan.applied[-1] if state_plan.applied else ""):
        native = ", ".join(state_plan.native_heads)
        lines = [
            f"{len(holes)} legacy migration(s) have no record of being applied, but the revision "
            f"{native} after them is: they were added to the legacy folder after {native} ran "
            "(with a native revision's down_revision edited to them), and Alembic would never "
            "run them:"
        ]
        lines += [f"  {f.path}" for f in holes]
        lines += [
            "Apply them deliberately with `alembic-bridge upgrade --out-of-order` (both history "
            "tables then record them), or move their changes into a native revision after the "
            "head and restore the native revision's down_revision. If this database did apply "
            f"them (their {state_plan.legacy} rows were deleted), record that with "
            f"`alembic stamp --purge {' '.join(state_plan.native_heads)}`. Nothing was changed."
        ]
        return HoleError("\n".join(lines), out_of_order=[f.stem for f in holes])
    last = state_plan.applied[-1] if state_plan.applied else None
    lines = [
        f"{len(holes)} legacy migration(s) are out of order: not applied, but dated "
        f"before migrations that are (latest applied: {last}). Alembic would never run them:"
    ]
    lines += [f"  {f.path}" for f in holes]
    lines += [
        "Either rename each file to a date after the latest applied one, or apply "
        "them deliberately with `alembic-bridge upgrade --out-of-order` (both "
        "history tables then record them). Nothing was changed."
    ]
    return HoleError("\n".join(lines), out_of_order=[f.stem for f in holes])


def reconcile(
    connection: sa.Connection,
    script,
    settings,
    *,
    allow_holes: bool = False,
    dry_run: bool = False,
    apply_out_of_order=None,
) -> Plan:
    """Bring both tables into agreement before Alembic runs; log one line per change.

    Every refusal (holes, version rows that overlap or name unknown revisions) is
    raised before anything is written. Given *apply_out_of_order(files)* (the
    ``--out-of-order`` run: `bridge.steps.run_out_of_order`, so each file runs as
    every other migration does), the holes are applied first instead of refused.
    """
    files = legacy_chain(script)
    if files is None:
        return Plan()
    table = settings.version_table
    state = read_history(connection, table.name, table.schema, settings.legacy_table)
    result = plan_for(script, state, str(table), settings.legacy_table.name)
    _report_validation(result, settings)
    if result.holes and apply_out_of_order is not None and not dry_run:
        log.info("Applying out-of-order migration(s) %s", ", ".join(f.stem for f in result.holes))
        apply_out_of_order(result.holes)
        state = read_history(connection, table.name, table.schema, settings.legacy_table)
        result = plan_for(script, state, str(table), settings.legacy_table.name)
    if result.holes and not allow_holes:
        raise hole_error(result.holes, result)
    if dry_run or not (result.backfill or result.new_head):
        return result
    if result.new_head is not None:
        require_version_schema(connection, table)
    with transaction(connection):
        ledger = Ledger.of(connection, settings)
        for stem in result.backfill:
            ledger.record_applied(stem)
        if result.new_head is not None:
            write_head(connection, table, result.old_heads, result.new_head)
        # Adopted files: their checksum now, so that `check` finds a later edit.
        by_stem = {f.stem: f for f in files}
        if result.unchecksummed:
            ledger.record_checksums({stem: by_stem[stem].sha256() for stem in result.unchecksummed}, ADOPTION)
    for line in result.changes:
        log.info("reconcile: %s", line)
    if result.unchecksummed:
        log.info("reconcile: checksums recorded at adoption for %d file(s)", len(result.unchecksummed))
    return result


def require_version_schema(connection, table) -> None:
    """Refuse a ``version_table_schema`` that does not exist, before anything is written."""
    if table.schema is None or sa.inspect(connection).has_schema(table.schema):
        return
    raise ConfigError(
        f"version_table_schema = {table.schema}: the schema {table.schema!r} does not exist in "
        f"this database, so the version table {table} cannot be created. Alembic creates the "
        f"version table but not its schema: create it (CREATE SCHEMA {table.schema}) and run "
        "again. Nothing was changed."
    )


def sync_to_heads(connection, script, settings, heads) -> list[str]:
    """Make ``schema_migrations`` hold exactly the legacy files at or below *heads* (after a stamp)."""
    files = legacy_chain(script)
    if files is None:
        return []
    stems = retired_stems(script) + [f.stem for f in files]
    upto = -1
    for head in heads:
        if head in stems:
            upto = max(upto, stems.index(head))
        else:
            upto = len(stems) - 1
    wanted = set(stems[: upto + 1])
    ledger = Ledger.of(connection, settings)
    have = set(ledger.applied())
    changes = []
    for stem in stems:
        if stem in wanted and stem not in have:
            ledger.record_applied(stem)
            changes.append(f"{settings.legacy_table.name}: insert {stem} (stamp)")
        elif stem not in wanted and stem in have:
            ledger.record_unapplied(stem)
            changes.append(f"{settings.legacy_table.name}: delete {stem} (stamp)")
    for line in changes:
        log.info("%s", line)
    return changes


def after_version_apply(script, settings):
    """Return an ``on_version_apply`` callback that keeps the ledger in step with stamps."""

    def callback(ctx, step, heads, run_args):
        if step.is_stamp and ctx.connection is not None and not ctx.as_sql:
            sync_to_heads(ctx.connection, script, settings, tuple(heads))

    return callback


def legacy_chain(script) -> list[LegacyFile] | None:
    """Return the legacy files of a bridge script directory, or None for plain Alembic."""
    return script.legacy_files() if isinstance(script, LegacyScriptDirectory) else None


def retired_stems(script) -> list[str]:
    """Return the legacy stems native revisions stand for, in chain order ([] for plain Alembic)."""
    return list(script.retired_stems()) if isinstance(script, LegacyScriptDirectory) else []


def is_known_revision(script, rev: str) -> bool:
    """Return whether Alembic knows *rev* in *script* (False for ids it cannot resolve)."""
    try:
        return script.revision_map.get_revision(rev) is not None
    except Exception:
        return False


def _report_validation(result: Plan, settings) -> None:
    if result.missing_files:
        message = (
            f"{settings.legacy_table.name} has rows for files that are not in the legacy directory: "
            + ", ".join(result.missing_files)
            + ". Restore the files, or remove their rows with `alembic-bridge repair --yes` "
            "(`alembic-bridge repair` shows what it would do)."
        )
        if settings.strict:
            raise LedgerMismatch(message + " (strict = true makes this an error)")
        log.warning("warning: %s", message)
    for stem in result.edited:
        log.warning(
            "warning: %s.py was edited after it was applied (its SHA-256 differs from "
            "the one recorded); the change will not run on databases that already "
            "applied it. Revert the edit, or put the change in a new migration.",
            stem,
        )


def write_head(connection, version_table: VersionTable, old_heads, new_head: str | None) -> None:
    """Replace the version rows *old_heads* by *new_head* (by nothing if None), creating the table if missing."""
    # The table Alembic's version_table_impl defines, as wide as bridge.env makes it.
    table = sa.Table(
        version_table.name,
        sa.MetaData(),
        sa.Column("version_num", sa.String(VersionTable.NUM_LENGTH), nullable=False),
        sa.PrimaryKeyConstraint("version_num", name=version_table.primary_key),
        schema=version_table.schema,
    )
    table.create(connection, checkfirst=True)
    if old_heads:
        connection.execute(table.delete().where(table.c.version_num.in_(old_heads)))
    if new_head is not None:
        connection.execute(table.insert().values(version_num=new_head))


@contextmanager
def transaction(connection: sa.Connection):
    """A transaction on *connection*: a savepoint inside one already begun."""
    if connection.in_transaction():
        with connection.begin_nested():
            yield
    else:
        with connection.begin():
            yield
