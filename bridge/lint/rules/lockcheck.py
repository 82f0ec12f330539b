"""The lock-danger rules (LB501-LB512, LB520) over one legacy file's SQL.

`bridge.lint.rules.locks` judges each parsed statement; this module adds what
only the Python around it tells: the statements run in ``upgrade`` (a
``downgrade`` removes what its upgrade added, as strong_migrations assumes
too), in file order (a table the file created is not a busy table), whether
the connection is AUTOCOMMIT (CONCURRENTLY needs it), and whether a lock
timeout is set (alembic.ini's ``migration_lock_timeout``, the file's own
module-level ``migration_lock_timeout``, or ``SET lock_timeout`` in its SQL
before the statement), and which statements share a transaction (under the
bridge, all of a migration's except those on AUTOCOMMIT connections:
`LockContext.begin_statement`).
"""

from __future__ import annotations

import ast

from . import sqlcheck
from .checks import FileChecker, SqlSite
from .flow import sets_autocommit
from .locks import Danger, dangers, locked_table
from .lockstate import LockContext, is_concurrent
from .pysource import FUNCTION_TYPES
from .rule import RuleOptions
from .schema import long_identifiers

TIMEOUT_OPTION = "migration_lock_timeout"


def check_locks(checker: FileChecker, options: RuleOptions) -> None:
    """Report the lock dangers of *checker*'s file through its `report` methods."""
    context = LockContext(postgres_version=options.postgres_version)
    timeout_warned = not _timeout_unset(checker, options)
    first_autocommit: dict[ast.AST, int | None] = {}  # per `with` block, found once (a file of 20,000 statements)
    for site in sorted(checker.sites, key=lambda s: (s.call.lineno, s.call.col_offset)):
        if _in_function(checker, site, "downgrade"):
            continue
        autocommit = _autocommit(checker, site, first_autocommit)
        for text, parsed in zip(site.texts, site.parsed):
            if isinstance(parsed, sqlcheck.ParseFailure):
                continue
            for offset, danger in long_identifiers(text):
                _report(checker, site, offset, danger.code, danger.message, danger.hint)
            for statement in parsed:
                node = statement.node
                context.begin_statement(autocommit)
                found = list(dangers(node, context))
                if is_concurrent(node) and not autocommit:
                    found.append(_in_transaction(node))
                blocked = locked_table(node, context)
                table = None if context.lock_timeout else blocked
                for danger in found:
                    _report(checker, site, statement.offset, danger.code, danger.message, danger.hint, blocked)
                if table is not None and not timeout_warned:
                    timeout_warned = True
                    _report(
                        checker,
                        site,
                        statement.offset,
                        "LB520",
                        f"this migration locks existing table {table} with no lock timeout configured: "
                        "while it waits for its lock, every query on the table queues behind it",
                        f"set {TIMEOUT_OPTION} in [alembic] of alembic.ini (e.g. 5s), or "
                        f'`{TIMEOUT_OPTION} = "5s"` at module level in this file',
                    )
                context.record(node)


def _report(
    checker: FileChecker, site: SqlSite, offset: int, code: str, message: str, hint: str, table: str | None = None
) -> None:
    before = len(checker.findings)
    if len(site.texts) > 1:
        checker.report(code, site.origin, message, hint)  # a loop: the string, not one of its values
    else:
        checker._report_at_offset(code, site, offset, message, hint)
    if table is not None and len(checker.findings) > before:
        checker.findings[-1].table = table


def _in_transaction(node) -> Danger:
    what = {"IndexStmt": "CREATE INDEX", "DropStmt": "DROP INDEX"}.get(type(node).__name__, "REINDEX")
    return Danger(
        "LB502",
        f"{what} CONCURRENTLY cannot run inside a transaction block, and this connection "
        "is not AUTOCOMMIT: PostgreSQL refuses it",
        "run it on its own AUTOCOMMIT connection: `with engine.connect().execution_options("
        'isolation_level="AUTOCOMMIT") as conn:`',
    )


def _timeout_unset(checker: FileChecker, options: RuleOptions) -> bool:
    if options.lock_timeout_configured is not False:
        return False  # configured, or not known (no Alembic configuration): not judged
    return TIMEOUT_OPTION not in checker.definitions


def _in_function(checker: FileChecker, site: SqlSite, name: str) -> bool:
    return any(isinstance(node, FUNCTION_TYPES) and node.name == name for node in checker.src.ancestors(site.call))


def _autocommit(checker: FileChecker, site: SqlSite, first_autocommit: dict[ast.AST, int | None]) -> bool:
    """Return whether the connection that runs *site* is AUTOCOMMIT (as far as the file shows).

    *first_autocommit* remembers, per ``with`` block, the line of its first statement that sets it.
    """
    call: ast.AST = site.call
    parent = checker.src.parent.get(call)
    if isinstance(parent, ast.Call) and isinstance(parent.func, ast.Attribute):
        call = parent  # text(...) inside conn.execute(...)
    receiver = call.func.value if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) else None
    if receiver is not None and sets_autocommit(receiver, checker.src.children):
        return True
    if isinstance(receiver, ast.Name):
        binding = checker.src.lookup(receiver)
        if binding is not None and binding.value is not None and sets_autocommit(binding.value, checker.src.children):
            return True
    for node in checker.src.ancestors(site.call):
        if isinstance(node, (ast.With, ast.AsyncWith)):
            if any(sets_autocommit(item.context_expr, checker.src.children) for item in node.items):
                return True
            if node not in first_autocommit:
                first_autocommit[node] = next(
                    (
                        statement.lineno
                        for statement in node.body
                        # `conn.execution_options(...)`, not a whole block
                        if isinstance(statement, (ast.Assign, ast.Expr))
                        and sets_autocommit(statement, checker.src.children)
                    ),
                    None,
                )
            line = first_autocommit[node]
            if line is not None and line < site.call.lineno:
                return True
    return False
