"""Never show a password: the one place that decides what of a text is secret.

Two rules, applied together by `mask_text` (and by `mask_url` to one URL):

1. **By value.** Every password the bridge learns (`remember_url`: each URL it
   resolves, from ``--url``, the environment, ``.env``, ``alembic.ini``, a fleet
   target, ...) is replaced by ``***`` wherever it appears: raw,
   percent-encoded, as Python's ``repr``, JSON or an SQL literal writes it. A migration that
   puts ``engine.url.password`` into its exception text shows ``***``.
2. **By shape.** In a URL inside free text, what follows ``scheme://user:`` up to
   the ``@`` is hidden, for passwords the bridge never saw.

Masking twice changes nothing (``user:***@`` is left as it is), so a message
masked where it is made keeps its reason wherever it is shown again.

A password shorter than `MIN_SECRET` characters, or equal to the user name
(which every message shows anyway), is not replaced by value: it would turn
every ``postgres`` in a text into ``***``; its URLs are still masked by shape.
A password of letters only (``postgres``, ``password``) is replaced where it
stands as a word, not inside a longer one (``postgresql://``).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from typing import TYPE_CHECKING
from urllib.parse import quote, quote_plus

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

MIN_SECRET = 4
MASK = "***"

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*")
_URL_START = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")
_QUERY_PASSWORD = re.compile(r"([?&]password=)[^&\s]*", re.IGNORECASE)
# What is not a password: already masked, or a placeholder in a hint (user:${PASSWORD}@host).
_PLACEHOLDER = re.compile(r"\*\*\*|\$\{\w+\}|password|PASSWORD|pass")

_lock = threading.Lock()
_secrets: dict[str, re.Pattern | None] = {}  # each secret, with its pattern when it is a word (made once)
# _secrets, longest first (a secret inside another goes after it), each with its pattern when it is a
# word (letters only): replaced whole, never changed under a reader.
_ordered: tuple[tuple[str, re.Pattern | None], ...] = ()
_WORD = re.compile(r"[A-Za-z]+")
# Where a word starts: after no letter or digit, or after one that ends an escape (the %3A of a
# URL-encoded "user:", a repr's or JSON's \n, \t, \xNN, \uNNNN), which stands for a character that is none.
_WORD_START = (
    r"(?:(?<![A-Za-z0-9])|(?<=%[0-9A-Fa-f]{2})|(?<=\\[abfnrtv])|(?<=\\x[0-9A-Fa-f]{2})|(?<=\\u[0-9A-Fa-f]{4}))"
)


def parse_url(url: str | URL) -> URL | None:
    """Return SQLAlchemy's reading of *url*, or None if it cannot be read unambiguously."""
    from sqlalchemy.engine import make_url  # imported here: `import bridge.lint` stays without SQLAlchemy

    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except Exception:  # ArgumentError, or ValueError for a port like "p/w"
        return None
    # A raw "@" in the password: SQLAlchemy ends the password at the first "@" and
    # takes the rest for the host (or the database, or a query key).
    if "@" in (parsed.host or "") or "@" in (parsed.database or "") or any("@" in k for k in parsed.query):
        return None
    return parsed


# -- what is secret --------------------------------------------------------------------------


def remember_url(url: str | URL | None) -> None:
    """Remember the password of *url* (parseable or not, in its path or its query) as a secret."""
    if url is None:
        return
    parsed = parse_url(url)
    passwords: list = []
    if parsed is not None:
        passwords = [parsed.password, parsed.query.get("password")]
        user = parsed.username
    else:
        text = url if isinstance(url, str) else url.render_as_string(hide_password=False)
        _, sep, rest = text.partition("://")
        userinfo = rest.rpartition("@")[0] if sep else ""
        user, _, password = userinfo.partition(":")
        passwords = [password]
        match = _QUERY_PASSWORD.search(text)
        if match:
            passwords.append(text[match.end(1) : match.end()])
    for password in passwords:
        if isinstance(password, tuple):
            for one in password:
                remember_password(one, user)
        else:
            remember_password(password, user)


def remember_password(password, user: str | None = None) -> None:
    """Remember *password* (and the ways a text may spell it) as a secret."""
    if not password:
        return
    password = str(password)
    if len(password) < MIN_SECRET or password == user:
        return
    spellings = {
        password,
        quote(password, safe=""),
        quote_plus(password, safe=""),
        quote(password),
        repr(password)[1:-1],
        json.dumps(password)[1:-1],
        json.dumps(password, ensure_ascii=False)[1:-1],
        _as_sqlalchemy_renders(password),
        password.replace("'", "''"),  # in an SQL literal, as a parser's message quotes it
    }
    global _ordered
    with _lock:
        new = {s for s in spellings if len(s) >= MIN_SECRET} - _secrets.keys()
        if new:
            _secrets.update((s, _as_word(s)) for s in new)
            _ordered = tuple(sorted(_secrets.items(), key=lambda item: len(item[0]), reverse=True))


def _as_sqlalchemy_renders(password: str) -> str:
    from sqlalchemy.engine import URL

    rendered = URL.create("x", username="u", password=password, host="h").render_as_string(hide_password=False)
    return rendered[len("x://u:") : -len("@h")]


def forget_all() -> None:
    """Forget every remembered secret (tests)."""
    global _ordered
    with _lock:
        _secrets.clear()
        _ordered = ()


# -- masking ---------------------------------------------------------------------------------


def mask_url(url: str | URL | None) -> str:
    """Return *url* as text with its password replaced by ``***``.

    A URL that cannot be parsed unambiguously shows nothing after
    ``scheme://user:`` (nothing after ``scheme:`` if even the user is unclear).
    """
    if url is None:
        return "<none>"
    remember_url(url)
    parsed = parse_url(url)
    if parsed is None:
        text = url if isinstance(url, str) else url.render_as_string(hide_password=False)
        return _mask_unparseable(text)
    return _by_value(_QUERY_PASSWORD.sub(r"\1***", parsed.render_as_string(hide_password=True)))


def _mask_unparseable(text: str) -> str:
    scheme, sep, rest = text.partition("://")
    if sep and _SCHEME.fullmatch(scheme):
        user, colon, _ = rest.partition(":")
        if colon and not re.search(r"[@/?#\s]", user):
            return f"{scheme}://{user}:***"
        return f"{scheme}://***"
    match = re.match(r"([A-Za-z][A-Za-z0-9+.\-]*):/", text)
    return f"{match.group(1)}:***" if match else "***"


def hide_secrets(text: str) -> str:
    """Replace every remembered secret in *text* by ``***`` (rule 1 alone: no URL is reshaped)."""
    return _by_value(text)


def mask_text(text: str) -> str:
    """Hide every remembered secret in free *text* (an error message, say), and every URL's password.

    In a URL, ``user:`` up to the last ``@`` of the same word is hidden (a raw
    ``@`` or ``/`` in a password cannot be told from what follows it); when the
    word has no ``@`` but ``user:`` is followed by something other than a port,
    the password may hold a raw space: up to the last ``@`` on the line.
    """
    return "\n".join(_mask_line(line) for line in _by_value(str(text)).split("\n"))


def _as_word(secret: str) -> re.Pattern | None:
    """Return the pattern of *secret* as a whole word when it is letters only (``postgres``), else None:
    such a password is hidden where it stands alone, not inside ``postgresql://`` or ``Secrets``."""
    if not _WORD.fullmatch(secret):
        return None
    return re.compile(rf"{_WORD_START}{re.escape(secret)}(?![A-Za-z0-9])")


def _by_value(text: str) -> str:
    for secret, word in _ordered:
        if secret in text:
            text = text.replace(secret, MASK) if word is None else word.sub(MASK, text)
    return text


def _mask_line(line: str) -> str:
    out, pos = [], 0
    while match := _URL_START.search(line, pos):
        start = match.end()
        word_end = re.search(r"\s|$", line[start:])
        end = start + (word_end.start() if word_end else len(line) - start)
        word = line[start:end]
        authority = re.split(r"[/?#]", word, maxsplit=1)[0]
        user, colon, after = authority.partition(":")
        if "@" in word:
            at = start + word.rfind("@")
        elif colon and after and not after.isdigit() and not after.startswith(MASK) and "@" not in user:
            at = line.rfind("@", end)  # a raw space in the password, perhaps
        else:
            at = -1
        userinfo = line[start:at] if at >= 0 else ""
        if at < 0 or ":" not in userinfo or _PLACEHOLDER.fullmatch(userinfo.partition(":")[2]):
            out.append(line[pos:start])
            pos = start
            continue
        name = re.match(r"[^:@/\s]*:", userinfo)
        out.append(line[pos:start] + (name.group(0) if name else "") + MASK)
        pos = at
    out.append(line[pos:])
    return _QUERY_PASSWORD.sub(r"\1***", "".join(out))


class MaskingFilter(logging.Filter):
    """A logging filter that masks each record's message (and traceback) before any handler writes it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = mask_text(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        return True


def mask_log_handlers() -> None:
    """Add a `MaskingFilter` (once) to every handler configured now: the root logger's and every named one's.

    The front ends call it right after they configure logging (the console,
    ``logs/migrations.log``, alembic.ini's ``[handlers]``).
    """
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for logger in loggers:
        for handler in getattr(logger, "handlers", ()):
            if not any(isinstance(f, MaskingFilter) for f in handler.filters):
                handler.addFilter(MaskingFilter())
