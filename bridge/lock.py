"""The runner lock: one migration run per schema at a time, across every runner.

One hierarchy of two PostgreSQL advisory locks, both taken by the session that
runs the migrations (never a session of their own):

- **the database lock**, `lock_key(database)`: every run holds it *shared*; an
  old runner or an operator takes it *exclusive* (`LOCK_KEY_SQL`, the documented
  key) and so waits for, and holds off, every bridge run on that database;
- **the schema lock**, `lock_key(database, schema)`: a run holds it *exclusive*
  for the schema it migrates (`lock_schema`): the schema its version table is
  in. A tenant run's is its tenant (`bridge.script.settings_for` puts its version
  table there); a plain run's is ``version_table_schema`` when set, else the
  schema its tables go to, the session's ``current_schema()``. So runs that
  write the same version table exclude each other (``fleet upgrade --schemas
  public`` and ``alembic upgrade head``; a plain run with ``version_table_schema
  = t1`` and the tenant run on ``t1``), and two tenants run in parallel.

Held by the migrations' own session, the lock cannot be lost while a migration
runs: whatever ends that session (``pg_terminate_backend``, a network drop)
ends the migration's transaction with it, so a waiting runner starts only once
that transaction is gone. Every statement of the run is checked to go to that
same session (`RunnerLock.guard`): SQLAlchemy reconnects an invalidated
connection on its next use, and a statement on a new session would run
without the lock. Inside a caller's transaction (``config.attributes
["connection"]`` handed over in one) the locks are transaction-level and end
with it.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import time
from contextlib import contextmanager

import sqlalchemy as sa

from . import blockers
from .errors import LockLost, LockTimeout
from .settings import DEFAULT_LOCK_TIMEOUT

log = logging.getLogger(__name__)


def _key_sql(scope: str) -> str:
    return (
        f"(('x' || left(encode(sha256(convert_to('alembic-bridge:' || {scope}, 'UTF8')), "
        "'hex'), 16))::bit(64) >> 1)::bigint"
    )


# The same keys as `lock_key`, computed by PostgreSQL itself (sha256() needs PostgreSQL 11+),
# so an old runner can share the lock without the bridge installed. The database lock,
# exclusive, holds off every bridge run on the database:
#   SELECT pg_advisory_lock(<LOCK_KEY_SQL>)   ...   SELECT pg_advisory_unlock(<LOCK_KEY_SQL>)
# or what a bridge run takes, for the schema the session's tables go to (current_schema()):
#   SELECT pg_advisory_lock_shared(<LOCK_KEY_SQL>), pg_advisory_lock(<SCHEMA_LOCK_KEY_SQL>)
LOCK_KEY_SQL = _key_sql("current_database()")
SCHEMA_LOCK_KEY_SQL = _key_sql("current_database() || '/' || current_schema()")


def lock_key(database_name: str, schema: str | None = None) -> int:
    """Return an advisory-lock key of the bridge's lock hierarchy (stable, public).

    The first 8 bytes of SHA-256("alembic-bridge:" + database name), big-endian,
    shifted right by one bit (a positive bigint); `LOCK_KEY_SQL` computes the same.
    A *schema*'s lock: the database name + "/" + the schema
    (`SCHEMA_LOCK_KEY_SQL`, with ``current_schema()``).
    """
    scope = database_name if schema is None else f"{database_name}/{schema}"
    digest = hashlib.sha256(f"alembic-bridge:{scope}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


# One round trip per attempt, and nothing held when it fails.
_TRY_SESSION = (
    "SELECT CASE WHEN pg_try_advisory_lock_shared(:db) THEN "
    "CASE WHEN pg_try_advisory_lock(:schema) THEN true ELSE NOT pg_advisory_unlock_shared(:db) END "
    "ELSE false END"
)
# In a caller's transaction: released when it ends (a shared lock got without the
# schema lock is kept until then; it holds off only an exclusive database lock).
_TRY_TRANSACTION = "SELECT pg_try_advisory_xact_lock_shared(:db) AND pg_try_advisory_xact_lock(:schema)"
_UNLOCK = "SELECT pg_advisory_unlock(:schema), pg_advisory_unlock_shared(:db)"


# What a --sql script says first and last: run in one session (psql -f), it holds the
# same locks as an online run for the schema it runs in (its current_schema()).
# A version table placed in a schema (`lock_schema`) names that schema instead.
def _schema_key_sql(schema: str | None) -> str:
    if schema is None:
        return SCHEMA_LOCK_KEY_SQL
    literal = "'" + schema.replace("'", "''") + "'"
    return _key_sql(f"current_database() || '/' || {literal}")


def offline_lock(settings) -> str:
    """Return a --sql script's first statement: the locks an online run takes (see `lock_schema`)."""
    key = _schema_key_sql(_version_schema(settings))
    return (
        "-- The bridge's runner lock (see bridge.lock): held until the end of this script\n"
        f"SELECT pg_advisory_lock_shared({LOCK_KEY_SQL}), pg_advisory_lock({key});"
    )


def offline_unlock(settings) -> str:
    """Return a --sql script's last statement, releasing what `offline_lock` took."""
    key = _schema_key_sql(_version_schema(settings))
    return f"SELECT pg_advisory_unlock({key}), pg_advisory_unlock_shared({LOCK_KEY_SQL});"


def _version_schema(settings) -> str | None:
    version_table = getattr(settings, "version_table", None)
    return getattr(version_table, "schema", None) or None


def lock_schema(settings, current_schema: str | None) -> str:
    """Return the schema whose lock a run holds: the one its version table is in.

    That is ``version_table_schema`` (a fleet tenant's own schema, see
    `bridge.script.settings_for`) when set, else the session's *current_schema*
    (where an unqualified ``alembic_version`` goes). Runs that write the same
    version table so always take the same lock.
    """
    return _version_schema(settings) or current_schema or ""


class RunnerLock:
    """The lock hierarchy one run holds on the session that runs its migrations.

    Invariant: every statement of the run goes to the session that took the
    lock (`guard`, `held`); once it cannot, the run stops.
    """

    def __init__(self, connection: sa.Connection, database_key: int, schema_key: int, schema: str, transactional: bool):
        self.connection = connection
        self.database_key = database_key
        self.schema_key = schema_key
        self.schema = schema
        self.transactional = transactional  # transaction-level locks: released with the caller's transaction
        self.lost = False
        self._session = connection.connection.dbapi_connection  # the locked session

    def held(self) -> bool:
        """Return whether the run's connection is still on the locked session (no round trip)."""
        if not self.lost:
            connection = self.connection
            # An invalidated connection reconnects (to a new session) on its next use:
            # read which session it is on without using it.
            self.lost = (
                connection.closed
                or connection.invalidated
                or connection.connection.dbapi_connection is not self._session
            )
        return not self.lost

    @contextmanager
    def guard(self):
        """While the block runs, refuse any statement of the run's connection on another session."""

        def before_cursor_execute(conn, cursor, statement, parameters, context, executemany):
            if getattr(cursor, "connection", self._session) is not self._session:
                self.lost = True
                raise lock_lost_error(None, None)

        sa.event.listen(self.connection, "before_cursor_execute", before_cursor_execute)
        try:
            yield
        finally:
            sa.event.remove(self.connection, "before_cursor_execute", before_cursor_execute)

    def guard_steps(self, migrations_fn):
        """Wrap Alembic's work function so no step starts once the locked session is gone.

        Alembic asks the returned generator for the next step only after the
        previous step's transaction committed; the check costs no round trip.
        """

        @functools.wraps(migrations_fn)  # bridge.env.is_stamp still reads which command this is
        def steps(heads, migration_context):
            previous = None
            for step in migrations_fn(heads, migration_context):
                if not self.held():
                    raise lock_lost_error(previous, step)
                yield step
                previous = step

        return steps

    def release(self, run_failed: bool) -> None:
        """Release the lock; a session that already ended is a warning after a good run."""
        if self.transactional:
            return  # transaction-level: ends with the caller's transaction
        if self.held():
            connection = self.connection
            began = not connection.in_transaction()
            try:
                connection.execute(sa.text(_UNLOCK), {"db": self.database_key, "schema": self.schema_key})
                if began:
                    connection.rollback()  # unlocking is not transactional: nothing to keep
                return
            except sa.exc.SQLAlchemyError:  # never hides the run's own error
                # Never hand a session that may still hold the lock back to the pool.
                connection.invalidate()
        if not run_failed:  # a failed run's own error says what happened
            log.warning(
                "Could not release the bridge's migration lock: its session had already ended "
                "(which released it). The run itself succeeded."
            )


def _step_name(step) -> str:
    revision = getattr(step, "revision", None)
    return getattr(revision, "revision", None) or str(step)


def lock_lost_error(previous, step) -> LockLost:
    """Build the error for a lock lost before *step* (after *previous*, if any; None: unknown)."""
    when = f" after {_step_name(previous)}" if previous is not None else ""
    what = f"{_step_name(step)} was not run, and nothing after it" if step is not None else "the run stopped"
    upgrading = getattr(step, "is_upgrade", True)
    return LockLost(
        "The bridge's migration lock was lost (its database session ended: terminated by an "
        f"administrator, idle_session_timeout, or a network drop){when}; {what}. "
        f"Another runner may have started: run `alembic {'upgrade head' if upgrading else 'downgrade'}` "
        "again once no other runner is running (what was applied is recorded and is skipped).",
        next_revision=_step_name(step) if step is not None else None,
    )


@contextmanager
def runner_lock(connection: sa.Connection, settings, *, enabled: bool = True, schema: str | None = None):
    """Hold the lock hierarchy on *connection*, the session that runs the migrations.

    Yields the `RunnerLock` (None when no lock is taken), with every statement
    on *connection* guarded (see `RunnerLock.guard`). The run's schema is
    *schema* when given, else `lock_schema` of *settings*. Outside a
    transaction the locks are session-level and released at the end (the
    transaction their statements began is ended); inside the caller's
    transaction they are transaction-level. On other databases this does
    nothing: SQLite serialises writers with its own file lock, so a second
    runner waits or fails with "database is locked".
    """
    if not enabled or connection.dialect.name != "postgresql":
        yield None
        return
    timeout = settings.lock_timeout if settings is not None else DEFAULT_LOCK_TIMEOUT
    transactional = connection.in_transaction()
    # The database connected to, as LOCK_KEY_SQL reads it: a URL may name it in its
    # query (?dbname=) or not at all (the user's database).
    database, current_schema = connection.exec_driver_sql("SELECT current_database(), current_schema()").one()
    run_schema = schema if schema is not None else lock_schema(settings, current_schema)
    keys = {"db": lock_key(database), "schema": lock_key(database, run_schema)}
    attempt = sa.text(_TRY_TRANSACTION if transactional else _TRY_SESSION)
    deadline = time.monotonic() + timeout
    waited = False
    while True:
        got = connection.execute(attempt, keys).scalar()
        if not transactional:
            connection.rollback()  # session-level locks outlive it; nothing idles in a transaction
        if got:
            break
        if not waited:
            log.warning(
                "Waiting for another migration runner to finish%s...", _lock_holder(connection, keys, run_schema)
            )
            waited = True
        if time.monotonic() >= deadline:
            raise LockTimeout(
                f"Another migration runner still holds the bridge's lock after {timeout:g} s"
                f"{_lock_holder(connection, keys, run_schema)}. Wait for it to finish, or raise "
                "lock_timeout in alembic.ini; if no runner is alive, its session "
                "will be gone and the lock with it."
            )
        time.sleep(0.1)
    lock = RunnerLock(connection, keys["db"], keys["schema"], run_schema, transactional)
    failed = True
    try:
        with lock.guard():
            yield lock
        failed = False
    finally:
        lock.release(run_failed=failed)


def _lock_holder(conn, keys: dict, schema: str) -> str:
    """Describe who holds the schema's lock, or the database's lock exclusively."""
    holders = dict(blockers.advisory_holders(conn.engine, keys["schema"]))
    holders.update(blockers.advisory_holders(conn.engine, keys["db"], exclusive=True))
    if not holders:
        return ""
    return f" (the lock is held by {'; '.join(line for _, line in sorted(holders.items()))})"
