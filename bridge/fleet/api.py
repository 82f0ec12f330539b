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

from .. import reconcile, runner
from ..database import DatabaseTarget, create_engine, engine_for, mask_text, read_environment
from ..ledger import LedgerState
from ..script import settings_for
from ..settings import config_dir
from . import targets as targets_module
from .pool import STOP, FleetRun, Job, run_jobs
from .precheck import Expected, Verdict, decide, read_schema_states, read_state
from .report import AT_HEAD, FAILED, Record
from .targets import Source, Target

# Reading a target's history waits on the network, not the CPU, and imports no
# Alembic: threads are enough.
PRECHECK_THREADS = 16


def load_targets(config: Config, source: Source, shard: tuple[int, int] | None = None) -> list[Target]:
    """Return the targets *source* lists (this shard's only, if *shard* = (I, N) is given)."""
    if source.targets_file is not None:
        found = targets_module.read_targets_file(source.targets_file, read_environment(config_dir(config)))
    else:
        engine = engine_for(config)
        try:
            with engine.connect() as connection:
                if source.query:
                    found = targets_module.query_targets(connection, source.query)
                else:
                    found = targets_module.schema_targets(connection, source.schemas or "")
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
    error: str | None = None

    @property
    def current(self) -> list[str]:
        return sorted(self.state.heads) if self.state is not None else []


def expected_of(config: Config) -> tuple[Expected, object]:
    """Return what head is for this project (read with Alembic once, in this process) and its script."""
    script = runner.script_directory(config)
    settings = settings_for(script, config)
    files = reconcile.legacy_chain(script) or []
    expected = Expected(
        files, frozenset(script.get_heads()), settings.version_table, frozenset(reconcile.retired_stems(script))
    )
    return expected, script


def check(config: Config, found: list[Target], expected: Expected | None = None) -> list[Checked]:
    """Read every target's history (one short connection each; one for all schemas) and decide."""
    if expected is None:
        expected, _ = expected_of(config)
    results: dict[str, Checked] = {}
    schema_targets = [t for t in found if t.schema is not None]
    if schema_targets:
        engine = engine_for(config)
        try:
            schemas = [t.schema for t in schema_targets if t.schema is not None]
            states = read_schema_states(engine, schemas, expected.version_table)
        except sa.exc.SQLAlchemyError as err:
            states = {}
            error = mask_text(str(err).splitlines()[0])
            for t in schema_targets:
                results[t.name] = Checked(t, None, None, error)
        finally:
            engine.dispose()
        for t in schema_targets:
            if t.name not in results:
                state = states[t.schema]  # type: ignore[index]  # schema targets have a schema
                results[t.name] = Checked(t, state, decide(expected, state))

    def read_one(target: Target) -> Checked:
        assert target.url is not None  # a database target
        engine = None
        try:
            engine = create_engine(
                target.url, target=DatabaseTarget("--targets", url=target.url), poolclass=sa.pool.NullPool
            )
            state = read_state(engine, expected.version_table)
        except Exception as err:  # noqa: BLE001 - reported per target (ConnectionFailed, a bad URL ...)
            return Checked(target, None, None, mask_text(str(err)))
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
    on_checked: Callable[[list[Checked]], None] | None = None,
    on_change: Callable[[FleetRun, Record | None], None] | None = None,
) -> list[Record]:
    """Pre-check *found*, then upgrade or downgrade the rest to *revision*; return a record per target.

    *config_url* is the configured database's URL override (``--url``), for
    schema targets. Targets at head are skipped for ``upgrade head``; targets
    the pre-check could not reach are failed without starting a worker.
    """
    expected, script = expected_of(config)
    checked = check(config, found, expected)
    if on_checked is not None:
        on_checked(checked)
    wanted = _target_revisions(script, revision)
    skip_at_head = direction == "upgrade" and revision in ("head", "heads")
    records: dict[str, Record] = {}
    jobs = []
    for item in checked:
        t = item.target
        if item.error is not None:
            records[t.name] = Record(t.name, t.masked_url, t.schema, FAILED, [], [], wanted, error=item.error)
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
                )
            )
    state = run_jobs(jobs, parallel=parallel, canary=canary, on_error=on_error, on_change=on_change)
    for record in state.records:
        records[record.name] = record
    return [records[t.name] for t in found]


def _config_path(config: Config) -> str | None:
    return config.config_file_name or getattr(config, "toml_file_name", None)


def _target_revisions(script, revision: str) -> list[str] | None:
    """Return the revisions a target must end at for *revision*; None when that depends on where it starts."""
    if revision in ("head", "heads"):
        return sorted(script.get_heads())
    if revision == "base":
        return []
    try:
        found = script.get_revision(revision)
    except Exception:  # noqa: BLE001 - relative (-1, +2) or unknown: the run itself says
        return None
    return [found.revision] if found is not None else None
