"""The lock-danger rules for native Alembic revisions: ``op.*`` calls and the SQL in ``op.execute``.

A team keeps one linter from legacy files through autogenerate: the same codes
(LB501-LB512, LB520) as for SQL in legacy files, read from Alembic's operations
in ``upgrade()`` (``downgrade()`` removes what upgrade added). Tables the
revision creates with ``op.create_table`` are not busy tables. ``op.execute``
SQL is parsed with pglast and judged by `bridge.lint.rules.locks`.
"""

from __future__ import annotations

import ast

from ... import sqltext
from . import sqlcheck
from .checks import Finding, end_line
from .locks import VOLATILE_FUNCTIONS, Danger, LockContext, dangers, is_concurrent, locked_table
from .pysource import FUNCTION_TYPES, SourceFile
from .rule import RuleOptions

TIMEOUT_OPTION = "migration_lock_timeout"
_LOCKING_OPS = {
    "add_column",
    "alter_column",
    "drop_column",
    "create_index",
    "drop_index",
    "create_foreign_key",
    "create_check_constraint",
    "create_unique_constraint",
    "create_primary_key",
    "drop_table",
    "rename_table",
    "drop_constraint",
}

_SECOND_IS_TABLE = {
    "create_index",
    "drop_index",
    "create_unique_constraint",
    "create_primary_key",
    "create_check_constraint",
    "create_foreign_key",
    "drop_constraint",
}


def check_native(src: SourceFile, options: RuleOptions) -> list[Finding]:
    """Return the lock dangers of one native revision's ``upgrade()``."""
    if not options.lock_rules:
        return []
    upgrade = next((n for n in src.tree.body if isinstance(n, FUNCTION_TYPES) and n.name == "upgrade"), None)
    if upgrade is None:
        return []
    checker = _NativeChecker(src, options)
    for call in sorted(
        (n for n in ast.walk(upgrade) if isinstance(n, ast.Call)), key=lambda c: (c.lineno, c.col_offset)
    ):
        checker.visit(call)
    return checker.findings


def _kw(call: ast.Call, name: str):
    return next((k.value for k in call.keywords if k.arg == name), None)


def _true(expr) -> bool:
    return isinstance(expr, ast.Constant) and expr.value is True


def _string(expr) -> str | None:
    return expr.value if isinstance(expr, ast.Constant) and isinstance(expr.value, str) else None


class _NativeChecker:
    """Walks one upgrade() in source order, keeping what it created and whether it warned of timeouts."""

    def __init__(self, src: SourceFile, options: RuleOptions):
        self.src = src
        self.options = options
        self.context = LockContext(postgres_version=options.postgres_version)
        self.findings: list[Finding] = []
        module_names = {
            t.id for n in src.tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)
        }
        self.timeout_warned = options.lock_timeout_configured is not False or TIMEOUT_OPTION in module_names

    def report(self, node: ast.expr, danger: Danger) -> None:
        statement = self.src.statement_of(node)
        line = getattr(node, "lineno", 1)
        end = end_line(statement) if statement is not None else line
        self.findings.append(Finding(danger.code, line, self.src.column(node), danger.message, danger.hint, end))

    def locks(self, node: ast.expr, table: str | None) -> None:
        if table is None or self.timeout_warned or table.lower() in self.context.created_tables:
            return
        self.timeout_warned = True
        self.report(
            node,
            Danger(
                "LB520",
                f"this revision locks existing table {table} with no lock timeout configured: while it "
                "waits for its lock, every query on the table queues behind it",
                f'set {TIMEOUT_OPTION} in [alembic] of alembic.ini (e.g. 5s), or `{TIMEOUT_OPTION} = "5s"` '
                "at module level in this file",
            ),
        )

    def autocommit(self, call: ast.Call) -> bool:
        for node in self.src.ancestors(call):
            if isinstance(node, ast.With) and any(
                "autocommit_block" in (ast.get_source_segment(self.src.source, item.context_expr) or "")
                for item in node.items
            ):
                return True
        return False

    def visit(self, call: ast.Call) -> None:
        func = call.func
        if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "op"):
            return
        method = func.attr
        if method == "execute" and call.args:
            self.visit_sql(call)
            return
        args = [_string(a) for a in call.args]
        if method in _SECOND_IS_TABLE:
            table = args[1] if len(args) > 1 else _string(_kw(call, "table_name") or _kw(call, "source_table"))
        else:
            table = args[0] if args else _string(_kw(call, "table_name"))
        if method == "drop_index" and table is None:
            name = args[0] if args else None
            table = "?" if name is None or name.lower() not in self.context.created_indexes else None
        if method == "create_index" and args:
            self.context.created_indexes.add((args[0] or "").lower())
        if method == "create_table" and table:
            self.context.created_tables.add(table.lower())
            return
        if method in _LOCKING_OPS:
            self.locks(call, table)
        existing = table is not None and table.lower() not in self.context.created_tables
        for danger in self.dangers(call, method, table or "?", existing):
            self.report(call, danger)

    def dangers(self, call: ast.Call, method: str, table: str, existing: bool) -> list[Danger]:
        concurrently = _true(_kw(call, "postgresql_concurrently"))
        found: list[Danger] = []
        if method in ("create_index", "drop_index") and concurrently and not self.autocommit(call):
            found.append(
                Danger(
                    "LB502",
                    f"op.{method}(..., postgresql_concurrently=True) outside an autocommit block: PostgreSQL "
                    "refuses CONCURRENTLY inside the revision's transaction",
                    "wrap it: `with op.get_context().autocommit_block(): op.create_index(...)`",
                )
            )
        if not existing:
            return found
        if method in ("create_index", "drop_index") and not concurrently:
            found.append(
                Danger(
                    "LB501",
                    f"op.{method}() on existing table {table} without postgresql_concurrently=True "
                    "blocks writes to the table (DROP: reads too) until it finishes",
                    f"op.{method}(..., postgresql_concurrently=True) inside "
                    "`with op.get_context().autocommit_block():`",
                )
            )
        elif method in ("create_foreign_key", "create_check_constraint") and not _true(
            _kw(call, "postgresql_not_valid")
        ):
            found.append(
                Danger(
                    "LB504",
                    f"op.{method}() on existing table {table} validates every row under a lock that blocks writes",
                    'pass postgresql_not_valid=True, then op.execute("ALTER TABLE ... VALIDATE CONSTRAINT ...")',
                )
            )
        elif method in ("create_unique_constraint", "create_primary_key"):
            found.append(
                Danger(
                    "LB503",
                    f"op.{method}() on existing table {table} builds its index under an ACCESS EXCLUSIVE lock",
                    "op.create_index(..., unique=True, postgresql_concurrently=True) in an autocommit block, then "
                    'op.execute("ALTER TABLE ... ADD CONSTRAINT ... UNIQUE USING INDEX ...")',
                )
            )
        elif method in ("drop_column", "drop_table"):
            what = "column" if method == "drop_column" else "table"
            found.append(
                Danger(
                    "LB510",
                    f"op.{method}() on {table}: the application version still running uses the {what}, "
                    "and fails from the moment this commits",
                    f"first deploy code that no longer uses the {what}, then drop it in a later revision",
                )
            )
        elif method == "rename_table":
            found.append(
                Danger(
                    "LB509",
                    f"op.rename_table() of {table}: the running application uses the old name",
                    "add the new table (or a view under the new name), move the code, drop the old one later",
                )
            )
        elif method == "alter_column":
            found += self.alter_column(call, table)
        elif method == "add_column" and len(call.args) > 1:
            found += self.add_column(call.args[1], table)
        return found

    def alter_column(self, call: ast.Call, table: str) -> list[Danger]:
        column = _string(call.args[1]) if len(call.args) > 1 else _string(_kw(call, "column_name")) or "?"
        found = []
        if _kw(call, "type_") is not None:
            found.append(
                Danger(
                    "LB508",
                    f"op.alter_column({table!r}, {column!r}, type_=...) rewrites the table under an ACCESS EXCLUSIVE lock",
                    "add a new column, backfill it, switch the code, drop the old one later",
                )
            )
        nullable = _kw(call, "nullable")
        if isinstance(nullable, ast.Constant) and nullable.value is False:
            found.append(
                Danger(
                    "LB505",
                    f"op.alter_column({table!r}, {column!r}, nullable=False) scans the table under an ACCESS EXCLUSIVE lock",
                    "add CHECK (col IS NOT NULL) NOT VALID, VALIDATE it, then set nullable=False (PostgreSQL 12+)",
                )
            )
        if _kw(call, "new_column_name") is not None:
            found.append(
                Danger(
                    "LB509",
                    f"op.alter_column({table!r}, {column!r}, new_column_name=...): the running application uses the old name",
                    "add the new column, write to both, move the code, drop the old one later",
                )
            )
        return found

    def add_column(self, column: ast.expr, table: str) -> list[Danger]:
        if not isinstance(column, ast.Call):
            return []
        nullable, default = _kw(column, "nullable"), _kw(column, "server_default")
        primary = _true(_kw(column, "primary_key"))
        source = (ast.get_source_segment(self.src.source, default) or "").lower() if default is not None else ""
        if default is not None and (
            self.options.postgres_version < 11 or any(f + "(" in source for f in VOLATILE_FUNCTIONS)
        ):
            return [
                Danger(
                    "LB507",
                    f"op.add_column({table!r}, ...) with server_default={source} rewrites the table "
                    "under an ACCESS EXCLUSIVE lock",
                    "add the column without server_default, set it with op.alter_column(server_default=...) "
                    "afterwards, backfill in batches",
                )
            ]
        if isinstance(nullable, ast.Constant) and nullable.value is False and default is None and not primary:
            return [
                Danger(
                    "LB506",
                    f"op.add_column({table!r}, ...) of a nullable=False column without server_default "
                    "fails as soon as the table has a row",
                    "give it a constant server_default, or add it nullable, backfill, then set nullable=False",
                )
            ]
        return []

    def visit_sql(self, call: ast.Call) -> None:
        arg = call.args[0]
        if isinstance(arg, ast.Call) and arg.args and getattr(arg.func, "attr", getattr(arg.func, "id", "")) == "text":
            arg = arg.args[0]
        texts = self.src.string_values(arg)
        for text in texts or ():
            parsed = sqlcheck.parse(text, sqltext.TEXT)
            if isinstance(parsed, sqlcheck.ParseFailure):
                continue
            for statement in parsed:
                node = statement.node
                for danger in dangers(node, self.context):
                    self.report(call, danger)
                if is_concurrent(node) and not self.autocommit(call):
                    self.report(
                        call,
                        Danger(
                            "LB502",
                            "CONCURRENTLY in op.execute() outside an autocommit block: PostgreSQL "
                            "refuses it inside the revision's transaction",
                            "wrap it: `with op.get_context().autocommit_block(): op.execute(...)`",
                        ),
                    )
                self.locks(call, locked_table(node, self.context))
                self.context.record(node)
