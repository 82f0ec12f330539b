"""SQL as text: one lexer for statements, comments, literals and ``$$`` bodies, and what it tells.

Everything in the bridge that reads SQL without running it goes through here:
the engine proxy (which statements of a string control the transaction, change
session settings, or only read), the linter (where a parsed statement starts,
whether SQL only reads) and the baseline (a pg_dump script, statement by
statement).

The lexer follows PostgreSQL's: ``--`` and nested ``/* */`` comments,
``'standard strings'`` (``''`` doubled), ``E'escape strings'`` (``\\'``
escaped), ``"quoted identifiers"`` and ``$tag$ dollar-quoted bodies $tag$``.
One left unterminated runs to the end of the text (the server rejects it).
Statements end at a ``;`` outside parentheses and outside a ``BEGIN ATOMIC
... END`` body.

`is_read_only` is the one answer to "does this SQL only read?", for the
runtime (per executed statement, so it must stay cheap) and for the linter
alike: the lexer decides the common cases; the few it cannot (a ``WITH`` query
that mentions UPDATE or DELETE, which may be ``FOR UPDATE``; a parenthesised
query) are given to PostgreSQL's parser (pglast). Unknown is a write.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

# -- the lexer ------------------------------------------------------------------------------

_OPAQUE_START = re.compile(r"--|/\*|(?<![\w$])[Ee]'|'|\"|(?<![\w$])\$(?:[A-Za-z_][A-Za-z_0-9]*)?\$")
_COMMENT_MARK = re.compile(r"/\*|\*/")
_STRING_REST = re.compile(r"[^']*(?:''[^']*)*'")
_ESCAPE_STRING_REST = re.compile(r"[^'\\]*(?:(?:\\.|'')[^'\\]*)*'", re.DOTALL)
_IDENTIFIER_REST = re.compile(r'[^"]*(?:""[^"]*)*"')
_SPACE = re.compile(r"\s*")
_NOT_NEWLINE = re.compile(r"[^\n]")


def _opaque_end(sql: str, start: re.Match) -> int:
    """Return where the comment, literal, quoted identifier or $$ body opened by *start* ends."""
    token, end = start.group(), start.end()
    if token == "--":
        newline = sql.find("\n", end)
        return len(sql) if newline < 0 else newline
    if token == "/*":
        depth = 1
        for mark in _COMMENT_MARK.finditer(sql, end):
            depth += 1 if mark.group() == "/*" else -1
            if not depth:
                return mark.end()
        return len(sql)
    if token.startswith("$"):
        close = sql.find(token, end)
        return len(sql) if close < 0 else close + len(token)
    rest = {"'": _STRING_REST, '"': _IDENTIFIER_REST}.get(token, _ESCAPE_STRING_REST).match(sql, end)
    return rest.end() if rest else len(sql)


def blank(sql: str) -> str:
    """Return *sql* with comments, literals, quoted identifiers and $$ bodies as spaces (offsets and newlines kept)."""
    start = _OPAQUE_START.search(sql)
    if start is None:
        return sql
    parts, pos = [], 0
    while start is not None:
        end = _opaque_end(sql, start)
        parts += [sql[pos : start.start()], _NOT_NEWLINE.sub(" ", sql[start.start() : end])]
        pos = end
        start = _OPAQUE_START.search(sql, pos)
    parts.append(sql[pos:])
    return "".join(parts)


def skip_noise(sql: str, pos: int = 0) -> int:
    """Return the offset of the first character at or after *pos* that is not whitespace or a comment."""
    while True:
        pos = _SPACE.match(sql, pos).end()  # type: ignore[union-attr]  # \s* always matches
        if not sql.startswith(("--", "/*"), pos):
            return pos
        pos = _opaque_end(sql, _OPAQUE_START.match(sql, pos))  # type: ignore[arg-type]


# -- statements -----------------------------------------------------------------------------

_BREAKS = re.compile(r"[();]")
_BEGIN_ATOMIC = re.compile(r"\bbegin\s+atomic\b", re.IGNORECASE)
_STARTS_WITH_END = re.compile(r"\s*end\b", re.IGNORECASE)


def _statement_spans(blanked: str) -> list[tuple[int, int]]:
    """Return each statement of blanked SQL as (start, end): from the previous one's end through its ``;``.

    Text after the last ``;`` that is only whitespace (blanked comments) is no statement.
    """
    if ";" not in blanked:
        return [(0, len(blanked))] if blanked.strip() else []
    spans, start, depth = [], 0, 0
    for match in _BREAKS.finditer(blanked):
        char = match.group()
        if char == "(":
            depth += 1
        elif char == ")":
            depth = max(depth - 1, 0)
        elif depth == 0:
            spans.append((start, match.end()))
            start = match.end()
    if blanked[start:].strip():
        spans.append((start, len(blanked)))
    merged, index = [], 0
    while index < len(spans):
        first, end = spans[index]
        index += 1
        if _BEGIN_ATOMIC.search(blanked, first, end):  # its body's statements end at END
            while index < len(spans):
                inner, end = spans[index]
                index += 1
                if _STARTS_WITH_END.match(blanked, inner):
                    break
        merged.append((first, end))
    return merged


@dataclass
class SqlChunk:
    """One top-level piece of a SQL script: the comments and blank lines before it, and itself."""

    lead: str
    statement: str  # "" for text after the last statement
    meta: bool = False  # a psql meta-command (a backslash line), not SQL


def split_statements(sql: str, *, psql: bool = False) -> list[SqlChunk]:
    """Split a script into its statements; ``"".join(lead + statement)`` gives *sql* back.

    With *psql*, a statement starting with a backslash is a psql meta-command
    (pg_dump's ``\\restrict``), running to the end of its line.
    """
    chunks: list[SqlChunk] = []
    pos = 0
    while True:
        consumed, restart = pos, None
        for first, end in _statement_spans(blank(sql[pos:])):
            start = skip_noise(sql, pos + first)
            if psql and sql.startswith("\\", start):
                newline = sql.find("\n", start)
                restart = len(sql) if newline < 0 else newline + 1
                chunks.append(SqlChunk(sql[pos + first : start], sql[start:restart], meta=True))
                break  # the meta-command is not SQL: lex what follows it afresh
            chunks.append(SqlChunk(sql[pos + first : start], sql[start : pos + end]))
            consumed = pos + end
        if restart is None:
            if consumed < len(sql):
                chunks.append(SqlChunk(sql[consumed:], ""))
            return chunks
        pos = restart


# -- does it only read? ----------------------------------------------------------------------------

# Statements that change no persistent data: reads, and session or transaction
# state (settings, locks, notifications), which a rollback may undo but never loses.
_READ_HEADS = frozenset(
    (
        "select",
        "show",
        "explain",
        "values",
        "table",
        "fetch",
        "set",
        "reset",
        "lock",
        "discard",
        "notify",
        "listen",
        "unlisten",
    )
)
_MAY_READ = _READ_HEADS | {"with", "("}
_HEAD = re.compile(r"\(|[A-Za-z_]+")
_DATA_CHANGING = re.compile(r"\b(insert|update|delete|merge)\b", re.IGNORECASE)
_INTO = re.compile(r"\binto\b", re.IGNORECASE)  # a reserved word: SELECT INTO, INSERT INTO, MERGE INTO
_ANALYZE = re.compile(r"\banaly[sz]e\b", re.IGNORECASE)


def _head(text: str, pos: int) -> str:
    match = _HEAD.match(text, pos)
    return match.group().lower() if match else ""


def is_read_only(sql: str) -> bool:
    """Return whether *sql* changes no persistent data, so leaving it uncommitted loses nothing.

    Reads and session or transaction state (SET, LOCK, NOTIFY, ...) count as
    read-only; ``EXPLAIN ANALYZE`` (it runs its statement), ``SELECT INTO``
    and anything unknown do not.
    """
    if _head(sql, skip_noise(sql)) not in _MAY_READ:
        return False  # the first statement writes, or is unknown: the common case, decided here
    blanked = blank(sql)
    unsure = []
    for first, end in _statement_spans(blanked):
        verdict = _reads(blanked, first, end)
        if verdict is False:
            return False
        if verdict is None:
            unsure.append(sql[first:end])
    return all(_parser_says_reads(text) for text in unsure)


def _reads(blanked: str, first: int, end: int) -> bool | None:
    """Return whether one blanked statement only reads, or None when the lexer cannot tell."""
    head = _head(blanked, _SPACE.match(blanked, first).end())  # type: ignore[union-attr]
    text = blanked[first:end]
    if head == "(":
        return None
    if _INTO.search(text):
        return False
    if head == "with":
        return None if _DATA_CHANGING.search(text) else True
    if head == "explain" and _ANALYZE.search(text):
        return False
    return head in _READ_HEADS


_CHANGING_NODES = frozenset(("InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt", "intoClause"))


def _parser_says_reads(sql: str) -> bool:
    """Return whether PostgreSQL's parser sees only queries that change nothing in *sql*."""
    # Deferred: only statements the lexer cannot decide pay for importing the parser.
    from pglast.parser import ParseError, parse_sql_json

    try:
        tree = json.loads(parse_sql_json(with_positional_params(sql)))
    except ParseError:
        return False
    nodes = [raw.get("stmt", {}) for raw in tree.get("stmts", [])]
    return bool(nodes) and all(list(node) == ["SelectStmt"] and not _changes_data(node) for node in nodes)


def _changes_data(node) -> bool:
    if isinstance(node, dict):
        return any(key in _CHANGING_NODES or _changes_data(value) for key, value in node.items())
    if isinstance(node, list):
        return any(_changes_data(item) for item in node)
    return False


# -- bound parameters ---------------------------------------------------------------------

TEXT = "text"  # SQL inside sqlalchemy.text(): `:name` parameters
DRIVER = "driver"  # SQL handed to the DB-API driver: `%(name)s` / `%s` parameters

# SQLAlchemy's own rule for bound parameters in text() (sqlalchemy.sql.elements.TextClause).
_TEXT_BIND = re.compile(r"(?<![:\w\\]):(\w+)(?!:)")
_DRIVER_NAMED = re.compile(r"%\(\w+\)s")


def with_positional_params(sql: str, style: str | None = None) -> str:
    """Replace bound-parameter markers with ``$1`` (same length) so PostgreSQL's parser accepts the text.

    *style* is `TEXT` or `DRIVER`; None replaces both kinds. Like SQLAlchemy and
    the driver, markers are found everywhere, literals included.
    """

    def placeholder(match: re.Match) -> str:
        return "$1".ljust(len(match.group(0)))

    if style in (TEXT, None):
        sql = _TEXT_BIND.sub(placeholder, sql).replace("\\:", " :")
    if style in (DRIVER, None):
        sql = _DRIVER_NAMED.sub(placeholder, sql).replace("%s", "$1").replace("%%", "% ")
    return sql


# -- transaction control -------------------------------------------------------------------

# What a raw statement would do to the transaction it runs in. "begin", "commit",
# "rollback" (and their AND CHAIN forms) are mapped by the proxy onto the
# migration's own transaction; "refuse" never runs.
_CONTROL_HINT = re.compile(r"\b(begin|start|commit|end|rollback|abort|prepare)\b", re.IGNORECASE)
_CONTROL_KINDS = [
    (re.compile(r"^(prepare\s+transaction|(commit|rollback)\s+prepared)\b"), "refuse"),
    (re.compile(r"^(begin|start\s+transaction)\b"), "begin"),
    (re.compile(r"^(commit|end)(\s+(work|transaction))?\s+and\s+chain$"), "commit_chain"),
    (re.compile(r"^(commit|end)(\s+(work|transaction))?(\s+and\s+no\s+chain)?$"), "commit"),
    (re.compile(r"^(rollback|abort)(\s+(work|transaction))?\s+and\s+chain$"), "rollback_chain"),
    (re.compile(r"^(rollback|abort)(\s+(work|transaction))?(\s+and\s+no\s+chain)?$"), "rollback"),
]


def transaction_control(sql: str) -> list[tuple[str, str | None]] | None:
    """Split *sql* into its statements if one of them controls the transaction, else None.

    Returns ``[(statement text, kind)]`` in order, kind None for an ordinary
    statement. Comments, literals, ``$$`` bodies, parentheses and
    ``BEGIN ATOMIC ... END`` bodies are not split and never count.
    """
    if not _CONTROL_HINT.search(sql):  # the common case, without lexing
        return None
    blanked = blank(sql)
    if not _CONTROL_HINT.search(blanked):
        return None
    parts, control = [], False
    for first, end in _statement_spans(blanked):
        head = " ".join(blanked[first:end].replace(";", " ").split()).lower()
        kind = next((k for pattern, k in _CONTROL_KINDS if pattern.match(head)), None)
        control = control or kind is not None
        parts.append((sql[first:end], kind))
    return parts if control else None


# -- settings ---------------------------------------------------------------------------------

# Session settings (SET without LOCAL, RESET) persist on the connection.
_MAYBE_SETTING = re.compile(r"(^|;)\s*(set|reset)\s", re.IGNORECASE | re.MULTILINE)
_NAME = r"(time\s+zone|schema|names|[a-z_][a-z0-9_$]*(?:\.[a-z_][a-z0-9_$]*)?)\b"
_SESSION_SETTING = re.compile(
    r"\s*(?:set\s+(?:session\s+)?"
    r"(?!local\b|session\b|transaction\b|constraints\b|authorization\b|characteristics\b)"
    + _NAME
    + r"|reset\s+(?!session\b)(all|time\s+zone|[a-z_][a-z0-9_$]*(?:\.[a-z_][a-z0-9_$]*)?)\b)",
    re.IGNORECASE,
)
# SET LOCAL lasts until the transaction ends.
_LOCAL_SETTING = re.compile(r"\s*set\s+local\s+" + _NAME, re.IGNORECASE)
# set_config('name', ..., is_local) in a query changes a setting as SET (LOCAL) does.
_SET_CONFIG = re.compile(r"\bset_config\s*\(\s*'([a-z_][a-z0-9_$]*(?:\.[a-z_][a-z0-9_$]*)?)'", re.IGNORECASE)
_SETTING_ALIASES = {"time zone": "TimeZone", "schema": "search_path", "names": "client_encoding"}


def _setting_names(sql: str, pattern: re.Pattern) -> list[str]:
    blanked = blank(sql)
    names = []
    for first, end in _statement_spans(blanked):
        match = pattern.match(blanked, first, end)
        if match:
            name = " ".join(next(g for g in match.groups() if g).lower().split())
            names.append(_SETTING_ALIASES.get(name, name))
    return names


def session_settings(sql: str) -> list[str]:
    """Return the settings a SQL string changes for the session ("all" for RESET ALL)."""
    if not _MAYBE_SETTING.search(sql):
        return []
    return _setting_names(sql, _SESSION_SETTING)


def local_settings(sql: str) -> list[str]:
    """Return the settings a SQL string changes with SET LOCAL or set_config()."""
    names = [name.lower() for name in _SET_CONFIG.findall(sql)]
    if not _MAYBE_SETTING.search(sql):
        return names
    return names + _setting_names(sql, _LOCAL_SETTING)
