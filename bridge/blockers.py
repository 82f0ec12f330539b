"""Who is blocking a migration: other PostgreSQL sessions, described the same way everywhere.

Three places ask: the wait for another runner's advisory lock (`bridge.lock`),
a migration waiting on a table lock while it runs (`Watcher`, for the progress
output), and the error after a lock timeout or a deadlock. Each gets one line
per session from `describe`: pid, application, state, since when, and the
query, cut short. For the error, the code that catches it looks up the facts
(`Blocking.look_up`) and hands them to `bridge.executor`, whose messages are
built from them without touching the database.

Every lookup is best effort, on a connection of its own with short timeouts:
a message never fails because the lookup did.
"""

from __future__ import annotations

import datetime
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import exc

from . import sqlstate

log = logging.getLogger(__name__)

QUERY_LIMIT = 100
# Seconds a migration waits on a lock before the progress output says who blocks it
# (sooner when its lock timeout is short: see bridge.steps.Policy.report_after).
REPORT_AFTER = 3.0
REPORT_EVERY = 5.0

_ACTIVITY = "a.pid, a.application_name, a.state, a.query_start, a.query"
_BLOCKING_SQL = sa.text(
    f"SELECT {_ACTIVITY} FROM pg_stat_activity a WHERE a.pid = ANY(pg_blocking_pids(:pid)) ORDER BY a.pid"
)
_ADVISORY_SQL = sa.text(
    f"SELECT {_ACTIVITY} FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
    "WHERE l.locktype = 'advisory' AND l.granted AND ((l.classid::bigint << 32) | l.objid::bigint) = :k "
    "AND (l.mode = 'ExclusiveLock' OR NOT :exclusive) ORDER BY a.pid"
)
_RELATION_SQL = sa.text(f"""
    SELECT {_ACTIVITY}, string_agg(l.mode || ' on ' || c.relname, ', ' ORDER BY c.relname, l.mode)
    FROM pg_locks l
    JOIN pg_class c ON c.oid = l.relation
    JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE l.granted AND l.locktype = 'relation'
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND l.pid <> pg_backend_pid() AND l.pid IS DISTINCT FROM :own
      AND c.relname = ANY(:names)
    GROUP BY {_ACTIVITY}
    ORDER BY a.pid
""")


def describe(pid, application, state, since, query, locks: str | None = None) -> str:
    """Return one line about one session (pid, application, state, since, what it holds, its query)."""
    parts = [f"pid {pid}"]
    if application:
        parts.append(f"(application {application})")
    if locks:
        parts.append(f"holds {locks},")
    parts.append(state or "state unknown")
    if isinstance(since, datetime.datetime):
        parts.append(f"since {since.astimezone().strftime('%H:%M:%S')}")
    query = " ".join((query or "").split())
    if len(query) > QUERY_LIMIT:
        query = query[: QUERY_LIMIT - 4] + " ..."
    return " ".join(parts) + (f", last query: {query}" if query else "")


def _lookup(engine: sa.Engine, statement, params: dict) -> list:
    try:
        with engine.connect() as conn:
            with conn.begin():
                conn.exec_driver_sql("SET LOCAL statement_timeout = 2000")
                conn.exec_driver_sql("SET LOCAL lock_timeout = 1000")
                return list(conn.execute(statement, params))
    except Exception:  # noqa: BLE001 - best effort, for a message
        log.debug("could not look up blocking sessions", exc_info=True)
        return []


def blocking(engine: sa.Engine, pid: int) -> list[tuple[int, str]]:
    """Return (pid, line) for each session the backend *pid* is waiting for."""
    return [(row[0], describe(*row)) for row in _lookup(engine, _BLOCKING_SQL, {"pid": pid})]


def advisory_holders(engine: sa.Engine, key: int, *, exclusive: bool = False) -> list[tuple[int, str]]:
    """Return (pid, line) for each session holding the advisory lock *key* (*exclusive*: in that mode only)."""
    return [(row[0], describe(*row)) for row in _lookup(engine, _ADVISORY_SQL, {"k": key, "exclusive": exclusive})]


def relation_holders(engine: sa.Engine, statement: str, own_pid: int | None) -> list[tuple[int, str]]:
    """Return (pid, line) for other sessions holding locks on the tables *statement* names.

    For the error after a lock timeout: the wait is over, so nothing is blocked
    any more; the sessions still holding locks on those tables are the suspects.
    """
    names = sorted(
        {w.lower() for w in re.findall(r"[A-Za-z_][A-Za-z0-9_$]*", statement)}
        | set(re.findall(r'"((?:[^"]|"")+)"', statement))
    )
    if not names:
        return []
    rows = _lookup(engine, _RELATION_SQL, {"own": own_pid, "names": names})
    return [(pid, describe(pid, app, state, since, query, locks)) for pid, app, state, since, query, locks in rows]


def backend_pid(connection: sa.Connection) -> int | None:
    """Return the server pid of *connection*'s session (None if unknown)."""
    try:
        dbapi = connection.connection.dbapi_connection
        info = getattr(dbapi, "info", None)  # psycopg2 and psycopg 3
        return getattr(info, "backend_pid", None)
    except Exception:  # noqa: BLE001 - best effort, for a message
        return None


@dataclass(frozen=True)
class Blocking:
    """Who blocked a failed statement, as far as the session that ran it could tell.

    *holders*: (pid, line) for each other session holding a lock on a table the
    statement names (after a lock timeout); *own_pid*: the failed session's
    backend pid (a deadlock's message leaves it out of the sessions it names).
    Empty when nothing was looked up or the lookup failed.
    """

    holders: tuple[tuple[int, str], ...] = ()
    own_pid: int | None = None

    @classmethod
    def look_up(cls, err: BaseException, connection: sa.Connection | None) -> Blocking:
        """Look up who blocked the statement *err* failed on, on *connection*'s database.

        Only a lock timeout (55P03) is worth a query (`relation_holders`, on a
        connection of its own); a deadlock needs only *connection*'s pid; any other
        error, nothing. Best effort: a failed lookup is an empty `Blocking`, never an error.
        """
        if connection is None or not isinstance(err, exc.DBAPIError) or err.connection_invalidated:
            return cls()
        state = sqlstate.of(err)
        if state not in (sqlstate.LOCK_NOT_AVAILABLE, sqlstate.DEADLOCK_DETECTED):
            return cls()
        try:
            own_pid = backend_pid(connection)
            if state == sqlstate.DEADLOCK_DETECTED:
                return cls(own_pid=own_pid)
            holders = relation_holders(connection.engine, str(err.statement or ""), own_pid)
            return cls(holders=tuple(holders), own_pid=own_pid)
        except Exception:  # noqa: BLE001 - best effort, for a message
            log.debug("could not look up who blocked the statement", exc_info=True)
            return cls()


class Watcher:
    """Tells *on_wait* who blocks a migration that has waited on a lock for a while (`watch`).

    One thread per run, idle unless a migration is running; it connects only
    once some migration has run for its report delay (`REPORT_AFTER` seconds, or
    what `watch` is given; fast migrations cost nothing), then asks every
    `REPORT_EVERY` seconds while that migration runs.
    """

    def __init__(self, engine: sa.Engine, on_wait: Callable[..., None]):
        self._engine = engine
        self._on_wait = on_wait
        self._lock = threading.Condition()
        self._current: tuple[object, int, float, float] | None = None
        self._stopped = False
        self._thread = threading.Thread(target=self._loop, name="bridge-lock-watcher", daemon=True)
        self._thread.start()

    def watch(self, step, pid: int | None, report_after: float = REPORT_AFTER) -> None:
        """Start watching the backend *pid*, which now runs *step*: first report after *report_after* s."""
        with self._lock:
            self._current = (step, pid, time.monotonic(), report_after) if pid is not None else None
            self._lock.notify()

    def done(self) -> None:
        with self._lock:
            self._current = None
            self._lock.notify()

    def close(self) -> None:
        with self._lock:
            self._stopped = True
            self._lock.notify()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while True:
            with self._lock:
                while not self._stopped and self._current is None:
                    self._lock.wait()
                if self._stopped:
                    return
                current = self._current
                assert current is not None
                step, pid, started, report_after = current
                waited = time.monotonic() - started
                if waited < report_after:
                    self._lock.wait(report_after - waited)
                    continue
            found = blocking(self._engine, pid)
            with self._lock:
                if self._current is not current:
                    continue  # the migration finished while we looked
                if found:
                    self._on_wait(step, time.monotonic() - started, [line for _, line in found])
                self._lock.wait(REPORT_EVERY)
