"""After a migration ran: its COMMIT, what is said once it committed, and what is said when it did not.

A step whose migration ran waits in the run (`Ran`) until its transaction ends.
Committed: ``on_step`` hears of it (`report_committed`). Not committed, the run
ends with one `MigrationError` naming the migration (`ended_badly`): its COMMIT
failed (a deferred constraint, a serialization failure), or the session was
lost after its body (killed, a server restart, the network), whichever statement
of the bridge's or Alembic's met the dead session first. Each such step gets a
failed run-log row, written after the rollback.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import sqlalchemy as sa

from . import runlog, sqlstate
from .context import BridgeRun, Step
from .errors import MigrationError

_RUN_AGAIN_LOST = (
    "the server restarted or shut down, the session was terminated, or the network dropped. Its "
    "transaction died with the connection{others}: nothing of it is applied or recorded, except what "
    "an AUTOCOMMIT statement in it had already committed. Run again once the server is back."
)


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


def is_lost(err: BaseException, connection: sa.Connection | None) -> bool:
    """Did *err*, a database error (not Ctrl-C, not a BridgeError already saying so), come from a
    session that is gone?"""
    if not isinstance(err, sa.exc.SQLAlchemyError):
        return False
    if isinstance(err, sa.exc.DBAPIError) and err.connection_invalidated:
        return True
    # Once SQLAlchemy has seen the session die, the next statement raises
    # PendingRollbackError ("Can't reconnect until invalid transaction is rolled back").
    return connection is not None and connection.invalidated


def _reason(err: BaseException) -> str:
    """The driver's words for a lost session, or nothing when *err* is SQLAlchemy's own refusal."""
    if not isinstance(err, sa.exc.DBAPIError):
        return ""
    return f" ({sqlstate.words(err)})"


def lost_after_body(path: str, direction: str, err: BaseException) -> MigrationError:
    """The error for a session lost after the migration's *direction* body, while the bridge recorded it."""
    return MigrationError(
        path,
        f"{direction}() ran, but the bridge lost its connection to the database while "
        f"recording it{_reason(err)}: " + _RUN_AGAIN_LOST.format(others=""),
    )


def ended_badly(run: BridgeRun, err: Exception, connection: sa.Connection | None) -> MigrationError | None:
    """Return the error for steps that ran but whose transaction did not commit (None: not that).

    Their run-log rows (written in that transaction) are gone with it: each gets
    a failed row instead, written after the rollback.
    """
    ran, run.ran = run.ran, []
    if not ran:
        return None
    state = sqlstate.of(err)
    lost = is_lost(err, connection)
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
    others = f" (and {', '.join(d.step.revision for d in ran[:-1])} in the same transaction)" if ran[:-1] else ""
    if lost:
        return MigrationError(
            last.path,
            f"{last.step.revision} ran, but lost its connection to the database before its COMMIT"
            f"{_reason(err)}: " + _RUN_AGAIN_LOST.format(others=others),
        )
    reason = sqlstate.words(err)
    what = f"its COMMIT failed: {reason}"
    if state == sqlstate.IN_FAILED_SQL_TRANSACTION:
        from .executor import ABORTED  # deferred: the executor loads only when a migration runs (steps._import)

        what = f"left its transaction aborted (the next statement, before any COMMIT, failed: {reason})"
        fix = ABORTED
    elif state is not None and state.startswith("23"):
        fix = (
            "A constraint checked only at COMMIT (DEFERRABLE INITIALLY DEFERRED) does not hold "
            "for the rows the migration leaves: fix the migration (or the data it meets) and run again."
        )
    elif state in (sqlstate.SERIALIZATION_FAILURE, sqlstate.DEADLOCK_DETECTED):
        fix = "Another transaction conflicted with it; run again."
    else:
        fix = "Fix the cause and run again."
    return MigrationError(
        last.path,
        f"{last.step.revision} ran, but {what}\n{fix} Its transaction was "
        f"rolled back{others}: nothing of it is applied or recorded, except what an AUTOCOMMIT "
        "statement in it had already committed.",
    )
