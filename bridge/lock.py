"""The runner lock: one migration run per database at a time, across every runner.

A PostgreSQL advisory lock (`lock_key`, a stable function of the database
name; `LOCK_KEY_SQL` computes the same key in SQL so an old runner can take it
without the bridge) held by a session of its own for the whole run. Before
each migration, one round trip checks the session is still alive; a lost lock
stops the run between two migrations, never inside one.
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


# The same key as `lock_key`, computed by PostgreSQL itself (sha256() needs PostgreSQL 11+),
# so an old runner can share the lock without the bridge installed:
#   SELECT pg_advisory_lock(<LOCK_KEY_SQL>)   ...   SELECT pg_advisory_unlock(<LOCK_KEY_SQL>)
LOCK_KEY_SQL = (
    "(('x' || left(encode(sha256(convert_to('alembic-bridge:' || current_database(), 'UTF8')), "
    "'hex'), 16))::bit(64) >> 1)::bigint"
)


def lock_key(database_name: str, schema: str | None = None) -> int:
    """Return the advisory-lock key every runner on *database_name* takes (stable, public).

    The first 8 bytes of SHA-256("alembic-bridge:" + database name), big-endian,
    shifted right by one bit (a positive bigint); `LOCK_KEY_SQL` computes the same.
    A tenant *schema* has a lock of its own: the database name + "/" + the schema
    (``'alembic-bridge:' || current_database() || '/' || 'tenant_1'`` in that SQL).
    """
    scope = database_name if schema is None else f"{database_name}/{schema}"
    digest = hashlib.sha256(f"alembic-bridge:{scope}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


class RunnerLock:
    """The advisory lock one run holds on its own session.

    Invariant: no migration step starts unless the lock session answered just
    before it (see `guard_steps`); once it does not, the run stops.
    """

    def __init__(self, connection: sa.Connection, key: int):
        self.connection = connection
        self.key = key
        self.lost = False
        self._dbapi_error = connection.dialect.loaded_dbapi.Error

    def held(self) -> bool:
        """Return whether the lock session is still alive (and so still holds the lock)."""
        if self.lost:
            return False
        # One driver-level round trip (about 15 us on a local socket): this runs
        # before every migration.
        try:
            dbapi_connection = self.connection.connection.dbapi_connection
            assert dbapi_connection is not None  # a live pooled connection
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("SELECT 1")
                cursor.fetchone()
            finally:
                cursor.close()
        except self._dbapi_error:
            self.lost = True
            self.connection.invalidate()  # so closing it does not try a rollback on a dead socket
        return not self.lost

    def guard_steps(self, migrations_fn):
        """Wrap Alembic's work function so the lock is checked before each step starts.

        Alembic asks the returned generator for the next step only after the
        previous step's transaction committed, so a lost lock stops the run
        between two migrations, never inside one.
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
        try:
            if not self.lost:
                self.connection.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
                return
        except sa.exc.DBAPIError:
            pass
        if not run_failed:  # a failed run's own error says what happened
            log.warning(
                "Could not release the bridge's migration lock: its session had already ended "
                "(which released it). The run itself succeeded."
            )


def _step_name(step) -> str:
    revision = getattr(step, "revision", None)
    return getattr(revision, "revision", None) or str(step)


def lock_lost_error(previous, step) -> LockLost:
    """Build the error for a lock lost before *step* (after *previous*, if any)."""
    when = f"after {_step_name(previous)}" if previous is not None else "before any migration ran"
    upgrading = getattr(step, "is_upgrade", True)
    return LockLost(
        "The bridge's migration lock was lost (its database session ended: terminated by an "
        f"administrator, idle_session_timeout, or a network drop) {when}; "
        f"{_step_name(step)} was not run, and nothing after it. Another runner may have "
        f"started: run `alembic {'upgrade head' if upgrading else 'downgrade'}` again once no "
        "other runner is running (what was applied is recorded and is skipped).",
        next_revision=_step_name(step),
    )


@contextmanager
def runner_lock(connection: sa.Connection, settings, *, enabled: bool = True, schema: str | None = None):
    """Hold a PostgreSQL advisory lock on a separate session while the run lasts.

    Yields the `RunnerLock` (None when no lock is taken); a run for a tenant
    *schema* takes that schema's lock (see `lock_key`). On other databases
    this does nothing: SQLite serialises writers with its own file lock, so a
    second runner waits or fails with "database is locked".
    """
    if not enabled or connection.dialect.name != "postgresql":
        yield None
        return
    timeout = settings.lock_timeout if settings is not None else DEFAULT_LOCK_TIMEOUT
    lock_conn = connection.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        # The database connected to, as LOCK_KEY_SQL reads it: a URL may name it in its
        # query (?dbname=) or not at all (the user's database).
        key = lock_key(lock_conn.exec_driver_sql("SELECT current_database()").scalar_one(), schema)
        if (lock_conn.dialect.server_version_info or (0,)) >= (14,):
            # This session idles for the whole run: a server-wide idle_session_timeout
            # would end it (and the lock with it) during any long migration.
            lock_conn.exec_driver_sql("SET idle_session_timeout = 0")
        deadline = time.monotonic() + timeout
        waited = False
        while not lock_conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
            if not waited:
                log.warning("Waiting for another migration runner to finish%s...", _lock_holder(lock_conn, key))
                waited = True
            if time.monotonic() >= deadline:
                raise LockTimeout(
                    f"Another migration runner still holds the bridge's lock after {timeout:g} s"
                    f"{_lock_holder(lock_conn, key)}. Wait for it to finish, or raise "
                    "lock_timeout in alembic.ini; if no runner is alive, its session "
                    "will be gone and the lock with it."
                )
            time.sleep(0.1)
        lock = RunnerLock(lock_conn, key)
        failed = True
        try:
            yield lock
            failed = False
        finally:
            lock.release(run_failed=failed)
    finally:
        lock_conn.close()


def _lock_holder(conn, key: int) -> str:
    holders = blockers.advisory_holders(conn.engine, key)
    return f" (the lock is held by {'; '.join(line for _, line in holders)})" if holders else ""
