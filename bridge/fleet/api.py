"""The fleet's Python API: read the target list, pre-check every target, run the rest in a pool.

`load_targets` turns a `targets.Source` into this shard's targets; `check`
reads each target's history cheaply (`precheck`), without Alembic's machinery,
and says which are at head; `upgrade` / `downgrade` run the others through
`pool.run_jobs` and return one `report.Record` per target, skipped ones
included. Nothing here prints: the front end is `bridge.cli.fleet`.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import sqlalchemy as sa
from alembic.config import Config

from .. import runner
from ..context import set_request
from ..database import DatabaseTarget, create_engine, engine_for, read_environment
from ..errors import ConfigError
from ..ledger import LedgerState
from ..masking import mask_text
from ..script import settings_for
from ..settings import config_dir
from . import targets as targets_module
from .pool import STOP, FleetRun, Job, error_text, run_jobs
from .precheck import Expected, Verdict, decide, read_schema_states, read_state
from .report import AT_HEAD, FAILED, PENDING, UNREACHABLE, Record
from .targets import Source, Target

# Reading a target's history waits on the network, not the CPU, and imports no
# Alembic: threads are enough.
PRECHECK_THREADS = 16


def load_targets(config: Config, source: Source, shard: tuple[int, int] | None = None) -> list[Target]:
    """Return the targets *source* lists (this shard's only, if *shard* = (I, N) is given)."""
    if source.targets_file is not None:
        found = targets_module.read_targets_file(
            source.targets_file, read_environment(config_dir(config)), source.label
        )
    else:
        engine = engine_for(config)
        try:
            with engine.connect() as connection:
                if source.query:
                    found = targets_module.query_targets(connection, source.query, source.label)
                else:
                    found = targets_module.schema_targets(connection, source.schemas or "", source.label)
                connection.rollback()
        finally:
            engine.dispose()
    if shard is not None:
        found = targets_module.select_shard(found, *shard)
    return found


def source_options(config: Config) -> dict[str, str]:
    """Return the fleet options set in [alembic] (``fleet_targets`` ...)."""
    options = {}
    for name in targets_module.OPTIONS.values():
        value = config.get_alembic_option(name)
        if isinstance(value, str) and value.strip():
            options[name] = value.strip()
    return options


@dataclass
class Checked:
    """One target after the pre-check: its state, or why it could not be read."""

    target: Target
    state: LedgerState | None
    verdict: Verdict | None
    error: str | None = None  # masked here, once: `fleet status` shows it, `run` hands it to a Record

    def __post_init__(self) -> None:
        if self.error is not None:
            self.error = mask_text(self.error)

    @property
    def current(self) -> list[str]:
        return sorted(self.state.heads) if self.state is not None else []

    @property
    def state_name(self) -> str:
        """Return the target's state in the fleet's vocabulary (`report.STATES`): at-head, pending, unreachable."""
        if self.error is not None:
            return UNREACHABLE
        return AT_HEAD if self.verdict is not None and self.verdict.at_head else PENDING

    def as_dict(self) -> dict:
        """Return the target as ``fleet status --json`` shows it (URL masked)."""
        verdict = self.verdict
        return {
            **self.target.identity(),
            "current": self.current,
            "state": self.state_name,
            "reason": verdict.reason if verdict is not None else self.error.splitlines()[0] if self.error else None,
            "pending": verdict.pending if verdict is not None else None,
            "pending_revisions": list(verdict.pending_revisions) if verdict is not None else [],
            "error": self.error,
        }


def expected_of(config: Config) -> tuple[Expected, object]:
    """Return what head is for this project (read with Alembic once, in this process) and its script."""
    script = runner.script_directory(config)
    settings = settings_for(script, config)
    return Expected.from_script(script, settings), script


def check(config: Config, found: list[Target], expected: Expected | None = None) -> list[Checked]:
    """Read every target's history (one short connection each; one for all schemas) and decide."""
    if expected is None:
        expected, _ = expected_of(config)
    results: dict[str, Checked] = {}
    schema_targets = [t for t in found if t.schema is not None]
    if schema_targets:
        engine = engine_for(config)
        try:
            states = _read_schemas(engine, schema_targets, expected, results)
        finally:
            engine.dispose()
        for t in schema_targets:
            if t.name not in results and t.schema is not None:
                state = states[t.schema]
                results[t.name] = Checked(t, state, decide(expected, state, tenant=True))

    def read_one(target: Target) -> Checked:
        assert target.url is not None  # a database target
        engine = None
        try:
            engine = create_engine(
                target.url, target=DatabaseTarget(target.origin, url=target.url), poolclass=sa.pool.NullPool
            )
            state = read_state(engine, expected)
        except Exception as err:  # noqa: BLE001 - reported per target (ConnectionFailed, a bad URL ...)
            return Checked(target, None, None, str(err))
        finally:
            if engine is not None:
                engine.dispose()
        return Checked(target, state, decide(expected, state))

    url_targets = [t for t in found if t.schema is None]
    if url_targets:
        with ThreadPoolExecutor(min(PRECHECK_THREADS, len(url_targets))) as threads:
            for checked in threads.map(read_one, url_targets):
                results[checked.target.name] = checked
    return [results[t.name] for t in found]


def _read_schemas(
    engine, found: list[Target], expected: Expected, failed: dict[str, Checked]
) -> dict[str, LedgerState]:
    """Read every tenant schema's history in one query; if that fails, each on its own.

    A schema this role cannot read (or whose tables are damaged, or whose legacy
    table lacks a configured column) fails its own target, with the reason, and
    never the others (they go into *failed*).
    """
    schemas = [t.schema for t in found if t.schema is not None]
    try:
        return read_schema_states(engine, schemas, expected)
    except (sa.exc.SQLAlchemyError, ConfigError):
        pass
    states: dict[str, LedgerState] = {}
    for target in found:
        assert target.schema is not None
        try:
            states.update(read_schema_states(engine, [target.schema], expected))
        except sa.exc.SQLAlchemyError as err:
            failed[target.name] = Checked(target, None, None, f"Cannot read schema {target.schema}: {_reason(err)}")
        except ConfigError as err:  # the schema's own tables do not fit the configuration
            failed[target.name] = Checked(target, None, None, str(err))
    return states


def _reason(err: sa.exc.SQLAlchemyError) -> str:
    orig = getattr(err, "orig", None)
    lines = str(orig if orig is not None else err).strip().splitlines()
    return lines[0] if lines else type(err).__name__


def run(
    config: Config,
    found: list[Target],
    direction: str,
    revision: str,
    *,
    config_url: str | None = None,
    parallel: int,
    canary: int = 0,
    on_error: str = STOP,
    out_of_order: bool = False,
    on_checked: Callable[[list[Checked]], None] | None = None,
    on_change: Callable[[FleetRun, Record | None], None] | None = None,
    stdout_to_stderr: bool = False,
) -> list[Record]:
    """Pre-check *found*, then upgrade or downgrade the rest to *revision*; return a record per target.

    *config_url* is the configured database's URL override (``--url``), for
    schema targets. Targets at head are skipped for ``upgrade head``; targets
    the pre-check could not reach are recorded unreachable without starting a
    worker. *out_of_order* is ``upgrade --out-of-order`` on every target. A
    relative *revision* (``-1``) counts from where each target is.
    *stdout_to_stderr*: what migrations print goes to standard error (a
    machine-readable report owns standard output).
    """
    expected, script = expected_of(config)
    checked = check(config, found, expected)
    if on_checked is not None:
        on_checked(checked)
    skip_at_head = direction == "upgrade" and revision in ("head", "heads")
    records: dict[str, Record] = {}
    jobs = []
    for item in checked:
        t = item.target
        wanted = _target_revisions(script, revision, item.current)
        if item.error is not None:
            records[t.name] = Record(t.name, t.masked_url, t.schema, UNREACHABLE, [], [], wanted, error=item.error)
        elif skip_at_head and item.verdict is not None and item.verdict.at_head:
            records[t.name] = Record(t.name, t.masked_url, t.schema, AT_HEAD, item.current, item.current, wanted)
        else:
            jobs.append(
                Job(
                    t.name,
                    _config_path(config),
                    t.url if t.schema is None else config_url,
                    t.schema,
                    direction,
                    revision,
                    masked_url=t.masked_url,
                    from_revisions=tuple(item.current),
                    target=wanted,
                    out_of_order=out_of_order,
                )
            )
    state = run_jobs(
        jobs,
        parallel=parallel,
        canary=canary,
        on_error=on_error,
        on_change=on_change,
        stdout_to_stderr=stdout_to_stderr,
    )
    for record in state.records:
        records[record.name] = record
    return [records[t.name] for t in found]


@dataclass
class Planned:
    """One target's plan: what ``alembic-bridge upgrade --dry-run`` (`runner.plan_upgrade`) says it would run."""

    target: Target
    state: str  # report.STATES: at-head (nothing to run), pending, unreachable, failed (no plan: why in error)
    current: list[str]
    plan: runner.RunPlan | None = None
    error: str | None = None

    def as_dict(self) -> dict:
        """Return the target's plan as ``fleet plan --json`` shows it (URL masked, error whole)."""
        return {
            **self.target.identity(),
            "current": self.current,
            "state": self.state,
            "changes": list(self.plan.changes) if self.plan else [],
            "steps": [
                {"revision": s.revision, "direction": s.direction, "kind": s.kind, "title": s.title}
                for s in (self.plan.steps if self.plan else [])
            ],
            "error": mask_text(self.error) if self.error else None,
        }


def plan(
    config: Config,
    found: list[Target],
    direction: str,
    revision: str,
    *,
    config_url: str | None = None,
    out_of_order: bool = False,
    on_planned: Callable[[Planned], None] | None = None,
) -> list[Planned]:
    """Return, per target, what ``upgrade`` (``downgrade``) to *revision* would run; reads only.

    Targets the pre-check finds at head need no plan for ``upgrade head``; the
    others are planned by `runner.plan_upgrade` / `runner.plan_downgrade` on
    their own database or schema, one after the other, in this process.
    """
    expected, _ = expected_of(config)
    results = []
    for item in check(config, found, expected):
        t = item.target
        if item.error is not None:
            planned = Planned(t, UNREACHABLE, [], None, item.error)
        elif direction == "upgrade" and revision in ("head", "heads") and item.verdict and item.verdict.at_head:
            planned = Planned(t, AT_HEAD, item.current, runner.RunPlan([], []))
        else:
            planned = _plan_one(config, t, item.current, direction, revision, config_url, out_of_order)
        if on_planned is not None:
            on_planned(planned)
        results.append(planned)
    return results


def _plan_one(config, t: Target, current, direction, revision, config_url, out_of_order) -> Planned:
    target_config = runner.load_config(_config_path(config), url=t.url if t.schema is None else config_url)
    set_request(target_config, configure_logging=False, schema=t.schema)
    try:
        if direction == "upgrade":
            found = runner.plan_upgrade(target_config, revision, out_of_order=out_of_order)
        else:
            found = runner.plan_downgrade(target_config, revision)
    except Exception as err:  # noqa: BLE001 - one target's plan that cannot be made is reported, not raised
        return Planned(t, FAILED, current, None, error_text(err))
    return Planned(t, PENDING if found.steps or found.changes else AT_HEAD, current, found)


def _config_path(config: Config) -> str | None:
    return config.config_file_name or getattr(config, "toml_file_name", None)


def _target_revisions(script, revision: str, current: list[str]) -> list[str] | None:
    """Return the revisions a target at *current* must end at for *revision*; None when that is not known here."""
    if revision in ("head", "heads"):
        return sorted(script.get_heads())
    if revision == "base":
        return []
    if revision.startswith("-") and revision[1:].isascii() and revision[1:].isdigit():  # not "-²"
        return _steps_down(script, current, int(revision[1:]))
    try:
        found = script.get_revision(revision)
    except Exception:  # noqa: BLE001 - relative upwards (+2) or unknown: the run itself says
        return None
    return [found.revision] if found is not None else None


def _steps_down(script, current: list[str], steps: int) -> list[str] | None:
    """Return where ``downgrade -STEPS`` ends from one head on a linear chain; None if branched or too far."""
    if len(current) != 1:
        return None
    at: str | None = current[0]
    for _ in range(steps):
        if at is None:
            return None  # past base: Alembic refuses, the run says so
        down = script.get_revision(at).down_revision
        if isinstance(down, (tuple, list)):
            return None  # a merge point: where Alembic goes is its decision
        at = down
    return [at] if at is not None else []
