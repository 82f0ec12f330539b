"""The bridge's Python API: find the configuration, plan, and run.

Planning (`status`, `plan_upgrade`, `plan_downgrade`, `check`) reads and never
writes: no table is created and no lock is taken. Running (`upgrade`,
`downgrade`, `sync`) goes through Alembic's own ``alembic.command`` functions
and the project's env.py, so ``alembic upgrade head``, ``alembic-bridge
upgrade`` and ``python run.py start`` share one code path and one lock.

A team's own ``run.py`` replaces its ``MigrationHelper`` call with::

    import bridge
    bridge.upgrade()            # alembic.ini in the working directory
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.script.revision import ResolutionError

from . import indexes, reconcile, runlog
from . import repairs as repairs_module
from .context import OnStart, OnStep, OnWait, Step, current, request_of, requesting, set_request
from .database import engine_for, target_for
from .environment import dotenv_paths
from .errors import ConfigError
from .internals import plan_revisions
from .ledger import ADOPTION, Ledger, LedgerState, names_of, read_history
from .lock import runner_lock
from .repairs import RepairPlan
from .repairs import plan as repair_plan
from .script import out_of_order_step, settings_for, step_for
from .settings import BridgeSettings

# -- configuration ------------------------------------------------------------------------


def load_config(path: str | Path | None = None, url: str | None = None) -> Config:
    """Return the Alembic ``Config`` for *path* (default: ./alembic.ini, else ./pyproject.toml)."""
    if path is None:
        if Path("alembic.ini").is_file():
            path = Path("alembic.ini")
        elif Path("pyproject.toml").is_file() and "[tool.alembic]" in Path("pyproject.toml").read_text():
            path = Path("pyproject.toml")
        else:
            raise ConfigError(
                f"No alembic.ini (or pyproject.toml with [tool.alembic]) in {Path.cwd()}. "
                "Run from the project folder, pass -c FILE, or create one with "
                "`alembic-bridge init --legacy PATH`."
            )
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"Config file {path} does not exist.")
    if path.suffix == ".toml":
        config = Config(toml_file=str(path))
    else:
        toml = path.parent / "pyproject.toml"
        config = Config(str(path), toml_file=str(toml) if toml.is_file() else None)
    if url:
        set_request(config, url=url)
    return config


def _config(config: Config | str | Path | None) -> Config:
    return config if isinstance(config, Config) else load_config(config)


def script_directory(config: Config) -> ScriptDirectory:
    """Return the script directory (the bridge's when ``legacy_location`` is set)."""
    return ScriptDirectory.from_config(config)


# -- reading --------------------------------------------------------------------------------


@dataclass
class MigrationStatus:
    """One revision's state, for ``status``."""

    revision: str
    kind: str  # "legacy" or "native"
    state: str
    path: str | None
    edited: bool = False
    applied_at: datetime.datetime | None = None  # aware: schema_migrations' row, else the run log's
    applied_by: str | None = None  # user@host, from the run log
    duration_ms: int | None = None  # from the run log
    # For applied legacy files: "run" (the bridge ran it), "adoption", "repair" (taken then), or None (none).
    checksum_taken: str | None = None

    @property
    def checksum(self) -> str | None:
        """Return ``matches``, ``edited`` or ``none`` for an applied legacy file, else None."""
        if self.kind != "legacy" or self.state in ("pending", "out-of-order", "file-missing"):
            return None
        return "edited" if self.edited else ("matches" if self.checksum_taken else "none")

    def as_dict(self) -> dict:
        return {
            "revision": self.revision,
            "kind": self.kind,
            "state": self.state,
            "path": self.path,
            "edited": self.edited,
            "applied_at": self.applied_at.isoformat() if self.applied_at else None,
            "applied_by": self.applied_by,
            "duration_ms": self.duration_ms,
            "checksum": self.checksum,
            "checksum_taken": self.checksum_taken,
        }


@dataclass
class Status:
    """Everything ``status`` shows: each revision, the heads, and what is pending."""

    database: str
    migrations: list[MigrationStatus]
    script_heads: list[str]
    current_heads: list[str]
    plan: reconcile.Plan = field(repr=False, default_factory=reconcile.Plan)
    last_run: list[dict] = field(default_factory=list)  # the run log's rows of the latest run
    invalid_indexes: list[str] = field(default_factory=list)  # left by interrupted concurrent builds
    repair: RepairPlan = field(repr=False, default_factory=RepairPlan)  # what `repair` would change
    dotenv_files: list[str] = field(default_factory=list)  # the .env files read, in precedence order

    @property
    def duplicates(self) -> list[str]:
        """Return the stems ``schema_migrations`` records under both names."""
        return list(self.plan.duplicates)

    def duplicate_names(self, stem: str) -> tuple[str, str]:
        """Return the two ``schema_migrations`` names one duplicated migration is recorded under."""
        return names_of(stem)

    @property
    def pending(self) -> list[MigrationStatus]:
        return [m for m in self.migrations if m.state in ("pending", "out-of-order")]

    @property
    def in_agreement(self) -> bool:
        repairs = self.repair.missing or self.repair.stale_heads  # a missing checksum is no disagreement
        return not self.plan.changes and not self.plan.holes and not self.duplicates and not repairs

    @property
    def adopted_checksums(self) -> list[str]:
        """Return the migrations whose checksum was taken at adoption, not when the bridge ran them."""
        return [m.revision for m in self.migrations if m.checksum_taken == ADOPTION]

    def as_dict(self) -> dict:
        return {
            "database": self.database,
            "head": self.script_heads[0] if len(self.script_heads) == 1 else self.script_heads,
            "current": self.current_heads,
            "pending_count": len(self.pending),
            "in_agreement": self.in_agreement,
            "changes_sync_would_make": self.plan.changes,
            "duplicate_rows": self.duplicates,
            "last_run": [_jsonable(row) for row in self.last_run],
            "invalid_indexes": self.invalid_indexes,
            "repairs": self.repair.as_dict(),
            "dotenv_files": self.dotenv_files,
            "migrations": [m.as_dict() for m in self.migrations],
        }


def _jsonable(row: dict) -> dict:
    return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in row.items()}


T = TypeVar("T")


def _database_state(config: Config, settings: BridgeSettings) -> tuple[str, LedgerState, str]:
    """Read both history tables; return the database's description, their state and the version table's name."""
    return _read_database(config, settings, lambda conn: None)[:3]


def _read_database(
    config: Config, settings: BridgeSettings, read: Callable[[sa.Connection], T]
) -> tuple[str, LedgerState, str, T]:
    """Read both history tables, and *read(connection)*, on a connection that is rolled back, never committed.

    Returns (the database's description, the tables' state, the version table's name, what *read* returned).
    """
    target = target_for(config, settings)
    engine = engine_for(config, settings, target=target)
    try:
        with engine.connect() as conn:
            state = read_history(
                conn, settings.version_table.name, settings.version_table.schema, settings.legacy_table
            )
            more = read(conn)
            conn.rollback()
    finally:
        engine.dispose()
    return target.describe(), state, str(settings.version_table), more


@dataclass
class _StatusReads:
    """What `status` reads besides the history tables, on the same connection."""

    last_run: list[dict]
    invalid_indexes: list[str]
    details: dict[str, dict]  # per revision: applied_at, checksum_origin, ... (`Ledger.details`)
    logged: dict[str, dict]  # per revision: its latest run-log row

    @classmethod
    def read(cls, conn: sa.Connection, settings: BridgeSettings) -> _StatusReads:
        return cls(
            runlog.last_run(conn),
            indexes.invalid_indexes(conn),
            Ledger.of(conn, settings).details(),
            runlog.latest_applied(conn),
        )


def status(config: Config | str | Path | None = None) -> Status:
    """Return every revision's state; reads only."""
    config = _config(config)
    script = script_directory(config)
    settings = settings_for(script, config)
    database, state, table, reads = _read_database(config, settings, lambda conn: _StatusReads.read(conn, settings))
    repairs = repair_plan(script, state, table, settings.legacy_table.name)
    result = repairs.after  # the tables as they are once repaired: a deleted file does not stop status
    implied = _ancestors(script, result.old_heads if repairs.stale_heads else state.heads)
    applied, holes, edited = set(result.applied), {f.stem for f in result.holes}, set(result.edited)
    legacy = {
        f.stem: MigrationStatus(
            f.stem, "legacy", _legacy_state(f.stem, applied, holes, state, implied), str(f.path), f.stem in edited
        )
        for f in reconcile.legacy_chain(script) or []
    }
    migrations = _in_chain_order(script, legacy, implied)
    migrations += [MigrationStatus(stem, "legacy", "file-missing", None) for stem in repairs.missing]
    for m in migrations:
        _add_details(m, reads.details.get(m.revision, {}), reads.logged.get(m.revision))
    return Status(
        database,
        migrations,
        list(script.get_heads()),
        list(state.heads),
        result,
        reads.last_run,
        reads.invalid_indexes,
        repairs,
        [str(path) for path in dotenv_paths(config, settings)],
    )


def _legacy_state(stem: str, applied: set[str], holes: set[str], state: LedgerState, implied: set[str]) -> str:
    """Name one legacy file's state: from the reconciliation (*applied*, *holes*) and the tables' *state*."""
    if stem in holes:
        return "out-of-order"
    if stem not in applied:
        return "pending"
    has_row, in_version = stem in state.rows, stem in implied
    if has_row and not in_version:
        return "old-runner-only"
    if in_version and not has_row:
        return "alembic-only"
    return "applied"  # both tables agree, or it is recorded only by its checksum (backfill adds the row)


def _in_chain_order(script, legacy: dict[str, MigrationStatus], implied: set[str]) -> list[MigrationStatus]:
    """Return every revision's status, base first (converted revisions come before the legacy files)."""
    migrations = []
    for rev in reversed(list(script.walk_revisions())):
        entry = legacy.pop(rev.revision, None)
        if entry is None:
            entry = MigrationStatus(
                rev.revision, "native", "applied" if rev.revision in implied else "pending", rev.path
            )
        migrations.append(entry)
    return migrations + list(legacy.values())  # none, unless the chain is broken


def _add_details(m: MigrationStatus, recorded: dict, logged: dict | None) -> None:
    """Fill in when, by whom and how fast *m* was applied, and how its checksum was taken."""
    if m.state in ("pending", "out-of-order"):
        return
    m.checksum_taken = recorded.get("checksum_origin")
    m.applied_at = recorded.get("applied_at")
    if logged is not None:
        m.applied_at = m.applied_at or logged["finished_at"]
        m.applied_by = f"{logged['db_user'] or '?'}@{logged['host'] or '?'}"
        m.duration_ms = logged["duration_ms"]


def run_log(config: Config | str | Path | None = None, *, limit: int = 20, revision: str | None = None) -> list[dict]:
    """Return the run log's latest rows, newest first (see `bridge.runlog`); reads only."""
    config = _config(config)
    settings = settings_for(script_directory(config), config)
    return _read_database(config, settings, lambda conn: runlog.read(conn, limit=limit, revision=revision))[3]


def _ancestors(script, heads) -> set[str]:
    """Return the revisions the version table's *heads* imply (each head and everything below it).

    A head Alembic does not know (a version row naming a deleted file, which `status`
    shows as file-missing) implies nothing.
    """
    known = tuple(head for head in heads if _is_known(script, head))
    if not known:
        return set()
    return {r.revision for r in script.revision_map.iterate_revisions(known, None)}


def _is_known(script, revision: str) -> bool:
    try:
        return script.revision_map.get_revision(revision) is not None
    except ResolutionError:
        return False


@dataclass
class RunPlan:
    """What a run would do: the tables' reconciliation first, then the steps."""

    changes: list[str]
    steps: list[Step]
    holes: list[str] = field(default_factory=list)


def plan_upgrade(
    config: Config | str | Path | None = None, target: str = "head", *, out_of_order: bool = False
) -> RunPlan:
    """Return what ``upgrade`` to *target* would do; reads only."""
    return _plan(_config(config), target, "upgrade", out_of_order)


def plan_downgrade(config: Config | str | Path | None, target: str) -> RunPlan:
    """Return what ``downgrade`` to *target* would do; reads only."""
    return _plan(_config(config), target, "downgrade", False)


def _plan(
    config: Config, target: str, direction: str, out_of_order: bool, settings: BridgeSettings | None = None
) -> RunPlan:
    script = script_directory(config)
    settings = settings or settings_for(script, config)
    _, state, table = _database_state(config, settings)
    result = reconcile.plan_for(script, state, table, settings.legacy_table.name)
    if result.holes and not out_of_order:
        raise reconcile.hole_error(result.holes, result)
    steps = [out_of_order_step(f) for f in result.holes] if out_of_order else []
    heads = (result.new_head,) if result.new_head else state.heads
    for rs in plan_revisions(script, direction, target, heads):
        steps.append(step_for(rs.revision, direction))
    return RunPlan(result.changes, steps, [f.stem for f in result.holes])


# -- running --------------------------------------------------------------------------------


@dataclass
class RunResult:
    """What a run did: the steps that ran (out-of-order files included), and the plan made under the lock."""

    steps: list[Step]
    seconds: float
    plan: RunPlan | None = None


def upgrade(
    config: Config | str | Path | None = None,
    target: str = "head",
    *,
    out_of_order: bool = False,
    on_step: OnStep | None = None,
    on_plan: Callable[[RunPlan], None] | None = None,
    on_start: OnStart | None = None,
    on_wait: OnWait | None = None,
) -> RunResult:
    """Apply migrations up to *target* through Alembic (lock, reconcile, per-migration transactions).

    *on_plan(RunPlan)* is called once the runner lock is held, before anything
    changes: the plan it gets is the one that runs, whatever other runners did.
    *on_start(Step)* before each migration, *on_step(Step, seconds it took)* after it
    committed; *on_wait(Step, seconds, [blocking sessions])* while it waits on a lock.
    """
    return _run(_config(config), target, "upgrade", out_of_order, on_step, on_plan, on_start, on_wait)


def downgrade(
    config: Config | str | Path | None,
    target: str,
    *,
    on_step: OnStep | None = None,
    on_plan: Callable[[RunPlan], None] | None = None,
    on_start: OnStart | None = None,
    on_wait: OnWait | None = None,
) -> RunResult:
    """Revert migrations down to *target* through Alembic (callbacks as for `upgrade`)."""
    return _run(_config(config), target, "downgrade", False, on_step, on_plan, on_start, on_wait)


def _run(
    config: Config,
    target: str,
    direction: str,
    out_of_order: bool,
    on_step: OnStep | None,
    on_plan: Callable[[RunPlan], None] | None = None,
    on_start: OnStart | None = None,
    on_wait: OnWait | None = None,
) -> RunResult:
    done: list[Step] = []
    planned: list[RunPlan] = []
    started = time.monotonic()
    step_started = [started]

    def begin(step: Step) -> None:
        step_started[0] = time.monotonic()
        if on_start is not None:
            on_start(step)

    def record(step: Step) -> None:
        done.append(step)
        if on_step is not None:
            on_step(step, time.monotonic() - step_started[0])  # this migration's own time

    def plan_under_lock() -> None:
        planned.append(_plan(config, target, direction, out_of_order, current().settings))
        if on_plan is not None:
            on_plan(planned[-1])

    changes = {
        "on_step": record,
        "out_of_order": out_of_order,
        "on_locked": plan_under_lock if on_plan else None,
        "on_start": begin,
        "on_wait": on_wait,
    }
    if request_of(config).configure_logging is None:
        # The calling application owns logging: env.py must not apply alembic.ini's
        # [loggers] to it (a caller may still ask for it: set_request(configure_logging=True)).
        changes["configure_logging"] = False
    with requesting(config, **changes):
        if direction == "upgrade":
            command.upgrade(config, target)
        else:
            command.downgrade(config, target)
    return RunResult(done, time.monotonic() - started, planned[-1] if planned else None)


def sync_tables(config: Config | str | Path | None = None, *, dry_run: bool = False) -> reconcile.Plan:
    """Bring ``schema_migrations`` and ``alembic_version`` into agreement without running migrations."""
    config = _config(config)
    script = script_directory(config)
    settings = settings_for(script, config)
    if not dry_run:
        return _write_under_lock(config, settings, lambda conn: reconcile.reconcile(conn, script, settings))
    engine = engine_for(config, settings)
    try:
        with engine.connect() as conn:
            result = reconcile.reconcile(conn, script, settings, dry_run=True)
            conn.rollback()
            return result
    finally:
        engine.dispose()


def _write_under_lock(config: Config, settings, write):
    """Return *write(connection)*, committed, under the lock of the schema *settings* put the version table in."""
    engine = engine_for(config, settings)
    try:
        with engine.connect() as conn:
            with runner_lock(conn, settings):
                result = write(conn)
                if conn.in_transaction():
                    conn.commit()
            return result
    finally:
        engine.dispose()


def repair(config: Config | str | Path | None = None, *, apply: bool = False) -> RepairPlan:
    """Return the repairs the database needs (`bridge.repairs`); with *apply*, make them.

    Without *apply* it reads only. With it, the repairs are planned again under the
    runner lock and made in one transaction.
    """
    config = _config(config)
    script = script_directory(config)
    settings = settings_for(script, config)
    if not apply:
        _, state, table = _database_state(config, settings)
        return repair_plan(script, state, table, settings.legacy_table.name)
    return _write_under_lock(config, settings, lambda conn: repairs_module.repair(conn, script, settings))
