"""An engine-like object that runs a legacy ``upgrade(engine)`` inside Alembic's transaction.

This module is the only place that knows how a legacy migration is fooled:
the migration asks for connections and transactions as it would from a real
``Engine``; every "connection" it gets is a view of the one connection Alembic
opened for this migration, and every transaction it begins is a SAVEPOINT
inside Alembic's per-migration transaction. So:

- the migration's own ``trans.rollback()`` undoes only its own part, as it would;
- what it "commits" is released into Alembic's transaction, which commits only
  when the whole migration (and its ledger rows) succeeded: a migration that
  raises leaves nothing behind;
- work executed but never committed is rolled back when its connection closes,
  as a real engine would, and is reported by `LegacyEngine.finish`.

Transaction statements sent as SQL text (``COMMIT``, ``ROLLBACK``, ``BEGIN``,
...) are examined before they run and mapped onto the migration's own
transaction as psycopg2 plays them against a real engine, or refused
(`bridge.sqltext.transaction_control`); session settings a migration changes
are put back when it ends (`bridge.sqltext.session_settings`).

Connections opened one after another see each other's committed work (they
share one database session). Connections held open *at the same time* also
share that session, unlike a real engine's; legacy migrations do not do this.

Over 500 lines because it is one concept, the legacy engine/connection facade:
the engine, its connections, their transactions (savepoints), the AUTOCOMMIT
connection, and the same facade rendering SQL offline (``--sql``). Reading SQL
text (what a statement does) lives in `bridge.sqltext`.
"""

from __future__ import annotations

import itertools
import logging
import sys
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.sql.elements import TextClause

from . import indexes, sqltext
from .context import current
from .internals import AutocommitInCallersTransaction, in_external_transaction, register_inspection

log = logging.getLogger(__name__)


def is_read_only(statement) -> bool:
    """Return whether a statement changes no persistent data (so leaving it uncommitted loses nothing)."""
    if isinstance(statement, sa.Select):
        return True
    if isinstance(statement, TextClause):
        return sqltext.is_read_only(statement.text)
    if isinstance(statement, str):
        return sqltext.is_read_only(statement)
    return False


def _control_parts(statement, driver_sql: bool):
    """Return `transaction_control` of a ``text()`` (or, for exec_driver_sql, a string)."""
    if driver_sql:
        return sqltext.transaction_control(statement) if isinstance(statement, str) else None
    return sqltext.transaction_control(statement.text) if isinstance(statement, TextClause) else None


class TransactionControlRefused(exc.InvalidRequestError):
    """A transaction-control statement the bridge cannot map onto the migration's transaction."""

    def __init__(self, statement: str, why: str, line: int | None):
        self.statement = " ".join(statement.split()).rstrip(";")
        self.line = line
        super().__init__(f"`{self.statement}` {why} The statement was not run.")


def statement_text(statement, limit: int = 100) -> str:
    """Return a statement's SQL on one line, shortened to *limit* characters, for messages."""
    if isinstance(statement, TextClause):
        sql = statement.text
    elif isinstance(statement, str):
        sql = statement
    else:
        try:
            sql = str(statement)
        except Exception:  # noqa: BLE001 - a message must not fail
            sql = type(statement).__name__
    sql = " ".join(sql.split()).rstrip(";")
    return sql if len(sql) <= limit else sql[: limit - 4] + " ..."


class AutocommitPoint:
    """An AUTOCOMMIT statement a migration ran: what the migration did before it is committed."""

    def __init__(self, line: int | None, statement: str):
        self.line = line
        self.statement = statement
        self.done = False  # the statement itself succeeded (and is committed too)


class LegacyEngine:
    """Stands in for the ``Engine`` the legacy runner passes to ``upgrade(engine)``.

    Owns the connections the migration opened; invariant: every SAVEPOINT it
    created is released or rolled back by the time `finish` returns.
    """

    def __init__(self, connection: sa.Connection, path: Path | str | None = None, migration_context=None):
        self._connection = connection
        self._path = str(path) if path else None
        self._migration_context = migration_context
        self._connections: list[LegacyConnection] = []
        self.uncommitted: list[int | None] = []
        self.autocommitted: list[AutocommitPoint] = []
        self.refused: list[TransactionControlRefused] = []
        self._settings: dict[str, str | None] = {}  # session settings changed: value before
        self._autocommit = False

    # -- what code reads off an Engine ------------------------------------
    @property
    def dialect(self):
        return self._connection.dialect

    @property
    def url(self):
        return self._connection.engine.url

    @property
    def name(self) -> str:
        return self._connection.dialect.name

    @property
    def driver(self) -> str:
        return self._connection.dialect.driver

    @property
    def engine(self) -> LegacyEngine:
        return self

    def __repr__(self) -> str:
        return f"LegacyEngine({self.url.render_as_string(hide_password=True)})"

    # -- what code does with an Engine --------------------------------------
    def connect(self) -> LegacyConnection:
        """Return a connection that shares Alembic's migration transaction."""
        conn = AutocommitConnection(self) if self._autocommit else LegacyConnection(self)
        self._connections.append(conn)
        return conn

    @contextmanager
    def begin(self):
        """Open a connection with a transaction, committed on success (``engine.begin()``)."""
        with self.connect() as conn:
            with conn.begin():
                yield conn

    def execution_options(self, **options) -> LegacyEngine:
        """Return this engine, or an AUTOCOMMIT view of it (see `AutocommitConnection`)."""
        if options.get("isolation_level") == "AUTOCOMMIT":
            other = LegacyEngine(self._connection, self._path, self._migration_context)
            other._connections = self._connections
            other.uncommitted = self.uncommitted
            other.autocommitted = self.autocommitted
            other.refused = self.refused
            other._settings = self._settings
            other._autocommit = True
            return other
        return self

    def dispose(self, close: bool = True) -> None:
        """Do nothing: the connection belongs to Alembic."""

    # -- used by the executor ---------------------------------------------------
    def finish(self) -> list[int | None]:
        """Close what the migration left open, put settings back (SET and SET LOCAL); return uncommitted lines."""
        for conn in reversed(self._connections):
            conn.close()
        for name, value in self._settings.items():
            # As SET LOCAL would: not into the ledger's writes, nor the next migration.
            if value is not None or "." in name:  # else unknown: the SET itself failed
                self._connection.execute(_RESTORE_SETTING, {"name": name, "value": value or ""})
        self._settings.clear()
        return self.uncommitted

    def _remember_settings(self, statement) -> None:
        """Before a SET/RESET runs, note the values it changes so `finish` can put them back."""
        # SET LOCAL too: it lasts until the transaction ends, for a real engine the
        # migration's trans.commit(), here Alembic's commit after the ledger rows and
        # alembic_version were written (a SET LOCAL search_path would send them elsewhere).
        sql = statement.text if isinstance(statement, TextClause) else statement
        if not isinstance(sql, str):
            return
        for name in sqltext.session_settings(sql) + sqltext.local_settings(sql):
            if name == "all":
                rows = self._connection.execute(_SESSION_SOURCED_SETTINGS)
                for setting, value in rows:
                    self._settings.setdefault(setting, value)
            elif name not in self._settings:
                value = self._connection.execute(_CURRENT_SETTING, {"name": name}).scalar()
                self._settings[name] = value

    def abandon(self) -> None:
        """Forget open savepoints after an error: Alembic rolls back the whole migration."""
        for conn in self._connections:
            conn._stack.clear()
            conn._detached = False
            conn.closed = True

    def _caller_line(self) -> int | None:
        if self._path is None:
            return None
        frame: FrameType | None = sys._getframe(2)
        while frame is not None:
            if frame.f_code.co_filename == self._path:
                return frame.f_lineno
            frame = frame.f_back
        return None


_RESTORE_SETTING = sa.text("SELECT set_config(:name, :value, false)")
_CURRENT_SETTING = sa.text("SELECT current_setting(:name, true)")
_SESSION_SOURCED_SETTINGS = sa.text("SELECT name, setting FROM pg_settings WHERE source = 'session'")


class LegacyTransaction:
    """A transaction begun by a legacy migration: a SAVEPOINT in Alembic's transaction."""

    def __init__(self, conn: LegacyConnection, savepoint, nested: bool):
        self._conn = conn
        self._savepoint = savepoint
        self.nested = nested
        self.is_active = True
        self.write_line: int | None = None
        self.wrote = False

    @property
    def connection(self) -> LegacyConnection:
        return self._conn

    def commit(self) -> None:
        """Release the savepoint: the work joins Alembic's migration transaction."""
        if not self.is_active:
            raise exc.InvalidRequestError("This transaction is inactive")
        self._conn._end(self, commit=True)

    def rollback(self) -> None:
        """Roll back to the savepoint: undo only this transaction's work."""
        if self.is_active:
            self._conn._end(self, commit=False)

    def close(self) -> None:
        self.rollback()

    def __enter__(self) -> LegacyTransaction:
        return self

    def __exit__(self, type_, value, tb) -> None:
        if not self.is_active:
            return
        if type_ is None:
            self.commit()
        else:
            self.rollback()


class LegacyConnection:
    """A ``Connection`` view for a legacy migration; begins SAVEPOINTs, never real transactions."""

    def __init__(self, engine: LegacyEngine):
        self._engine = engine
        self._real = engine._connection
        self._stack: list[LegacyTransaction] = []
        self.closed = False
        # After a raw COMMIT/ROLLBACK: the SQLAlchemy transaction is still open
        # but the server's has ended, so (with psycopg2) each statement commits
        # on its own until the transaction object ends or a raw BEGIN.
        self._detached = False

    @property
    def engine(self) -> LegacyEngine:
        return self._engine

    @property
    def dialect(self):
        return self._real.dialect

    @property
    def info(self) -> dict:
        return self._real.info

    @property
    def invalidated(self) -> bool:
        return False

    def _check_open(self) -> None:
        if self.closed:
            raise exc.ResourceClosedError("This Connection is closed")

    # -- transactions -------------------------------------------------------------
    def begin(self) -> LegacyTransaction:
        """Begin this connection's transaction (a SAVEPOINT)."""
        self._check_open()
        if self._stack:
            raise exc.InvalidRequestError(
                "This connection has already initialized a SQLAlchemy "
                "Transaction() object via begin() or autobegin; can't call "
                "begin() here unless rollback() or commit() is called first."
            )
        return self._push(nested=False)

    def begin_nested(self) -> LegacyTransaction:
        """Begin a nested SAVEPOINT inside this connection's transaction."""
        self._check_open()
        if not self._stack:
            self._push(nested=False)
        return self._push(nested=True)

    def _push(self, nested: bool) -> LegacyTransaction:
        tx = LegacyTransaction(self, _Savepoint(self._real), nested)
        self._stack.append(tx)
        return tx

    def _end(self, tx: LegacyTransaction, commit: bool) -> None:
        # Ending a transaction ends everything begun inside it, as RELEASE /
        # ROLLBACK TO SAVEPOINT do in SQL: one statement, for the outermost.
        index = self._stack.index(tx)
        ended = self._stack[index:]
        for inner in ended:
            inner.is_active = False
        if commit:
            tx._savepoint.commit()
        else:
            tx._savepoint.rollback()
        del self._stack[index:]
        if not self._stack:
            self._detached = False
        if commit and self._stack and any(t.wrote for t in ended):
            outer = self._stack[-1]
            if not outer.wrote:
                line = next(t.write_line for t in ended if t.wrote)
                outer.wrote, outer.write_line = True, line

    def in_transaction(self) -> bool:
        return bool(self._stack)

    def in_nested_transaction(self) -> bool:
        return len(self._stack) > 1

    def get_transaction(self) -> LegacyTransaction | None:
        return self._stack[0] if self._stack else None

    def get_nested_transaction(self) -> LegacyTransaction | None:
        return self._stack[-1] if len(self._stack) > 1 else None

    def commit(self) -> None:
        """Commit the current transaction (2.0 style ``conn.commit()``)."""
        self._check_open()
        if self._stack:
            self._stack[0].commit()

    def rollback(self) -> None:
        """Roll back the current transaction (2.0 style ``conn.rollback()``)."""
        self._check_open()
        if self._stack:
            self._stack[0].rollback()

    # -- execution ------------------------------------------------------------------
    def _before_execute(self, statement):
        """Autobegin if needed; return the transaction a write would belong to, or None."""
        self._check_open()
        if not self._stack:
            self._push(nested=False)  # autobegin, as SQLAlchemy 2.x does
        self._engine._remember_settings(statement)
        return None if is_read_only(statement) else self._stack[-1]

    def _after_write(self, tx) -> None:
        # Marked only once the statement succeeded: a failed one changed nothing.
        if tx is not None and tx.is_active and not tx.wrote:
            tx.wrote, tx.write_line = True, self._engine._caller_line()

    def execute(self, statement, parameters=None, *, execution_options=None):
        parts = _control_parts(statement, driver_sql=False)
        if parts is not None:
            return self._run_parts(parts, statement, parameters, execution_options, driver_sql=False)
        tx = self._before_execute(statement)
        if self._detached and len(self._stack) == 1:
            return self._run_detached(statement, parameters, execution_options, driver_sql=False)
        result = self._real.execute(statement, parameters, execution_options=execution_options)
        self._after_write(tx)
        return result

    def exec_driver_sql(self, statement, parameters=None, execution_options=None):
        parts = _control_parts(statement, driver_sql=True)
        if parts is not None:
            return self._run_parts(parts, statement, parameters, execution_options, driver_sql=True)
        tx = self._before_execute(statement)
        if self._detached and len(self._stack) == 1:
            return self._run_detached(statement, parameters, execution_options, driver_sql=True)
        result = self._real.exec_driver_sql(statement, parameters, execution_options)
        self._after_write(tx)
        return result

    def _send(self, statement, parameters, execution_options, driver_sql: bool):
        if driver_sql:
            return self._real.exec_driver_sql(statement, parameters, execution_options)
        return self._real.execute(statement, parameters, execution_options=execution_options)

    # -- transaction control sent as SQL text ---------------------------------------
    def _run_parts(self, parts, statement, parameters, execution_options, driver_sql: bool):
        """Run a statement list holding COMMIT/ROLLBACK/BEGIN: the SQL in between, the rest mapped."""
        self._check_open()
        line = self._engine._caller_line()
        for text_, kind in parts:
            if kind == "refuse":
                self._refuse(
                    text_,
                    "would hand the migration's transaction (Alembic's) to "
                    "two-phase commit; the bridge runs each migration in one transaction. "
                    "Remove it.",
                    line,
                )
        self._refuse_unsplittable(parts, statement, parameters, driver_sql, line)
        if not self._stack:
            self._push(nested=False)  # autobegin, as SQLAlchemy 2.x does
        result, chunk = None, ""
        for text_, kind in parts:
            if kind is None:
                chunk += text_
                continue
            if chunk.strip():
                result = self._run_chunk(chunk, statement, parameters, execution_options, driver_sql)
            chunk = ""
            result = self._control(kind, text_, line)
        if chunk.strip():
            result = self._run_chunk(chunk, statement, parameters, execution_options, driver_sql)
        return result

    def _refuse_unsplittable(self, parts, statement, parameters, driver_sql: bool, line) -> None:
        """Refuse transaction control inside a multi-statement string that cannot be split."""
        if len(parts) > 1 and not self._splittable(statement, parameters, driver_sql):
            control = next(text_ for text_, kind in parts if kind)
            self._refuse(
                control,
                "is one of several statements in a string executed with "
                "parameters, which cannot be split safely. Execute the statements one "
                "by one, and end the transaction with trans.commit().",
                line,
            )

    @staticmethod
    def _splittable(statement, parameters, driver_sql: bool) -> bool:
        if driver_sql:
            return not parameters
        if parameters is not None and not isinstance(parameters, dict):
            return False  # executemany
        return all(value is None for value in statement.compile().params.values())

    def _run_chunk(self, chunk: str, statement, parameters, execution_options, driver_sql: bool):
        if driver_sql:
            return self.exec_driver_sql(chunk, parameters, execution_options)
        return self.execute(sa.text(chunk), parameters, execution_options=execution_options)

    def _control(self, kind: str, text_: str, line: int | None):
        """Do to the migration's transaction what *text_* would do to a real engine's."""
        if kind == "begin":
            # In a transaction (always, with autobegin) the server only warns, as it
            # does for a real engine; after a raw COMMIT it starts one again.
            self._detached = False
            return self._real.exec_driver_sql(text_)
        if len(self._stack) > 1:
            self._refuse(
                text_,
                "inside a nested transaction (begin_nested()) would end every "
                "savepoint with it, which the transaction objects cannot follow (a "
                "real engine then fails at their commit). Use savepoint.commit() / "
                "trans.commit() instead of SQL text.",
                line,
            )
        root = self._stack[0]
        chain = kind.endswith("_chain")
        if self._detached:
            if chain:
                self._refuse(
                    text_,
                    "after a raw COMMIT/ROLLBACK has no transaction to chain "
                    "(a real database refuses it too). Use trans.commit().",
                    line,
                )
            return root._savepoint.result  # no transaction: the server only warns
        if kind.startswith("commit"):
            root._savepoint.commit()
        else:
            root._savepoint.rollback()
        root._savepoint = _Savepoint(self._real)
        root.wrote, root.write_line = False, None
        self._detached = not chain
        return root._savepoint.result

    def _run_detached(self, statement, parameters, execution_options, driver_sql: bool):
        # One statement committing on its own: released into Alembic's transaction
        # if it succeeds, undone alone if it fails.
        root = self._stack[0]
        try:
            result = self._send(statement, parameters, execution_options, driver_sql)
        except exc.DBAPIError:
            root._savepoint.rollback()
            root._savepoint = _Savepoint(self._real)
            raise
        root._savepoint.commit()
        root._savepoint = _Savepoint(self._real)
        return result

    def _refuse(self, statement: str, why: str, line: int | None):
        refused = TransactionControlRefused(statement, why, line)
        self._engine.refused.append(refused)  # fails the migration even if it is caught
        raise refused

    def scalar(self, statement, parameters=None, *, execution_options=None):
        return self.execute(statement, parameters, execution_options=execution_options).scalar()

    def scalars(self, statement, parameters=None, *, execution_options=None):
        return self.execute(statement, parameters, execution_options=execution_options).scalars()

    def execution_options(self, **options) -> LegacyConnection:
        """Return this connection, or an AUTOCOMMIT one (see `AutocommitConnection`)."""
        if options.get("isolation_level") == "AUTOCOMMIT":
            conn = AutocommitConnection(self._engine)
            self._engine._connections.append(conn)
            return conn
        return self

    # -- closing --------------------------------------------------------------------
    def close(self) -> None:
        """Close the connection, rolling back work that was never committed."""
        if self.closed:
            return
        if self._stack:
            root = self._stack[0]
            lost = root.wrote or any(tx.wrote for tx in self._stack)
            line = next((tx.write_line for tx in self._stack if tx.wrote), None)
            root.rollback()
            if lost:
                self._engine.uncommitted.append(line)
        self._detached = False
        self.closed = True

    def __enter__(self) -> LegacyConnection:
        return self

    def __exit__(self, type_, value, tb) -> None:
        self.close()


class _Savepoint:
    """A SAVEPOINT on Alembic's connection, for one legacy transaction.

    Plain SQL rather than SQLAlchemy's ``begin_nested()``, which compiles a new
    statement for every savepoint name. Names are unique within the process,
    so a ROLLBACK TO can only land on its own savepoint (and on those begun
    after it, which it ends too).

    Committing RELEASEs it, although Alembic's COMMIT would release it anyway:
    left open, the savepoints of a migration that commits in a loop nest ever
    deeper in the server (each statement then costs more), and a commit that
    cannot keep its work (its transaction failed, or another connection's
    rollback undid it) must fail there, as RELEASE does. Rolling back RELEASEs
    it too, after the ROLLBACK TO (which keeps it), for the same nesting.
    """

    _names = itertools.count(1)

    def __init__(self, connection: sa.Connection):
        self._connection = connection
        self.name = f"bridge_sp_{next(self._names)}"
        self.result = connection.exec_driver_sql(f"SAVEPOINT {self.name}")
        self.is_active = True

    def commit(self) -> None:
        if self.is_active:
            self.is_active = False
            self._connection.exec_driver_sql(f"RELEASE SAVEPOINT {self.name}")

    def rollback(self) -> None:
        if self.is_active:
            self.is_active = False
            if self._connection.invalidated:
                return  # the connection died, and the transaction with it: nothing to undo
            # ROLLBACK TO keeps the savepoint; release it, or a loop of rolled-back
            # steps nests ever deeper (as psycopg's own transactions do).
            self._connection.exec_driver_sql(f"ROLLBACK TO SAVEPOINT {self.name}")
            self._connection.exec_driver_sql(f"RELEASE SAVEPOINT {self.name}")


class AutocommitConnection(LegacyConnection):
    """An AUTOCOMMIT connection (``CREATE INDEX CONCURRENTLY``, ``ALTER TYPE ... ADD VALUE``).

    Such statements cannot run in a transaction, so each one runs in Alembic's
    ``autocommit_block()``: the migration's work so far is committed first, as
    it would be by a real engine. The migration is then no longer atomic, which
    is inherent in what it asked for; its ledger row is still written at its end.
    """

    def begin(self) -> LegacyTransaction:
        raise exc.InvalidRequestError("An AUTOCOMMIT connection does not begin transactions")

    def _run(self, method, statement, *args, **kw):
        self._check_open()
        context = self._engine._migration_context
        if context is None:
            raise exc.InvalidRequestError("AUTOCOMMIT statements are only supported inside an Alembic migration run")
        if in_external_transaction(context):
            raise AutocommitInCallersTransaction()
        if any(conn._stack for conn in self._engine._connections if conn is not self):
            raise exc.InvalidRequestError(
                "An AUTOCOMMIT statement would commit the transaction still open on "
                "another connection of this migration; commit or close it first."
            )
        self._engine._remember_settings(statement)
        point = AutocommitPoint(self._engine._caller_line(), statement_text(statement))
        self._engine.autocommitted.append(point)
        with context.autocommit_block():
            if current(context.config).settings.rebuild_invalid_indexes:
                _drop_invalid_index_before_rebuild(context.connection, statement)
            result = getattr(context.connection, method)(statement, *args, **kw)
        point.done = True
        return result

    def execute(self, statement, parameters=None, *, execution_options=None):
        self._check_control(_control_parts(statement, driver_sql=False))
        return self._run("execute", statement, parameters, execution_options=execution_options)

    def exec_driver_sql(self, statement, parameters=None, execution_options=None):
        self._check_control(_control_parts(statement, driver_sql=True))
        return self._run("exec_driver_sql", statement, parameters, execution_options)

    def _check_control(self, parts) -> None:
        # Outside a transaction COMMIT and ROLLBACK only warn, as for a real engine;
        # a BEGIN left open would hold Alembic's connection in a transaction.
        if parts is None:
            return
        kinds = [(text_, kind) for text_, kind in parts if kind]
        line = self._engine._caller_line()
        for text_, kind in kinds:
            if kind == "refuse":
                self._refuse(text_, "would hand a transaction to two-phase commit. Remove it.", line)
        text_, kind = kinds[-1]
        if kind == "begin":
            self._refuse(
                text_,
                "on an AUTOCOMMIT connection would leave a transaction open on "
                "Alembic's connection. Do transactional work on a normal connection "
                "(`with engine.begin() as conn:`).",
                line,
            )

    def commit(self) -> None:
        self._check_open()

    def rollback(self) -> None:
        self._check_open()


def _drop_invalid_index_before_rebuild(connection: sa.Connection, statement) -> None:
    """With rebuild_invalid_indexes = true, drop the INVALID index a CREATE INDEX CONCURRENTLY
    would otherwise skip (IF NOT EXISTS) or fail on: what an interrupted build left."""
    if not isinstance(statement, (str, TextClause)) or connection.dialect.name != "postgresql":
        return
    name = indexes.concurrent_build_target(statement if isinstance(statement, str) else statement.text)
    if name is None:
        return
    if indexes.drop_invalid(connection, name):
        log.warning(
            "Dropped the INVALID index %s an interrupted CREATE INDEX CONCURRENTLY left; building it again", name
        )


# `sa.inspect(engine)` / `sa.inspect(conn)` in a legacy migration inspects Alembic's connection.
register_inspection(LegacyEngine, lambda engine: sa.inspect(engine._connection))
register_inspection(LegacyConnection, lambda conn: sa.inspect(conn._real))


class OfflineRead(Exception):
    """A legacy migration read from the database while being rendered as SQL."""

    def __init__(self, what: str, line: int | None):
        self.what = what
        self.line = line
        super().__init__(what)


class OfflineEngine(LegacyEngine):
    """Stands in for the ``Engine`` while Alembic renders SQL (``--sql``): statements are written out.

    Anything that needs an answer from the database (reading a result,
    ``inspect(engine)``) raises `OfflineRead`: such a migration cannot be
    rendered faithfully.
    """

    def __init__(self, migration_context, path: Path | str | None = None):
        self._context = migration_context
        self._path = str(path) if path else None
        self._connections = []
        self.uncommitted = []
        self.autocommitted = []
        self.refused = []
        self._settings = {}

    @property
    def dialect(self):
        return self._context.dialect

    @property
    def url(self):
        return sa.engine.make_url(f"{self._context.dialect.name}://")

    @property
    def name(self) -> str:
        return self._context.dialect.name

    @property
    def driver(self) -> str:
        return self._context.dialect.driver

    def __repr__(self) -> str:
        return f"OfflineEngine({self.name})"

    def connect(self) -> OfflineConnection:
        conn = OfflineConnection(self)
        self._connections.append(conn)
        return conn

    def finish(self) -> list[int | None]:
        return []

    def emit(self, statement, parameters=None) -> OfflineResult:
        impl = self._context.impl
        if isinstance(statement, str):
            impl.static_output(statement.strip().rstrip(";") + impl.command_terminator)
            return OfflineResult(self)
        sets = parameters if isinstance(parameters, (list, tuple)) else [parameters or {}]
        for params in sets:
            stmt = statement.bindparams(**params) if params and isinstance(statement, TextClause) else statement
            self._context.execute(stmt)
        return OfflineResult(self)

    def read(self, what: str):
        raise OfflineRead(what, self._caller_line())


class OfflineConnection(LegacyConnection):
    """A connection whose statements are written to the SQL script; transactions are no-ops."""

    _engine: OfflineEngine

    def __init__(self, engine: OfflineEngine):
        self._engine = engine
        self._stack = []
        self.closed = False

    @property
    def dialect(self):
        return self._engine.dialect

    @property
    def info(self) -> dict:
        return {}

    def _push(self, nested: bool) -> LegacyTransaction:
        tx = LegacyTransaction(self, _NoSavepoint(), nested)
        self._stack.append(tx)
        return tx

    def execute(self, statement, parameters=None, *, execution_options=None):
        self._check_open()
        parts = _control_parts(statement, driver_sql=False)
        if parts is not None:
            return self._emit_parts(parts, statement, parameters, driver_sql=False)
        return self._engine.emit(statement, parameters)

    def exec_driver_sql(self, statement, parameters=None, execution_options=None):
        self._check_open()
        if parameters:
            self._engine.read("exec_driver_sql() with parameters")
        parts = _control_parts(statement, driver_sql=True)
        if parts is not None:
            return self._emit_parts(parts, statement, parameters, driver_sql=True)
        return self._engine.emit(str(statement))

    def _emit_parts(self, parts, statement, parameters, driver_sql: bool) -> OfflineResult:
        # Online, BEGIN/COMMIT only end a savepoint inside the migration's transaction;
        # in the script that transaction is Alembic's BEGIN ... COMMIT, so they are left
        # out (written, they would commit half the migration). A rollback cannot be
        # rendered: the script has no savepoint to go back to.
        line = self._engine._caller_line()
        for text_, kind in parts:
            if kind is not None and kind not in ("begin", "commit", "commit_chain"):
                self._refuse(
                    text_,
                    "cannot be rendered as SQL: the script runs each migration "
                    "in one transaction, with nothing to roll back to. Render this "
                    "migration online, or raise an exception instead.",
                    line,
                )
        self._refuse_unsplittable(parts, statement, parameters, driver_sql, line)
        result = OfflineResult(self._engine)
        for text_, kind in parts:
            sql = text_.strip().rstrip(";").strip()
            if kind is None and sql:
                chunk = sql if driver_sql else sa.text(sql)
                result = self._engine.emit(chunk, None if driver_sql else parameters)
        return result

    def close(self) -> None:
        self._stack.clear()
        self.closed = True


class _NoSavepoint:
    is_active = True

    def commit(self) -> None:
        self.is_active = False

    def rollback(self) -> None:
        self.is_active = False


class OfflineResult:
    """The result of a rendered statement: there is none, so reading it is refused."""

    def __init__(self, engine: OfflineEngine):
        self._engine = engine

    def __getattr__(self, name):
        return lambda *a, **kw: self._engine.read(f"result.{name}()")

    def __iter__(self):
        self._engine.read("iterating over a result")

    def __bool__(self) -> bool:
        return True


register_inspection(OfflineEngine, lambda engine: engine.read("sqlalchemy.inspect(engine)"))
register_inspection(OfflineConnection, lambda conn: conn._engine.read("sqlalchemy.inspect(conn)"))
