"""Every check, run over one legacy migration file's source text.

`check_file` is the whole linter for one file, before selection and ``noqa``:
file-name rules first (they need no parsing), then the syntax tree. The file
is never imported or run.

Over 500 lines because it is one concept: `FileChecker`, the code rules run
over one syntax tree, which share its name bindings, its SQL sites and their
parse cache (the SQL itself is read by `sqlcheck` and `bridge.sqltext`, the
Python by `pysource`, the paths through a function by `flow`).
"""

from __future__ import annotations

import ast
import difflib
import re
import sys
from dataclasses import dataclass, field
from typing import TypeAlias, TypeGuard

from ... import loader, sqltext
from . import sqlcheck
from .flow import EXEC_METHODS, Hooks, TransactionFlow, is_begin_call, is_broad, is_connect_call
from .pysource import FUNCTION_TYPES, MAX_VALUES, Scope, SourceFile

DRIVER_MODULES = ("psycopg2", "psycopg")
NOT_ENGINES = ("psycopg2", "psycopg", "sqlite3", "pymysql", "asyncpg", "op")
ENGINE_LACKS = ("execute", "exec_driver_sql", "scalar", "scalars", "commit", "rollback", "close")
INSPECTOR_METHODS = {
    "has_table",
    "has_index",
    "has_schema",
    "has_sequence",
    "get_columns",
    "get_indexes",
    "get_table_names",
    "get_view_names",
    "get_sequence_names",
    "get_unique_constraints",
    "get_foreign_keys",
    "get_check_constraints",
    "get_pk_constraint",
    "get_enums",
    "get_schema_names",
    "get_multi_columns",
}
EXISTS_NAME = re.compile(r"_exists?$|^exists?_|^has_", re.IGNORECASE)  # column_exists, has_table
# The nodes with a position in the source that findings point at.
Positioned: TypeAlias = "ast.stmt | ast.expr | ast.arg | ast.excepthandler"
if sys.version_info >= (3, 11):
    TRY_TYPES = (ast.Try, ast.TryStar)  # `try: ... except* ...` has the same fields
else:
    TRY_TYPES = (ast.Try,)


@dataclass
class Finding:
    """One problem in one file, before selection and noqa are applied."""

    code: str
    line: int
    col: int
    message: str
    hint: str | None = None
    end_line: int | None = None
    table: str | None = None  # the existing table a lock danger blocks, where known (`check` sizes it)


@dataclass
class SqlSite:
    """One SQL string handed to the database: ``text(...)``, ``execute("...")``, ``exec_driver_sql(...)``."""

    call: ast.Call
    scope: Scope
    style: str
    origin: ast.expr
    texts: list[str]
    parsed: list = field(default_factory=list)


def check_filename(filename: str) -> list[Finding]:
    """Check a file name against the legacy pattern, with the loader's own parser."""
    parsed = loader.parse_name(filename)
    if isinstance(parsed, tuple):
        return []
    if loader.MIGRATION_NAME.match(filename):
        return [Finding("LB002", 1, 1, f"file name {filename!r} has an impossible date: {parsed}")]
    return [
        Finding(
            "LB001",
            1,
            1,
            f"file name {filename!r} does not match {{YYYYMMDD}}_{{description}}.py: {parsed}",
        )
    ]


def is_native_revision(tree: ast.Module) -> bool:
    """Return whether the file is an ordinary Alembic revision (it sets revision and down_revision)."""
    names = set()
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return {"revision", "down_revision"} <= names


def positional_parameters(call: ast.Call) -> bool:
    """Return whether an execute-like call passes SQLAlchemy 1.x positional parameters (``execute(sql, a, b)``)."""
    if len(call.args) > 2:
        return True
    if len(call.args) != 2:
        return False
    values = call.args[1]
    if isinstance(values, ast.Tuple):
        return True  # execute(sql, (a, b)); a list of dicts (executemany) is 2.x style
    return isinstance(values, (ast.Constant, ast.JoinedStr)) or (
        isinstance(values, ast.List) and any(not isinstance(item, ast.Dict) for item in values.elts)
    )


def imports(nodes):
    """Yield each absolute import statement among *nodes* with the module names it imports."""
    for node in nodes:
        if isinstance(node, ast.Import):
            yield node, [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node, [node.module]


class FileChecker:
    """Runs the code rules over one parsed file and collects their findings."""

    def __init__(self, src: SourceFile):
        self.src = src
        self.findings: list[Finding] = []
        self.text_names, self.sa_modules = self._sqlalchemy_names()
        self.definitions = self._module_definitions()
        self.sites: list[SqlSite] = []
        self._sites_by_call: dict[ast.Call, SqlSite] = {}
        self._parsed: dict[tuple[str, str], object] = {}
        self._guards: dict[ast.AST, tuple] = {}
        self._checkers: set[str] | None = None
        self._reported: set = set()

    def run(self) -> list[Finding]:
        self.check_signatures()
        self.check_imports()
        self.check_calls()
        self.check_sql()
        self.check_handlers()
        self.check_transactions()
        return self.findings

    # -- reporting ----------------------------------------------------------------------
    def report(
        self, code: str, node_or_line: Positioned | int, message: str, hint: str | None = None, col: int | None = None
    ) -> None:
        if isinstance(node_or_line, int):
            line, column = node_or_line, col or 0
            if column <= 0:
                text = self.src.lines[line - 1] if 0 < line <= len(self.src.lines) else ""
                column = len(text) - len(text.lstrip()) + 1
            end = line
        else:
            line, column = node_or_line.lineno, self.src.column(node_or_line)
            statement = self.src.statement_of(node_or_line)
            end = end_line(statement) if statement is not None else node_or_line.lineno
            end = max(end, getattr(node_or_line, "end_lineno", None) or line)
            if hasattr(node_or_line, "body"):
                end = line  # a compound statement: only its first line takes a noqa
        key = (code, line, column, message)
        if key in self._reported:
            return
        self._reported.add(key)
        self.findings.append(Finding(code, line, column, message, hint, max(end, line)))

    # -- names --------------------------------------------------------------------------
    def _sqlalchemy_names(self) -> tuple[set[str], set[str]]:
        text_names, modules = {"text"}, set()
        for node in self.src.of_type(ast.ImportFrom, ast.Import):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
                for alias in node.names:
                    if alias.name == "text":
                        text_names.add(alias.asname or "text")
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == "sqlalchemy":
                        modules.add(alias.asname or "sqlalchemy")
        return text_names, modules

    def _module_definitions(self) -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef | None]:
        """Return module-level names: function nodes, or None for other bindings."""
        found: dict[str, ast.FunctionDef | ast.AsyncFunctionDef | None] = {}

        def visit(statements):
            for node in statements:
                if isinstance(node, FUNCTION_TYPES):
                    found[node.name] = node
                elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    for target in targets:
                        for name in ast.walk(target):
                            if isinstance(name, ast.Name):
                                found[name.id] = None
                elif isinstance(node, (ast.Import, ast.ImportFrom)):
                    for alias in node.names:
                        found[(alias.asname or alias.name).split(".")[0]] = None
                elif isinstance(node, ast.If) and not _is_main_guard(node):
                    visit(node.body)
                    visit(node.orelse)
                elif isinstance(node, ast.Try):
                    visit(node.body)
                    for handler in node.handlers:
                        visit(handler.body)
                    visit(node.orelse)
                    visit(node.finalbody)

        visit(self.src.tree.body)
        return found

    def is_text_call(self, expr: ast.AST) -> TypeGuard[ast.Call]:
        if not isinstance(expr, ast.Call):
            return False
        func = expr.func
        if isinstance(func, ast.Name):
            return func.id in self.text_names
        if isinstance(func, ast.Attribute) and func.attr == "text":
            root = func.value
            while isinstance(root, ast.Attribute):
                root = root.value
            return isinstance(root, ast.Name) and root.id in self.sa_modules
        return False

    def _binding_value(self, expr: ast.AST):
        if isinstance(expr, ast.Name):
            binding = self.src.lookup(expr)
            if binding is not None and binding.kind in ("assign", "with"):
                return binding
        return None

    def is_engine(self, expr: ast.AST) -> TypeGuard[ast.Name]:
        """Return whether *expr* names the Engine: upgrade/downgrade's parameter, or create_engine()."""
        if not isinstance(expr, ast.Name) or expr.id in NOT_ENGINES:
            return False
        binding = self.src.lookup(expr)
        if binding is None:
            return False
        if binding.kind == "assign":
            call = binding.value
            if isinstance(call, ast.Call):
                func = call.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
                return name == "create_engine"
            return False
        if binding.kind == "param":
            scope = self.src.scope_of(expr)
            if isinstance(scope, FUNCTION_TYPES) and scope in (
                self.definitions.get("upgrade"),
                self.definitions.get("downgrade"),
            ):
                params = [*scope.args.posonlyargs, *scope.args.args]
                return bool(params) and params[0].arg == expr.id
        return False

    def is_cursor(self, expr: ast.AST) -> bool:
        if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute):
            return expr.func.attr == "cursor"
        if isinstance(expr, ast.Name):
            if expr.id in ("cursor", "cur", "op"):
                return True
            binding = self._binding_value(expr)
            return binding is not None and self.is_cursor(binding.value)
        return False

    def is_connection(self, expr: ast.AST) -> bool:
        binding = self._binding_value(expr)
        return binding is not None and binding.kind == "assign" and is_connect_call(binding.value)

    # -- LB101-LB104 --------------------------------------------------------------------
    def check_signatures(self) -> None:
        for name, missing_code in (("upgrade", "LB101"), ("downgrade", "LB102")):
            if name not in self.definitions:
                functions = [n for n, node in self.definitions.items() if node is not None]
                close = difflib.get_close_matches(name, functions, n=1, cutoff=0.75)
                did_you_mean = f" (is `{close[0]}` a typo?)" if close else ""
                self.report(
                    missing_code,
                    1,
                    f"no module-level `{name}(engine)` function{did_you_mean}",
                    col=1,
                )
                continue
            node = self.definitions[name]
            if node is None:
                continue  # bound some other way (assignment, import): cannot check its shape
            self._check_arity(name, node)

    def _check_arity(self, name: str, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        if isinstance(node, ast.AsyncFunctionDef):
            self.report(
                "LB103",
                node,
                f"`async def {name}` returns a coroutine the runner never awaits: nothing would run",
                hint=f"make it a plain function: `def {name}(engine):`",
            )
            return
        args = node.args
        positional = [*args.posonlyargs, *args.args]
        required = len(positional) - len(args.defaults)
        required_keywords = [arg.arg for arg, default in zip(args.kwonlyargs, args.kw_defaults) if default is None]
        if not positional and args.vararg is None:
            self.report(
                "LB103",
                node,
                f"`{name}()` takes no parameter, but the runner calls {name}(engine) "
                f"(TypeError: {name}() takes 0 positional arguments but 1 was given)",
                hint=f"declare exactly one parameter: `def {name}(engine):`",
            )
            return
        if required > 1:
            shown = ", ".join(a.arg for a in positional[:required])
            self.report(
                "LB103",
                node,
                f"`{name}({shown})` needs {required} arguments, but the runner passes only the engine",
                hint=f"declare exactly one parameter: `def {name}(engine):`",
            )
            return
        if required_keywords:
            self.report(
                "LB103",
                node,
                f"`{name}` has required keyword-only parameter(s) "
                f"{', '.join(required_keywords)}; the runner passes only the engine",
                hint=f"declare exactly one parameter: `def {name}(engine):`",
            )
            return
        if positional and positional[0].arg != "engine" and "engine" in positional[0].arg.lower():
            self.report(
                "LB106",
                positional[0],
                f"the parameter of `{name}` is named `{positional[0].arg}`; the manual's signature "
                f"is `{name}(engine)` (the file runs: the engine is passed positionally)",
                hint=f"rename it: `def {name}(engine):`",
            )
        elif positional and positional[0].arg != "engine":
            self.report(
                "LB104",
                positional[0],
                f"the parameter of `{name}` is named `{positional[0].arg}`; the runner passes a "
                "SQLAlchemy Engine, so name it `engine`",
                hint=f"rename it: `def {name}(engine):`",
            )

    # -- LB201 --------------------------------------------------------------------------
    def check_imports(self) -> None:
        for node, modules in imports(self.src.of_type(ast.Import, ast.ImportFrom)):
            for module in modules:
                if module.split(".")[0] in DRIVER_MODULES:
                    where = " in the `__main__` block" if self._in_main_guard(node) else ""
                    self.report(
                        "LB201",
                        node,
                        f"`{module}` is imported{where}: migrations must use the SQLAlchemy "
                        "engine they are given, not the driver",
                    )

    def _in_main_guard(self, node: ast.AST) -> bool:
        return any(isinstance(a, ast.If) and _is_main_guard(a) for a in self.src.ancestors(node))

    # -- LB202-LB205, LB301, and collecting SQL --------------------------------------------
    def check_calls(self) -> None:
        for call in self.src.of_type(ast.Call):
            if self.is_text_call(call):
                if call.args:
                    self._add_site(call, call.args[0], sqltext.TEXT)
                continue
            if not isinstance(call.func, ast.Attribute):
                continue
            method, receiver = call.func.attr, call.func.value
            if method == "cursor":
                self.report(
                    "LB202",
                    call,
                    "`.cursor()` is the DB-API (psycopg2) style; the runner passes a SQLAlchemy Engine",
                )
                continue
            if method in ENGINE_LACKS and self.is_engine(receiver):
                binding = self.src.lookup(receiver)  # found: is_engine() looked it up
                what = (
                    "the Engine the runner passes"
                    if binding is not None and binding.kind == "param"
                    else "a SQLAlchemy Engine"
                )
                self.report(
                    "LB205",
                    call,
                    f"`{receiver.id}.{method}()`: `{receiver.id}` is {what}, and an Engine has no "
                    f"{method}() in SQLAlchemy 2.x (AttributeError)",
                    hint=self._engine_hint(receiver.id, method, call),
                )
                if call.args and method != "exec_driver_sql":
                    self._add_site(call, call.args[0], sqltext.TEXT)  # one finding per call: no LB203 too
                    continue
            if method in ("execute", "scalar", "scalars") and call.args and not self.is_cursor(receiver):
                self._check_execute(call, method, call.args[0])
            elif method == "exec_driver_sql" and call.args:
                self._check_driver_sql(call, call.args[0])
            elif method == "connect" and is_connect_call(call):
                if not (isinstance(receiver, ast.Name) and receiver.id in NOT_ENGINES):
                    self._check_connect(call)
            elif method == "begin" and is_begin_call(call) and self.is_engine(receiver):
                if not self._is_with_item(call):
                    self.report(
                        "LB301",
                        call,
                        f"`{receiver.id}.begin()` outside a `with` block: it returns a context "
                        "manager, not a transaction",
                        hint=f"write `with {receiver.id}.begin() as conn:`",
                    )

    def _engine_hint(self, name: str, method: str, call: ast.Call) -> str:
        """Return the LB205 fix as code that runs: the same call on a connection."""
        if method in ("commit", "rollback", "close"):
            done = {
                "commit": "commits when the block ends",
                "rollback": "rolls back when an exception escapes it",
                "close": "closes the connection when the block ends",
            }[method]
            return f"remove `{name}.{method}()`: `with {name}.begin() as conn:` {done}"
        arguments = ", ".join(self._source(arg) for arg in call.args)
        if "\n" in arguments or len(arguments) > 60:
            arguments = 'text("...")' if self.is_text_call(call.args[0]) else '"..."'
        return f"open a connection first: `with {name}.begin() as conn: conn.{method}({arguments})`"

    def _is_with_item(self, call: ast.Call) -> bool:
        parent = self.src.parent.get(call)
        # closing(engine.connect()), engine.connect().execution_options(...)
        while isinstance(parent, (ast.Call, ast.Attribute)):
            outer = parent if isinstance(parent, ast.Call) else self.src.parent.get(parent)
            if outer is None or not is_connect_call(outer):
                break
            parent = self.src.parent.get(outer)
        return isinstance(parent, ast.withitem)

    def _check_connect(self, call: ast.Call) -> None:
        if self._is_with_item(call):
            return
        parent = self.src.parent.get(call)
        if isinstance(parent, ast.Return):
            return  # a factory: whoever calls it owns the connection
        if isinstance(parent, ast.Attribute) and parent.attr == "close":
            return  # engine.connect().close(): a connectivity probe
        if isinstance(parent, ast.Assign) and len(parent.targets) == 1 and isinstance(parent.targets[0], ast.Name):
            name = parent.targets[0].id
            if self._closed_in_finally(self.src.scope_of(call), name):
                return
        self.report(
            "LB301",
            call,
            "connection opened outside a `with` block: it is not closed when an exception escapes",
            hint="write `with engine.connect() as conn:` (or `with engine.begin() as conn:`)",
        )

    def _closed_in_finally(self, scope: Scope, name: str) -> bool:
        for node in self.src.walk_scope(scope):
            if isinstance(node, ast.withitem) and isinstance(node.context_expr, ast.Name):
                if node.context_expr.id == name:
                    return True
            if isinstance(node, ast.Try):
                for statement in node.finalbody:
                    for call in ast.walk(statement):
                        if (
                            isinstance(call, ast.Call)
                            and isinstance(call.func, ast.Attribute)
                            and call.func.attr == "close"
                            and isinstance(call.func.value, ast.Name)
                            and call.func.value.id == name
                        ):
                            return True
        return False

    def _check_execute(self, call: ast.Call, method: str, arg: ast.expr) -> None:
        if self.is_text_call(arg) or self.is_text_call(self.src.origin(arg)):
            return
        if positional_parameters(call):
            self._add_site(call, arg, sqltext.DRIVER)  # LB209 reports the call: one finding per call
            return
        texts = self.src.string_values(arg)
        builder = None if texts is not None else self.src.string_builder(arg)
        if texts is None and builder is None:
            return
        self.report(
            "LB203",
            arg,
            f"`{method}()` is given a plain string; SQLAlchemy 2.x raises "
            "ObjectNotExecutableError (Not an executable object)",
        )
        self._add_site(call, arg, sqltext.TEXT)

    def _check_driver_sql(self, call: ast.Call, arg: ast.expr) -> None:
        if self.is_text_call(arg) or self.is_text_call(self.src.origin(arg)):
            self.report(
                "LB204",
                arg,
                "`exec_driver_sql()` is given a `text()` construct; it takes a plain SQL string",
            )
            return
        self._add_site(call, arg, sqltext.DRIVER)

    def _add_site(self, call: ast.Call, arg: ast.expr, style: str) -> None:
        texts = self.src.string_values(arg)
        if texts is None:
            builder = self.src.string_builder(arg)
            if builder is not None:
                self._report_formatted(builder)
            return
        site = SqlSite(call, self.src.scope_of(call), style, self.src.origin(arg), texts)
        site.parsed = [self.parse(text, style) for text in texts]
        self.sites.append(site)
        self._sites_by_call[call] = site

    def _report_formatted(self, builder: ast.expr) -> None:
        how = {ast.JoinedStr: "an f-string", ast.BinOp: "string formatting"}.get(type(builder), "`.format()`")
        if isinstance(builder, ast.BinOp) and isinstance(builder.op, ast.Add):
            how = "string concatenation"
        elif isinstance(builder, ast.BinOp):
            how = "`%` formatting"
        names = self.src.variables_in(builder)[:3]
        source = f" from {', '.join(f'`{n}`' for n in names)}" if names else " from variables"
        self.report(
            "LB403",
            builder,
            f"SQL built with {how}{source}: an injection risk, and the linter cannot check the statement",
        )

    def parse(self, text: str, style: str):
        key = (text, style)
        if key not in self._parsed:
            self._parsed[key] = sqlcheck.parse(text, style)
        return self._parsed[key]

    # -- LB401, LB402 -------------------------------------------------------------------
    def check_sql(self) -> None:
        for site in self.sites:
            if len(site.texts) == 1:
                text, parsed = site.texts[0], site.parsed[0]
                if isinstance(parsed, sqlcheck.ParseFailure):
                    message, hint = self._parse_failure(site, text, parsed)
                    self._report_at_offset("LB402", site, parsed.offset, message, hint)
                    continue
                for index, statement in enumerate(parsed):
                    for issue in sqlcheck.idempotency_issues(statement.node):
                        if not self._guarded(site, index, issue):
                            self._report_at_offset("LB401", site, statement.offset, issue.message, issue.hint)
                continue
            # One string, several texts (a loop over constants): one finding per rule.
            found: dict[str, list[tuple[str, str | None]]] = {"LB401": [], "LB402": []}
            for text, parsed in zip(site.texts, site.parsed):
                if isinstance(parsed, sqlcheck.ParseFailure):
                    found["LB402"].append(self._parse_failure(site, text, parsed))
                    continue
                for index, statement in enumerate(parsed):
                    for issue in sqlcheck.idempotency_issues(statement.node):
                        if not self._guarded(site, index, issue):
                            found["LB401"].append((issue.message, issue.hint))
            for code, items in found.items():
                if items:
                    message, hint = items[0]
                    more = len(items) - 1
                    at_least = "at least " if len(site.texts) >= MAX_VALUES else ""
                    suffix = f" (and {at_least}{more} more from the same loop)" if more else ""
                    self.report(code, site.origin, message + suffix, hint)

    def _parse_failure(self, site: SqlSite, text: str, failure) -> tuple[str, str | None]:
        hint = None
        if site.style == sqltext.TEXT and re.search(r"%\(\w+\)s|%s\b", text):
            hint = "text() takes :name bound parameters, not %s / %(name)s"
        elif site.style == sqltext.DRIVER and re.search(r"(?<![:\w]):\w", text):
            hint = (
                "exec_driver_sql() sends SQL to the driver unchanged: use %(name)s placeholders, "
                "or execute(text(...)) for :name parameters"
            )
        return f"SQL does not parse: {failure.message}", hint

    def _report_at_offset(self, code, site: SqlSite, offset, message, hint) -> None:
        position = self.src.position_in_literal(site.origin, offset) if offset is not None else None
        if position is None:
            self.report(code, site.origin, message, hint)
            return
        line, col = position
        statement = self.src.statement_of(site.origin)
        end = end_line(statement if statement is not None else site.origin)
        key = (code, line, col, message)
        if key not in self._reported:
            self._reported.add(key)
            self.findings.append(Finding(code, line, col, message, hint, max(end, line)))

    def _guarded(self, site: SqlSite, index: int, issue) -> bool:
        checks, exit_ifs, drops = self._guard_facts(site.scope)
        position = (site.call.lineno, site.call.col_offset, index)
        if issue.key is not None and any(key == issue.key and where < position for where, key in drops):
            return True
        line = site.call.lineno
        subject, table = issue.subject, issue.table.lower() if issue.table else None

        def mentions(check_text: str, test: str) -> bool:
            # An unnamed object: any existence check guards it. Else a check naming it, or a
            # check on its table (not on one of its columns) that guards the whole block.
            texts = (check_text.lower(), test.lower())
            if subject is None or any(subject in text for text in texts):
                return True
            return table is not None and table in texts[0] and "column" not in texts[0]

        for check, check_text in checks:
            if check > line:
                continue
            for node in self.src.ancestors(site.call):
                if node is site.scope:
                    break
                if isinstance(node, (ast.If, ast.While)) and node.lineno >= check:
                    if mentions(check_text, self._source(node.test)):
                        return True
            for node in exit_ifs:
                if check <= node.lineno and node.end_lineno < line and mentions(check_text, self._source(node.test)):
                    return True
        return False

    def _source(self, node: ast.AST) -> str:
        return self.src.segment(node) or ""

    def _guard_facts(self, scope: Scope) -> tuple:
        """Return (existence-check lines, ifs that exit early, DROP IF EXISTS keys) of *scope*."""
        cached = self._guards.get(scope)
        if cached is not None:
            return cached
        checker_functions = self._checking_functions()
        checks, exit_ifs, drops = [], [], []
        for node in self.src.walk_scope(scope):
            if isinstance(node, ast.Call) and self._is_existence_check(node, checker_functions):
                site = self._sites_by_call.get(node)
                texts = site.texts if site is not None else []
                checks.append((node.lineno, "\n".join([self._source(node), *texts])))
            elif isinstance(node, ast.If) and self._exits_early(node):
                exit_ifs.append(node)
        for site in self.sites:
            if site.scope is not scope:
                continue
            for parsed in site.parsed:
                if isinstance(parsed, sqlcheck.ParseFailure):
                    continue
                for index, statement in enumerate(parsed):
                    for key in sqlcheck.dropped_if_exists(statement.node):
                        drops.append(((site.call.lineno, site.call.col_offset, index), key))
        cached = (checks, exit_ifs, drops)
        self._guards[scope] = cached
        return cached

    def _is_existence_check(self, call: ast.Call, checker_functions: set[str]) -> bool:
        func = call.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if name is None:
            return False
        if name == "inspect" or name in INSPECTOR_METHODS or name in checker_functions:
            return True
        if EXISTS_NAME.search(name):
            return True
        return self._reads_catalog(call)

    def _reads_catalog(self, call: ast.Call) -> bool:
        site = self._sites_by_call.get(call)
        if site is None:
            return False
        return any(
            not isinstance(parsed, sqlcheck.ParseFailure)
            and sqltext.is_read_only(text)
            and sqlcheck.reads_catalog(text)
            for text, parsed in zip(site.texts, site.parsed)
        )

    def _checking_functions(self) -> set[str]:
        """Return the module's functions that run an existence check (`def column_exists(...)`)."""
        if self._checkers is None:
            self._checkers = {
                name
                for name, node in self.definitions.items()
                if node is not None
                and any(
                    isinstance(inner, ast.Call) and self._is_existence_check(inner, set())
                    for inner in self.src.walk_scope(node)
                )
            }
        return self._checkers

    def _exits_early(self, node: ast.If) -> bool:
        for inner in self.src.walk(node):
            if isinstance(inner, (ast.Return, ast.Raise, ast.Continue, ast.Break)):
                return True
        return False

    # -- LB304 --------------------------------------------------------------------------
    def check_handlers(self) -> None:
        tries = self.src.of_type(*TRY_TYPES)
        if not tries:
            return
        writes = [n for n in self.src.of_type(ast.Call) if self._writes_sql(n)]  # judged once, not once per try
        for node in tries:
            if not any(self._in_body(call, node) for call in writes):
                continue  # a swallowed read (a probe) is not a swallowed migration
            scope = self.src.scope_of(node)
            if any(call.lineno > end_line(node) and self.src.scope_of(call) is scope for call in writes):
                continue  # more SQL follows: a deliberately optional step
            for handler in node.handlers:
                if is_broad(handler) and not self._reraises(handler):
                    function = getattr(scope, "name", None)
                    who = f"`{function}()`" if function else "the code"
                    self.report(
                        "LB304",
                        handler,
                        f"this `except` swallows the error: {who} returns normally, so the runner "
                        "records the failed migration as applied",
                    )

    def _in_body(self, call: ast.AST, node: ast.Try) -> bool:
        """Return whether *call* is inside *node*'s ``try:`` body (not its handlers, else or finally)."""
        child = call
        for parent in self.src.ancestors(call):
            if parent is node:
                return any(child is statement for statement in node.body)
            child = parent
        return False

    def _writes_sql(self, node: ast.AST) -> TypeGuard[ast.Call]:
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            return False
        method = node.func.attr
        if method != "commit" and not (method in EXEC_METHODS and node.args):
            return False  # decided before the costlier receiver check
        if self.is_cursor(node.func.value):
            return False
        return method == "commit" or self.writes(node)

    def _reraises(self, handler: ast.ExceptHandler) -> bool:
        for statement in handler.body:
            for node in self.src.walk(statement):
                if isinstance(node, ast.Raise):
                    return True
                name = node.id if isinstance(node, ast.Name) else getattr(node, "attr", "")
                if "reraise" in name:
                    return True  # with safe_reraise(): ...
                if isinstance(node, ast.Call):
                    func = node.func
                    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
                    if name in ("exit", "_exit", "quit", "abort"):
                        return True
        return False

    # -- LB302, LB303 -------------------------------------------------------------------
    def check_transactions(self) -> None:
        hooks = Hooks(
            writes=self.writes,
            is_engine=self.is_engine,
            is_cursor=self.is_cursor,
            is_connection=self.is_connection,
            report=lambda code, line, col, message: self.report(code, line, message, col=col),
            children=self.src.children,
        )
        # The scopes that assign a connection (`conn = engine.connect()`): found from the assignments,
        # not by walking every scope.
        connecting = {self.src.scope_of(n) for n in self.src.of_type(ast.Assign) if is_connect_call(n.value)}
        for scope in self.src.scopes():
            if isinstance(scope, ast.Lambda):
                continue
            TransactionFlow(scope.body, hooks, scope in connecting).run()

    def writes(self, call: ast.Call) -> bool:
        """Return whether an execute-like call may change data (unknown SQL counts as a write)."""
        arg = self.src.origin(call.args[0])
        method = call.func.attr if isinstance(call.func, ast.Attribute) else None  # always one: an execute-like call
        style = sqltext.DRIVER if method == "exec_driver_sql" else sqltext.TEXT
        if self.is_text_call(arg):
            if not arg.args:
                return True
            arg = arg.args[0]
            style = sqltext.TEXT
        if _is_select(arg):
            return False
        texts = self.src.string_values(arg)
        if texts is not None:
            for text in texts:
                parsed = self.parse(text, style)
                if isinstance(parsed, sqlcheck.ParseFailure) or not sqltext.is_read_only(text):
                    return True
            return False
        if self.src.string_builder(arg) is not None:
            return not sqltext.is_read_only(self.src.template(arg))
        return True


def _is_select(expr: ast.AST) -> bool:
    """Return whether *expr* is a SQLAlchemy ``select(...)`` chain."""
    while isinstance(expr, ast.Call):
        func = expr.func
        if isinstance(func, ast.Name):
            return func.id == "select"
        if isinstance(func, ast.Attribute):
            if func.attr == "select" and not isinstance(func.value, ast.Call):
                return True
            expr = func.value
            continue
        return False
    return False


def end_line(node: Positioned) -> int:
    """Return the last line of *node* (``ast.parse`` always sets it; only hand-made nodes lack it)."""
    return node.end_lineno if node.end_lineno is not None else node.lineno


def _is_main_guard(node: ast.If) -> bool:
    test = node.test
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in test.comparators)
    )
