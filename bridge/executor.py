"""Run one legacy migration inside Alembic's transaction and record it in the ledger.

Called by `bridge.steps` when Alembic runs a legacy revision, with the file
the step imported to read its settings (or by `bridge.script.LegacyModule`,
without the bridge's env.py: the file is then imported here). The file is
imported only now, never while building the chain. Checks the
function's signature, runs it through a `bridge.proxy.LegacyEngine`, refuses
uncommitted work, and writes the ``schema_migrations`` row in the same
transaction. Every failure becomes a `MigrationError` naming the file, the
line when known, and the fix; Alembic then rolls the migration back whole.
"""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import io
import logging
import re
import traceback
from collections.abc import Callable
from types import FunctionType, ModuleType

import sqlalchemy as sa
from sqlalchemy import exc

from . import blockers, sqlstate
from .context import current
from .errors import BridgeError, MigrationError, UncommittedWork
from .ledger import Ledger, emit_ledger_sql
from .loader import LegacyFile
from .proxy import LegacyConnection, LegacyEngine, OfflineEngine, OfflineRead, TransactionControlRefused
from .settings import BridgeSettings

log = logging.getLogger(__name__)

NOTHING_APPLIED = "Nothing from this migration was applied or recorded."
PSYCOPG2_NAMES = {"cursor", "commit", "rollback", "autocommit", "set_session", "set_isolation_level"}


def import_legacy(legacy: LegacyFile) -> ModuleType:
    """Import a legacy file as a module, without running ``__main__``.

    The module is not kept (nor put in ``sys.modules``), as the legacy runner
    does not keep it: applying 5,000 files would otherwise hold 5,000 modules
    (~30 MB) until the run ends. A file run twice in one process (upgrade, then
    downgrade) is imported twice, from its bytecode.
    """
    name = f"_bridge_legacy.{legacy.stem}"
    spec = importlib.util.spec_from_file_location(name, legacy.location)
    assert spec is not None and spec.loader is not None  # a .py file always has both
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as err:
        raise MigrationError(
            legacy.path,
            f"syntax error: {err.msg}. Fix the file and run again. {NOTHING_APPLIED}",
            line=err.lineno,
        ) from err
    except Exception as err:
        raise MigrationError(
            legacy.path,
            f"importing the file failed: {type(err).__name__}: {err}. "
            f"Fix the import (is the module installed, is prepend_sys_path set "
            f"in alembic.ini?). {NOTHING_APPLIED}",
            line=_line_in(err, legacy.location),
        ) from err
    except KeyboardInterrupt:
        raise
    except BaseException as err:  # SystemExit: a file must not end the run
        raise MigrationError(
            legacy.path,
            f"importing the file raised {type(err).__name__}: {err}, which would end "
            "the whole run. Move module-level code that stops the program under "
            f'`if __name__ == "__main__":`. {NOTHING_APPLIED}',
            line=_line_in(err, legacy.location),
        ) from err
    return module


def migration_function(legacy: LegacyFile, module: ModuleType, direction: str):
    """Return the file's ``upgrade``/``downgrade``, checking it takes one ``engine``."""
    fn = getattr(module, direction, None)
    if fn is None or not callable(fn):
        raise MigrationError(
            legacy.path,
            f"defines no {direction}() function. Every legacy migration needs "
            f"`def {direction}(engine):`. {NOTHING_APPLIED}",
        )
    if _takes_one_positional(fn):
        return fn
    line = getattr(getattr(fn, "__code__", None), "co_firstlineno", None)
    try:
        sig = inspect.signature(fn)
        sig.bind(object())
    except TypeError:
        params = list(inspect.signature(fn).parameters)
        shown = f"def {direction}({', '.join(params)})"
        raise MigrationError(
            legacy.path,
            f"`{shown}` cannot take the engine the runner passes "
            f"({direction}() takes {len(params)} positional arguments but 1 was "
            f"given). Write `def {direction}(engine):`. {NOTHING_APPLIED}",
            line=line,
        ) from None
    except ValueError:
        pass  # builtins without a signature: let the call decide
    return fn


def _takes_one_positional(fn) -> bool:
    # What inspect.signature(fn).bind(engine) decides for a plain function, read
    # off its code object (inspect.signature costs ~50 us, once per migration).
    if type(fn) is not FunctionType or fn.__dict__:
        return False  # not plain (e.g. functools.wraps sets __wrapped__): ask inspect
    code = fn.__code__
    required = code.co_argcount - len(fn.__defaults__ or ())
    kwonly_required = code.co_kwonlyargcount - len(fn.__kwdefaults__ or {})
    takes_one = required <= 1 and (code.co_argcount >= 1 or code.co_flags & inspect.CO_VARARGS)
    return bool(takes_one) and kwonly_required == 0 and code.co_posonlyargcount <= 1


def run_legacy(legacy: LegacyFile, direction: str, module: ModuleType | None = None) -> None:
    """Run ``upgrade``/``downgrade`` of *legacy* in Alembic's current migration transaction.

    *module* is the file already imported for this attempt (`bridge.steps` reads its
    settings first and hands it over); without it, the file is imported here.
    """
    from alembic import context as alembic_context

    migration_context = alembic_context.get_context()
    run = current(migration_context.config)
    if migration_context.as_sql:
        render_offline(legacy, direction, migration_context, module)
        return
    assert migration_context.connection is not None  # online
    run_on_connection(
        legacy,
        direction,
        migration_context.connection,
        run.settings,
        migration_context=migration_context,
        module=module,
    )


def run_on_connection(
    legacy: LegacyFile,
    direction: str,
    connection: sa.Connection,
    settings: BridgeSettings | None = None,
    migration_context=None,
    module: ModuleType | None = None,
) -> None:
    """Run *legacy* on *connection* (already in a transaction) and update the ledger.

    *module* is the file already imported for this attempt (by `bridge.steps`, to read
    its settings); without it, the file is imported here.
    """
    module = module or import_legacy(legacy)
    fn = migration_function(legacy, module, direction)
    call_legacy(fn, legacy, direction, connection, migration_context)
    if migration_context is not None:
        connection = migration_context.connection  # an autocommit block may have swapped it
    checksum = legacy.sha256() if direction == "upgrade" else None
    Ledger.of(connection, settings).record(legacy.stem, direction, checksum)


def call_legacy(
    fn, legacy: LegacyFile, direction: str, connection: sa.Connection, migration_context=None, name=None
) -> None:
    """Call a legacy ``fn(engine)`` through a `LegacyEngine`; refuse errors and uncommitted work.

    *name* is the function's name in messages (default: *direction*).
    """
    name = name or direction
    engine = LegacyEngine(connection, legacy.location, migration_context)
    try:
        fn(engine)
    except (BridgeError, KeyboardInterrupt):
        # Ctrl-C stops the run: Alembic rolls this migration back and nothing is recorded.
        engine.abandon()
        raise
    except BaseException as err:  # sys.exit() too: it would end the run as a success
        engine.abandon()
        blocking = blockers.Blocking.look_up(err, connection)  # here, where it is caught: messages do no I/O
        raise translate_error(err, legacy, direction, what_was_applied(engine, legacy), blocking) from err
    lost = engine.finish()
    if engine.refused:  # refused, caught and ignored by the migration: still its failure
        refused = engine.refused[0]
        raise MigrationError(legacy.path, f"{refused}\n{what_was_applied(engine, legacy)}", line=refused.line)
    if lost:
        raise UncommittedWork(
            legacy.path,
            f"{name}() executed work it never committed; a real engine "
            "rolls such work back when the connection closes, so it was rolled "
            "back here too. Add `trans.commit()` (or `conn.commit()`) after the "
            f"statements, or use `with engine.begin() as conn:`.\n{what_was_applied(engine, legacy)}",
            line=lost[0],
        )


def what_was_applied(engine: LegacyEngine, legacy: LegacyFile) -> str:
    """Say what a failed migration left behind: nothing, unless it ran an AUTOCOMMIT statement."""
    if not engine.autocommitted:
        return NOTHING_APPLIED
    point = engine.autocommitted[-1]
    where = f"line {point.line}" if point.line else "an unknown line"
    if point.done:
        story = (
            f"Partly applied: the AUTOCOMMIT statement at {where} ({point.statement}) "
            "committed everything this migration did up to and including it; what it "
            f"did after {where} was rolled back."
        )
    else:
        story = (
            f"Partly applied: the AUTOCOMMIT statement at {where} ({point.statement}) "
            "failed, after committing everything this migration did before it."
        )
        if re.match(r"create\s+(unique\s+)?index\s+concurrently\b", point.statement, re.I):
            story += (
                " A failed CREATE INDEX CONCURRENTLY leaves an invalid index behind: "
                "drop it (DROP INDEX CONCURRENTLY IF EXISTS ...) before running again, or set "
                "rebuild_invalid_indexes = true to have the bridge drop it when the build runs again."
            )
    return (
        f"{story}\n{legacy.stem} is not recorded, so the next run starts it again from "
        f"the top: make the steps before {where} idempotent (IF NOT EXISTS), fix the "
        "error and run again."
    )


def render_offline(legacy: LegacyFile, direction: str, migration_context, module: ModuleType | None = None) -> None:
    """Write *legacy*'s statements (and its ledger row) to the ``--sql`` script.

    A migration that reads from the database cannot be rendered; it is noted
    (and named in the error raised at the end of the run by `bridge.env`),
    and a comment marks its place in the script. *module* is the file already
    imported, if it was.
    """
    module = module or import_legacy(legacy)
    fn = migration_function(legacy, module, direction)
    if render_function_offline(fn, legacy, direction, migration_context):
        emit_ledger_sql(legacy.stem, direction, migration_context)


def render_function_offline(fn, legacy: LegacyFile, direction: str, migration_context, name=None) -> bool:
    """Write the statements of a legacy ``fn(engine)`` to the ``--sql`` script; False if it reads.

    *name* is the function's name in messages (default: *direction*).
    """
    name = name or direction
    impl = migration_context.impl
    buffer: list[str] = []
    real_output = impl.static_output
    impl.static_output = buffer.append  # keep a refused migration's partial SQL out
    printed = io.StringIO()
    try:
        # The migration's own prints become SQL comments, so the script stays runnable.
        with contextlib.redirect_stdout(printed):
            fn(OfflineEngine(migration_context, legacy.location))
    except OfflineRead as err:
        impl.static_output = real_output
        line = f" (line {err.line})" if err.line else ""
        current(migration_context.config).offline_skipped.append(f"{legacy.path}{line}: {name}() uses {err.what}")
        real_output(f"-- NOT RENDERED: {legacy.stem} {direction}() reads from the database ({err.what}{line})")
        return False
    except (BridgeError, KeyboardInterrupt):
        raise
    except BaseException as err:
        raise translate_error(err, legacy, direction) from err
    finally:
        impl.static_output = real_output
    for line in printed.getvalue().splitlines():
        real_output(f"-- {line}")
    for text in buffer:
        real_output(text)
    return True


NOTHING_KNOWN = blockers.Blocking()  # no lookup made: the messages give the generic advice


def translate_error(
    err: BaseException,
    legacy: LegacyFile,
    direction: str,
    applied: str = NOTHING_APPLIED,
    blocking: blockers.Blocking = NOTHING_KNOWN,
) -> MigrationError:
    """Turn an exception from a legacy migration into a message that names the fix.

    *applied* says what of the migration is left (default: nothing); *blocking*,
    looked up where the error was caught (`bridge.blockers.Blocking.look_up`), lets
    a lock timeout name who holds the lock. Builds text only: no database access.
    """
    describe = next(describe for matches, describe in _KINDS if matches(err))
    return MigrationError(legacy.path, f"{describe(err, direction, blocking)}\n{applied}", line=_line_of(err, legacy))


def sql_failure(err: exc.DBAPIError, blocking: blockers.Blocking = NOTHING_KNOWN) -> str | None:
    """Say which statement failed and what to do, for a lock or statement timeout or a deadlock (else None).

    For native revisions (`bridge.steps`) as for legacy files; *blocking* as for `translate_error`.
    """
    fix = _concurrency_fix(err, blocking)
    return _failed_statement(err, fix) if fix is not None else None


def stopped_the_program(err: BaseException, direction: str) -> str:
    """Say that a migration's ``sys.exit()`` (any non-``Exception``) fails it; for native revisions (`bridge.steps`)."""
    return _stopped_the_program(err, direction, NOTHING_KNOWN)


# -- one message per kind of failure: (err, direction, blocking) -> text, no I/O ------------


def _stopped_the_program(err: BaseException, direction: str, blocking: blockers.Blocking) -> str:
    shown = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
    return (
        f"{direction}() raised {shown}: it tried to stop the program, not just the "
        "migration (sys.exit() would end the run short of its target, reporting "
        "success). Use `return` to end a migration early, or raise an exception "
        "to fail it."
    )


def _refused(err: BaseException, direction: str, blocking: blockers.Blocking) -> str:
    return str(err)


def _plain_string(err: BaseException, direction: str, blocking: blockers.Blocking) -> str:
    return (
        "conn.execute() was given a plain string. SQLAlchemy 2.x needs "
        'text(): `from sqlalchemy import text` and `conn.execute(text("..."))`.'
    )


def _lost_connection(err: BaseException, direction: str, blocking: blockers.Blocking) -> str:
    return lost_connection(err, direction)


def lost_connection(err: BaseException, direction: str) -> str:
    """The words for a session lost while *direction*() ran (a legacy file's, a native revision's)."""
    return (
        f"{direction}() lost its connection to the database ({sqlstate.words(err)}): the server "
        "restarted or shut down, the session was terminated, or the network dropped. "
        "Its transaction died with the connection. Run again once the server is back."
    )


def _sql_failed(err: BaseException, direction: str, blocking: blockers.Blocking) -> str:
    assert isinstance(err, exc.DBAPIError)  # what _KINDS matched
    return _failed_statement(err, _concurrency_fix(err, blocking) or "Fix the SQL and run again.")


def _used_after_close(err: BaseException, direction: str, blocking: blockers.Blocking) -> str:
    return (
        f"{err}: a connection was used after its `with engine.connect() as conn:` "
        "block ended (or after conn.close()). Keep every statement inside the block."
    )


def _psycopg2_style(err: BaseException, direction: str, blocking: blockers.Blocking) -> str:
    name = getattr(err, "name", None)
    return (
        f"{direction}() uses its argument like a psycopg2 connection "
        f"(.{name}()), but the runner passes a SQLAlchemy Engine. Write "
        f"`def {direction}(engine):` with `with engine.connect() as conn: "
        "trans = conn.begin(); conn.execute(text(...)); trans.commit()`."
    )


def _not_for_legacy(err: BaseException, direction: str, blocking: blockers.Blocking) -> str:
    kind = "Engine" if isinstance(getattr(err, "obj", None), LegacyEngine) else "Connection"
    return (
        f"{kind}.{getattr(err, 'name', None)} is not available to legacy migrations run by the "
        "bridge (the migration runs inside Alembic's transaction). Use "
        "conn.execute(text(...)), exec_driver_sql(), begin()/commit()/rollback()."
    )


def _raised(err: BaseException, direction: str, blocking: blockers.Blocking) -> str:
    return f"{direction}() raised {type(err).__name__}: {err}"


def _missing_on(err: BaseException, *types: type) -> bool:
    """Is *err* an attribute missing on one of the bridge's stand-ins (`obj` of the given types)?"""
    return isinstance(err, AttributeError) and isinstance(getattr(err, "obj", None), types)


# The first kind that matches describes the failure; order matters where kinds overlap
# (a lost connection is a DBAPIError too; a refused statement an InvalidRequestError).
_KINDS: tuple[tuple[Callable[[BaseException], bool], Callable[[BaseException, str, blockers.Blocking], str]], ...] = (
    (lambda err: not isinstance(err, Exception), _stopped_the_program),  # SystemExit, GeneratorExit, ...
    (lambda err: isinstance(err, TransactionControlRefused), _refused),
    (lambda err: isinstance(err, exc.ObjectNotExecutableError), _plain_string),
    (lambda err: isinstance(err, exc.DBAPIError) and err.connection_invalidated, _lost_connection),
    (lambda err: isinstance(err, exc.DBAPIError), _sql_failed),
    (lambda err: isinstance(err, exc.ResourceClosedError), _used_after_close),
    (lambda err: _missing_on(err, LegacyEngine) and getattr(err, "name", None) in PSYCOPG2_NAMES, _psycopg2_style),
    (lambda err: _missing_on(err, LegacyEngine, LegacyConnection), _not_for_legacy),
    (lambda err: True, _raised),
)


def _line_of(err: BaseException, legacy: LegacyFile) -> int | None:
    """The line of *legacy* the failure points at: a refused statement's own, else the innermost in the file."""
    line = err.line if isinstance(err, TransactionControlRefused) else None
    return line or _line_in(err, legacy.location)


def _failed_statement(err: exc.DBAPIError, fix: str) -> str:
    db_message = str(err.orig).strip() if err.orig is not None else str(err)
    statement = " ".join(str(err.statement or "").split())
    if len(statement) > 500:
        statement = statement[:500] + " ..."
    return f"SQL failed: {db_message}\n  statement: {statement}\n{fix}"


def _concurrency_fix(err: exc.DBAPIError, blocking: blockers.Blocking) -> str | None:
    """Say what to do about a lock or statement timeout or a deadlock (None: another error)."""
    fix = _FIXES.get(sqlstate.of(err) or "")
    return fix(err, blocking) if fix is not None else None


def _lock_timeout_fix(err: exc.DBAPIError, blocking: blockers.Blocking) -> str:
    if blocking.holders:
        pids = ", ".join(str(pid) for pid, _ in blocking.holders)
        shown = "\n".join(f"  {line}" for _, line in blocking.holders)
        who = (
            "The statement waited longer than lock_timeout for a lock another session "
            f"holds:\n{shown}\nLet that session finish, or end it (SELECT "
            f"pg_terminate_backend({pids})), then run again"
        )
    else:
        who = (
            "The statement waited longer than lock_timeout (or NOWAIT refused to wait) for "
            "a lock another session held; that session is gone or holds it on an object "
            "the statement does not name. While the migration waits, "
            "`SELECT pid, state, query FROM pg_stat_activity WHERE cardinality("
            "pg_blocking_pids(pid)) > 0` shows who blocks whom. Run again when it is free"
        )
    return (
        f"{who}; or raise migration_lock_timeout (in alembic.ini, or at the top of the migration) "
        "to let it wait longer."
    )


def _cancelled_fix(err: exc.DBAPIError, blocking: blockers.Blocking) -> str:
    if "statement timeout" in str(err.orig):
        return (
            "The statement ran longer than statement_timeout allows and was cancelled. "
            "Make it faster (an index, smaller batches), or give this migration a longer "
            "statement_timeout (SET LOCAL statement_timeout = ...), then run again."
        )
    return "The statement was cancelled (pg_cancel_backend() or Ctrl-C); run again."


def _deadlock_fix(err: exc.DBAPIError, blocking: blockers.Blocking) -> str:
    detail = getattr(getattr(err.orig, "diag", None), "message_detail", None) or ""
    others = sorted({int(p) for p in re.findall(r"\bprocess (\d+)", detail, re.I)} - {blocking.own_pid})
    whom = f" (pid {', '.join(map(str, others))})" if others else ""
    return (
        f"This migration and another session{whom} each waited for a lock the other "
        "held; PostgreSQL cancelled this statement to break the deadlock. Run again "
        "once the other session is done (the SQL itself may be fine; taking locks in "
        "the same order everywhere avoids it)."
    )


ABORTED = (
    "A statement before it failed and the migration caught the error without rolling back: PostgreSQL "
    "refuses every later statement of the transaction, and a real engine's COMMIT would have rolled "
    "it all back without a word. Roll back after catching (`trans.rollback()`), run the statement that "
    "may fail inside a savepoint (`with conn.begin_nested():`), or let the error propagate; then run again."
)


_FIXES: dict[str, Callable[[exc.DBAPIError, blockers.Blocking], str]] = {
    sqlstate.IN_FAILED_SQL_TRANSACTION: lambda err, blocking: ABORTED,
    sqlstate.LOCK_NOT_AVAILABLE: _lock_timeout_fix,
    sqlstate.QUERY_CANCELED: _cancelled_fix,
    sqlstate.DEADLOCK_DETECTED: _deadlock_fix,
}


def _line_in(err: BaseException, location: str) -> int | None:
    line = None
    for frame, lineno in traceback.walk_tb(err.__traceback__):
        if frame.f_code.co_filename == location:
            line = lineno
    return line
