"""Code the bridge refuses at run time (LB105, LB305), and SQLAlchemy 1.x idioms that break on 2.x (LB206-LB209).

Each check reads the `FileChecker`'s syntax tree and SQL sites and reports
through it. Raw transaction control is found by `bridge.sqltext.transaction_control`,
the function the engine proxy uses at run time, so the linter and the runtime
agree on what counts as a ``COMMIT``.
"""

from __future__ import annotations

import ast

from ... import sqltext
from .checks import FileChecker, imports, positional_parameters
from .pysource import FUNCTION_TYPES

EXIT_CALLS = {("sys", "exit"), ("os", "_exit"), (None, "exit"), (None, "quit")}
MIGRATE_MODULE = "migrate"
_CONTROL_WORDS = {
    "begin": "BEGIN",
    "commit": "COMMIT",
    "rollback": "ROLLBACK",
    "refuse": "two-phase commit",
    "commit_chain": "COMMIT AND CHAIN",
    "rollback_chain": "ROLLBACK AND CHAIN",
}


def check_compat(checker: FileChecker) -> None:
    """Run LB105, LB206-LB209 and LB305 over *checker*'s file."""
    _check_exits(checker)
    _check_imports(checker)
    _check_calls(checker)
    _check_transaction_control(checker)


def _check_exits(checker: FileChecker) -> None:
    functions = {
        id(f): name
        for name in ("upgrade", "downgrade")
        if isinstance(f := checker.definitions.get(name), FUNCTION_TYPES)
    }
    for node in checker.src.of_type(ast.Call):  # the calls first, the function holding one only for exit calls
        func = node.func
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            key: tuple[str | None, str] = (func.value.id, func.attr)
        elif isinstance(func, ast.Name):
            key = (None, func.id)
        else:
            continue
        if key not in EXIT_CALLS:
            continue
        for name in (functions.get(id(a)) for a in checker.src.ancestors(node)):
            if name is not None:
                shown = f"{key[0]}.{key[1]}()" if key[0] else f"{key[1]}()"
                checker.report(
                    "LB105",
                    node,
                    f"`{shown}` inside `{name}()`: a migration tool would end the whole run here; "
                    "the bridge refuses it and rolls the migration back",
                )


def _check_imports(checker: FileChecker) -> None:
    for node, modules in imports(checker.src.of_type(ast.Import, ast.ImportFrom)):
        for module in modules:
            if module.split(".")[0] == MIGRATE_MODULE:
                checker.report(
                    "LB206",
                    node,
                    f"`{module}` is sqlalchemy-migrate, which cannot run with SQLAlchemy 2.x: this file needs porting",
                )
                break


def _check_calls(checker: FileChecker) -> None:
    for node in checker.src.of_type(ast.Assign, ast.Call):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Attribute) and target.attr == "bind":
                    checker.report(
                        "LB207",
                        node,
                        "`.bind = ...`: SQLAlchemy 2.x removed bound metadata; the assignment does "
                        "nothing and every call that relied on it fails",
                    )
            continue
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        keywords = {k.arg: k.value for k in node.keywords}
        # MetaData's first positional parameter is the schema in 2.x (a string), the bind in 1.x.
        if name == "MetaData" and ("bind" in keywords or any(not isinstance(a, ast.Constant) for a in node.args[:1])):
            checker.report(
                "LB207",
                node,
                "`MetaData(bind=...)`: SQLAlchemy 2.x removed bound metadata (TypeError)",
            )
        elif name == "Table" and "autoload" in keywords and "autoload_with" not in keywords:
            checker.report(
                "LB208",
                node,
                "`Table(..., autoload=True)`: SQLAlchemy 2.x removed autoload (TypeError)",
            )
        elif name in ("execute", "scalar", "scalars") and positional_parameters(node):
            checker.report(
                "LB209",
                node,
                f"`{name}(sql, value, ...)` passes parameters positionally, SQLAlchemy 1.x style; "
                "2.x takes one statement and one dict",
            )


def _check_transaction_control(checker: FileChecker) -> None:
    for site in checker.sites:
        reported = False
        for text in site.texts:
            parts = sqltext.transaction_control(text)
            for statement, kind in parts or ():
                if kind is None or reported:
                    continue
                word = _CONTROL_WORDS.get(kind, kind.upper())
                shown = " ".join(statement.split()).rstrip(";")
                checker.report(
                    "LB305",
                    site.origin,
                    f"`{shown}` sent as SQL text ({word}): it ends or starts the transaction behind "
                    "SQLAlchemy's back, which the bridge refuses in nested transactions, in strings "
                    "with parameters and for two-phase commit",
                )
                reported = True
