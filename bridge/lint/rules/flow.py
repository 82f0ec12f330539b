"""Path analysis of one function: is every write committed before its connection closes?

The analysis walks the function's statements the way they run, carrying the set
of states the open transaction can be in on some path: the line of the first
write not yet committed (or none), and the line of an explicit
``trans = conn.begin()`` still open (or none). ``if``/``try``/loops/``return``/
``raise``/``break`` split and join the paths; a ``with engine.connect()`` block
is where a connection closes, so that is where leftovers are reported:

* a normal exit or a ``return`` with uncommitted writes is LB302 (the close
  silently rolls the work back);
* an exception escaping while an explicit transaction holds writes is LB303
  (the manual wants ``trans.rollback()`` and ``raise``).

Reads never make a path dirty, which is why the manual's existence check that
returns early while ``trans`` is still open is fine.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass, field

EXEC_METHODS = ("execute", "exec_driver_sql", "scalar", "scalars")
# The statements that neither branch nor leave the block: only their calls matter.
_SIMPLE = frozenset(
    {ast.Expr, ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Pass, ast.Delete, ast.Assert, ast.Import, ast.ImportFrom}
)


@dataclass(frozen=True)
class Tx:
    """The transaction on one path: first uncommitted write, an open explicit begin, autocommit."""

    dirty: int | None = None
    begun: int | None = None
    autocommit: bool = False


CLEAN = Tx()


@dataclass
class Flow:
    """Where the paths through a block go: on, out by return/raise/break/continue."""

    fall: set = field(default_factory=set)
    ret: set = field(default_factory=set)  # (Tx, return node)
    exc: set = field(default_factory=set)
    brk: set = field(default_factory=set)
    cont: set = field(default_factory=set)

    def merge(self, other: Flow, fall: bool = True) -> None:
        if fall:
            self.fall |= other.fall
        self.ret |= other.ret
        self.exc |= other.exc
        self.brk |= other.brk
        self.cont |= other.cont


@dataclass
class Hooks:
    """What the path analysis needs to know about calls, from the file-level checker."""

    writes: Callable[[ast.Call], bool]
    is_engine: Callable[[ast.expr], bool]
    is_cursor: Callable[[ast.expr], bool]
    is_connection: Callable[[ast.expr], bool]
    report: Callable[[str, int, int, str], None]  # code, line, col, message
    children: dict[ast.AST, list[ast.AST]] | None = None  # the file's child lists, walked once (`SourceFile`)
    # Each node's calls in evaluation order, found once: loops and `finally` blocks revisit statements.
    calls: dict[ast.AST, tuple[ast.Call, ...]] = field(default_factory=dict)


def _method(call: ast.Call) -> str | None:
    return call.func.attr if isinstance(call.func, ast.Attribute) else None


def is_connect_call(expr: ast.AST) -> bool:
    """Return whether *expr* opens a connection: ``x.connect()``, ``closing(x.connect())``,
    or ``x.connect().execution_options(...)``."""
    if not isinstance(expr, ast.Call):
        return False
    if _method(expr) == "connect" and not expr.args and not expr.keywords:
        return True
    func = expr.func
    if isinstance(func, ast.Attribute) and func.attr == "execution_options" and isinstance(func.value, ast.Call):
        return is_connect_call(func.value)
    name = expr.func.attr if isinstance(expr.func, ast.Attribute) else getattr(expr.func, "id", None)
    return name == "closing" and len(expr.args) == 1 and is_connect_call(expr.args[0])


def sets_autocommit(expr: ast.AST, children: dict[ast.AST, list[ast.AST]] | None = None) -> bool:
    """Return whether *expr* holds ``execution_options(isolation_level="AUTOCOMMIT")``.

    *children*: the file's child lists (`SourceFile.children`), walked instead of `ast.walk` when given.
    """
    nodes: list[ast.AST] | None = None
    if children is not None:
        nodes = [expr]
        for inner in nodes:
            nodes += children.get(inner, ())
    for node in nodes if nodes is not None else ast.walk(expr):
        if isinstance(node, ast.Call) and _method(node) == "execution_options":
            for keyword in node.keywords:
                value = keyword.value
                if (
                    keyword.arg == "isolation_level"
                    and isinstance(value, ast.Constant)
                    and str(value.value).upper() == "AUTOCOMMIT"
                ):
                    return True
    return False


def is_begin_call(expr: ast.AST) -> bool:
    """Return whether *expr* is ``x.begin()`` (a transaction, or engine.begin()'s context)."""
    return isinstance(expr, ast.Call) and _method(expr) == "begin" and not expr.args


class TransactionFlow:
    """Runs the path analysis over one function body and reports through *hooks*."""

    def __init__(self, body: list[ast.stmt], hooks: Hooks, unmanaged: bool):
        self.body = body
        self.hooks = hooks
        # A connection assigned outside `with` closes when the function ends.
        self.unmanaged = unmanaged
        self._on_exception_path = 0

    def run(self) -> None:
        flow = self.block(self.body, {CLEAN})
        if self.unmanaged:
            self._leave(flow, "the function ends")

    # -- reporting ----------------------------------------------------------------------
    def _leave(self, flow: Flow, where: str) -> None:
        for state in flow.fall | flow.brk | flow.cont:
            if state.dirty:
                self._uncommitted(state.dirty, state.begun, where)
        for state, node in flow.ret:
            if state.dirty:
                self.hooks.report(
                    "LB302",
                    node.lineno,
                    node.col_offset + 1,
                    f"`return` leaves writes from line {state.dirty} uncommitted; closing the "
                    "connection silently rolls them back",
                )
        for state in flow.exc:
            if state.dirty and state.begun:
                self.hooks.report(
                    "LB303",
                    state.begun,
                    0,
                    "the transaction begun here is not rolled back when an exception escapes",
                )

    def _uncommitted(self, dirty: int, begun: int | None, where: str) -> None:
        if begun:
            message = (
                f"the transaction begun here is not committed on every path: writes from line "
                f"{dirty} are rolled back when {where}"
            )
            self.hooks.report("LB302", begun, 0, message)
        else:
            message = f"this write is never committed: it is rolled back when {where}"
            self.hooks.report("LB302", dirty, 0, message)

    # -- statements ---------------------------------------------------------------------
    def block(self, statements: list[ast.stmt], states: set) -> Flow:
        result = Flow()
        current = set(states)
        for statement in statements:
            if not current:
                break
            if type(statement) in _SIMPLE:  # `statement()`'s answer without a Flow of five sets for it
                current, exc = self.events(statement, current)
                result.exc |= exc
                continue
            flow = self.statement(statement, current)
            result.merge(flow, fall=False)
            current = flow.fall
        result.fall = current
        return result

    def statement(self, node: ast.stmt, states: set) -> Flow:
        if type(node) in _SIMPLE:  # most statements: decided before the compound ones are tried
            after, exc = self.events(node, states)
            return Flow(fall=after, exc=exc)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            return Flow(fall=set(states))
        if isinstance(node, ast.If):
            flow = Flow()
            after, flow.exc = self.events(node.test, states)
            flow.merge(self.block(node.body, after))
            flow.merge(self.block(node.orelse, after))
            return flow
        if isinstance(node, (ast.For, ast.AsyncFor)):
            after, exc = self.events(node.iter, states)
            flow = self.loop(node, after, infinite=False)
            flow.exc |= exc
            return flow
        if isinstance(node, ast.While):
            infinite = isinstance(node.test, ast.Constant) and bool(node.test.value)
            return self.loop(node, states, infinite=infinite, test=node.test)
        if isinstance(node, (ast.With, ast.AsyncWith)):
            return self.with_block(node, states)
        if isinstance(node, ast.Try) or type(node).__name__ == "TryStar":
            return self.try_block(node, states)
        if isinstance(node, ast.Match):
            flow = Flow()
            after, flow.exc = self.events(node.subject, states)
            flow.fall |= after
            for case in node.cases:
                flow.merge(self.block(case.body, after))
            return flow
        if isinstance(node, ast.Return):
            after, exc = self.events(node.value, states) if node.value else (set(states), set())
            return Flow(ret={(state, node) for state in after}, exc=exc)
        if isinstance(node, ast.Raise):
            after, exc = self.events(node, states)
            return Flow(exc=exc | after)
        if isinstance(node, ast.Break):
            return Flow(brk=set(states))
        if isinstance(node, ast.Continue):
            return Flow(cont=set(states))
        after, exc = self.events(node, states)
        return Flow(fall=after, exc=exc)

    def loop(self, node, states: set, *, infinite: bool, test: ast.expr | None = None) -> Flow:
        result = Flow()
        head = set(states)
        for _ in range(10):
            entry = head
            if test is not None:
                entry, exc = self.events(test, head)
                result.exc |= exc
            body = self.block(node.body, entry)
            result.ret |= body.ret
            result.exc |= body.exc
            result.brk |= body.brk
            new_head = head | body.fall | body.cont
            if new_head == head:
                break
            head = new_head
        exits = set() if infinite else head
        if node.orelse and exits:
            orelse = self.block(node.orelse, exits)
            result.merge(orelse, fall=False)
            exits = orelse.fall
        result.fall = exits | result.brk
        result.brk = set()
        return result

    def with_block(self, node, states: set) -> Flow:
        kinds: list[str | None] = []
        current, exc = set(states), set()
        for item in node.items:
            expr = item.context_expr
            if is_connect_call(expr):
                kinds.append("connect")
                parts = list(ast.iter_child_nodes(expr))
            elif is_begin_call(expr):
                kinds.append("begin")
                parts = [expr.func.value]
            else:
                kinds.append(None)
                parts = [expr]
            for part in parts:
                current, more = self.events(part, current)
                exc |= more
        autocommit = any(
            kind == "connect" and sets_autocommit(item.context_expr, self.hooks.children)
            for kind, item in zip(kinds, node.items)
        )
        entry = {Tx(autocommit=autocommit)} if any(kinds) else current
        flow = self.block(node.body, entry)
        flow.exc |= exc
        for kind in reversed(kinds):
            if kind == "begin":
                # Leaving `with x.begin()` commits (or, on an exception, rolls back).
                flow = Flow(
                    fall={CLEAN} if flow.fall else set(),
                    ret={(CLEAN, n) for _, n in flow.ret},
                    exc={CLEAN} if flow.exc else set(),
                    brk={CLEAN} if flow.brk else set(),
                    cont={CLEAN} if flow.cont else set(),
                )
            elif kind == "connect":
                self._leave(flow, "the `with` block closes the connection")
                flow = Flow(
                    fall=set(current) if flow.fall else set(),
                    ret={(CLEAN, n) for _, n in flow.ret},
                    exc={CLEAN} if flow.exc else set(),
                    brk={CLEAN} if flow.brk else set(),
                    cont={CLEAN} if flow.cont else set(),
                )
        if any(kinds) and flow.fall:
            flow.fall = set(current)
        return flow

    def try_block(self, node, states: set) -> Flow:
        body = self.block(node.body, states)
        result = Flow(ret=set(body.ret), brk=set(body.brk), cont=set(body.cont))
        caught = set(body.exc)
        if node.handlers:
            for handler in node.handlers:
                result.merge(self.block(handler.body, caught))
            if not any(is_broad(handler) for handler in node.handlers):
                result.exc |= caught
        else:
            result.exc |= caught
        orelse = self.block(node.orelse, body.fall)
        result.merge(orelse)
        if not node.finalbody:
            return result
        final = Flow()
        for attribute in ("fall", "exc", "brk", "cont"):
            group = getattr(result, attribute)
            if group:
                self._on_exception_path += attribute == "exc"
                try:
                    after = self.block(node.finalbody, group)
                finally:
                    self._on_exception_path -= attribute == "exc"
                final.merge(after, fall=False)
                getattr(final, attribute).update(after.fall)
        for state, ret_node in result.ret:
            after = self.block(node.finalbody, {state})
            final.merge(after, fall=False)
            final.ret |= {(s, ret_node) for s in after.fall}
        return final

    # -- expressions --------------------------------------------------------------------
    def events(self, node: ast.AST, states: set) -> tuple[set, set]:
        """Apply the calls in *node*, in evaluation order; return (states after, states at exceptions)."""
        calls = self.hooks.calls.get(node)
        if calls is None:
            calls = self.hooks.calls[node] = tuple(_calls_in_order(node, self.hooks.children))
        current = set(states)
        exc: set = set()
        for call in calls:
            before = current
            current = {self.transfer(call, state) for state in current}
            # A failing commit()/rollback() is not the error path this analysis is about:
            # what matters is an exception from the work while the transaction holds it.
            exc |= current if _method(call) in ("commit", "rollback") else before | current
        return current, exc

    def transfer(self, call: ast.Call, state: Tx) -> Tx:
        if not isinstance(call.func, ast.Attribute):
            return state
        method, receiver = call.func.attr, call.func.value
        if method in EXEC_METHODS and call.args and not self.hooks.is_cursor(receiver):
            if state.dirty is None and not state.autocommit and self.hooks.writes(call):
                return Tx(call.lineno, state.begun, state.autocommit)
            return state
        if method in ("commit", "rollback") and not call.args and not self.hooks.is_cursor(receiver):
            return Tx(autocommit=state.autocommit)
        if method == "begin" and not call.args and not self.hooks.is_engine(receiver):
            # Even on an AUTOCOMMIT connection, begin() starts a real transaction.
            return Tx(state.dirty, state.begun or call.lineno)
        if (
            method == "execution_options"
            and sets_autocommit(call, self.hooks.children)
            and not self.hooks.is_engine(receiver)
        ):
            return Tx(state.dirty, state.begun, True)
        if method == "close" and not call.args and self.hooks.is_connection(receiver):
            if self._on_exception_path:
                # Closing on the error path is the rollback; only an explicit one is missing.
                if state.dirty and state.begun:
                    self._leave(Flow(exc={state}), "")
            elif state.dirty:
                self._uncommitted(state.dirty, state.begun, "the connection is closed")
            return CLEAN
        return state


def is_broad(handler: ast.ExceptHandler) -> bool:
    """Return whether *handler* catches every error (bare, Exception, BaseException)."""
    if handler.type is None:
        return True
    types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    for kind in types:
        name = kind.id if isinstance(kind, ast.Name) else getattr(kind, "attr", None)
        if name in ("Exception", "BaseException"):
            return True
    return False


_NESTED = (ast.Lambda, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _calls_in_order(node: ast.AST, children: dict[ast.AST, list[ast.AST]] | None = None) -> list[ast.Call]:
    """Return the calls in *node* children first (arguments run before the call)."""
    found: list[ast.Call] = []
    _collect_calls(node, children, found)
    return found


def _collect_calls(node: ast.AST, children: dict[ast.AST, list[ast.AST]] | None, found: list[ast.Call]) -> None:
    # A list, not nested generators: `yield from` at every level of a deep expression cost more than the rule.
    if isinstance(node, _NESTED):
        return
    if children is None:
        for child in ast.iter_child_nodes(node):
            _collect_calls(child, children, found)
    else:
        for child in children.get(node, ()):
            if child in children:  # a leaf (a name, a constant) holds no call and is none
                _collect_calls(child, children, found)
    if isinstance(node, ast.Call):
        found.append(node)
