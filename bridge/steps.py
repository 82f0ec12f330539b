"""What the bridge does around each migration (legacy and native, in order or out of order).

For each step, in the migration's own transaction (Alembic's per-migration one;
`run_out_of_order` gives a file applied with ``--out-of-order`` the same):

1. say it starts (`bridge.context.RunRequest.on_start`);
2. set its timeouts with ``SET LOCAL`` (`Policy`: the migration module's own
   ``migration_lock_timeout`` / ``migration_statement_timeout`` / ``lock_retries``
   / ``lock_retry_backoff``, else the configured ones), so nothing leaks to the
   session; an AUTOCOMMIT statement, which runs outside that transaction, gets
   them set for its session while it runs and put back after it (`_Autocommit`);
3. run it, inside a savepoint when retries are enabled: a lock timeout (55P03)
   or a deadlock (40P01) rolls the whole migration back to that savepoint and
   runs it again from its start after an exponential backoff with jitter, unless
   an AUTOCOMMIT statement already committed part of it (then it is never retried);
4. write its run-log row (`bridge.runlog.record`) in the same transaction, on a
   savepoint: a run log that cannot be written is a WARNING, never a failed migration;
5. once that transaction has committed, and only then, say it is done
   (``on_step``, `report_committed`); a COMMIT that fails names the migration
   (`commit_failure`).

A failed attempt cannot be logged in a transaction that is being rolled back:
its rows wait in the run and `end_run` writes them afterwards.
With nothing configured, steps 2 and 3 add no statement at all.
"""

from __future__ import annotations

import contextlib
import datetime
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
from .errors import BridgeError, MigrationError
from .internals import (
    AutocommitInCallersTransaction,
    after_autocommit_blocks,
    migration_step_revision,
    replace_migration_fn,
)
from .loader import LegacyFile
from .script import LegacyScript, out_of_order_step, step_for
from .settings import BridgeSettings, interval, interval_seconds, retries, seconds

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

    def report_after(self) -> float:
        """Return the seconds a migration waits on a lock before the progress says who blocks it.

        `blockers.REPORT_AFTER`, or half the lock timeout when that is sooner: a wait
        line that comes after the timeout would never be seen.
        """
        timeout = interval_seconds(self.lock_timeout)
        return min(blockers.REPORT_AFTER, timeout / 2) if timeout else blockers.REPORT_AFTER

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
            # Alembic asks for the next step after the previous one's transaction ended:
            # committed, unless the run is one transaction (or the caller's).
            if run.ran and not migration_context.connection.in_transaction():
                report_committed(run)

    return steps


def _module_of(revision, run: BridgeRun) -> tuple[ModuleType, str]:
    if isinstance(revision, LegacyScript):
        from .executor import import_legacy  # deferred: a run with nothing to do needs no executor (proxy, sqltext)

        # Imported here to read its settings; bridge.executor takes it from the run.
        module = run.modules[revision.revision] = import_legacy(revision.legacy)
        return module, str(revision.legacy.path)
    return revision.module, revision.path


def _guarded(migration_step, run: BridgeRun, migration_context):
    revision = migration_step_revision(migration_step)
    original = migration_step.migration_fn
    call = _wrapped(step_of(migration_step), lambda: _module_of(revision, run), original, run, migration_context)
    return functools.wraps(original)(call)


def _wrapped(step: Step, load, original, run: BridgeRun, migration_context):
    """Return *original* (one migration's function) run as the module docstring says.

    *load()* returns the migration's module (for its settings) and its path.
    """

    def entry(outcome: str, since, attempts: int, err: BaseException | None = None) -> runlog.Entry:
        error = (str(err) or type(err).__name__) if err is not None else None
        state = sqlstate.of(err) if err is not None else None
        return runlog.Entry(step.revision, step.direction, since, runlog.utcnow(), outcome, attempts, state, error)

    def call(**kw):
        loading = runlog.utcnow()
        try:
            module, where = load()
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
        # A retry on the same transaction (see `intact`) keeps these settings; one after an
        # AUTOCOMMIT statement that committed nothing runs in a new transaction: set again.
        _set_local(migration_context.connection, policy)
        done = runlog.APPLIED if step.direction == "upgrade" else runlog.REVERTED
        while True:
            attempt += 1
            connection = migration_context.connection
            root = connection.get_transaction()
            savepoint = connection.begin_nested() if policy.retries else None
            attempt_started = runlog.utcnow()
            autocommit = _Autocommit(migration_context, policy)

            def rows(attempt=attempt) -> list[runlog.Entry]:
                return [*retried, entry(done, started, attempt)]

            if run.watcher is not None:
                run.watcher.watch(step, blockers.backend_pid(connection), policy.report_after())
            try:
                try:
                    with after_autocommit_blocks(
                        migration_context, autocommit.after, autocommit.inside, autocommit.before
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
                if (
                    state is not None
                    and retryable
                    and attempt <= policy.retries
                    and (intact or not autocommit.committed)
                ):
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
                    if not intact:  # nothing committed, but the transaction is a new one
                        _set_local(migration_context.connection, policy)
                    continue
                failure = _native_failure(err, where, intact, connection) if step.kind == "native" else None
                if retryable and policy.retries and not intact and isinstance(failure or err, BridgeError):
                    shown = failure or err
                    shown.args = (
                        f"{shown.args[0]}\nNot retried: an AUTOCOMMIT statement had already committed "
                        "part of this migration, so running it again from the start is not safe.",
                        *shown.args[1:],
                    )
                run.pending_log.extend(retried)
                run.pending_log.append(entry(runlog.FAILED, started, attempt, err))
                run.ran.clear()  # rolled back with it, when the run is one transaction
                if failure is None:
                    raise
                raise failure from err
            if savepoint is not None and savepoint.is_active:
                savepoint.commit()
            if run.log_ready:  # best effort: a run log that cannot be written stops logging, not the run
                connection = migration_context.connection
                run.log_ready = runlog.record(connection, run.run_id, rows(), _db_user(connection, run))
            run.ran.append(Ran(step, where, started, attempt))
            return

    return call


class _Autocommit:
    """One attempt's AUTOCOMMIT statements: the timeouts in force for them, and whether any committed.

    An AUTOCOMMIT statement runs outside the migration's transaction, so its
    ``SET LOCAL`` does not reach it: the same values are set for the session
    while the statement runs and put back after it. An attempt has committed
    something once its transaction wrote before an AUTOCOMMIT statement, or one
    such statement succeeded; until then, a lock timeout or deadlock in it can be
    retried from the start like any other.
    """

    def __init__(self, migration_context, policy: Policy):
        self.migration_context = migration_context
        self.values = policy.settings()
        self.policy = policy
        self.committed = False

    def after(self) -> None:
        _set_local(self.migration_context.connection, self.policy)

    def before(self) -> None:
        """Before the block commits the migration's transaction: has it written anything?"""
        connection = self.migration_context.connection
        if self.committed or connection.dialect.name != "postgresql" or not connection.in_transaction():
            return
        # No transaction id yet: nothing written (SET LOCAL and reads take none).
        self.committed = connection.exec_driver_sql("SELECT txid_current_if_assigned()").scalar() is not None

    @contextlib.contextmanager
    def inside(self):
        connection = self.migration_context.connection
        names = list(self.values) if connection.dialect.name == "postgresql" else []
        calls = ", ".join(f"current_setting('{name}')" for name in names)
        before = tuple(connection.exec_driver_sql(f"SELECT {calls}").one()) if names else ()
        _set_session(connection, self.values if names else {})
        ran = []
        listener = lambda *args: ran.append(True)  # noqa: E731 - a statement of the block completed
        sa.event.listen(connection, "after_cursor_execute", listener)
        try:
            yield
        finally:
            sa.event.remove(connection, "after_cursor_execute", listener)
            self.committed = self.committed or bool(ran)
            _set_session(connection, dict(zip(names, before)))


def _native_failure(err: BaseException, path: str, intact: bool, connection: sa.Connection) -> MigrationError | None:
    """Name a native revision's lock or statement timeout or deadlock, or its refused
    ``autocommit_block()``, as a legacy file's is named (else None)."""
    if isinstance(err, AutocommitInCallersTransaction):
        return MigrationError(path, str(err))
    if not isinstance(err, sa.exc.DBAPIError) or err.connection_invalidated:
        return None
    from .executor import NOTHING_APPLIED, sql_failure  # deferred: see _module_of

    message = sql_failure(err, blockers.Blocking.look_up(err, connection))
    if message is None:
        return None
    applied = (
        NOTHING_APPLIED
        if intact
        else "Partly applied: an autocommit_block() in it committed what it did before; it is not "
        "recorded, so the next run starts it again from the top."
    )
    return MigrationError(path, f"{message}\n{applied}")


@dataclass(frozen=True)
class Ran:
    """A step whose migration ran, in a transaction not committed yet."""

    step: Step
    path: str
    started: datetime.datetime
    attempts: int


def report_committed(run: BridgeRun) -> None:
    """Tell ``on_step`` about the steps whose transaction has just committed."""
    ran, run.ran = run.ran, []
    if run.request.on_step is not None:
        for done in ran:
            run.request.on_step(done.step)


def commit_failure(run: BridgeRun, err: Exception) -> MigrationError | None:
    """Return the error for steps that ran but whose transaction failed to commit (None: not that).

    Their run-log rows (written in that transaction) are gone with it: each gets
    a failed row instead, written after the rollback.
    """
    ran, run.ran = run.ran, []
    if not ran:
        return None
    state = sqlstate.of(err)
    for done in ran:
        run.pending_log.append(
            runlog.Entry(
                done.step.revision,
                done.step.direction,
                done.started,
                runlog.utcnow(),
                runlog.FAILED,
                done.attempts,
                state,
                str(err) or type(err).__name__,
            )
        )
    last = ran[-1]
    orig = getattr(err, "orig", None)
    reason = " ".join(str(orig if orig is not None else err).split())
    if state is not None and state.startswith("23"):
        fix = (
            "A constraint checked only at COMMIT (DEFERRABLE INITIALLY DEFERRED) does not hold "
            "for the rows the migration leaves: fix the migration (or the data it meets) and run again."
        )
    elif state in (sqlstate.SERIALIZATION_FAILURE, sqlstate.DEADLOCK_DETECTED):
        fix = "Another transaction conflicted with it; run again."
    else:
        fix = "Fix the cause and run again."
    others = f" (and {', '.join(d.step.revision for d in ran[:-1])} in the same transaction)" if ran[:-1] else ""
    return MigrationError(
        last.path,
        f"{last.step.revision} ran, but its COMMIT failed: {reason}\n{fix} Its transaction was "
        f"rolled back{others}: nothing of it is applied or recorded, except what an AUTOCOMMIT "
        "statement in it had already committed.",
    )


def _set_session(connection: sa.Connection, values: dict[str, str]) -> None:
    # set_config(..., false) is SET: for the session, here an AUTOCOMMIT statement's.
    if values:
        calls = ", ".join(f"set_config('{name}', :{name}, false)" for name in values)
        connection.execute(sa.text(f"SELECT {calls}"), values)


def _set_local(connection: sa.Connection, policy: Policy) -> None:
    values = policy.settings()
    if not values or connection.dialect.name != "postgresql":
        return
    # set_config(..., true) is SET LOCAL: it ends with the migration's transaction.
    calls = ", ".join(f"set_config('{name}', :{name}, true)" for name in values)
    connection.execute(sa.text(f"SELECT {calls}"), values)


def run_out_of_order(connection: sa.Connection, run: BridgeRun, files: list[LegacyFile]) -> None:
    """Apply legacy *files* out of order (``--out-of-order``), each as every other migration runs.

    The same wrapper as Alembic's steps (timeouts, retries, run-log row, callbacks),
    each file in a transaction of its own (or in the caller's, when the caller
    handed over a connection inside one), with a ``MigrationContext`` of its own so
    that its AUTOCOMMIT statements work as they do in order.
    """
    from alembic.runtime.migration import MigrationContext  # deferred: Alembic is loaded by then

    from .executor import import_legacy, run_on_connection  # deferred: see _module_of

    context = MigrationContext.configure(connection, opts={"transaction_per_migration": False})
    for legacy in files:
        step = out_of_order_step(legacy)

        def load(legacy=legacy):
            module = run.modules[legacy.stem] = import_legacy(legacy)
            return module, str(legacy.path)

        def apply(legacy=legacy):
            module = run.modules.pop(legacy.stem, None)
            assert context.connection is not None  # online: made from a connection
            run_on_connection(legacy, "upgrade", context.connection, run.settings, context, module)

        call = _wrapped(step, load, apply, run, context)
        try:
            with context.begin_transaction():
                call()
        except Exception as err:
            failure = commit_failure(run, err)
            if failure is None:
                raise
            raise failure from err
        if not connection.in_transaction():
            report_committed(run)


def begin_run(connection: sa.Connection, run: BridgeRun) -> None:
    """Before the first migration of a mutating run: the lock watcher (the run-log table is
    created by its first write: a run that applies nothing creates nothing)."""
    if run.run_id:
        return
    if connection.dialect.name == "postgresql" and run.request.on_wait is not None:
        run.watcher = blockers.Watcher(connection.engine, run.request.on_wait)
    run.run_id = str(uuid.uuid4())
    run.log_ready = True


def _db_user(connection: sa.Connection, run: BridgeRun) -> str | None:
    """Return who runs the migrations, read once per run and only once a row is written."""
    if run.db_user is None:
        if connection.dialect.name == "postgresql":
            run.db_user = connection.exec_driver_sql("SELECT current_user").scalar()
        else:
            run.db_user = connection.engine.url.username
    return run.db_user


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
                run.log_ready = runlog.record(own, run.run_id, entries, _db_user(own, run))
    except Exception:  # noqa: BLE001 - the migration's own error is what matters (e.g. no connection)
        log.warning(
            "Could not write the failed migration to the run log (%s)",
            runlog.TABLE,
            exc_info=log.isEnabledFor(logging.DEBUG),
        )
