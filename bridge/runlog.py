"""The run log: one row per migration step, in a table the bridge owns (``alembic_bridge_log``).

What ran, when, for how long, how many attempts, and why it failed: the
history Alembic does not keep. A step that succeeds is logged in its own
transaction, so the row exists exactly when the migration committed; a failed
or retried attempt is logged after its rollback (`bridge.steps`).

The log is a record, not a gate (`record`): each write runs on a savepoint,
and the table is created by the first write that finds it missing, so only a
run that applies (or tries) something creates it, and reads never write. A
write that fails (a role without CREATE or INSERT, a column dropped by hand)
rolls back to its savepoint, is reported as one WARNING, and ends the logging
for that run; the migration itself goes on as if there were no log.

On psycopg2 the savepoint, the insert and the release travel as one string
(`_record_in_one`): one round trip per migration instead of three. psycopg2
quotes the parameters on the client and the server runs the three statements
in order, stopping at the first error; the savepoint is then rolled back and
released by name, so the connection's transaction (the migration's) goes on,
and SQLAlchemy, which never saw that savepoint, has nothing to forget.

Error texts are masked (no password) and cut to `ERROR_LIMIT` characters.
"""

from __future__ import annotations

import datetime
import functools
import logging
import os
import socket
from dataclasses import dataclass

import sqlalchemy as sa

from . import __version__, sqlstate
from .errors import BridgeError
from .ledger import LOG_TABLE
from .masking import mask_text
from .shape import existing_tables, table_columns

log = logging.getLogger(__name__)

TABLE = LOG_TABLE
ERROR_LIMIT = 500
APPLIED, REVERTED, FAILED, RETRIED = "applied", "reverted", "failed", "retried"

metadata = sa.MetaData()
log_table = sa.Table(
    TABLE,
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(36), nullable=False),
    sa.Column("revision", sa.String(255), nullable=False),
    sa.Column("direction", sa.String(9), nullable=False),
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("finished_at", sa.DateTime, nullable=False),
    sa.Column("duration_ms", sa.Integer, nullable=False),
    sa.Column("outcome", sa.String(10), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("sqlstate", sa.String(5)),
    sa.Column("error", sa.Text),
    sa.Column("host", sa.String(255)),
    sa.Column("pid", sa.Integer),
    sa.Column("db_user", sa.String(255)),
    sa.Column("bridge_version", sa.String(32)),
    sa.Column("alembic_version", sa.String(32)),
)


@dataclass
class Entry:
    """One logged step (or attempt)."""

    revision: str
    direction: str
    started_at: datetime.datetime  # UTC, naive (as the ledger writes applied_at)
    finished_at: datetime.datetime
    outcome: str
    attempts: int = 1
    sqlstate: str | None = None
    error: str | None = None

    @property
    def seconds(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def short_error(text: str | None) -> str | None:
    """Return *text* masked and cut to `ERROR_LIMIT` characters, a NUL shown as ``\\x00``.

    PostgreSQL text cannot hold NUL: psycopg2 refuses it on the client with a
    ValueError (not a database error), psycopg with a DataError.
    """
    if not text:
        return None
    text = mask_text(" ".join(str(text).replace("\x00", "\\x00").split()))
    return text if len(text) <= ERROR_LIMIT else text[: ERROR_LIMIT - 4] + " ..."


def ensure_table(connection: sa.Connection) -> None:
    """Create the log table if it is missing (in the connection's current transaction)."""
    if not has_table(connection):
        log_table.create(connection, checkfirst=True)


def has_table(connection: sa.Connection) -> bool:
    return TABLE in existing_tables(connection, (TABLE,))


_COLUMNS = [c.name for c in log_table.columns if c.name != "id"]
# Plain text: a Core insert would add RETURNING id on PostgreSQL (one fetch per migration).
_INSERT = sa.text(f"INSERT INTO {TABLE} ({', '.join(_COLUMNS)}) VALUES ({', '.join(':' + c for c in _COLUMNS)})")


@functools.cache
def _who() -> dict:
    from alembic import __version__ as alembic_version  # deferred: Alembic is loaded by then

    return {
        "host": socket.gethostname()[:255],
        "bridge_version": __version__,
        "alembic_version": alembic_version,
    }


def _rows(run_id: str, entries: list[Entry], db_user: str | None) -> list[dict]:
    # The pid is read each time: fleet workers are forked after the first call.
    common = {**_who(), "pid": os.getpid(), "run_id": run_id, "db_user": db_user}
    return [
        {
            **common,
            "revision": e.revision,
            "direction": e.direction,
            "started_at": e.started_at,
            "finished_at": e.finished_at,
            "duration_ms": round(e.seconds * 1000),
            "outcome": e.outcome,
            "attempts": e.attempts,
            "sqlstate": e.sqlstate,
            "error": short_error(e.error),
        }
        for e in entries
    ]


def write(connection: sa.Connection, run_id: str, entries: list[Entry], db_user: str | None) -> None:
    """Insert *entries* (in the connection's current transaction)."""
    if not entries:
        return
    connection.execute(_INSERT, _rows(run_id, entries, db_user))


def record(
    connection: sa.Connection, run_id: str, entries: list[Entry], db_user: str | None, *, create: bool = True
) -> bool:
    """Write *entries* on a savepoint, creating the table if it is missing; return whether they were written.

    Never raises a database error: a failed write is rolled back to its savepoint
    (the connection's transaction, the migration's, goes on) and logged as one WARNING.
    Without *create*, a missing table is not created (it may exist uncommitted in
    another session's transaction, which creating it would wait for).
    """
    if not entries:
        return True
    failure: sa.exc.DBAPIError
    try:
        if connection.dialect.driver == "psycopg2":
            _record_in_one(connection, run_id, entries, db_user)
        else:
            with connection.begin_nested():
                write(connection, run_id, entries, db_user)
        return True
    except sa.exc.DBAPIError as err:
        failure = err
    if connection.invalidated:
        # The session is gone, and the migration's transaction with it: its COMMIT says so.
        _warn(failure, entries)
        return False
    try:
        # Checked only after a failure: no catalog query per migration.
        if not has_table(connection):
            if not create:
                log.warning(
                    "The run log (%s) is not written for this run (%s): the table does not exist "
                    "outside the transaction the caller handed over, which is not committed.",
                    TABLE,
                    _what(entries),
                )
                return False
            with connection.begin_nested():
                ensure_table(connection)
                write(connection, run_id, entries, db_user)
            return True
    except sa.exc.DBAPIError as err:
        failure = err
    _warn(failure, entries)
    return False


# Named by the bridge, distinct from SQLAlchemy's sa_savepoint_<n> and the proxy's bridge_sp_<n>.
_SAVEPOINT = "bridge_log_sp"
_UNDO = f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}; RELEASE SAVEPOINT {_SAVEPOINT}"


@functools.cache
def _one_string(rows: int) -> str:
    """Return SAVEPOINT; INSERT of *rows* rows; RELEASE as one string of psycopg2 (pyformat) parameters."""
    values = ", ".join("(" + ", ".join(f"%({c}_{i})s" for c in _COLUMNS) + ")" for i in range(rows))
    return (
        f"SAVEPOINT {_SAVEPOINT}; INSERT INTO {TABLE} ({', '.join(_COLUMNS)}) VALUES {values}; "
        f"RELEASE SAVEPOINT {_SAVEPOINT}"
    )


def _record_in_one(connection: sa.Connection, run_id: str, entries: list[Entry], db_user: str | None) -> None:
    """Write *entries* on a savepoint of their own in one round trip (psycopg2 only); raise on failure, rolled back.

    A failure leaves the savepoint open in an aborted transaction: it is rolled back
    to and released (one more round trip, on failure only), so the transaction is as
    before the call. If even that fails (the connection is gone), the transaction is
    lost anyway and the migration's COMMIT reports it, as with `begin_nested`.
    """
    params = {
        f"{name}_{i}": value for i, row in enumerate(_rows(run_id, entries, db_user)) for name, value in row.items()
    }
    try:
        connection.exec_driver_sql(_one_string(len(entries)), params)
    except sa.exc.DBAPIError as failure:
        if not connection.invalidated:  # a lost connection cannot be used again before a rollback
            try:
                connection.exec_driver_sql(_UNDO)
            except sa.exc.DBAPIError:
                pass  # the transaction is lost (the migration's COMMIT says so); report the first error
        raise failure


def _what(entries: list[Entry]) -> str:
    """Name the steps of *entries* for a warning: ``20251001_a applied, ...``."""
    return ", ".join(f"{e.revision} {e.outcome}" for e in entries)


def _warn(err: sa.exc.DBAPIError, entries: list[Entry]) -> None:
    reason = sqlstate.words(err).split(" LINE 1:")[0]
    what = _what(entries)
    log.warning(
        "The run log (%s) could not be written, so this run is not recorded there (%s): %s. "
        "Migrations are not affected: they run and are recorded in the history tables as usual. "
        "To keep the run log, let the migrating role create and insert into %s, or drop a %s "
        "whose shape was changed by hand so that the next run creates it afresh.",
        TABLE,
        what,
        mask_text(reason),
        TABLE,
        TABLE,
        exc_info=log.isEnabledFor(logging.DEBUG),
    )


def _present(connection: sa.Connection) -> list[sa.Column]:
    """Return the log table's columns the database has (none without the table).

    A table whose columns were dropped by hand is still read: the missing ones read as None.
    """
    names = set(table_columns(connection, TABLE))
    return [column for column in log_table.columns if column.name in names]


def _row(row) -> dict:
    """Return a row as a dict of every column (None for one dropped by hand), its times aware (UTC: how
    `write` stores them), its error masked."""
    found = row._mapping
    complete = {column.name: found.get(column.name) for column in log_table.columns}
    if complete["error"]:  # a row written before masking (an older bridge, a hand) is shown masked too
        complete["error"] = mask_text(complete["error"])
    for key in ("started_at", "finished_at"):
        if complete[key] is not None and complete[key].tzinfo is None:
            complete[key] = complete[key].replace(tzinfo=datetime.timezone.utc)
    return complete


def _reading(connection: sa.Connection, rows, *, required: bool, empty=None):
    """Return *rows()*, read on a savepoint; a log that cannot be read is an error if *required*, else a WARNING."""
    try:
        with connection.begin_nested():
            return rows()
    except sa.exc.DBAPIError as err:
        reason = mask_text(sqlstate.words(err).split(" LINE 1:")[0])
        fix = (
            f"Grant this role SELECT on {TABLE}, or drop {TABLE} if it was changed by hand "
            "(the next run that applies something creates it afresh)."
        )
        if required:
            raise BridgeError(f"The run log ({TABLE}) could not be read: {reason}. {fix}") from err
        log.warning("The run log (%s) could not be read, so its rows are left out: %s. %s", TABLE, reason, fix)
        return [] if empty is None else empty


def read(connection: sa.Connection, *, limit: int = 20, revision: str | None = None) -> list[dict]:
    """Return the latest *limit* rows, newest first, each run's rows together; reads only.

    Runs are ordered by their last row, and a run's rows newest first by when they were
    written: a failed attempt logged after its rollback comes before the attempts retried
    earlier. Times are aware (UTC); none if the table does not exist.
    """

    def rows() -> list[dict]:
        columns = _present(connection)
        if not columns:
            return []
        query = sa.select(*columns).order_by(log_table.c.id.desc()).limit(limit)
        if revision is not None:
            query = query.where(log_table.c.revision == revision)
        found = [_row(row) for row in connection.execute(query)]
        newest: dict[str, int] = {}
        for row in found:
            newest.setdefault(row["run_id"], row["id"])
        return sorted(found, key=lambda row: (newest[row["run_id"]], row["id"]), reverse=True)

    return _reading(connection, rows, required=True)


def written_since(connection: sa.Connection, when: datetime.datetime) -> list[dict]:
    """Return the rows of steps started at or after *when* (UTC, naive), oldest first; reads only, best effort."""

    def rows() -> list[dict]:
        columns = _present(connection)
        if not columns:
            return []
        query = sa.select(*columns).where(log_table.c.started_at >= when).order_by(log_table.c.id)
        return [_row(row) for row in connection.execute(query)]

    return _reading(connection, rows, required=False)


def last_run(connection: sa.Connection) -> list[dict]:
    """Return the rows of the latest run, in the order they were written (none without a log); best effort."""

    def rows() -> list[dict]:
        columns = _present(connection)
        if not columns:
            return []
        latest = connection.execute(sa.select(log_table.c.run_id).order_by(log_table.c.id.desc()).limit(1)).scalar()
        if latest is None:
            return []
        query = sa.select(*columns).where(log_table.c.run_id == latest).order_by(log_table.c.id)
        return [_row(row) for row in connection.execute(query)]

    return _reading(connection, rows, required=False)


def latest_applied(connection: sa.Connection) -> dict[str, dict]:
    """Return {revision: its latest ``applied`` row} (what `status` shows per migration); reads only, best effort."""

    def rows() -> dict[str, dict]:
        columns = _present(connection)
        if not columns:
            return {}
        latest = (
            sa.select(sa.func.max(log_table.c.id)).where(log_table.c.outcome == APPLIED).group_by(log_table.c.revision)
        )
        query = sa.select(*columns).where(log_table.c.id.in_(latest.scalar_subquery()))
        return {found["revision"]: found for found in (_row(row) for row in connection.execute(query))}

    return _reading(connection, rows, required=False, empty={})
