"""`SourceFile`'s one walk (issue 23, lint speed): the same nodes, in the same order, as `ast.walk`.

The walk skips operator and load/store context nodes and copies list fields without checking each
item, except the fields that can hold `None` or identifiers; these tests hold it to `ast.walk`.
"""

from __future__ import annotations

import ast
import sys

import pytest

from bridge.lint.rules.pysource import SourceFile

# Every list field that can hold something other than a node, and most other syntax.
EVERY_FORM = """
import os, sys as system
from sqlalchemy import text as t, create_engine


def upgrade(engine, /, a, *args, b, c=1, **kwargs):
    global COUNTER
    x = {**kwargs, "k": [i for i in range(3) if i], 1: {j async for j in a} if a else None}
    y = (lambda q, *, r=2, s: q + r)(1, s=3)
    z: int = -x["k"][1:2] ** 2 // 3
    z += 1
    with engine.connect() as conn, open("f") as (f, g):
        try:
            conn.execute(t(f"SELECT {x!r:>10} FROM t"), a=1, *args)
        except (ValueError, OSError) as err:
            raise RuntimeError("no") from err
        else:
            del y
        finally:
            assert a is not b and not c, "msg"
    while True:
        break
    for k, v in x.items():
        continue
    match x:
        case {"a": 1, **rest}:
            pass
        case Point(1, y=2) | [1, *others]:
            pass
        case str() as s if s:
            pass
    return (yield z)


class C(object, metaclass=type):
    def f(self):
        nonlocal_free = 1

        def g():
            nonlocal nonlocal_free
            return nonlocal_free

        return g
"""


def _expected(tree: ast.AST) -> list[ast.AST]:
    skipped = (ast.expr_context, ast.boolop, ast.operator, ast.unaryop, ast.cmpop)
    return [node for node in ast.walk(tree) if not isinstance(node, skipped)]


@pytest.mark.parametrize(
    "source",
    [EVERY_FORM, "try:\n    pass\nexcept* ValueError:\n    pass\n" if sys.version_info >= (3, 11) else "pass\n"],
)
def test_the_walk_finds_ast_walks_nodes_in_its_order_without_operators_and_contexts(source):
    src = SourceFile(source, "20250101_x.py")
    assert src.nodes == _expected(src.tree)
    assert all(src.parent[child] is node for node, children in src.children.items() for child in children)


def test_of_type_returns_the_nodes_of_those_types_in_walk_order():
    src = SourceFile(EVERY_FORM, "20250101_x.py")
    wanted = (ast.Import, ast.ImportFrom, ast.Call)
    assert src.of_type(*wanted) == [n for n in ast.walk(src.tree) if type(n) in wanted]
    assert src.of_type(ast.Call) == [n for n in ast.walk(src.tree) if isinstance(n, ast.Call)]


def test_walk_of_a_sub_tree_is_ast_walks_order():
    src = SourceFile(EVERY_FORM, "20250101_x.py")
    for node in src.of_type(ast.With, ast.Try, ast.Dict, ast.Match):
        assert src.walk(node) == _expected(node)
