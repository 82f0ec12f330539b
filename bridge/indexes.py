"""INVALID indexes: what a ``CREATE INDEX CONCURRENTLY`` that failed or was killed leaves behind.

Such an index is never used by queries but still slows every write, and the
retry's ``CREATE INDEX CONCURRENTLY IF NOT EXISTS`` skips it, so it stays
unusable for good. `invalid_indexes` finds them (``status``, ``check``);
`drop_invalid` removes one before its build runs again, when the user opts in
(``rebuild_invalid_indexes = true``; see `bridge.proxy`).
"""

from __future__ import annotations

import re

import sqlalchemy as sa

_INVALID_SQL = sa.text("""
    SELECT n.nspname, c.relname, t.relname
    FROM pg_catalog.pg_index i
    JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
    JOIN pg_catalog.pg_class t ON t.oid = i.indrelid
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE NOT i.indisvalid AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname NOT LIKE 'pg_toast%'
    ORDER BY 1, 2
""")
_IS_INVALID_SQL = sa.text("""
    SELECT NOT i.indisvalid FROM pg_catalog.pg_index i
    WHERE i.indexrelid = to_regclass(:name)
""")
# The index a CREATE INDEX CONCURRENTLY statement names (none: PostgreSQL picks the name).
_CONCURRENT_BUILD = re.compile(
    r"^\s*create\s+(?:unique\s+)?index\s+concurrently\s+(?:if\s+not\s+exists\s+)?"
    r"(?!on\b)((?:\"(?:[^\"]|\"\")+\"|[a-z_][\w$]*)(?:\.(?:\"(?:[^\"]|\"\")+\"|[a-z_][\w$]*))?)\s+on\b",
    re.IGNORECASE,
)


def invalid_indexes(connection: sa.Connection) -> list[str]:
    """Return one line per INVALID index, with the fix (none on other databases than PostgreSQL)."""
    if connection.dialect.name != "postgresql":
        return []
    lines = []
    for schema, index, table in connection.execute(_INVALID_SQL):
        name = f"{_quoted(schema)}.{_quoted(index)}"
        lines.append(
            f"index {name} on {table} is INVALID: a CREATE INDEX CONCURRENTLY failed or was "
            "interrupted (or is running right now). Queries never use it, and a retry with IF NOT "
            f"EXISTS skips it. Drop it (DROP INDEX CONCURRENTLY {name};) and run the migration that "
            "builds it again, or set rebuild_invalid_indexes = true to have the bridge do that."
        )
    return lines


def concurrent_build_target(sql: str) -> str | None:
    """Return the index name a ``CREATE INDEX CONCURRENTLY`` statement builds, if it names one."""
    match = _CONCURRENT_BUILD.match(sql)
    return match.group(1) if match else None


def drop_invalid(connection: sa.Connection, name: str) -> bool:
    """Drop index *name* if it exists and is INVALID; return whether it did (AUTOCOMMIT connection)."""
    if not connection.execute(_IS_INVALID_SQL, {"name": name}).scalar():
        return False
    connection.exec_driver_sql(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
    return True


def _quoted(identifier: str) -> str:
    return identifier if re.fullmatch(r"[a-z_][a-z0-9_$]*", identifier) else '"' + identifier.replace('"', '""') + '"'
