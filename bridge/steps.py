"""What the bridge does around each migration Alembic runs (legacy and native alike).

For each step, in Alembic's per-migration transaction:

1. say it starts (`bridge.context.RunRequest.on_start`);
2. set its timeouts with ``SET LOCAL`` (`Policy`: the migration module's own
   ``migration_lock_timeout`` / ``migration_statement_timeout`` / ``lock_retries``
   / ``lock_retry_backoff``, else the configured ones), so nothing leaks to the session;
3. run it, inside a savepoint when retries are enabled: a lock timeout (55P03)
   or a deadlock (40P01) rolls the whole migration back to that savepoint and
   runs it again from its start after an exponential backoff with jitter, unless
   an AUTOCOMMIT statement already committed part of it (then it is never retried);
4. write its run-log row (`bridge.runlog.record`) in the same transaction, on a
   savepoint: a run log that cannot be written is a WARNING, never a failed migration.

A failed attempt cannot be logged in a transaction that is being rolled back:
its rows wait in the run and `flush_failures` writes them afterwards.
With nothing configured, steps 2 and 3 add no statement at all.
"""

from __future__ import annotations

import functools
import logging
import random
import time
import uuid
from dataclasses import dataclass
from types import ModuleType

import sqlalchemy as sa

from . import blockers, runlog, sqlstate
from .context import BridgeRun, Step
from .errors import BridgeError
from .executor import import_legacy
from .internals import after_autocommit_blocks, migration_step_revision, replace_migration_fn
from .script import LegacyScript, step_for
from .settings import BridgeSettings, interval, retries, seconds

log = logging.getLogger(__name__)

RETRYABLE = {sqlstate.LOCK_NOT_AVAILABLE: "a lock timeout", sqlstate.DEADLOCK_DETECTED: "a deadlock"}


@dataclass(frozen=True)
class Policy:
    """One migration's timeouts and retries."""

    lock_timeout: str | None = None
    statement_timeout: str | None = None
    retries: int = 0
    backoff: float = 1.0

    @classmethod
    def of(cls, settings: BridgeSettings, module: ModuleType | None = None, where: str = "") -> Policy:
        """Return the configured policy, with what *module* sets at its top level instead."""

        def own(name: str):
            return getattr(module, name, None) if module is not None else None

        suffix = f" (in {where})" if where else ""
        lock_timeout = own("migration_lock_timeout")
        statement_timeout = own("migration_statement_timeout")
        count = own("lock_retries")
        backoff = own("lock_retry_backoff")
        return cls(
            interval(lock_timeout, "migration_lock_timeout", suffix)
            if lock_timeout is not None
            else settings.migration_lock_timeout,
            interval(statement_timeout, "migration_statement_timeout", suffix)
            if statement_timeout is not None
            else settings.migration_statement_timeout,
            retries(count, "lock_retries", suffix) if count is not None else settings.lock_retries,
            seconds(backoff, "lock_retry_backoff", 1.0, suffix) if backoff is not None else settings.lock_retry_backoff,
        )

    def settings(self) -> dict[str, str]:
        """Return the server settings to set for the migration (none when nothing is configured)."""
        values = {"lock_timeout": self.lock_timeout, "statement_timeout": self.statement_timeout}
        return {name: value for name, value in values.items() if value is not None}

    def delay(self, attempt: int) -> float:
        """Return the seconds to wait before retry number *attempt* (1, 2, ...)."""
        return self.backoff * 2 ** (attempt - 1) * random.uniform(0.5, 1.5)


def step_of(migration_step) -> Step:
    """Describe one of Alembic's revision steps as the bridge's `Step`."""
    direction = "upgrade" if migration_step.is_upgrade else "downgrade"
    return step_for(migration_step_revision(migration_step), direction)


def guard(work_fn, run: BridgeRun):
    """Wrap Alembic's work function so each revision step it yields runs as the module docstring says."""

    @functools.wraps(work_fn)  # bridge.env.is_stamp still reads which command this is
    def steps(heads, migration_context):
        for migration_step in work_fn(heads, migration_context):
            if migration_step_revision(migration_step) is not None:
                replace_migration_fn(migration_step, _guarded(migration_step, run, migration_context))
            yield migration_step

    return steps


def _module_of(revision, run: BridgeRun) -> tuple[ModuleType, str]:
    if isinstance(revision, LegacyScript):
        # Imported here to read its settings; bridge.executor takes it from the run.
        module = run.modules[revision.revision] = import_legacy(revision.legacy)
        return module, str(revision.legacy.path)
    return revision.module, revision.path


def _guarded(migration_step, run: BridgeRun, migration_context):
    original = migration_step.migration_fn
    step = step_of(migration_step)
    revision = migration_step_revision(migration_step)

    def entry(outcome: str, since, attempts: int, err: BaseException | None = None) -> runlog.Entry:
        error = (str(err) or type(err).__name__) if err is not None else None
        state = sqlstate.of(err) if err is not None else None
        return runlog.Entry(step.revision, step.direction, since, runlog.utcnow(), outcome, attempts, state, error)

    @functools.wraps(original)
    def call(**kw):
        loading = runlog.utcnow()
        try:
            module, where = _module_of(revision, run)
            policy = Policy.of(run.settings, module, where)
        except BaseException as err:  # a file that does not import, a bad setting: logged as failed
            if not migration_context.as_sql:
                run.pending_log.append(entry(runlog.FAILED, loading, 1, err))
            raise
        if migration_context.as_sql:
            for name, value in policy.settings().items():
                migration_context.impl.static_output(f"SET LOCAL {name} = '{value}';")
            original(**kw)
            return
        if run.request.on_start is not None:
            run.request.on_start(step)
        started = runlog.utcnow()
        retried: list[runlog.Entry] = []
        attempt = 0
        # A retry runs only on the same transaction (see `intact`): the settings hold for it too.
        _set_local(migration_context.connection, policy)
        while True:
            attempt += 1
            connection = migration_context.connection
            root = connection.get_transaction()
            savepoint = connection.begin_nested() if policy.retries else None
            attempt_started = runlog.utcnow()
            if run.watcher is not None:
                run.watcher.watch(step, blockers.backend_pid(connection))
            try:
                try:
                    with after_autocommit_blocks(
                        migration_context, lambda: _set_local(migration_context.connection, policy)
                    ):
                        original(**kw)
                finally:
                    if run.watcher is not None:
                        run.watcher.done()
            except BaseException as err:
                state = sqlstate.of(err)
                # An AUTOCOMMIT statement ended the transaction the savepoint was in.
                intact = migration_context.connection is connection and connection.get_transaction() is root
                if savepoint is not None and intact and savepoint.is_active:
                    savepoint.rollback()
                retryable = state is not None and state in RETRYABLE and isinstance(err, Exception)
                if state is not None and retryable and attempt <= policy.retries and intact:
                    delay = policy.delay(attempt)
                    retried.append(entry(runlog.RETRIED, attempt_started, attempt, err))
                    log.warning(
                        "%s hit %s (attempt %d of %d); rolled back whole, retrying in %.1f s",
                        step.revision,
                        RETRYABLE[state],
                        attempt,
                        policy.retries + 1,
                        delay,
                    )
                    run.modules.pop(step.revision, None)  # the next attempt imports the file afresh
                    time.sleep(delay)
                    continue
                if retryable and policy.retries and not intact and isinstance(err, BridgeError):
                    err.args = (
                        f"{err.args[0]}\nNot retried: an AUTOCOMMIT statement had already committed "
                        "part of this migration, so running it again from the start is not safe.",
                        *err.args[1:],
                    )
                run.pending_log.extend(retried)
                run.pending_log.append(entry(runlog.FAILED, started, attempt, err))
                raise
            if savepoint is not None and savepoint.is_active:
                savepoint.commit()
            done = runlog.APPLIED if step.direction == "upgrade" else runlog.REVERTED
            entries = [*retried, entry(done, started, attempt)]
            if run.log_ready:  # best effort: a run log that cannot be written stops logging, not the run
                run.log_ready = runlog.record(migration_context.connection, run.run_id, entries, run.db_user)
            return

    return call


def _set_local(connection: sa.Connection, policy: Policy) -> None:
    values = policy.settings()
    if not values or connection.dialect.name != "postgresql":
        return
    # set_config(..., true) is SET LOCAL: it ends with the migration's transaction.
    calls = ", ".join(f"set_config('{name}', :{name}, true)" for name in values)
    connection.execute(sa.text(f"SELECT {calls}"), values)


def begin_run(connection: sa.Connection, run: BridgeRun) -> None:
    """Before the first migration of a mutating run: who runs, the lock watcher (the run-log
    table is created by its first write: a run that applies nothing creates nothing)."""
    if connection.dialect.name == "postgresql":
        run.db_user = connection.exec_driver_sql("SELECT current_user").scalar()
        if run.request.on_wait is not None:
            run.watcher = blockers.Watcher(connection.engine, run.request.on_wait)
    else:
        run.db_user = connection.engine.url.username
    run.run_id = str(uuid.uuid4())
    run.log_ready = True


def end_run(connection: sa.Connection, run: BridgeRun) -> None:
    """After the last migration, or the failed one's rollback: stop watching, log the failures."""
    if run.watcher is not None:
        run.watcher.close()
        run.watcher = None
    _flush_failures(connection, run)


def _flush_failures(connection: sa.Connection, run: BridgeRun) -> None:
    # On a connection of its own (the run's may be dead, or inside a caller's
    # transaction about to be rolled back); best effort: a run log that cannot be
    # written never hides the migration's own error.
    entries, run.pending_log = run.pending_log, []
    if not entries or not run.log_ready:
        return
    try:
        with connection.engine.connect() as own:
            with own.begin():
                if own.dialect.name == "postgresql":
                    own.exec_driver_sql("SET LOCAL lock_timeout = '2s'")
                run.log_ready = runlog.record(own, run.run_id, entries, run.db_user)
    except Exception:  # noqa: BLE001 - the migration's own error is what matters (e.g. no connection)
        log.warning(
            "Could not write the failed migration to the run log (%s)",
            runlog.TABLE,
            exc_info=log.isEnabledFor(logging.DEBUG),
        )
