"""``# noqa`` comments: ``# noqa``, ``# noqa: LB401`` on a line, ``# alembic-bridge: noqa: LB102`` for a file."""

from __future__ import annotations

import io
import re
import tokenize
from typing import Literal, TypeAlias

_CODES = r"(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?"
_NOQA = re.compile(r"#\s*noqa" + _CODES, re.IGNORECASE)
_FILE_NOQA = re.compile(r"#\s*alembic-bridge:\s*noqa" + _CODES, re.IGNORECASE)
_ANY_NOQA = re.compile(r"noqa", re.IGNORECASE)
# What a noqa comment silences: False nothing (no comment), None everything (bare), or these codes.
Noqa: TypeAlias = "set[str] | None | Literal[False]"


def noqa_comments(source: str) -> tuple[dict[int, set[str] | None], Noqa]:
    """Return ({line: codes or None for bare noqa}, file-level codes / None / False)."""
    if not _ANY_NOQA.search(source):
        return {}, False  # most files: no need to tokenize
    comments: list[tuple[int, str]] = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.COMMENT:
                comments.append((token.start[0], token.string))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        comments = [(n, line[line.index("#") :]) for n, line in enumerate(source.splitlines(), 1) if "#" in line]
    per_line: dict[int, set[str] | None] = {}
    file_level: Noqa = False
    for line, comment in comments:
        whole = _FILE_NOQA.search(comment)
        if whole:
            file_level = _merge_codes(file_level, whole.group("codes"))
            continue
        match = _NOQA.search(comment)
        if match:
            per_line[line] = _merge_codes(per_line.get(line, False), match.group("codes"))
    return per_line, file_level


def _merge_codes(existing: Noqa, codes: str | None) -> set[str] | None:
    if codes is None or existing is None:
        return None  # a bare noqa silences everything
    found = {c.upper() for c in re.split(r"[\s,]+", codes) if c}
    return found | (existing or set())


def suppressed(code: str, noqa: Noqa) -> bool:
    """Return whether a noqa value (False: none, None: bare, set: codes) covers *code*."""
    if noqa is False:
        return False
    return noqa is None or any(code.startswith(c) for c in noqa)
