"""Tenant-safe migrations (LB601): existence checks and names pinned to the ``public`` schema.

A tenant run (`alembic-bridge fleet --schemas`) sets ``search_path`` to the
tenant alone, so unqualified names and ``current_schema()`` mean the tenant;
``'public'`` and ``public.x`` never do. Reported, in every SQL string of the
file (`FileChecker.sites`) and in the bound parameters handed with it:

- a schema column compared with ``'public'`` (``table_schema``, ``schemaname``,
  ``nspname``, ...), and ``'public'::regnamespace``;
- a ``'public.x'`` literal (``to_regclass('public.x')``, ``'public.x'::regclass``);
- a ``public.x`` qualified name outside literals (``CREATE TABLE public.x``, ``REFERENCES public.x``),
  quoted or not (``"public"."x"``);
- ``SET search_path`` to a list holding ``public``;
- a bound parameter ``"public"`` under a schema-like key or one the SQL compares with a
  schema column (``table_schema = :s``), or ``"public.x"``.

The rule's text is in `bridge.lint.rules.catalog_tenancy`; its severity rises to
an error when tenant schemas are configured (`bridge.lint.settings.LintSettings.severity_of`).
"""

from __future__ import annotations

import ast
import re

from ... import sqltext
from .catalog_tenancy import PINNED_TO_PUBLIC
from .checks import FileChecker
from .flow import EXEC_METHODS

_SCHEMA_COLUMN = r"[\w.]*(?:schema\w*|nspname|namespace)"
_COMPARED = re.compile(
    rf"\b({_SCHEMA_COLUMN})\s*(?:=|IN\s*\([^)]*?)\s*'public'(?!\s*::)|'public'\s*=\s*({_SCHEMA_COLUMN})\b",
    re.IGNORECASE,
)
_REGNAMESPACE = re.compile(r"'public'\s*::\s*regnamespace", re.IGNORECASE)
_QUALIFIED_LITERAL = re.compile(r"'public\.(\w+)'", re.IGNORECASE)
_QUALIFIED_NAME = re.compile(r"(?<![\w$.])public\s*\.\s*([A-Za-z_]\w*)", re.IGNORECASE)
# public in a search_path value: a word (in a literal too: 'public' is read as a list of names),
# or the quoted name "public" (a quoted "PUBLIC" is another schema).
_PUBLIC_IN_PATH = re.compile(r'(?<![\w$"])(?i:public)(?![\w$"])|"public"')
_COMMENT = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)
_SEARCH_PATH = re.compile(r"\bset\s+(?:local\s+|session\s+)?search_path\s*(?:to|=)([^;]*)", re.IGNORECASE)
# "public".x, public."x", "public"."x": quoted, the schema is public only in lower case.
_QUOTED_QUALIFIED = re.compile(r'("public"|(?<![\w$."])(?i:public))(\s*\.\s*)"([A-Za-z_]\w*)"|"public"(?=\s*\.)')


def _unquoted(sql: str) -> str:
    """Return *sql* with the quotes of a public-qualified name made spaces (offsets kept), so `blank` keeps it."""

    def plain(match: re.Match) -> str:
        if match.group(3) is None:
            return " public "
        schema = " public " if match.group(1).startswith('"') else match.group(1)
        return f"{schema}{match.group(2)} {match.group(3)} "

    return _QUOTED_QUALIFIED.sub(plain, sql)


def check_tenancy(checker: FileChecker) -> None:
    """Report LB601 for each SQL string (and the bound parameters of each execute call) pinned to ``public``."""
    for site in checker.sites:
        for text in site.texts:
            for message in pinned_to_public(text):
                checker.report(PINNED_TO_PUBLIC, site.call, message)
    for node in checker.src.of_type(ast.Call):  # the file's one walk, not another (a fifth of lint's time)
        if isinstance(node.func, ast.Attribute) and node.func.attr in EXEC_METHODS:
            for message in _pinned_parameters(node):
                checker.report(PINNED_TO_PUBLIC, node, message)


def pinned_to_public(sql: str) -> list[str]:
    """Return a message for each place *sql* names the ``public`` schema (none for schema-neutral SQL)."""
    messages = []
    for match in _COMPARED.finditer(sql):
        column = match.group(1) or match.group(2)
        messages.append(
            f"`{column} = 'public'` looks only in the public schema: run for a tenant schema, "
            f"this check finds the wrong table; compare with `{column} = current_schema()`"
        )
    if _REGNAMESPACE.search(sql):
        messages.append(
            "`'public'::regnamespace` looks only in the public schema; use `current_schema()::regnamespace`"
        )
    for match in _QUALIFIED_LITERAL.finditer(sql):
        name = match.group(1)
        messages.append(f"`'public.{name}'` names the table in the public schema, not the tenant's; write `'{name}'`")
    for match in _SEARCH_PATH.finditer(sqltext.blank(sql)):
        # The value as written (blank() made its literals and quoted names spaces), comments left out.
        value = _COMMENT.sub(" ", sql[match.start(1) : match.end(1)])
        if _PUBLIC_IN_PATH.search(value):
            messages.append(
                "`SET search_path` to public points every name after it at the public schema, not the "
                "tenant's; leave the search_path as the run sets it"
            )
    for match in _QUALIFIED_NAME.finditer(sqltext.blank(_unquoted(sql))):
        name = match.group(1)
        messages.append(
            f"`public.{name}` creates or changes the table in the public schema, not the tenant's; write `{name}`"
        )
    return messages


_COMPARED_TO_BIND = re.compile(rf"\b{_SCHEMA_COLUMN}\s*(?:=|IN\s*\()\s*:(\w+)", re.IGNORECASE)


def _schema_binds(call: ast.Call) -> set[str]:
    """Return the bind parameters the call's SQL (a literal, or text() of one) compares with a schema column."""
    sql = call.args[0] if call.args else None
    if isinstance(sql, ast.Call) and sql.args:
        sql = sql.args[0]
    if not (isinstance(sql, ast.Constant) and isinstance(sql.value, str)):
        return set()
    return set(_COMPARED_TO_BIND.findall(sql.value))


def _pinned_parameters(call: ast.Call) -> list[str]:
    messages = []
    schema_binds = _schema_binds(call)
    for arg in call.args[1:]:
        if not isinstance(arg, ast.Dict):
            continue
        for key, value in zip(arg.keys, arg.values):
            if not (isinstance(value, ast.Constant) and isinstance(value.value, str)):
                continue
            text = value.value.strip()
            key_name = key.value if isinstance(key, ast.Constant) and isinstance(key.value, str) else ""
            schema_like = key_name in schema_binds or re.search(r"schema|nsp|namespace", key_name, re.IGNORECASE)
            if text.lower() == "public" and schema_like:
                messages.append(
                    f'the parameter "{key_name}": "public" pins this check to the public schema; '
                    "compare with `current_schema()` in the SQL instead"
                )
            elif text.lower().startswith("public."):
                messages.append(
                    f'the parameter "{key_name}": "{text}" names the table in the public schema, '
                    f'not the tenant\'s; pass "{text[len("public.") :]}"'
                )
    return messages
