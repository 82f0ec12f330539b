"""Run many targets in a process pool: canary first, stop or continue on errors, Ctrl-C waits.

Each target runs in a worker process through `bridge.runner.upgrade` (or
``downgrade``): Alembic's own command, the project's env.py, the per-database
(or per-schema) advisory lock, one transaction per migration; exactly what
``alembic upgrade head`` does. Alembic's commands are not thread-safe, hence
processes. Workers ignore SIGINT: a Ctrl-C reaches the whole process group,
and a migration must never be interrupted by it; the parent then starts
nothing new and waits for the running targets.

Each worker watches the fleet process (`_watch_parent`): when it is gone (a
``kill -9``, an OOM kill), the worker exits at once, so its database session
ends and the server rolls back the migration it was running; nothing is left
running. With machine-readable output (``--json``, ``--junit``), a worker's
standard output is its standard error: what migrations print never mixes
into the report.
"""

from __future__ import annotations

import multiprocessing
import os
import select
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

from alembic.util import CommandError

from .. import runlog, runner
from ..context import set_request
from ..database import engine_for
from ..errors import HoleError
from ..ledger import read_history
from ..script import settings_for
from .report import FAILED, MIGRATED, NOT_RUN, Record

STOP, CONTINUE = "stop", "continue"
PARENT_GONE = 70  # a worker's exit status when the fleet process died under it


def default_parallel() -> int:
    """Return the default pool size: the CPUs this process may use, at least 2, at most 8.

    A migration mostly waits on the database server, so a pool may exceed the
    CPUs; the server's own capacity is the real limit, hence the cap.
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(2, min(8, cpus))


@dataclass(frozen=True)
class Job:
    """One target's run, as handed to a worker (picklable; the URL may hold a password)."""

    name: str
    config_path: str | None
    url: str | None = field(repr=False)
    schema: str | None
    direction: str  # "upgrade" or "downgrade"
    revision: str
    masked_url: str | None = None
    from_revisions: tuple[str, ...] = ()
    target: list[str] | None = None  # the revisions it must end at (None: not known)
    out_of_order: bool = False  # upgrade --out-of-order


def error_text(err: BaseException) -> str:
    """Return a target's error as the fleet reports it: whole (the file list and the fix), with the fleet's fix."""
    # The bridge's errors (and Alembic's) are written for users; others need their type.
    text = str(err) if isinstance(err, CommandError) else f"{type(err).__name__}: {err}"
    if isinstance(err, HoleError):
        text += "\nFor every target of the fleet: `alembic-bridge fleet upgrade --out-of-order`."
    return text


def run_job(job: Job) -> Record:
    """Run one target through the bridge's runner (in a worker process); never raises."""
    started = time.monotonic()
    since = runlog.utcnow()
    applied = 0
    to: list[str] = []
    error = None
    steps: list[dict] = []
    outcome = MIGRATED
    config = None
    try:
        config = runner.load_config(job.config_path, url=job.url)
        set_request(config, configure_logging=False, schema=job.schema)
        if job.direction == "upgrade":
            result = runner.upgrade(config, job.revision, out_of_order=job.out_of_order)
        else:
            result = runner.downgrade(config, job.revision)
        applied = len(result.steps)
        to, steps = _after(config, since)
    except Exception as err:  # noqa: BLE001 - one target's failure is reported, not raised
        outcome = FAILED
        error = error_text(err)
        try:
            to, steps = _after(config, since) if config is not None else ([], [])  # what it committed before failing
        except Exception:  # noqa: BLE001 - unreachable: keep the first error
            to = []
    return Record(
        job.name,
        job.masked_url,
        job.schema,
        outcome,
        list(job.from_revisions),
        to,
        job.target,
        applied,
        time.monotonic() - started,
        error,
        steps,
    )


STEP_FIELDS = ("revision", "direction", "outcome", "attempts", "duration_ms", "sqlstate", "run_id")


def _after(config, since) -> tuple[list[str], list[dict]]:
    """Return the version table's rows and the run log's rows written since *since*, on one short connection."""
    settings = settings_for(runner.script_directory(config), config)
    engine = engine_for(config, settings)
    try:
        with engine.connect() as connection:
            state = read_history(
                connection, settings.version_table.name, settings.version_table.schema, settings.legacy_table
            )
            steps = [{k: row[k] for k in STEP_FIELDS} for row in runlog.written_since(connection, since)]
            connection.rollback()
        return sorted(state.heads), steps
    finally:
        engine.dispose()


def _worker_init(parent: int, stdout_to_stderr: bool) -> None:
    """Set a worker up: SIGINT ignored, its stdout sent to stderr if asked, the fleet process watched."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if stdout_to_stderr:
        sys.stdout.flush()
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # print() and child processes alike
    _watch_parent(parent)


def _watch_parent(pid: int) -> None:
    """Exit this process as soon as process *pid* (the fleet) is gone; a daemon thread waits for it."""
    try:
        handle = os.pidfd_open(pid)  # Linux: readable once the process has exited, whatever reuses its pid
    except ProcessLookupError:
        os._exit(PARENT_GONE)
    except (AttributeError, OSError):
        handle = None

    def wait() -> None:
        if handle is not None:
            select.select([handle], [], [])
        else:
            while _alive(pid):
                time.sleep(0.5)
        os._exit(PARENT_GONE)

    threading.Thread(target=wait, name="bridge-fleet-parent", daemon=True).start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _context():
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" in methods:
        context = multiprocessing.get_context("forkserver")
        # Each worker forks from a server that has the runner (Alembic, SQLAlchemy) loaded.
        context.set_forkserver_preload(["bridge.fleet.pool"])
        return context
    return multiprocessing.get_context("spawn")


@dataclass
class FleetRun:
    """The pool's progress, as the callback sees it after every change."""

    total: int
    records: list[Record] = field(default_factory=list)
    running: list[str] = field(default_factory=list)
    stopping: str | None = None  # why nothing new starts: "error", "canary", "interrupted"
    started_at: float = field(default_factory=time.monotonic)

    @property
    def done(self) -> int:
        return len(self.records)


def run_jobs(
    jobs: list[Job],
    *,
    parallel: int,
    canary: int = 0,
    on_error: str = STOP,
    on_change: Callable[[FleetRun, Record | None], None] | None = None,
    executor_factory=None,
    stdout_to_stderr: bool = False,
) -> FleetRun:
    """Run *jobs* in a pool of *parallel* processes; return every job's record, in job order.

    The first *canary* jobs run first, on their own; if any fails, nothing else
    starts. With *on_error* ``stop``, the first failure stops the starting of new
    jobs (running ones finish). A KeyboardInterrupt does the same, after which
    the jobs never started are recorded ``not-run``. With *stdout_to_stderr*,
    what the workers (their migrations) print goes to standard error.
    """
    state = FleetRun(len(jobs))
    by_name: dict[str, Record] = {}

    def notify(record: Record | None) -> None:
        if on_change is not None:
            on_change(state, record)

    def finish(record: Record) -> None:
        by_name[record.name] = record
        state.records.append(record)
        if record.name in state.running:
            state.running.remove(record.name)
        if record.outcome == FAILED and on_error == STOP and state.stopping is None:
            state.stopping = "error"
        notify(record)

    if not jobs:
        return state
    waves = [jobs[:canary], jobs[canary:]] if canary else [jobs]
    factory = executor_factory or (
        lambda n: ProcessPoolExecutor(
            max_workers=n,
            mp_context=_context(),
            initializer=_worker_init,
            initargs=(os.getpid(), stdout_to_stderr),
        )
    )
    with factory(max(1, min(parallel, len(jobs)))) as executor:
        for number, wave in enumerate(waves):
            if not wave:
                continue
            if state.stopping is not None:
                break
            _run_wave(executor, wave, parallel, state, finish, notify)
            if canary and number == 0 and any(by_name[j.name].outcome == FAILED for j in wave if j.name in by_name):
                state.stopping = state.stopping or "canary"
    for job in jobs:
        if job.name not in by_name:
            why = {"canary": "a canary target failed", "interrupted": "interrupted (Ctrl-C)"}.get(
                state.stopping or "", "the fleet stopped after a failure (--on-error stop)"
            )
            record = Record(
                job.name,
                job.masked_url,
                job.schema,
                NOT_RUN,
                list(job.from_revisions),
                list(job.from_revisions),
                job.target,
                error=f"not run: {why}",
            )
            by_name[job.name] = record
            state.records.append(record)
    state.records.sort(key=lambda r: [j.name for j in jobs].index(r.name))
    return state


def _run_wave(executor, wave: list[Job], parallel: int, state: FleetRun, finish, notify) -> None:
    pending = list(wave)
    running: dict[Future, Job] = {}
    while pending or running:
        while pending and len(running) < parallel and state.stopping is None:
            job = pending.pop(0)
            running[executor.submit(run_job, job)] = job
            state.running.append(job.name)
            notify(None)
        if not running:
            return
        try:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
        except KeyboardInterrupt:
            # Wait for the running targets: they ignore SIGINT and finish their migration.
            state.stopping = "interrupted"
            notify(None)
            continue
        for future in done:
            job = running.pop(future)
            try:
                record = future.result()
            except BrokenProcessPool as err:
                record = Record(
                    job.name,
                    job.masked_url,
                    job.schema,
                    FAILED,
                    list(job.from_revisions),
                    [],
                    job.target,
                    error=f"the worker process died: {err}",
                )
            finish(record)
