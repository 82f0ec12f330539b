"""The AST rewriter: one legacy file's source becomes a native revision's source (pure).

One concept, kept whole although it is over 500 lines: the line-level edits,
the file converter and the function rewriter share one invariant (the rendered
text re-parses to exactly the intended syntax tree), and splitting them would
spread it over modules.

How a function is rewritten (`convert_source`):

- **native**: the legacy transaction scaffolding (``with engine.connect() as
  conn:``, ``trans = conn.begin()``, ``trans.commit()``, ``trans.rollback()`` +
  ``raise``; ``with engine.begin() as conn:``) is removed, because Alembic's
  per-migration transaction replaces it; ``conn.execute(text(...))`` whose
  result is unused becomes ``op.execute(text(...))``, other uses keep
  ``conn = op.get_bind()``. Comments, prints and SQL text stay byte for byte.
  This is done only when it provably keeps the meaning the migration has under
  the bridge; the rendered function is re-parsed and compared with the
  intended syntax tree.
- **legacy code**: otherwise (optional steps rolled back and carried on,
  ``conn.commit()`` batches, an early ``return`` after writes, helpers taking
  the engine, ...) the original function is kept verbatim as
  ``legacy_upgrade(engine)`` and ``upgrade()`` calls it through
  `bridge.revision_api.run_legacy_code`, which hands it the bridge's
  `LegacyEngine` on Alembic's connection: exactly the semantics it had under
  the bridge.
- **left alone**: files that cannot be moved safely (syntax errors, no
  ``upgrade(engine)``, ``__file__``, names that clash with Alembic's) are
  refused by name with the reason (`CannotConvert`).

The revision imports its run-time helpers from `bridge.revision_api`
(`RUNTIME_MODULE`).
"""

from __future__ import annotations

import ast
import copy
import io
import re
import tokenize
from dataclasses import dataclass
from typing import TypeGuard, cast

from ..proxy import is_read_only
from ..revision_api import REPLACES_ATTRIBUTE

# Where a converted revision imports its helpers from (revisions written before
# this module existed import them from bridge.convert, which still re-exports them).
RUNTIME_MODULE = "bridge.revision_api"
ROW_HELPERS = ("legacy_row_recorded", "record_legacy_row", "delete_legacy_row")
RUN_HELPER = "run_legacy_code"
RESERVED_NAMES = frozenset(
    {
        "op",
        "revision",
        "down_revision",
        "branch_labels",
        "depends_on",
        REPLACES_ATTRIBUTE,
        "legacy_upgrade",
        "legacy_downgrade",
        RUN_HELPER,
        *ROW_HELPERS,
    }
)
# Imports the legacy template needs only for its __main__ block.
MAIN_BLOCK_IMPORTS = frozenset({"os", "sys", "create_engine", "load_dotenv"})

NATIVE = "native"
LEGACY_CODE = "legacy code"
MISSING = "missing"


@dataclass
class FunctionConversion:
    """How one of ``upgrade``/``downgrade`` was converted, and why."""

    name: str
    mode: str  # NATIVE, LEGACY_CODE or MISSING
    reason: str | None = None

    def describe(self) -> str:
        if self.mode == NATIVE:
            return f"{self.name}: op.execute()/op.get_bind()"
        if self.mode == MISSING:
            return f"{self.name}: none in the legacy file (raises)"
        return f"{self.name}: legacy code kept, run through run_legacy_code() ({self.reason})"


@dataclass
class ConvertedSource:
    """The text of a converted revision and how each function was converted."""

    text: str
    functions: list[FunctionConversion]


class CannotConvert(Exception):
    """The whole file must be left alone (the reason is the message)."""


class _NotFaithful(Exception):
    """A function cannot be rewritten natively without changing its meaning."""


def convert_source(
    source: str,
    *,
    stem: str,
    down_revision: str | None,
    origin: str,
    title: str | None = None,
) -> ConvertedSource:
    """Return the native revision for the legacy file *source*; raise `CannotConvert` if unsafe."""
    return _FileConverter(source, stem, down_revision, origin, title).convert()


class _Edits:
    """Line-level edits of a source file, applied in one pass by `render`."""

    def __init__(self, lines: list[str], protected: set[int]):
        self.lines = lines  # 1-based: lines[0] is unused
        self.protected = protected
        self.dropped: set[int] = set()
        self.dedent: dict[int, int] = {}
        self.replaced: dict[int, tuple[int, list[str]]] = {}
        self.spans: dict[int, list[tuple[int, int, str]]] = {}
        self.before: dict[int, list[str]] = {}

    def drop(self, first: int, last: int) -> None:
        self.dropped.update(range(first, last + 1))

    def dedent_range(self, first: int, last: int, amount: int) -> None:
        for n in range(first, last + 1):
            self.dedent[n] = self.dedent.get(n, 0) + amount

    def replace(self, first: int, last: int, new_lines: list[str]) -> None:
        self.replaced[first] = (last, new_lines)
        self.dropped.update(range(first + 1, last + 1))

    def span(self, node: ast.expr, text: str) -> None:
        """Replace the source of *node* (on one line) by *text*."""
        if node.lineno != node.end_lineno:
            raise _NotFaithful(f"line {node.lineno}: an expression spread over several lines")
        line = self.lines[node.lineno]
        start = _char_col(line, node.col_offset)
        end = _char_col(line, _end_col(node))
        self.spans.setdefault(node.lineno, []).append((start, end, text))

    def insert_before(self, line: int, new_lines: list[str]) -> None:
        self.before.setdefault(line, []).extend(new_lines)

    def render(self) -> str:
        out: list[str] = []
        n = 1
        while n < len(self.lines):
            out.extend(self.before.get(n, ()))
            if n in self.replaced:
                last, new_lines = self.replaced[n]
                out.extend(new_lines)
                n = last + 1
                continue
            if n in self.dropped:
                n += 1
                continue
            line = self.lines[n]
            for start, end, text in sorted(self.spans.get(n, ()), reverse=True):
                line = line[:start] + text + line[end:]
            amount = self.dedent.get(n, 0)
            if amount and n not in self.protected and line.strip():
                leading = len(line) - len(line.lstrip(" "))
                line = line[min(amount, leading) :]
            out.append(line)
            n += 1
        out.extend(self.before.get(n, ()))
        return "".join(line if line.endswith("\n") else line + "\n" for line in out)


def _last_line(node: ast.stmt | ast.expr | ast.excepthandler) -> int:
    """Return the last line of a parsed *node* (the stubs allow None, for nodes built by hand)."""
    if node.end_lineno is None:  # pragma: no cover - ast.parse sets every end position
        raise ValueError(f"line {node.lineno}: a syntax tree node without an end position")
    return node.end_lineno


def _end_col(node: ast.expr) -> int:
    """Return the end byte column of a parsed *node* (the stubs allow None, for nodes built by hand)."""
    if node.end_col_offset is None:  # pragma: no cover - ast.parse sets every end position
        raise ValueError(f"line {node.lineno}: a syntax tree node without an end position")
    return node.end_col_offset


def _char_col(line: str, byte_col: int) -> int:
    return len(line.encode("utf-8")[:byte_col].decode("utf-8", errors="replace"))


def _string_continuation_lines(source: str) -> set[int]:
    """Return the lines inside multi-line string literals: their whitespace is content."""
    protected: set[int] = set()
    depth_start: int | None = None
    fstring_start = getattr(tokenize, "FSTRING_START", None)
    fstring_end = getattr(tokenize, "FSTRING_END", None)
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.STRING and tok.end[0] > tok.start[0]:
            protected.update(range(tok.start[0] + 1, tok.end[0] + 1))
        elif fstring_start is not None and tok.type == fstring_start and depth_start is None:
            depth_start = tok.start[0]
        elif fstring_end is not None and tok.type == fstring_end and depth_start is not None:
            protected.update(range(depth_start + 1, tok.end[0] + 1))
            depth_start = None
    return protected


def _quoted(value: str | None) -> str:
    return "None" if value is None else '"' + value + '"'


def _collapse_blank_lines(text: str, header_until: int = 0) -> str:
    """Keep at most two blank lines in a row (one in the header), never inside a string literal."""
    protected = _string_continuation_lines(text)
    out: list[str] = []
    blanks = 0
    for n, line in enumerate(text.splitlines(keepends=True), start=1):
        if not line.strip() and n not in protected:
            blanks += 1
            if blanks > (1 if n <= header_until else 2):
                continue
        else:
            blanks = 0
        out.append(line)
    return "".join(out).rstrip("\n") + "\n"


def _is_main_guard(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.If)
        and isinstance(node.test, ast.Compare)
        and isinstance(node.test.left, ast.Name)
        and node.test.left.id == "__name__"
        and len(node.test.comparators) == 1
        and isinstance(node.test.comparators[0], ast.Constant)
        and node.test.comparators[0].value == "__main__"
    )


def _docstring_literal(value: str, indent: str = "") -> str:
    """Render *value* as a string literal, triple-quoted when that keeps it exact."""
    if '"""' not in value and "\\" not in value and "\r" not in value and not value.endswith('"'):
        return f'{indent}"""{value}"""'
    return f"{indent}{value!r}"


class _FileConverter:
    def __init__(self, source: str, stem: str, down_revision: str | None, origin: str, title: str | None):
        self.source = source.replace("\r\n", "\n").replace("\r", "\n")
        self.stem = stem
        self.down_revision = down_revision
        self.origin = origin
        self.title = title or stem

    def convert(self) -> ConvertedSource:
        try:
            self.tree = ast.parse(self.source)
        except SyntaxError as err:
            raise CannotConvert(f"syntax error at line {err.lineno}: {err.msg}") from None
        self.lines = [""] + self.source.splitlines(keepends=True)
        self.protected = _string_continuation_lines(self.source)
        body = self.tree.body
        self.main_blocks = [node for node in body if _is_main_guard(node)]
        self.functions = self._find_functions()
        self._refuse_unsafe_names()
        self.text_names = self._text_names()

        forced: dict[str, str] = {}
        while True:
            text, conversions, expected = self._render(forced)
            mismatched = self._verify(text, expected)
            if not mismatched:
                return ConvertedSource(text, conversions)
            if any(name in forced or name.startswith("legacy_") for name in mismatched):
                raise CannotConvert(  # pragma: no cover - a bug in the renderer
                    f"internal error: could not render {', '.join(mismatched)}(); please report it, with the file"
                )
            for name in mismatched:
                forced[name] = "its native rewrite did not render exactly (please report it, with the file)"

    def _render(self, forced: dict[str, str]):
        """Return (text, conversions, intended syntax trees), keeping legacy code for *forced* functions."""
        edits = _Edits(self.lines, self.protected)
        for node in self.main_blocks:
            edits.drop(node.lineno, _last_line(node))
        conversions = []
        expected: dict[str, ast.FunctionDef] = {}
        for name in ("upgrade", "downgrade"):
            fn = self.functions.get(name)
            if fn is None:
                conversions.append(FunctionConversion(name, MISSING))
                continue
            try:
                if name in forced:
                    raise _NotFaithful(forced[name])
                attempt = _Edits(self.lines, self.protected)
                expected[name] = _FunctionRewriter(self, fn, attempt).rewrite()
                _merge(edits, attempt)
                conversions.append(FunctionConversion(name, NATIVE))
            except _NotFaithful as why:
                reason = str(why)
                expected.update(self._keep_legacy_code(fn, edits, reason))
                conversions.append(FunctionConversion(name, LEGACY_CODE, reason))
        if "downgrade" not in self.functions:
            edits.insert_before(
                len(self.lines),
                [
                    "\n",
                    "\n",
                    "def downgrade() -> None:\n",
                    '    """The legacy migration defined no downgrade(engine)."""\n',
                    f"    raise NotImplementedError({self.stem + ' cannot be downgraded: the legacy migration it was converted from defined no downgrade(engine)'!r})\n",
                ],
            )
        self._docstring(edits, conversions)
        text = self._finish_module(edits.render(), conversions)
        return text, conversions, expected

    # -- checks ---------------------------------------------------------------------------
    def _find_functions(self) -> dict[str, ast.FunctionDef]:
        found: dict[str, ast.FunctionDef] = {}
        for node in self.tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in ("upgrade", "downgrade"):
                if node.name in found:
                    raise CannotConvert(
                        f"defines {node.name}() twice (lines {found[node.name].lineno} and {node.lineno})"
                    )
                if isinstance(node, ast.AsyncFunctionDef):
                    raise CannotConvert(
                        f"line {node.lineno}: `async def {node.name}` cannot run under the bridge either"
                    )
                args = node.args
                positional = args.posonlyargs + args.args
                if len(positional) != 1 or args.vararg or args.kwarg or args.kwonlyargs or args.defaults:
                    raise CannotConvert(
                        f"line {node.lineno}: {node.name}() does not take exactly one engine "
                        f"parameter; the bridge cannot run it either (see `alembic-bridge lint`)"
                    )
                if node.decorator_list:
                    raise CannotConvert(f"line {node.lineno}: {node.name}() is decorated")
                found[node.name] = node
        if "upgrade" not in found:
            raise CannotConvert("defines no top-level `def upgrade(engine):`")
        return found

    def _outside_main(self):
        for node in self.tree.body:
            if node not in self.main_blocks:
                yield from ast.walk(node)

    def _refuse_unsafe_names(self) -> None:
        for node in self._outside_main():
            names: list[tuple[str, int]] = []
            if isinstance(node, ast.Name):
                names.append((node.id, node.lineno))
            elif isinstance(node, ast.arg):
                names.append((node.arg, node.lineno))
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                if node.name not in ("upgrade", "downgrade") or node not in self.functions.values():
                    names.append((node.name, node.lineno))
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names += [((a.asname or a.name).split(".")[0], node.lineno) for a in node.names]
            elif isinstance(node, ast.Global):
                names += [(n, node.lineno) for n in node.names]
            for name, line in names:
                if name == "__file__":
                    raise CannotConvert(
                        f"line {line}: uses __file__; the converted revision lives in another "
                        "folder, so paths built from it would change. Read the file another way first"
                    )
                if name in ("upgrade", "downgrade"):
                    raise CannotConvert(
                        f"line {line}: refers to {name}() by name; a native revision's "
                        f"{name}() takes no engine, so the call would break"
                    )
                if name in RESERVED_NAMES:
                    raise CannotConvert(
                        f"line {line}: uses the name `{name}`, which the converted revision "
                        "needs for Alembic (rename it first)"
                    )

    def _text_names(self) -> set[str]:
        """Names bound to SQLAlchemy's ``text`` in this module."""
        names: set[str] = set()
        for node in self.tree.body:
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
                names.update(a.asname or a.name for a in node.names if a.name == "text")
        return names

    # -- the "legacy code" mode ---------------------------------------------------------------
    def _keep_legacy_code(self, fn: ast.FunctionDef, edits: _Edits, reason: str) -> dict[str, ast.FunctionDef]:
        name = fn.name
        line = self.lines[fn.lineno]
        match = re.match(rf"^(\s*)def\s+{name}\b", line)
        if match is None:
            raise CannotConvert(f"line {fn.lineno}: unusual `def {name}` line")
        start = line.index(name, match.end() - len(name))
        edits.spans.setdefault(fn.lineno, []).append((start, start + len(name), f"legacy_{name}"))
        doc = ast.get_docstring(fn, clean=False)
        wrapper = [f"def {name}() -> None:"]
        if doc is not None:
            wrapper.append(_docstring_literal(doc, "    "))
        if name == "upgrade":
            wrapper += self._prologue(name, "    ")[:2]
        wrapper += [
            "    # The legacy code below runs unchanged, on Alembic's connection, with the",
            "    # bridge's engine (its transactions are SAVEPOINTs in Alembic's transaction):",
            f"    # {re.sub(r'^line [0-9]+: ', '', reason)}.",
            f"    {RUN_HELPER}(legacy_{name})",
            # After the work: legacy code may commit early (AUTOCOMMIT), and the row must not.
            f"    {'record_legacy_row' if name == 'upgrade' else 'delete_legacy_row'}(revision)",
            "",
            "",
        ]
        edits.insert_before(fn.lineno, [w + "\n" for w in wrapper])
        kept = copy.deepcopy(fn)
        kept.name = f"legacy_{name}"
        wrapper_def = cast(ast.FunctionDef, ast.parse("\n".join(wrapper)).body[0])  # the wrapper is one def
        return {name: wrapper_def, f"legacy_{name}": kept}

    def _prologue(self, name: str, indent: str) -> list[str]:
        """The row bookkeeping a native function starts with (it may return early; it cannot commit)."""
        if name == "upgrade":
            return [
                f"{indent}if legacy_row_recorded(revision):",
                f"{indent}    return  # applied before it was converted (e.g. by an old runner)",
                f"{indent}record_legacy_row(revision)",
            ]
        return [f"{indent}delete_legacy_row(revision)"]

    # -- module-level text ------------------------------------------------------------------
    def _docstring(self, edits: _Edits, conversions: list[FunctionConversion]) -> None:
        original = ast.get_docstring(self.tree, clean=False)
        header = [
            self.title,
            "",
            f"Revision ID: {self.stem}",
            f"Revises: {self.down_revision}" if self.down_revision else "Revises:",
            f"Converted from the legacy migration {self.origin} by `alembic-bridge convert`",
            "(same revision id: no database needs any change).",
        ]
        value = "\n".join(header) + "\n"
        if original is not None and original.strip():
            value += "\n" + original.strip("\n") + "\n"
        literal = _docstring_literal(value)
        new_lines = [line + "\n" for line in literal.split("\n")]
        first = self.tree.body[0] if self.tree.body else None
        if original is not None and first is not None:
            edits.replace(first.lineno, _last_line(first), new_lines)
        else:
            edits.insert_before(1, new_lines + ["\n"])

    def _finish_module(self, text: str, conversions: list[FunctionConversion]) -> str:
        """Drop imports only the ``__main__`` block used; add Alembic's imports and identifiers."""
        tree = ast.parse(text)
        used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        lines = [""] + text.splitlines(keepends=True)
        has_doc = ast.get_docstring(tree, clean=False) is not None
        leading = []
        for node in tree.body[1:] if has_doc else tree.body:
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                break
            leading.append(node)
        replacements: dict[int, str | None] = {}
        for node in tree.body:
            if not isinstance(node, (ast.Import, ast.ImportFrom)) or node.lineno != node.end_lineno:
                continue
            keep = [
                a for a in node.names if (a.asname or a.name) not in MAIN_BLOCK_IMPORTS or (a.asname or a.name) in used
            ]
            if len(keep) == len(node.names):
                continue
            if not keep:
                replacements[node.lineno] = None
            else:
                clone = copy.copy(node)
                clone.names = keep
                replacements[node.lineno] = ast.unparse(clone) + "\n"
        helpers = [h for h in ROW_HELPERS if re.search(rf"\b{h}\(", text)]
        if any(c.mode == LEGACY_CODE for c in conversions):
            helpers.append(RUN_HELPER)
        block = ["\n", "from alembic import op\n"]
        if helpers:
            block += ["\n", f"from {RUNTIME_MODULE} import {', '.join(helpers)}\n"]
        block += [
            "\n",
            "# revision identifiers, used by Alembic.\n",
            f"revision = {_quoted(self.stem)}\n",
            f"down_revision = {_quoted(self.down_revision)}\n",
            "branch_labels = None\n",
            "depends_on = None\n",
            "# The legacy migration this revision was converted from: it keeps that\n",
            "# migration's schema_migrations row, so old runners see it as applied.\n",
            f"{REPLACES_ATTRIBUTE} = ({_quoted(self.stem)},)\n",
            "\n",
        ]
        if leading:
            anchor = _last_line(leading[-1]) + 1
        else:
            anchor = _last_line(tree.body[0]) + 1 if has_doc else 1
        out: list[str] = []
        header_until = 0
        for n in range(1, len(lines)):
            if n == anchor:
                out.extend(block)
                header_until = len(out) - 1
            if n in replacements:
                replacement = replacements[n]
                if replacement is not None:
                    out.append(replacement)
                continue
            out.append(lines[n])
        if anchor >= len(lines):
            out.extend(block)
            header_until = len(out) - 1
        return _collapse_blank_lines("".join(out), header_until=header_until)

    def _verify(self, text: str, expected: dict[str, ast.FunctionDef]) -> list[str]:
        """Re-parse the revision; return the functions that differ from the intended ones."""
        try:
            tree = ast.parse(text)
        except SyntaxError as err:  # pragma: no cover - a bug in the renderer
            raise CannotConvert(f"internal error: the converted text does not parse ({err})") from None
        found = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
        mismatched = [
            name for name, node in expected.items() if name not in found or ast.dump(found[name]) != ast.dump(node)
        ]
        original = [
            ast.dump(n)
            for n in self.tree.body
            if n not in self.main_blocks
            and not (isinstance(n, ast.FunctionDef) and n.name in ("upgrade", "downgrade"))
            and not isinstance(n, (ast.Import, ast.ImportFrom))
            and not (n is self.tree.body[0] and ast.get_docstring(self.tree, clean=False) is not None)
        ]
        names = {"upgrade", "downgrade", "legacy_upgrade", "legacy_downgrade"}
        identifiers = {"revision", "down_revision", "branch_labels", "depends_on", REPLACES_ATTRIBUTE}
        kept = [
            ast.dump(n)
            for n in tree.body[1:]
            if not (isinstance(n, ast.FunctionDef) and n.name in names)
            and not isinstance(n, (ast.Import, ast.ImportFrom))
            and not (
                isinstance(n, ast.Assign)
                and len(n.targets) == 1
                and isinstance(n.targets[0], ast.Name)
                and n.targets[0].id in identifiers
            )
        ]
        if original != kept:  # pragma: no cover - a bug in the renderer
            raise CannotConvert("internal error: module-level code changed; please report it, with the file")
        return mismatched


def _merge(into: _Edits, edits: _Edits) -> None:
    into.dropped |= edits.dropped
    for n, amount in edits.dedent.items():
        into.dedent[n] = into.dedent.get(n, 0) + amount
    into.replaced.update(edits.replaced)
    for n, spans in edits.spans.items():
        into.spans.setdefault(n, []).extend(spans)
    for n, new_lines in edits.before.items():
        into.before.setdefault(n, []).extend(new_lines)


# Connection methods a statement may call inside Alembic's transaction unchanged.
CONNECTION_CALLS = frozenset({"execute", "exec_driver_sql", "scalar", "scalars"})
# What code reads off an Engine, and its spelling on Alembic's connection.
ENGINE_ATTRIBUTES = {
    "dialect": "op.get_bind().dialect",
    "name": "op.get_bind().dialect.name",
    "driver": "op.get_bind().dialect.driver",
    "url": "op.get_bind().engine.url",
}


class _FunctionRewriter:
    """Rewrites one legacy function natively, or raises `_NotFaithful` saying why not."""

    def __init__(self, file: _FileConverter, fn: ast.FunctionDef, edits: _Edits):
        self.file = file
        self.fn = fn
        self.edits = edits
        self.engine = (fn.args.posonlyargs + fn.args.args)[0].arg
        self.parents: dict[ast.AST, ast.AST] = {}
        for parent in ast.walk(fn):
            for child in ast.iter_child_nodes(parent):
                self.parents[child] = parent
        self.connections: set[str] = set()
        self.transactions: set[str] = set()
        self.bound_at_top: set[str] = set()
        # `trans.rollback(); return` / `conn.commit(); return` before anything was written:
        # the statement before the `return` is dropped (ids of the original nodes).
        self.early_exits: set[int] = set()

    def rewrite(self) -> ast.FunctionDef:
        fn = self.fn
        header = self.file.lines[fn.lineno]
        if not re.match(rf"^\s*def\s+{fn.name}\s*\(\s*{self.engine}\s*\)\s*:\s*(#.*)?$", header.rstrip("\n")):
            raise _NotFaithful(f"line {fn.lineno}: the `def {fn.name}(...)` line is unusual")
        if any(
            "\t" in self.file.lines[n][: len(self.file.lines[n]) - len(self.file.lines[n].lstrip())]
            for n in range(fn.lineno, _last_line(fn) + 1)
        ):
            raise _NotFaithful("indented with tabs")
        for node in ast.walk(fn):
            if isinstance(node, ast.Name) and node.id == "op":
                raise _NotFaithful(f"line {node.lineno}: uses the name `op`")
        indent = header[: len(header) - len(header.lstrip())]
        self.edits.replace(fn.lineno, fn.lineno, [f"{indent}def {fn.name}() -> None:\n"])
        body = list(fn.body)
        if body[0].lineno <= fn.lineno:
            raise _NotFaithful(f"line {fn.lineno}: the body starts on the `def` line")
        docstring = []
        if (
            isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            docstring = [body.pop(0)]
        if not body:
            raise _NotFaithful("the function has no body")
        body_indent = " " * body[0].col_offset
        prologue = self.file._prologue(fn.name, body_indent)
        anchor = _last_line(docstring[0]) + 1 if docstring else body[0].lineno
        self.edits.insert_before(anchor, [p + "\n" for p in prologue])
        new_body = docstring + ast.parse("\n".join(p[len(body_indent) :] for p in prologue)).body
        new_body += self._statements(body, "top", None)
        result = copy.copy(fn)
        result.args = ast.arguments(
            posonlyargs=[], args=[], vararg=None, kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[]
        )
        result.returns = ast.Constant(None)
        result.body = new_body
        return result

    # -- statement lists ------------------------------------------------------------------------
    def _statements(self, stmts: list[ast.stmt], scope: str, conn: str | None) -> list[ast.stmt]:
        if scope == "connection" and conn is not None:
            commit = [k for k, s in enumerate(stmts) if self._is_method_statement(s, conn, "commit")]
            if commit:
                return self._autobegun(stmts, commit, conn)
        out: list[ast.stmt] = []
        i = 0
        while i < len(stmts):
            node = stmts[i]
            following = stmts[i + 1] if i + 1 < len(stmts) else None
            if scope == "top" and self._is_engine_with(node):
                out += self._flatten_engine_with(node)
            elif scope == "top" and self._is_engine_call_statement(node, "dispose"):
                self._drop_statement(node)
            elif (
                scope == "connection"
                and conn is not None
                and self._is_begin_assign(node, conn)
                and isinstance(following, ast.Try)
            ):
                out += self._transaction(node, following, conn)
                i += 1
            elif scope == "connection" and conn is not None and self._is_begin_assign(node, conn):
                return out + self._begun(stmts[i:], conn)
            elif scope == "connection" and self._is_conn_begin_with(node, conn):
                out += self._flatten(node, self._statements(node.body, "transaction", conn), None)
            else:
                out.append(self._generic(node, conn if scope == "transaction" else None))
            i += 1
        return out

    def _is_engine_with(self, node) -> TypeGuard[ast.With]:
        if not isinstance(node, ast.With) or len(node.items) != 1:
            return False
        item = node.items[0]
        call = item.context_expr
        return (
            isinstance(call, ast.Call)
            and not call.args
            and not call.keywords
            and isinstance(call.func, ast.Attribute)
            and call.func.attr in ("connect", "begin")
            and isinstance(call.func.value, ast.Name)
            and call.func.value.id == self.engine
            and isinstance(item.optional_vars, ast.Name)
        )

    def _is_engine_call_statement(self, node, method: str) -> bool:
        return (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Attribute)
            and node.value.func.attr == method
            and isinstance(node.value.func.value, ast.Name)
            and node.value.func.value.id == self.engine
        )

    def _is_begin_assign(self, node, conn) -> TypeGuard[ast.Assign]:
        return (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and isinstance(node.value, ast.Call)
            and not node.value.args
            and not node.value.keywords
            and isinstance(node.value.func, ast.Attribute)
            and node.value.func.attr == "begin"
            and isinstance(node.value.func.value, ast.Name)
            and node.value.func.value.id == conn
        )

    def _is_conn_begin_with(self, node, conn) -> TypeGuard[ast.With]:
        if not isinstance(node, ast.With) or len(node.items) != 1:
            return False
        item = node.items[0]
        call = item.context_expr
        ok = (
            isinstance(call, ast.Call)
            and not call.args
            and not call.keywords
            and isinstance(call.func, ast.Attribute)
            and call.func.attr == "begin"
            and isinstance(call.func.value, ast.Name)
            and call.func.value.id == conn
        )
        if ok and item.optional_vars is not None:
            if not isinstance(item.optional_vars, ast.Name):
                return False
            name = item.optional_vars.id
            if any(isinstance(n, ast.Name) and n.id == name for s in node.body for n in ast.walk(s)):
                raise _NotFaithful(f"line {node.lineno}: uses the transaction object `{name}` inside its block")
        return ok

    # -- with blocks ---------------------------------------------------------------------------
    def _flatten_engine_with(self, node: ast.With) -> list[ast.stmt]:
        # _is_engine_with() checked the shape: `with <engine>.connect()/begin() as <name>:`
        method = cast(ast.Attribute, cast(ast.Call, node.items[0].context_expr).func).attr
        conn = cast(ast.Name, node.items[0].optional_vars).id
        if conn == self.engine:
            raise _NotFaithful(f"line {node.lineno}: the connection shadows the engine's name")
        self.connections.add(conn)
        scope = "connection" if method == "connect" else "transaction"
        body = self._statements(node.body, scope, conn)
        uses = any(isinstance(n, ast.Name) and n.id == conn for s in body for n in ast.walk(s))
        bind = conn if uses and conn not in self.bound_at_top else None
        if bind:
            self.bound_at_top.add(conn)
        return self._flatten(node, body, bind)

    def _flatten(self, node: ast.With, body: list[ast.stmt], bind: str | None) -> list[ast.stmt]:
        """Replace a ``with`` header by ``bind = op.get_bind()`` (or nothing); dedent its body."""
        item = node.items[0]
        header_end = max(_last_line(item.context_expr), _last_line(item.optional_vars) if item.optional_vars else 0)
        self._check_header(node, header_end)
        indent = " " * node.col_offset
        if bind:
            self.edits.replace(node.lineno, header_end, [f"{indent}{bind} = op.get_bind()\n"])
        else:
            self.edits.drop(node.lineno, header_end)
        self.edits.dedent_range(header_end + 1, _last_line(node), node.body[0].col_offset - node.col_offset)
        prefix = ast.parse(f"{bind} = op.get_bind()").body if bind else []
        return prefix + body

    def _check_header(self, node, header_end: int) -> None:
        if node.body[0].lineno <= header_end:
            raise _NotFaithful(f"line {node.lineno}: a block written on one line")
        text = self.file.lines[node.lineno].lstrip()
        if node.lineno != header_end or not re.match(r"^(with|try)\b.*:\s*(#.*)?$", text.rstrip("\n")):
            raise _NotFaithful(f"line {node.lineno}: a block header spread over several lines")

    def _drop_statement(self, node: ast.stmt) -> None:
        self._check_own_lines(node)
        self.edits.drop(node.lineno, _last_line(node))

    def _check_own_lines(self, node: ast.stmt) -> None:
        first = self.file.lines[node.lineno]
        last = self.file.lines[_last_line(node)]
        if len(first) - len(first.lstrip()) != node.col_offset:
            raise _NotFaithful(f"line {node.lineno}: several statements on one line")
        rest = last.encode("utf-8")[node.end_col_offset :].decode("utf-8", errors="replace").strip()
        if rest and not rest.startswith("#"):
            raise _NotFaithful(f"line {node.end_lineno}: several statements on one line")

    # -- the legacy transaction idiom ------------------------------------------------------------
    def _transaction(self, begin: ast.Assign, node: ast.stmt, conn: str) -> list[ast.stmt]:
        """``trans = conn.begin()`` + ``try: ...; trans.commit() except: trans.rollback(); raise``."""
        trans = cast(ast.Name, begin.targets[0]).id  # _is_begin_assign() checked: `<name> = conn.begin()`
        where = f"line {begin.lineno}"
        if not isinstance(node, ast.Try) or node.orelse or node.finalbody or len(node.handlers) != 1:
            raise _NotFaithful(f"{where}: the transaction's try statement is not the legacy template's")
        handler = node.handlers[0]
        if handler.type is not None and not (
            isinstance(handler.type, ast.Name) and handler.type.id in ("Exception", "BaseException")
        ):
            raise _NotFaithful(f"line {handler.lineno}: the transaction catches only some exceptions")
        commits = [i for i, s in enumerate(node.body) if self._is_method_statement(s, trans, "commit")]
        if len(commits) != 1:
            raise _NotFaithful(
                f"{where}: the transaction is committed {'more than once' if commits else 'nowhere'} "
                "(under the bridge, uncommitted work is rolled back and reported)"
            )
        k = commits[0]
        self._find_early_exits(node.body[:k], trans)
        handler_rest = [s for s in handler.body if not self._is_method_statement(s, trans, "rollback")]
        reraise = handler_rest[-1] if handler_rest else None
        if not isinstance(reraise, ast.Raise):
            raise _NotFaithful(
                f"line {handler.lineno}: an optional step: a failure is rolled back and the migration carries on"
            )
        for stmt in node.body[:k] + node.body[k + 1 :] + handler_rest:
            if any(isinstance(n, ast.Name) and n.id == trans and not self._in_early_exit(n) for n in ast.walk(stmt)):
                raise _NotFaithful(f"line {stmt.lineno}: uses the transaction object `{trans}` beyond commit/rollback")
        self._check_returns(node.body[:k], conn)
        self.transactions.add(trans)
        before = self._statements(node.body[:k], "transaction", conn)
        after = [self._generic(s, None) for s in node.body[k + 1 :]]
        self._drop_statement(begin)
        self._drop_statement(node.body[k])
        for s in handler.body:
            if s not in handler_rest:
                self._drop_statement(s)
        if len(handler_rest) == 1 and reraise.exc is None:
            # Nothing but "roll back and re-raise": Alembic's transaction does exactly that.
            if node.body[0].lineno <= node.lineno or self.file.lines[node.lineno].strip() != "try:":
                raise _NotFaithful(f"line {node.lineno}: an unusual try statement")
            self.edits.drop(node.lineno, node.lineno)
            self.edits.drop(handler.lineno, _last_line(handler))
            self.edits.dedent_range(node.lineno + 1, handler.lineno - 1, node.body[0].col_offset - node.col_offset)
            return before + after
        if not before + after:
            raise _NotFaithful(f"line {node.lineno}: the transaction does nothing but commit")
        kept = copy.copy(node)
        kept.body = before + after
        new_handler = copy.copy(handler)
        new_handler.body = [self._generic(s, None) for s in handler_rest]
        kept.handlers = [new_handler]
        return [kept]

    def _autobegun(self, stmts: list[ast.stmt], commits: list[int], conn: str) -> list[ast.stmt]:
        """2.0-style autobegin: ``conn.execute(...)`` ... one ``conn.commit()`` in the block."""
        if len(commits) != 1:
            raise _NotFaithful(
                f"line {stmts[commits[1]].lineno}: commits `{conn}` more than once (batches, each "
                "committed on its own; one transaction under Alembic would hold their locks to the end)"
            )
        return self._one_transaction(stmts, commits[0], conn, conn, begin=None)

    def _begun(self, stmts: list[ast.stmt], conn: str) -> list[ast.stmt]:
        """``trans = conn.begin()`` ... ``trans.commit()`` without the template's try statement."""
        begin = cast(ast.Assign, stmts[0])  # _is_begin_assign() checked: `<name> = conn.begin()`
        trans = cast(ast.Name, begin.targets[0]).id
        commits = [k for k, s in enumerate(stmts) if self._is_method_statement(s, trans, "commit")]
        if len(commits) != 1:
            raise _NotFaithful(
                f"line {begin.lineno}: the transaction is committed {'more than once' if commits else 'nowhere'} "
                "(under the bridge, uncommitted work is rolled back and reported)"
            )
        self.transactions.add(trans)
        return self._one_transaction(stmts[1:], commits[0] - 1, conn, trans, begin=begin)

    def _one_transaction(
        self, stmts: list[ast.stmt], k: int, conn: str, owner: str, begin: ast.Assign | None
    ) -> list[ast.stmt]:
        """*stmts*[:k] run in one transaction that *owner* (the connection or ``trans``) commits at *k*."""
        self._find_early_exits(stmts[:k], owner)
        for stmt in stmts[:k]:
            for node in ast.walk(stmt):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name)
                    and node.func.value.id in (conn, owner)
                    and node.func.attr in ("begin", "commit", "rollback", "begin_nested")
                    and not self._in_early_exit(node)
                ):
                    raise _NotFaithful(f"line {node.lineno}: a second commit, rollback or begin in the transaction")
        self._check_returns(stmts[:k], conn)
        before = self._statements(stmts[:k], "transaction", conn)
        after = [self._generic(s, None) for s in stmts[k + 1 :]]
        if begin is not None:
            self._drop_statement(begin)
        self._drop_statement(stmts[k])
        return before + after

    def _find_early_exits(self, stmts: list[ast.stmt], owner: str) -> None:
        """Record each ``owner.rollback()`` / ``owner.commit()`` followed by a bare ``return``.

        Faithful only when nothing was written before it (`_check_returns` checks the
        ``return``): ending an empty transaction is the same as not ending it.
        """
        for stmt in stmts:
            for node in ast.walk(stmt):
                for field in ("body", "orelse", "finalbody"):
                    block = getattr(node, field, None)
                    if not isinstance(block, list):
                        continue
                    for first, second in zip(block, block[1:]):
                        if (
                            self._is_method_statement(first, owner, "rollback")
                            or self._is_method_statement(first, owner, "commit")
                        ) and (isinstance(second, ast.Return) and second.value is None):
                            self.early_exits.add(id(first))
                            self._drop_statement(first)
            if self._is_early_exit_pair(stmts, stmt, owner):
                self.early_exits.add(id(stmt))
                self._drop_statement(stmt)

    def _is_early_exit_pair(self, stmts: list[ast.stmt], stmt: ast.stmt, owner: str) -> bool:
        i = stmts.index(stmt)
        following = stmts[i + 1] if i + 1 < len(stmts) else None
        return (
            self._is_method_statement(stmt, owner, "rollback") or self._is_method_statement(stmt, owner, "commit")
        ) and (isinstance(following, ast.Return) and following.value is None)

    def _in_early_exit(self, node: ast.AST) -> bool:
        current: ast.AST | None = node
        while current is not None:
            if id(current) in self.early_exits:
                return True
            current = self.parents.get(current)
        return False

    def _is_method_statement(self, node, owner: str, method: str) -> bool:
        return (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Call)
            and not node.value.args
            and not node.value.keywords
            and isinstance(node.value.func, ast.Attribute)
            and node.value.func.attr == method
            and isinstance(node.value.func.value, ast.Name)
            and node.value.func.value.id == owner
        )

    def _check_returns(self, stmts: list[ast.stmt], conn: str) -> None:
        """An early ``return`` with the transaction open is faithful only if nothing was written."""
        for stmt in stmts:
            for node in ast.walk(stmt):
                if not isinstance(node, ast.Return):
                    continue
                if self._inside_loop(node, stmts):
                    raise _NotFaithful(f"line {node.lineno}: returns from inside a loop with the transaction open")
                for other in stmts:
                    for call in ast.walk(other):
                        if (
                            isinstance(call, ast.Call)
                            and (call.lineno, call.col_offset) < (node.lineno, node.col_offset)
                            and self._is_write(call, conn)
                        ):
                            raise _NotFaithful(
                                f"line {node.lineno}: returns early after writing (line {call.lineno}) with "
                                "the transaction open; the legacy engine rolls that work back and the "
                                "bridge reports it"
                            )

    def _inside_loop(self, node: ast.AST, stmts: list[ast.stmt]) -> bool:
        parent = self.parents.get(node)
        while parent is not None and parent is not self.fn:
            if isinstance(parent, (ast.For, ast.While, ast.AsyncFor)):
                return True
            parent = self.parents.get(parent)
        return False

    def _is_write(self, call: ast.Call, conn: str) -> bool:
        func = call.func
        if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == conn):
            return False
        if func.attr not in CONNECTION_CALLS or not call.args:
            return True
        sql = self._literal_sql(call.args[0])
        return sql is None or not is_read_only(sql)

    def _literal_sql(self, node) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if (
            self._is_text_call(node)
            and len(node.args) == 1
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            return node.args[0].value
        return None

    def _is_text_call(self, node) -> bool:
        if not isinstance(node, ast.Call) or node.keywords or len(node.args) != 1:
            return False
        func = node.func
        if isinstance(func, ast.Name):
            return func.id in self.file.text_names
        return (
            isinstance(func, ast.Attribute)
            and func.attr == "text"
            and isinstance(func.value, ast.Name)
            and func.value.id in ("sa", "sqlalchemy")
        )

    # -- any other statement -------------------------------------------------------------------
    def _generic(self, stmt: ast.stmt, conn: str | None) -> ast.stmt:
        """Keep *stmt*, rewriting what it reads off the engine; refuse other engine/connection use."""
        result = copy.deepcopy(stmt)
        replacements: dict[int, ast.AST] = {}
        originals = list(ast.walk(stmt))
        watched = {self.engine} | self.connections | self.transactions
        for node in originals:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)) and any(
                isinstance(n, ast.Name) and n.id in watched for n in ast.walk(node)
            ):
                raise _NotFaithful(f"line {node.lineno}: a nested function uses the engine or a connection")
        for node in originals:
            if not isinstance(node, ast.Name) or self._in_early_exit(node):
                continue
            parent = self.parents.get(node)
            if node.id == self.engine:
                replacements.update(self._engine_use(node, parent))
            elif node.id in self.connections:
                if node.id != conn:
                    raise _NotFaithful(
                        f"line {node.lineno}: uses the connection `{node.id}` outside a transaction "
                        "it commits (autobegin, conn.commit(), or after the block)"
                    )
                replacements.update(self._connection_use(node, parent))
            elif node.id in self.transactions:
                raise _NotFaithful(f"line {node.lineno}: uses the transaction object `{node.id}`")
            if isinstance(node.ctx, ast.Store) and (node.id in self.connections or node.id == self.engine):
                raise _NotFaithful(f"line {node.lineno}: assigns to `{node.id}`")
        mapping = dict(zip(map(id, originals), ast.walk(result)))
        dropped = {id(mapping[id(node)]) for node in originals if id(node) in self.early_exits}
        if dropped:
            for node in ast.walk(result):
                for field in ("body", "orelse", "finalbody"):
                    block = getattr(node, field, None)
                    if isinstance(block, list):
                        setattr(node, field, [s for s in block if id(s) not in dropped])
        if not replacements:
            return result
        return _Replace({mapping[key]: value for key, value in replacements.items()}).visit(result)

    def _engine_use(self, node: ast.Name, parent) -> dict[int, ast.AST]:
        if isinstance(parent, ast.Attribute) and parent.value is node and parent.attr in ENGINE_ATTRIBUTES:
            grand = self.parents.get(parent)
            if not (isinstance(grand, ast.Call) and grand.func is parent):
                text = ENGINE_ATTRIBUTES[parent.attr]
                self.edits.span(parent, text)
                return {id(parent): ast.parse(text, mode="eval").body}
        if _is_inspect_of(parent, node):
            self.edits.span(node, "op.get_bind()")
            return {id(node): ast.parse("op.get_bind()", mode="eval").body}
        snippet = ast.get_source_segment(self.file.source, parent) if parent is not None else self.engine
        raise _NotFaithful(
            f"line {node.lineno}: uses the engine as `{(snippet or self.engine).splitlines()[0].strip()}`, "
            "which has no direct equivalent on Alembic's connection"
        )

    def _connection_use(self, node: ast.Name, parent) -> dict[int, ast.AST]:
        if isinstance(parent, ast.Attribute) and parent.value is node:
            grand = self.parents.get(parent)
            if parent.attr == "dialect":
                return {}
            if parent.attr in CONNECTION_CALLS and isinstance(grand, ast.Call) and grand.func is parent:
                statement = self.parents.get(grand)
                if (
                    parent.attr == "execute"
                    and isinstance(statement, ast.Expr)
                    and statement.value is grand
                    and len(grand.args) == 1
                    and not grand.keywords
                    and self._is_text_call(grand.args[0])
                ):
                    self.edits.span(parent, "op.execute")
                    return {id(parent): ast.parse("op.execute", mode="eval").body}
                return {}
        if _is_inspect_of(parent, node):
            return {}
        snippet = ast.get_source_segment(self.file.source, parent) if parent is not None else node.id
        raise _NotFaithful(
            f"line {node.lineno}: uses the connection as `{(snippet or node.id).splitlines()[0].strip()}` "
            "(only execute/exec_driver_sql/scalar/scalars are the same on Alembic's connection)"
        )


def _is_inspect_of(parent, node: ast.Name) -> bool:
    """Return whether *parent* is ``inspect(node)`` or ``sa.inspect(node)``, nothing else."""
    return (
        isinstance(parent, ast.Call)
        and parent.args == [node]
        and not parent.keywords
        and (
            (isinstance(parent.func, ast.Name) and parent.func.id == "inspect")
            or (isinstance(parent.func, ast.Attribute) and parent.func.attr == "inspect")
        )
    )


class _Replace(ast.NodeTransformer):
    def __init__(self, replacements: dict[ast.AST, ast.AST]):
        self.replacements = {id(k): v for k, v in replacements.items()}

    def visit(self, node):
        if id(node) in self.replacements:
            return self.replacements[id(node)]
        return super().visit(node)
