"""One migration's timeouts and retries: which (`Policy`), and how they are put in force.

The policy is the migration module's own ``migration_lock_timeout`` /
``migration_statement_timeout`` / ``lock_retries`` / ``lock_retry_backoff``, else
the configured ones. `set_local` sets its timeouts for the migration's
transaction (``SET LOCAL``: nothing leaks to the session); an AUTOCOMMIT
statement runs outside that transaction, so `Autocommit` sets them for its
session while it runs and puts them back after it. With nothing configured,
neither sends a statement. Used by `bridge.steps`, around each step.
"""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass
from types import ModuleType

import sqlalchemy as sa

from . import blockers
from .settings import BridgeSettings, interval, interval_seconds, retries, seconds


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


# Did the migration write? No transaction id: nothing written (SET LOCAL and reads take none). With
# one, the transaction may have written before the migration (Alembic creates alembic_version in
# the first migration's transaction): what `committed` matters for, a retry, runs the migration in
# a savepoint, whose writes take a subtransaction id, each held as a transactionid lock with the
# top one. Asked only when there is a transaction id (pg_locks takes the lock table's locks).
_WROTE = (
    "SELECT CASE WHEN txid_current_if_assigned() IS NULL THEN false ELSE (SELECT count(*) > 1 "
    "FROM pg_locks WHERE locktype = 'transactionid' AND pid = pg_backend_pid() AND granted) END"
)


class Autocommit:
    """One attempt's AUTOCOMMIT statements: the timeouts in force for them, and whether any committed.

    An AUTOCOMMIT statement runs outside the migration's transaction, so its
    ``SET LOCAL`` does not reach it: the same values are set for the session
    while the statement runs and put back after it. An attempt has committed
    something once the migration wrote before an AUTOCOMMIT statement, or one
    such statement succeeded; until then, a lock timeout or deadlock in it can be
    retried from the start like any other.
    """

    def __init__(self, migration_context, policy: Policy):
        self.migration_context = migration_context
        self.values = policy.settings()
        self.policy = policy
        self.committed = False

    def after(self) -> None:
        set_local(self.migration_context.connection, self.policy)

    def before(self) -> None:
        """Before the block commits the migration's transaction: has the migration written anything?"""
        connection = self.migration_context.connection
        if self.committed or connection.dialect.name != "postgresql" or not connection.in_transaction():
            return
        self.committed = bool(connection.exec_driver_sql(_WROTE).scalar())

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


def _set_session(connection: sa.Connection, values: dict[str, str]) -> None:
    # SET: for the session, here an AUTOCOMMIT statement's.
    _set_config(connection, values, local=False)


def set_local(connection: sa.Connection, policy: Policy) -> None:
    # SET LOCAL: it ends with the migration's transaction.
    if connection.dialect.name == "postgresql":
        _set_config(connection, policy.settings(), local=True)


def _set_config(connection: sa.Connection, values: dict[str, str], *, local: bool) -> None:
    """Set *values* in one statement (none when empty): ``set_config(name, value, is_local)``."""
    if values:
        calls = ", ".join(f"set_config('{name}', :{name}, {str(local).lower()})" for name in values)
        connection.execute(sa.text(f"SELECT {calls}"), values)
