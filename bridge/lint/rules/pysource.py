"""A legacy migration file as the linter sees it: syntax tree, scopes, names, constant strings.

The file is parsed, never imported. Names are resolved the simple way a reader
does: the nearest earlier assignment in the same function, else the module's
assignment. Strings are evaluated only from constants written in the file
(literals, module-level constants, loops over literal lists and dicts), so an
f-string over ``for table in TABLES:`` becomes the list of SQL texts it can
produce, while one over a function argument stays unknown.

One concept, kept whole although it is over 500 lines: `SourceFile`, whose
scopes, name resolution and string evaluation share one set of indexes built
from one parse.
"""

from __future__ import annotations

import ast
import itertools
import operator
import re
import textwrap
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeAlias, cast

# The node types that can bind a name (`SourceFile.bindings`); TryStar's handlers are ExceptHandlers too.
_BINDERS = frozenset(
    {
        ast.Assign,
        ast.AnnAssign,
        ast.NamedExpr,
        ast.AugAssign,
        ast.For,
        ast.AsyncFor,
        ast.comprehension,
        ast.withitem,
        ast.FunctionDef,
        ast.AsyncFunctionDef,
        ast.ClassDef,
        ast.Import,
        ast.ImportFrom,
        ast.ExceptHandler,
    }
)
SCOPE_TYPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
FUNCTION_TYPES = (ast.FunctionDef, ast.AsyncFunctionDef)
_SCOPE_OR_MODULE = (*SCOPE_TYPES, ast.Module)
MAX_VALUES = 64
MAX_LENGTH = 200_000
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")  # the lines as Python's tokenizer sees them
_STRING_START = re.compile(r"([rRuU]?)('''|\"\"\"|'|\")")
_CONVERSIONS: dict[int, Callable[[Any], Any]] = {115: str, 114: repr, 97: ascii}  # !s, !r, !a
Scope: TypeAlias = "ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef"


@dataclass(frozen=True)
class Binding:
    """One place a name gets its value: an assignment, a loop, a ``with ... as``, a parameter."""

    line: int
    kind: str  # "assign", "for", "with", "param" or "other"
    value: ast.expr | None = None
    target: ast.expr | None = None
    owner: ast.AST | None = None


class SourceFile:
    """The syntax tree of one file, with parent links and per-scope name bindings."""

    def __init__(self, source: str, filename: str):
        self.source = source
        self.filename = filename
        self.tree = ast.parse(source, filename=filename)
        self.lines = source.splitlines()
        self.parent: dict[ast.AST, ast.AST] = {}
        # Every node, in ast.walk's order, from one walk that the rules share instead of walking again.
        self.nodes: list[ast.AST] = [self.tree]
        self.children: dict[ast.AST, list[ast.AST]] = {}
        # Each node type's positions in `nodes`, from the same walk: rules ask for the calls or the
        # imports instead of filtering every node again (`of_type`).
        self._by_type: dict[type, list[int]] = defaultdict(list)
        nodes, parent, by_type = self.nodes, self.parent, self._by_type
        index = 0
        while index < len(nodes):
            node = nodes[index]
            by_type[type(node)].append(index)
            index += 1
            children = _child_nodes(node)
            if children:
                self.children[node] = children
                nodes.extend(children)
                for child in children:
                    parent[child] = node
        self._bindings: dict[ast.AST, dict[str, list[Binding]]] = {}
        self._byte_lines: list[bytes] | None = None
        self._lookups: dict[ast.Name, Binding | None] = {}
        self._scope_nodes: dict[ast.AST, list[ast.AST]] = {}

    # -- structure ----------------------------------------------------------------------
    def scope_of(self, node: ast.AST) -> Scope:
        """Return the function (or module) whose body holds *node*."""
        return next((p for p in self.ancestors(node) if isinstance(p, _SCOPE_OR_MODULE)), self.tree)

    def of_type(self, *types: type) -> list[Any]:
        """Return the nodes of exactly these types (``ast.Call``, not ``ast.expr``), in `nodes`' order."""
        positions = self._by_type
        if len(types) == 1:
            found = positions.get(types[0], ())
        else:
            found = sorted(itertools.chain.from_iterable(positions.get(kind, ()) for kind in types))
        nodes = self.nodes
        return [nodes[index] for index in found]

    def scopes(self) -> list[Scope]:
        """Return the module and every function in it."""
        return [self.tree, *self.of_type(*FUNCTION_TYPES, ast.Lambda)]

    def walk_scope(self, scope: Scope) -> list[ast.AST]:
        """Return the nodes of *scope* without entering nested functions or classes (cached per scope)."""
        cached = self._scope_nodes.get(scope)
        if cached is not None:
            return cached
        body: list[ast.stmt] | list[ast.expr] = [scope.body] if isinstance(scope, ast.Lambda) else scope.body
        stack: list[ast.AST] = list(reversed(body))
        found: list[ast.AST] = []
        children = self.children
        while stack:
            node = stack.pop()
            found.append(node)
            if isinstance(node, SCOPE_TYPES):
                continue
            stack.extend(reversed(children.get(node, ())))
        self._scope_nodes[scope] = found
        return found

    def walk(self, node: ast.AST) -> list[ast.AST]:
        """Return *node* and the nodes under it in `ast.walk`'s order, from the child lists (no operators or contexts)."""
        found = [node]
        children = self.children
        for inner in found:  # breadth first: `found` grows as it is read
            found += children.get(inner, ())
        return found

    def ancestors(self, node: ast.AST):
        """Yield the parents of *node*, innermost first."""
        parent = self.parent.get(node)
        while parent is not None:
            yield parent
            parent = self.parent.get(parent)

    def segment(self, node: ast.AST) -> str | None:
        """Return *node*'s source text, as `ast.get_source_segment` does, without re-splitting the file each time."""
        try:
            start, end = node.lineno - 1, node.end_lineno - 1  # type: ignore[attr-defined]
            first, last = node.col_offset, node.end_col_offset  # type: ignore[attr-defined]
        except AttributeError:
            return None
        if end is None or last is None:
            return None
        if self._byte_lines is None:
            self._byte_lines = [line.encode("utf-8") for line in _LINE.findall(self.source)]
        lines = self._byte_lines
        if start == end:
            return lines[start][first:last].decode("utf-8")
        middle = b"".join(lines[start + 1 : end])
        return (lines[start][first:] + middle + lines[end][:last]).decode("utf-8")

    def is_inside(self, node: ast.AST, container: ast.AST) -> bool:
        """Return whether *container* is *node* or one of its ancestors."""
        return node is container or any(a is container for a in self.ancestors(node))

    def column(self, node: ast.stmt | ast.expr | ast.arg | ast.excepthandler) -> int:
        """Return the 1-based character column of *node* (ast counts UTF-8 bytes)."""
        line = self.lines[node.lineno - 1] if 0 < node.lineno <= len(self.lines) else ""
        return len(line.encode()[: node.col_offset].decode(errors="ignore")) + 1

    def statement_of(self, node: ast.AST) -> ast.stmt | None:
        """Return the innermost simple (non-compound) statement holding *node*."""
        for candidate in (node, *self.ancestors(node)):
            if isinstance(candidate, ast.stmt):
                return None if hasattr(candidate, "body") else candidate
        return None

    # -- names --------------------------------------------------------------------------
    def bindings(self, scope: Scope) -> dict[str, list[Binding]]:
        """Return every binding made directly in *scope*, by name."""
        cached = self._bindings.get(scope)
        if cached is not None:
            return cached
        found: dict[str, list[Binding]] = defaultdict(list)
        if isinstance(scope, (*FUNCTION_TYPES, ast.Lambda)):
            args = scope.args
            for arg in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg):
                if arg is not None:
                    found[arg.arg].append(Binding(scope.lineno, "param"))
        for node in self.walk_scope(scope):
            if type(node) not in _BINDERS:
                continue  # most nodes (names, calls, constants) bind nothing: one set lookup
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    self._bind(found, target, node.value, node.lineno)
            elif isinstance(node, (ast.AnnAssign, ast.NamedExpr)) and node.value is not None:
                self._bind(found, node.target, node.value, node.lineno)
            elif isinstance(node, ast.AugAssign):
                self._bind(found, node.target, None, node.lineno)
            elif isinstance(node, (ast.For, ast.AsyncFor)):
                for name in _target_names(node.target):
                    found[name].append(Binding(node.lineno, "for", node.iter, node.target, node))
            elif isinstance(node, ast.comprehension):
                owner = cast(ast.expr, self.parent[node])  # the ListComp/GeneratorExp/...: its element uses the name
                for name in _target_names(node.target):
                    found[name].append(Binding(owner.lineno, "for", node.iter, node.target, owner))
            elif isinstance(node, ast.withitem) and node.optional_vars is not None:
                line = cast(ast.stmt, self.parent[node]).lineno  # a withitem's parent is its with statement
                for name in _target_names(node.optional_vars):
                    kind = "with" if isinstance(node.optional_vars, ast.Name) else "other"
                    found[name].append(Binding(line, kind, node.context_expr))
            elif isinstance(node, SCOPE_TYPES) and not isinstance(node, ast.Lambda):
                found[node.name].append(Binding(node.lineno, "other"))
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                for alias in node.names:
                    found[(alias.asname or alias.name).split(".")[0]].append(Binding(node.lineno, "other"))
            elif isinstance(node, ast.ExceptHandler) and node.name:
                found[node.name].append(Binding(node.lineno, "other"))
        self._bindings[scope] = found
        return found

    @staticmethod
    def _bind(found, target, value, line) -> None:
        if isinstance(target, ast.Name):
            found[target.id].append(Binding(line, "assign" if value is not None else "other", value))
        elif isinstance(target, (ast.Tuple, ast.List)):
            values = value.elts if isinstance(value, (ast.Tuple, ast.List)) else None
            if values is not None and len(values) == len(target.elts):
                for sub, sub_value in zip(target.elts, values):
                    SourceFile._bind(found, sub, sub_value, line)
            else:
                for name in _target_names(target):
                    found[name].append(Binding(line, "other"))

    def lookup(self, name: ast.Name) -> Binding | None:
        """Return the binding that most likely gives *name* its value where it is used (cached per name node)."""
        if name in self._lookups:
            return self._lookups[name]
        found = self._lookup(name)
        self._lookups[name] = found
        return found

    def _lookup(self, name: ast.Name) -> Binding | None:
        scope = self.scope_of(name)
        candidates = [
            b
            for b in self.bindings(scope).get(name.id, ())
            if b.line < name.lineno
            or b.kind == "param"
            or (b.kind == "for" and b.owner is not None and self.is_inside(name, b.owner))
        ]
        if candidates:
            return max(candidates, key=lambda b: (b.kind != "param", b.line))
        if scope is not self.tree:
            module = self.bindings(self.tree).get(name.id, ())
            if module:
                return max(module, key=lambda b: b.line)
        return None

    def origin(self, expr: ast.expr, depth: int = 0) -> ast.expr:
        """Follow a name to the expression assigned to it (where a string is written)."""
        while isinstance(expr, ast.Name) and depth < 10:
            binding = self.lookup(expr)
            if binding is None or binding.kind != "assign" or binding.value is None:
                break
            expr, depth = binding.value, depth + 1
        return expr

    # -- constant strings ---------------------------------------------------------------
    def string_values(self, expr: ast.expr) -> list[str] | None:
        """Return every string *expr* can evaluate to from constants in the file, or None."""
        envs = self._loop_environments(expr)
        if envs is None:
            return None
        results: list[str] = []
        for env in envs:
            values = self.values(expr, env)
            if values is None or not all(isinstance(v, str) for v in values):
                return None
            for value in values:
                if value not in results:
                    results.append(value)
        return results or None

    def _loop_environments(self, expr: ast.expr) -> list[dict] | None:
        """Bind the variables of enclosing literal loops jointly (``for name, sql in PAIRS``)."""
        loops: dict[int, Binding] = {}
        self._collect_loops(expr, loops, 0)
        per_loop = []
        for loop in loops.values():
            elements = self._elements(loop.value, {}) if loop.value is not None else None
            if elements is None:
                continue
            bound: list[dict] = []
            for element in elements:
                env = _destructure(loop.target, element, id(loop.owner))
                if env is None:
                    bound = []  # an element the target cannot unpack: the loop binds nothing known
                    break
                bound.append(env)
            if bound:
                per_loop.append(bound)
        envs: list[dict] = [{}]
        for loop_envs in per_loop:
            # A long constant list is checked on a sample rather than given up on.
            envs = [{**a, **b} for a in envs for b in loop_envs][:MAX_VALUES]
        return envs

    def _collect_loops(self, expr: ast.AST, loops: dict, depth: int) -> None:
        if depth > 8:
            return
        for node in self.walk(expr):
            if isinstance(node, ast.Name):
                binding = self.lookup(node)
                if binding is None:
                    continue
                if binding.kind == "for":
                    loops.setdefault(id(binding.owner), binding)
                elif binding.kind == "assign" and binding.value is not None:
                    self._collect_loops(binding.value, loops, depth + 1)

    def values(self, expr: ast.expr, env: dict, depth: int = 0) -> list | None:
        """Return the possible constant values of *expr*, or None if any part is not constant."""
        if depth > 12:
            return None
        if isinstance(expr, ast.Constant):
            return [expr.value]
        if isinstance(expr, ast.Name):
            binding = self.lookup(expr)
            if binding is None:
                return None
            if binding.kind == "for":
                key = (id(binding.owner), expr.id)
                if key in env:
                    return [env[key]]
                elements = self._elements(binding.value, env, depth + 1) if binding.value is not None else None
                if elements is None:
                    return None
                found = []
                for element in elements[:MAX_VALUES]:
                    bound = _destructure(binding.target, element, id(binding.owner))
                    if bound is None or key not in bound:
                        return None
                    found.append(bound[key])
                return _unique(found)
            if binding.kind == "assign" and binding.value is not None:
                return self.values(binding.value, env, depth + 1)
            return None
        if isinstance(expr, ast.JoinedStr):
            return self._joined(expr, env, depth)
        if isinstance(expr, ast.BinOp):
            return self._binop(expr, env, depth)
        if isinstance(expr, ast.Call):
            return self._call(expr, env, depth)
        if isinstance(expr, (ast.List, ast.Tuple, ast.Set)):
            items = []
            for element in expr.elts:
                value = self.values(element, env, depth + 1)
                if value is None or len(value) != 1:
                    return None
                items.append(value[0])
            return [tuple(items) if isinstance(expr, ast.Tuple) else items]
        if isinstance(expr, (ast.ListComp, ast.GeneratorExp, ast.SetComp)) and len(expr.generators) == 1:
            generator = expr.generators[0]
            elements = None if generator.ifs else self._elements(generator.iter, env, depth + 1)
            if elements is None:
                return None
            items = []
            for element in elements[:MAX_VALUES]:
                bound = _destructure(generator.target, element, id(expr))
                value = self.values(expr.elt, {**env, **bound}, depth + 1) if bound is not None else None
                if value is None or len(value) != 1:
                    return None
                items.append(value[0])
            return [items]
        if isinstance(expr, ast.Dict):
            mapping = {}
            for key_node, value_node in zip(expr.keys, expr.values):
                k = self.values(key_node, env, depth + 1) if key_node is not None else None
                v = self.values(value_node, env, depth + 1)
                if k is None or v is None or len(k) != 1 or len(v) != 1:
                    return None
                try:
                    mapping[k[0]] = v[0]
                except TypeError:
                    return None
            return [mapping]
        return None

    def _joined(self, expr: ast.JoinedStr, env, depth) -> list | None:
        pieces: list[list[str]] = []
        for part in expr.values:
            if isinstance(part, ast.Constant):
                pieces.append([str(part.value)])
                continue
            if not isinstance(part, ast.FormattedValue):
                return None  # not reached: an f-string holds only constants and formatted values
            values = self.values(part.value, env, depth + 1)
            spec = ""
            if part.format_spec is not None:
                specs = self.values(part.format_spec, env, depth + 1)
                if specs is None or len(specs) != 1:
                    return None
                spec = specs[0]
            if values is None:
                return None
            rendered = []
            for value in values:
                if not isinstance(value, (str, int, float, bool)) and value is not None:
                    return None
                converted = _CONVERSIONS.get(part.conversion, lambda v: v)(value)
                try:
                    rendered.append(format(converted, spec))
                except (ValueError, TypeError):
                    return None
            pieces.append(rendered)
        total = 1
        for piece in pieces:
            total *= len(piece)
        if total > MAX_VALUES:
            return None
        return _unique("".join(combo) for combo in itertools.product(*pieces))

    def _binop(self, expr: ast.BinOp, env, depth) -> list | None:
        if not isinstance(expr.op, (ast.Add, ast.Mod)):
            return None
        left = self.values(expr.left, env, depth + 1)
        right = self.values(expr.right, env, depth + 1)
        if left is None or right is None or len(left) * len(right) > MAX_VALUES:
            return None
        results = []
        for a, b in itertools.product(left, right):
            if not isinstance(a, (str, int, float)) or not isinstance(b, (str, int, float, tuple, dict)):
                return None
            try:  # mixed operand types are tried: Python's TypeError says no
                value = (operator.add if isinstance(expr.op, ast.Add) else operator.mod)(a, b)
            except (TypeError, ValueError, KeyError):
                return None
            if isinstance(value, str) and len(value) > MAX_LENGTH:
                return None
            results.append(value)
        return _unique(results)

    def _call(self, expr: ast.Call, env, depth) -> list | None:
        func = expr.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if name == "dedent" and len(expr.args) == 1:
            inner = self.values(expr.args[0], env, depth + 1)
            return (
                None
                if inner is None or not all(isinstance(v, str) for v in inner)
                else [textwrap.dedent(v) for v in inner]
            )
        if not isinstance(func, ast.Attribute):
            return None
        receiver = self.values(func.value, env, depth + 1)
        if receiver is None or len(receiver) != 1:
            return None
        target = receiver[0]
        args = []
        for arg in expr.args:
            value = self.values(arg, env, depth + 1)
            if value is None or len(value) != 1:
                return None
            args.append(value[0])
        kwargs: dict[str, Any] = {}
        for keyword in expr.keywords:
            value = self.values(keyword.value, env, depth + 1) if keyword.arg else None
            if value is None or len(value) != 1 or not keyword.arg:  # not keyword.arg: **mapping
                return None
            kwargs[keyword.arg] = value[0]
        if isinstance(target, str) and name in (
            "format",
            "strip",
            "lstrip",
            "rstrip",
            "upper",
            "lower",
            "join",
            "replace",
        ):
            try:
                return [getattr(target, name)(*args, **kwargs)]
            except (TypeError, ValueError, KeyError, IndexError):
                return None
        if isinstance(target, dict) and name in ("items", "keys", "values") and not args:
            return [list(getattr(target, name)())]
        return None

    def _elements(self, iterable: ast.expr, env: dict, depth: int = 0) -> list | None:
        values = self.values(iterable, env, depth)
        if values is None or len(values) != 1:
            return None
        container = values[0]
        return list(container) if isinstance(container, (dict, list, tuple)) else None

    # -- strings built at run time ------------------------------------------------------
    def string_builder(self, expr: ast.expr, depth: int = 0) -> ast.expr | None:
        """Return the f-string / ``%`` / ``.format()`` expression that builds *expr*, if any."""
        if depth > 10:
            return None
        if isinstance(expr, ast.JoinedStr):
            return expr if any(isinstance(v, ast.FormattedValue) for v in expr.values) else None
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, (ast.Mod, ast.Add)):
            if self._stringish(expr.left, depth) or (
                isinstance(expr.op, ast.Add) and self._stringish(expr.right, depth)
            ):
                return expr
            return None
        if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute):
            if expr.func.attr in ("format", "join") and self._stringish(expr.func.value, depth):
                return expr
            return None
        if isinstance(expr, ast.Name):
            binding = self.lookup(expr)
            if binding is not None and binding.kind == "assign" and binding.value is not None:
                return self.string_builder(binding.value, depth + 1)
        return None

    def _stringish(self, expr: ast.expr, depth: int) -> bool:
        if isinstance(expr, ast.Constant):
            return isinstance(expr.value, str)
        return self.string_builder(expr, depth + 1) is not None

    def template(self, expr: ast.expr, depth: int = 0) -> str:
        """Return the constant text of a built string, with ``x`` for every placeholder."""
        if depth > 10:
            return "x"
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
            return expr.value
        if isinstance(expr, ast.JoinedStr):
            return "".join(
                v.value if isinstance(v, ast.Constant) and isinstance(v.value, str) else "x" for v in expr.values
            )
        if isinstance(expr, ast.BinOp):
            right = self.template(expr.right, depth + 1) if isinstance(expr.op, ast.Add) else ""
            return self.template(expr.left, depth + 1) + right
        if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute):
            return self.template(expr.func.value, depth + 1)
        if isinstance(expr, ast.Name):
            binding = self.lookup(expr)
            if binding is not None and binding.kind == "assign" and binding.value is not None:
                return self.template(binding.value, depth + 1)
        return "x"

    def variables_in(self, builder: ast.AST) -> list[str]:
        """Return the names a built string takes its values from, for messages."""
        return list(dict.fromkeys(node.id for node in self.walk(builder) if isinstance(node, ast.Name)))

    # -- positions inside string literals -----------------------------------------------
    def position_in_literal(self, node: ast.AST, offset: int) -> tuple[int, int] | None:
        """Map a character offset in a plain string literal to (line, 1-based column)."""
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
            return None
        segment = self.segment(node)
        if segment is None:
            return None
        match = _STRING_START.match(segment)
        if match is None:
            return None
        prefix, quote = match.groups()
        raw = "r" in prefix.lower()
        value = node.value
        if (not raw and "\\" in segment) or not segment.endswith(quote):
            return None
        if len(segment) != len(prefix) + 2 * len(quote) + len(value):
            return None  # implicit concatenation or a continuation line
        offset = max(0, min(offset, len(value)))
        newlines = value.count("\n", 0, offset)
        if newlines == 0:
            return node.lineno, self.column(node) + len(prefix) + len(quote) + offset
        return node.lineno + newlines, offset - value.rfind("\n", 0, offset)


# The fields that hold only operators and load/store contexts (shared singletons no rule reads
# through `children`: `BinOp.op` and the like are read from their node). Skipping them leaves
# about a third fewer nodes to walk.
_OPERATOR_FIELDS = frozenset({"ctx", "op", "ops"})
# The list fields that may hold something other than nodes: `None` (a `**` entry's key, a keyword-only
# parameter without a default) or identifiers (`global a, b`, a class pattern's keyword names). Every
# other list field holds only nodes and is copied without checking each item.
_MIXED_LISTS = frozenset({"keys", "kw_defaults", "names", "kwd_attrs"})
_LIST, _MIXED, _SINGLE = 0, 1, 2
_FIELDS: dict[type, tuple[tuple[str, int], ...]] = {}


def _fields(node: ast.AST) -> tuple[tuple[str, int], ...]:
    """Return (and remember) the fields of *node*'s type that can hold child nodes, in order, each with its kind.

    Read from the first node of the type met: `ast.parse` always sets a list field to a list.
    """
    fields = []
    for name in node._fields:
        if name in _OPERATOR_FIELDS:
            continue
        if not isinstance(getattr(node, name, None), list):
            fields.append((name, _SINGLE))
        else:
            fields.append((name, _MIXED if name in _MIXED_LISTS else _LIST))
    found = _FIELDS[type(node)] = tuple(fields)
    return found


def _child_nodes(node: ast.AST) -> list[ast.AST]:
    """Return `ast.iter_child_nodes(node)` as a list, without operators and contexts or generators."""
    children: list[ast.AST] = []
    for name, kind in _FIELDS.get(type(node)) or _fields(node):
        value: Any = getattr(node, name, None)
        if kind == _LIST:
            children += value
        elif kind == _MIXED:
            children += [item for item in value if isinstance(item, ast.AST)]
        elif isinstance(value, ast.AST):
            children.append(value)
    return children


def _target_names(target: ast.AST) -> list[str]:
    return [n.id for n in ast.walk(target) if isinstance(n, ast.Name)]


def _destructure(target: ast.AST | None, element, owner_id: int) -> dict | None:
    if isinstance(target, ast.Name):
        return {(owner_id, target.id): element}
    if isinstance(target, (ast.Tuple, ast.List)) and isinstance(element, (tuple, list)):
        if len(target.elts) != len(element):
            return None
        env: dict = {}
        for sub, value in zip(target.elts, element):
            bound = _destructure(sub, value, owner_id)
            if bound is None:
                return None
            env.update(bound)
        return env
    return None


def _unique(values) -> list | None:
    result: list = []
    for value in values:
        if value not in result:
            result.append(value)
        if len(result) > MAX_VALUES:
            return None
    return result
