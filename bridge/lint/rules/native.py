"""The lock-danger rules for native Alembic revisions: ``op.*`` calls and the SQL in ``op.execute``.

A team keeps one linter from legacy files through autogenerate: the same codes
(LB501-LB512, LB520) as for SQL in legacy files, read from Alembic's operations
in ``upgrade()`` (``downgrade()`` removes what upgrade added). Tables the
revision creates with ``op.create_table`` are not busy tables. ``op.execute``
SQL is parsed with pglast and judged by `bridge.lint.rules.locks`.

``with op.batch_alter_table("t") as batch_op:``: on PostgreSQL batch mode emits
the same plain ALTERs as ``op.*``, so each ``batch_op.<method>(...)`` is judged
as ``op.<method>`` with the batch's table put back in its arguments.
Transactions: the revision runs in one, except what runs in
``autocommit_block()`` (`LockContext.begin_statement`).
"""

from __future__ import annotations

import ast
import re

from ... import sqltext
from . import sqlcheck
from .checks import Finding, end_line
from .locks import LATER, Danger, dangers, exclusion_danger, locked_table, set_not_null_hint
from .lockstate import LockContext, is_concurrent
from .pysource import FUNCTION_TYPES, SourceFile
from .rule import RuleOptions
from .schema import breaking as _breaking
from .schema import column_type_dangers, long_identifiers
from .volatility import default_is_volatile, volatile_call

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
    "create_exclude_constraint",
    "drop_table",
    "rename_table",
    "drop_constraint",
}

_SECOND_IS_TABLE = {
    "create_index",
    "drop_index",
    "create_unique_constraint",
    "create_primary_key",
    "create_exclude_constraint",
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
    if isinstance(expr, ast.Call) and getattr(expr.func, "attr", None) == "f" and expr.args:
        expr = expr.args[0]  # op.f("ix_name"): the name as written
    return expr.value if isinstance(expr, ast.Constant) and isinstance(expr.value, str) else None


def _callee(call: ast.expr) -> str:
    """Return the called name of ``sa.text(...)``, ``text(...)``, ``sa.func.now()`` (``now``), else ""."""
    if not isinstance(call, ast.Call):
        return ""
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _is_func(call: ast.Call) -> bool:
    func = call.func
    return isinstance(func, ast.Attribute) and (
        (isinstance(func.value, ast.Attribute) and func.value.attr == "func")
        or (isinstance(func.value, ast.Name) and func.value.id == "func")
    )


# SQLAlchemy's generic and PostgreSQL types, by the PostgreSQL type they create.
_SA_TYPES = {
    "Integer": "int4",
    "INTEGER": "int4",
    "INT": "int4",
    "SmallInteger": "int2",
    "SMALLINT": "int2",
    "String": "varchar",
    "Unicode": "varchar",
    "VARCHAR": "varchar",
    "CHAR": "bpchar",
    "DateTime": "timestamp",
    "TIMESTAMP": "timestamp",
}


def _pg_type(type_: ast.expr | None) -> tuple[str, int] | None:
    """Return (PostgreSQL type, number of modifiers) of ``sa.String(50)``, ``sa.Integer``, ``sa.DateTime()``."""
    if type_ is None:
        return None
    call = type_ if isinstance(type_, ast.Call) else None
    node = call.func if call is not None else type_
    name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else ""
    pg = _SA_TYPES.get(name)
    if pg is None:
        return None
    if pg == "timestamp" and call is not None and _true(_kw(call, "timezone")):
        return "timestamptz", 0
    modifiers = 1 if call is not None and (call.args or _kw(call, "length") is not None) else 0
    return pg, modifiers


_AUTOCOMMIT_BLOCK = "inside `with op.get_context().autocommit_block():`"
_NATIVE_WORDS = (
    (
        'on an AUTOCOMMIT connection: `engine.connect().execution_options(isolation_level="AUTOCOMMIT")`',
        _AUTOCOMMIT_BLOCK,
    ),
    ("on an AUTOCOMMIT connection", _AUTOCOMMIT_BLOCK),
)
_NOT_NULL_CHECK = re.compile(r'^\s*\(?\s*"?(\w+)"?\s+IS\s+NOT\s+NULL\s*\)?\s*$', re.IGNORECASE)


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

    def report(self, node: ast.expr, danger: Danger, table: str | None = None) -> None:
        statement = self.src.statement_of(node)
        line = getattr(node, "lineno", 1)
        end = end_line(statement) if statement is not None else line
        column = self.src.column(node)
        hint = danger.hint
        for legacy, native in _NATIVE_WORDS:  # the SQL rules' hints speak of a legacy file's connections
            hint = hint.replace(legacy, native)
        self.findings.append(Finding(danger.code, line, column, danger.message, hint, end, table))

    def locks(self, node: ast.expr, table: str | None) -> None:
        if table is None or self.timeout_warned or self.context.lock_timeout:
            return
        if table.lower() in self.context.created_tables:
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
                "autocommit_block" in (self.src.segment(item.context_expr) or "") for item in node.items
            ):
                return True
        return False

    def batch_table(self, call: ast.Call, name: str) -> str | None:
        """Return the table of the ``with op.batch_alter_table(table) as <name>:`` holding *call*, if any."""
        for node in self.src.ancestors(call):
            if not isinstance(node, (ast.With, ast.AsyncWith)):
                continue
            for item in node.items:
                opener = item.context_expr
                if (
                    isinstance(item.optional_vars, ast.Name)
                    and item.optional_vars.id == name
                    and isinstance(opener, ast.Call)
                    and _callee(opener) == "batch_alter_table"
                ):
                    table = opener.args[0] if opener.args else _kw(opener, "table_name")
                    return _string(table) or "?"
        return None

    def visit(self, call: ast.Call) -> None:
        func = call.func
        if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)):
            return
        method = func.attr
        args = list(call.args)
        if func.value.id != "op":
            table_name = self.batch_table(call, func.value.id)
            if table_name is None:
                return
            if method != "execute":  # batch_op.execute(sql) is op.execute(sql); it names no table
                # batch_op.<method>(...) is op.<method>(...) without the table argument.
                args.insert(1 if method in _SECOND_IS_TABLE else 0, ast.Constant(table_name))
        self.context.begin_statement(self.autocommit(call))
        if method == "execute" and args:
            self.visit_sql(call)
            return
        names = [_string(a) for a in args]
        if method in _SECOND_IS_TABLE:
            table = names[1] if len(names) > 1 else _string(_kw(call, "table_name") or _kw(call, "source_table"))
        else:
            table = names[0] if names else _string(_kw(call, "table_name"))
        if method == "drop_index" and table is None:
            name = names[0] if names else None
            table = "?" if name is None or name.lower() not in self.context.created_indexes else None
        if method == "create_index" and names:
            self.context.created_indexes.add((names[0] or "").lower())
        if method in ("create_table", "add_column", "alter_column"):
            self.column_types(call, method, args)
        if method == "create_table" and table:
            self.context.created_tables.add(table.lower())
            return
        if method in _LOCKING_OPS:
            self.locks(call, table)
        existing = table is not None and table.lower() not in self.context.created_tables
        if existing and method in _LOCKING_OPS and not _true(_kw(call, "postgresql_concurrently")):
            self.context.locked[(table or "").lower()] = self.context.transaction  # held until it commits
        for danger in self.dangers(call, method, table or "?", existing, args):
            self.report(call, danger, table if existing else None)
        self.record(call, method, table, names, args)

    def column_types(self, call: ast.Call, method: str, args: list) -> None:
        """Report the column-type rules (LB720-LB725) for the SQLAlchemy types an op creates."""
        if method == "alter_column":
            column = (_string(args[1]) if len(args) > 1 else None) or "?"
            typed = [(column, _kw(call, "type_"))]
        else:
            columns = args[1:] if method == "create_table" else args[1:2]
            typed = [
                (_string(c.args[0]) or "?", c.args[1] if len(c.args) > 1 else _kw(c, "type_"))
                for c in columns
                if isinstance(c, ast.Call) and _callee(c) == "Column" and c.args
            ]
        for column, type_ in typed:
            pg_type = _pg_type(type_)
            if pg_type is not None:
                for danger in column_type_dangers(*pg_type, column):
                    self.report(call, danger)

    def record(self, call: ast.Call, method: str, table: str | None, names: list, args: list) -> None:
        """Remember the constraints an op adds (NOT VALID ones, and CHECK (column IS NOT NULL))."""
        if table is None or method not in ("create_check_constraint", "create_foreign_key") or not names[0]:
            return
        column = None
        if method == "create_check_constraint":
            condition = args[2] if len(args) > 2 else _kw(call, "condition")
            if isinstance(condition, ast.Call) and _callee(condition) == "text" and condition.args:
                condition = condition.args[0]
            match = _NOT_NULL_CHECK.match(_string(condition) or "")
            column = match.group(1) if match else None
        not_valid = _true(_kw(call, "postgresql_not_valid"))
        self.context.record_constraint(table, names[0], column, not_valid)

    def dangers(self, call: ast.Call, method: str, table: str, existing: bool, args: list) -> list[Danger]:
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
                    'pass postgresql_not_valid=True, then op.execute("ALTER TABLE ... VALIDATE CONSTRAINT ...") '
                    f"{LATER}",
                )
            )
        elif method == "create_exclude_constraint":
            found.append(Danger("LB503", *exclusion_danger(f"op.{method}() on existing table {table}")))
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
        elif method == "drop_constraint":
            name = (_string(args[0]) if args else None) or "?"
            found.append(_breaking(f"op.drop_constraint({name!r}, {table!r})", "the constraint"))
        elif method == "alter_column":
            found += self.alter_column(call, table, args)
        elif method == "add_column" and len(args) > 1:
            found += self.add_column(args[1], table)
        return found

    def alter_column(self, call: ast.Call, table: str, args: list) -> list[Danger]:
        column = (_string(args[1]) if len(args) > 1 else _string(_kw(call, "column_name"))) or "?"
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
        proven = self.context.not_null_proven(table, column)
        if isinstance(nullable, ast.Constant) and nullable.value is False and not proven:
            found.append(
                Danger(
                    "LB505",
                    f"op.alter_column({table!r}, {column!r}, nullable=False) scans the table under an ACCESS EXCLUSIVE lock",
                    set_not_null_hint(column, self.options.postgres_version),
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
        if isinstance(nullable, ast.Constant) and nullable.value is True:
            found.append(
                Danger(
                    "LB704",
                    f"op.alter_column({table!r}, {column!r}, nullable=True) drops NOT NULL: the application "
                    "version still running assumes the column is never NULL",
                    "first deploy code that handles NULL, then drop the constraint (`# noqa: LB704`)",
                )
            )
        default = next((k.value for k in call.keywords if k.arg == "server_default"), False)
        if isinstance(default, ast.Constant) and default.value is None:
            found.append(_breaking(f"op.alter_column({table!r}, {column!r}, server_default=None)", "the default"))
        return found

    def add_column(self, column: ast.expr, table: str) -> list[Danger]:
        if not isinstance(column, ast.Call):
            return []
        nullable, default = _kw(column, "nullable"), _kw(column, "server_default")
        primary = _true(_kw(column, "primary_key"))
        source = (self.src.segment(default) or "").lower() if default is not None else ""
        computed = next((a for a in column.args if _callee(a) in ("Computed", "Identity")), None)
        found = []
        if any(_callee(a) == "ForeignKey" for a in column.args):
            found.append(
                Danger(
                    "LB504",
                    f"op.add_column({table!r}, ...) with a ForeignKey: Alembic adds the constraint without "
                    "NOT VALID, validating every row under SHARE ROW EXCLUSIVE locks on both tables",
                    "add the column plain, then op.create_foreign_key(..., postgresql_not_valid=True) and "
                    f"VALIDATE CONSTRAINT {LATER}",
                )
            )
        if computed is not None and _callee(computed) == "Computed":
            return found + [
                Danger(
                    "LB507",
                    f"op.add_column({table!r}, ...) of a Computed (GENERATED ... STORED) column computes a value "
                    "per row: it rewrites the table under an ACCESS EXCLUSIVE lock",
                    "add the column plain, backfill in batches, then attach the expression",
                )
            ]
        if default is not None and (self.options.postgres_version < 11 or self.volatile(default)):
            return found + [
                Danger(
                    "LB507",
                    f"op.add_column({table!r}, ...) with server_default={source} rewrites the table "
                    "under an ACCESS EXCLUSIVE lock",
                    "add the column without server_default, set it with op.alter_column(server_default=...) "
                    "afterwards, backfill in batches",
                )
            ]
        if (
            isinstance(nullable, ast.Constant)
            and nullable.value is False
            and default is None
            and not primary
            and computed is None
        ):
            found.append(
                Danger(
                    "LB506",
                    f"op.add_column({table!r}, ...) of a nullable=False column without server_default "
                    "fails as soon as the table has a row",
                    "give it a constant server_default, or add it nullable, backfill, then set nullable=False",
                )
            )
        return found

    def volatile(self, default: ast.expr) -> bool:
        """Return whether a ``server_default`` calls a volatile (or unknown) function."""
        if isinstance(default, ast.Call) and _callee(default) == "text" and default.args:
            sql = _string(default.args[0])
            return sql is None or default_is_volatile(sql)
        if isinstance(default, ast.Call) and _is_func(default):
            return volatile_call(_callee(default), len(default.args)) or any(self.volatile(a) for a in default.args)
        return False

    def visit_sql(self, call: ast.Call) -> None:
        arg = call.args[0]
        if isinstance(arg, ast.Call) and arg.args and getattr(arg.func, "attr", getattr(arg.func, "id", "")) == "text":
            arg = arg.args[0]
        texts = self.src.string_values(arg)
        autocommit = self.autocommit(call)
        for text in texts or ():
            parsed = sqlcheck.parse(text, sqltext.TEXT)
            if isinstance(parsed, sqlcheck.ParseFailure):
                continue
            for _, danger in long_identifiers(text):
                self.report(call, danger)
            for index, statement in enumerate(parsed):
                node = statement.node
                if index:
                    self.context.begin_statement(autocommit)
                blocked = locked_table(node, self.context)
                for danger in dangers(node, self.context):
                    self.report(call, danger, blocked)
                if is_concurrent(node) and not autocommit:
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
