"""What the bridge does around each migration (legacy and native, in order or out of order).

For each step, in the migration's own transaction (Alembic's per-migration one;
`run_out_of_order` gives a file applied with ``--out-of-order`` the same):

1. say it starts (`bridge.context.RunRequest.on_start`);
2. set its timeouts with ``SET LOCAL`` (`bridge.timeouts.Policy`: the migration module's own
   ``migration_lock_timeout`` / ``migration_statement_timeout`` / ``lock_retries``
   / ``lock_retry_backoff``, else the configured ones), so nothing leaks to the
   session; an AUTOCOMMIT statement, which runs outside that transaction, gets
   them set for its session while it runs and put back after it (`bridge.timeouts.Autocommit`);
3. run it, inside a savepoint when retries are enabled: a lock timeout (55P03)
   or a deadlock (40P01) rolls the whole migration back to that savepoint and
   runs it again from its start after an exponential backoff with jitter, unless
   an AUTOCOMMIT statement already committed part of it (then it is never retried);
4. write its run-log row (`bridge.runlog.record`) in the same transaction, on a
   savepoint: a run log that cannot be written is a WARNING, never a failed migration;
5. once that transaction has committed, and only then, say it is done
   (``on_step``, `bridge.commit.report_committed`); a COMMIT that fails, or a session
   lost after the migration ran, names the migration (`bridge.commit.ended_badly`).

A failed attempt cannot be logged in a transaction that is being rolled back:
its rows wait in the run and `end_run` writes them afterwards.
With nothing configured, steps 2 and 3 add no statement at all.
"""

from __future__ import annotations

import datetime
import enum
import functools
import logging
import time
import uuid
from dataclasses import dataclass
from types import ModuleType

import sqlalchemy as sa

from . import blockers, runlog, sqlstate
from .commit import Ran, ended_badly, is_lost, lost_after_body, report_committed
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
from .timeouts import Autocommit, Policy, set_local

log = logging.getLogger(__name__)

RETRYABLE = {sqlstate.LOCK_NOT_AVAILABLE: "a lock timeout", sqlstate.DEADLOCK_DETECTED: "a deadlock"}


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


def _guarded(migration_step, run: BridgeRun, migration_context):
    """Return the function Alembic calls for *migration_step*: its migration, run by a `_StepRun`."""
    revision = migration_step_revision(migration_step)
    original = migration_step.migration_fn
    step = step_of(migration_step)
    if isinstance(revision, LegacyScript):
        legacy = revision.legacy

        def load() -> tuple[ModuleType, str]:
            return _import(legacy), str(legacy.path)

        def apply(module: ModuleType | None, **kw) -> None:
            # The file this attempt imported, handed over: Alembic's migration_fn
            # (`bridge.script.LegacyModule`) would import it again.
            from .executor import run_legacy  # deferred: see _import

            run_legacy(legacy, step.direction, module=module)

    else:

        def load() -> tuple[ModuleType, str]:
            return revision.module, revision.path

        def apply(module: ModuleType | None, **kw) -> None:
            original(**kw)

    def call(**kw) -> None:
        _StepRun(step, run, migration_context).run(load, apply, kw)

    return functools.wraps(original)(call)


def _import(legacy: LegacyFile) -> ModuleType:
    from .executor import import_legacy  # deferred: a run with nothing to do needs no executor (proxy, sqltext)

    return import_legacy(legacy)


class Next(enum.Enum):
    """What follows a failed attempt (`after_failure`)."""

    RETRY = "roll back to the savepoint and run the migration again from its start"
    FAIL = "fail"
    FAIL_NOT_RETRIED = "fail, saying that an AUTOCOMMIT statement made a retry unsafe"


NOT_RETRIED = (
    "Not retried: an AUTOCOMMIT statement had already committed part of this migration, "
    "so running it again from the start is not safe."
)


def after_failure(failed: Failed, attempt: int, policy: Policy) -> Next:
    """Decide what follows attempt number *attempt* (1, 2, ...) of a migration under *policy* failing.

    Only a lock timeout or a deadlock (`RETRYABLE`, an ``Exception``) is retried,
    while retries are left, and only when nothing of the migration has committed:
    its transaction is intact (no AUTOCOMMIT statement ended it), or the
    AUTOCOMMIT statements that ended it committed nothing. A retryable failure
    after an AUTOCOMMIT statement committed part of the migration, under a policy
    that retries, fails saying that is why it was not retried.
    """
    if failed.state not in RETRYABLE or not isinstance(failed.err, Exception):
        return Next.FAIL
    safe = failed.intact or not failed.committed
    if safe and attempt <= policy.retries:
        return Next.RETRY
    if not safe and policy.retries:
        return Next.FAIL_NOT_RETRIED
    return Next.FAIL


@dataclass(frozen=True)
class Failed:
    """One attempt's failure, and the state it left the migration's transaction in."""

    err: BaseException
    state: str | None  # its SQLSTATE (`bridge.sqlstate.of`)
    started: datetime.datetime
    connection: sa.Connection  # the attempt's connection (an AUTOCOMMIT statement may have replaced it since)
    intact: bool  # still in the transaction the attempt began in
    committed: bool  # an AUTOCOMMIT statement committed part of the migration


class _StepRun:
    """One step's run, in its states, top to bottom (`run`):

    load (the module, for its settings; a failure is logged) -> render, under
    ``--sql`` -> say it starts -> set its timeouts -> attempt -> after a failed
    attempt, `after_failure` decides: retry (a new attempt, on a file imported
    afresh), fail, or fail saying why it was not retried -> after a successful
    attempt: release its savepoint, write its run-log row, remember it as `Ran`.

    The module *load* returns goes to the first attempt's *apply* and to nothing
    else; a retry's *apply* gets None (the executor imports the file afresh), and
    nothing keeps a module once the step has run.
    """

    where: str  # the migration's file, for messages (set by `_load`)
    policy: Policy  # set by `_load`
    started: datetime.datetime  # when it started, after on_start (set by `run`)

    def __init__(self, step: Step, run: BridgeRun, migration_context):
        self.step = step
        self.run_state = run
        self.context = migration_context
        self.retried: list[runlog.Entry] = []  # a row for each attempt that was retried

    def run(self, load, apply, kw: dict) -> None:
        module: ModuleType | None = self._load(load)
        if self.context.as_sql:
            self._render(apply, module, kw)
            return
        run = self.run_state
        if run.request.on_start is not None:
            run.request.on_start(self.step)
        self.started = runlog.utcnow()
        # A retry on the same transaction (see `Failed.intact`) keeps these settings; one after
        # an AUTOCOMMIT statement that committed nothing runs in a new transaction: set again.
        set_local(self.context.connection, self.policy)
        attempt = 1
        while True:
            failed = self._attempt(apply, module, kw)
            if failed is None:
                self._succeeded(attempt)
                return
            decision = after_failure(failed, attempt, self.policy)
            if decision is not Next.RETRY:
                failure = self._fail(failed, attempt, decision)
                if failure is None:
                    raise failed.err
                raise failure from failed.err
            try:
                self._retry(failed, attempt)
            except BaseException as err:  # Ctrl-C during the backoff: the attempts so far are logged all the same
                self._log_failed(attempt, err)
                raise
            module = None  # the next attempt imports the file afresh
            attempt += 1

    def _load(self, load) -> ModuleType:
        """Load the migration's module and its policy; a file that does not import, or a bad
        setting, is logged as failed (online) and raised."""
        loading = runlog.utcnow()
        try:
            module, self.where = load()
            self.policy = Policy.of(self.run_state.settings, module, self.where)
        except BaseException as err:
            if not self.context.as_sql:
                self.run_state.pending_log.append(self._entry(runlog.FAILED, loading, 1, err))
            raise
        return module

    def _render(self, apply, module: ModuleType | None, kw: dict) -> None:
        """``--sql``: the timeouts as ``SET LOCAL`` lines, then the migration's statements."""
        for name, value in self.policy.settings().items():
            self.context.impl.static_output(f"SET LOCAL {name} = '{value}';")
        apply(module, **kw)

    def _attempt(self, apply, module: ModuleType | None, kw: dict) -> Failed | None:
        """Run the migration once, inside a savepoint when retries are enabled (None: it succeeded)."""
        context, run = self.context, self.run_state
        connection = context.connection
        root = connection.get_transaction()
        savepoint = connection.begin_nested() if self.policy.retries else None
        started = runlog.utcnow()
        autocommit = Autocommit(context, self.policy)
        if run.watcher is not None:
            run.watcher.watch(self.step, blockers.backend_pid(connection), self.policy.report_after())
        try:
            try:
                with after_autocommit_blocks(context, autocommit.after, autocommit.inside, autocommit.before):
                    apply(module, **kw)
            finally:
                if run.watcher is not None:
                    run.watcher.done()
        except BaseException as err:
            # An AUTOCOMMIT statement ended the transaction the savepoint was in.
            intact = context.connection is connection and connection.get_transaction() is root
            if savepoint is not None and intact and savepoint.is_active:
                savepoint.rollback()
            return Failed(err, sqlstate.of(err), started, connection, intact, autocommit.committed)
        if savepoint is not None and savepoint.is_active:
            try:
                savepoint.commit()
            except sa.exc.DBAPIError:
                if not connection.invalidated:
                    raise
                # The session died after the body: nothing can commit now, and the next
                # statement's failure names it (`ended_badly`), as without retries.
        return None

    def _retry(self, failed: Failed, attempt: int) -> None:
        """Log the failed attempt, wait out its backoff, and set the timeouts again if its
        transaction is a new one."""
        assert failed.state is not None  # `after_failure` retries only a `RETRYABLE` state
        delay = self.policy.delay(attempt)
        self.retried.append(self._entry(runlog.RETRIED, failed.started, attempt, failed.err))
        log.warning(
            "%s hit %s (attempt %d of %d); rolled back whole, retrying in %.1f s",
            self.step.revision,
            RETRYABLE[failed.state],
            attempt,
            self.policy.retries + 1,
            delay,
        )
        time.sleep(delay)
        if not failed.intact:  # nothing committed, but the transaction is a new one
            set_local(self.context.connection, self.policy)

    def _fail(self, failed: Failed, attempt: int, decision: Next) -> BridgeError | None:
        """Log the step as failed (after the rollback); return the error to raise from the
        attempt's (None: raise the attempt's own)."""
        err = failed.err
        failure: BridgeError | None = None
        if self.step.kind == "native":
            failure = _native_failure(err, self.where, failed.intact, failed.connection, self.step.direction)
        shown = failure or err
        if failure is None and is_lost(err, failed.connection):  # e.g. while the ledger recorded it
            failure = lost_after_body(self.where, self.step.direction, err)
            shown = failure
        if decision is Next.FAIL_NOT_RETRIED and isinstance(shown, BridgeError):
            failure = _not_retried(shown, self.where)
        self._log_failed(attempt, err)
        return failure

    def _log_failed(self, attempt: int, err: BaseException) -> None:
        """Keep the retried attempts' rows and the failed one's for after the rollback (`end_run`)."""
        self.run_state.pending_log.extend([*self.retried, self._entry(runlog.FAILED, self.started, attempt, err)])
        self.run_state.ran.clear()  # rolled back with it, when the run is one transaction

    def _succeeded(self, attempt: int) -> None:
        """Write the step's run-log row (its retries' too) and remember it as ran, until its commit."""
        run = self.run_state
        run.ran.append(Ran(self.step, self.where, self.started, attempt))
        connection = self.context.connection
        # Best effort: a run log that cannot be written stops logging, not the run. A session
        # lost before this (or by the user query) fails the step as ran, and `ended_badly` names it.
        if run.log_ready and not connection.invalidated:
            done = runlog.APPLIED if self.step.direction == "upgrade" else runlog.REVERTED
            rows = [*self.retried, self._entry(done, self.started, attempt)]
            run.log_ready = runlog.record(connection, run.run_id, rows, _db_user(connection, run))

    def _entry(self, outcome: str, since, attempts: int, err: BaseException | None = None) -> runlog.Entry:
        error = (str(err) or type(err).__name__) if err is not None else None
        state = sqlstate.of(err) if err is not None else None
        step = self.step
        return runlog.Entry(step.revision, step.direction, since, runlog.utcnow(), outcome, attempts, state, error)


def _not_retried(err: BridgeError, where: str) -> MigrationError:
    """Return *err*'s message with `NOT_RETRIED` after it, as a new error (*err* is left as it is)."""
    if isinstance(err, MigrationError):
        return MigrationError(err.path, f"{err.message}\n{NOT_RETRIED}", line=err.line)
    return MigrationError(where, f"{err}\n{NOT_RETRIED}")


def _native_failure(
    err: BaseException, path: str, intact: bool, connection: sa.Connection, direction: str
) -> MigrationError | None:
    """Name a native revision's timeout, deadlock, refused ``autocommit_block()`` or ``sys.exit()``
    as a legacy file's is named (else None)."""
    if isinstance(err, AutocommitInCallersTransaction):
        return MigrationError(path, str(err))
    from .executor import NOTHING_APPLIED, lost_connection, sql_failure, stopped_the_program  # deferred: see _import

    applied = (
        NOTHING_APPLIED
        if intact
        else "Partly applied: an autocommit_block() in it committed what it did before; it is not "
        "recorded, so the next run starts it again from the top."
    )
    if not isinstance(err, (Exception, KeyboardInterrupt)):  # sys.exit(): it would end the run as a success
        return MigrationError(path, f"{stopped_the_program(err, direction)}\n{applied}")
    if is_lost(err, connection):  # in its body: Alembic records the version only after it returned
        return MigrationError(path, f"{lost_connection(err, direction)}\n{applied}")
    if not isinstance(err, sa.exc.DBAPIError):
        return None
    message = sql_failure(err, blockers.Blocking.look_up(err, connection))
    if message is None:
        return None
    return MigrationError(path, f"{message}\n{applied}")


def run_out_of_order(connection: sa.Connection, run: BridgeRun, files: list[LegacyFile]) -> None:
    """Apply legacy *files* out of order (``--out-of-order``), each as every other migration runs.

    The same wrapper as Alembic's steps (timeouts, retries, run-log row, callbacks),
    each file in a transaction of its own (or in the caller's, when the caller
    handed over a connection inside one), with a ``MigrationContext`` of its own so
    that its AUTOCOMMIT statements work as they do in order.
    """
    from alembic.runtime.migration import MigrationContext  # deferred: Alembic is loaded by then

    from .executor import run_on_connection  # deferred: see _import

    context = MigrationContext.configure(connection, opts={"transaction_per_migration": False})
    for legacy in files:
        step = out_of_order_step(legacy)

        def load(legacy=legacy) -> tuple[ModuleType, str]:
            return _import(legacy), str(legacy.path)

        def apply(module: ModuleType | None, legacy=legacy) -> None:
            assert context.connection is not None  # online: made from a connection
            run_on_connection(legacy, "upgrade", context.connection, run.settings, context, module)

        try:
            with context.begin_transaction():
                _StepRun(step, run, context).run(load, apply, {})
        except Exception as err:
            failure = ended_badly(run, err, context.connection)
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
    # Still in a transaction here means the caller's (handed over in one): a log table
    # it created is invisible to another session, and creating it again would wait for it.
    create = not connection.in_transaction()
    try:
        with connection.engine.connect() as own:
            with own.begin():
                if own.dialect.name == "postgresql":
                    own.exec_driver_sql("SET LOCAL lock_timeout = '2s'")
                run.log_ready = runlog.record(own, run.run_id, entries, _db_user(own, run), create=create)
    except Exception:  # noqa: BLE001 - the migration's own error is what matters (e.g. no connection)
        log.warning(
            "Could not write the failed migration to the run log (%s)",
            runlog.TABLE,
            exc_info=log.isEnabledFor(logging.DEBUG),
        )
