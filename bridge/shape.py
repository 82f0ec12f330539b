"""The history tables' shape in the catalog, read without touching their rows.

Which history tables exist (`existing_tables`, one round trip for several
names); the legacy table's DDL for a configured `bridge.settings.LegacyTable`
(`legacy_table`); and the check that an existing legacy table has the
configured columns (`require_columns`), made in the same round trip that finds
it, so a wrong ``legacy_name_column`` is refused before anything is read or
written. `bridge.ledger` reads and writes the rows.
"""

from __future__ import annotations

import functools

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement

from .errors import ConfigError
from .settings import DEFAULT_APPLIED_COLUMN, LegacyTable

DEFAULT_LEGACY_TABLE = LegacyTable()  # the configured one is `BridgeSettings.legacy_table`


class _now(FunctionElement):
    """``now()`` on PostgreSQL, as the legacy DDL writes it; CURRENT_TIMESTAMP elsewhere."""

    type = sa.DateTime()
    inherit_cache = True


@compiles(_now)
def _now_default(element, compiler, **kw):
    return "CURRENT_TIMESTAMP"


@compiles(_now, "postgresql")
def _now_postgresql(element, compiler, **kw):
    return "now()"


@functools.cache
def legacy_table(shape: LegacyTable = DEFAULT_LEGACY_TABLE) -> sa.Table:
    """Return the legacy table of *shape* as the old runner creates it in the field.

    Written so that it renders on any dialect; a database where the bridge came
    first must look the same to the old runner and to anyone comparing schemas.
    On PostgreSQL, with the default names, it is
      id SERIAL PRIMARY KEY, migration_name VARCHAR(255) UNIQUE NOT NULL,
      applied_at TIMESTAMP NOT NULL DEFAULT now()
    """
    return sa.Table(
        shape.name,
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(shape.name_column, sa.String(255), nullable=False, unique=True),
        sa.Column(shape.applied, sa.DateTime, nullable=False, server_default=_now()),
    )


# Mirrors SQLAlchemy's PostgreSQL has_table (table-like relations, search_path visible,
# or in the given schema), for several names in one round trip.
_PG_EXISTING_TABLES = (
    "SELECT c.relname FROM pg_catalog.pg_class c "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind IN ('r', 'p', 'f', 'v', 'm') AND c.relname IN ({names}) AND {scope}"
)


def pg_relation_scope(schema: str | None) -> str:
    """Return the SQL condition on ``pg_class c`` / ``pg_namespace n`` that SQLAlchemy's
    has_table uses: visible on the search_path, or in ``:schema``."""
    if schema is None:
        return "pg_catalog.pg_table_is_visible(c.oid) AND n.nspname != 'pg_catalog'"
    return "n.nspname = :schema"


# The same relations as _PG_EXISTING_TABLES, with the columns of the legacy table
# among them: the legacy table's shape is checked in the round trip that finds it.
_PG_HISTORY_RELATIONS = (
    "SELECT c.relname, CASE WHEN c.relname = :legacy THEN ARRAY(SELECT a.attname::text "
    "FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 "
    "AND NOT a.attisdropped ORDER BY a.attnum) END FROM pg_catalog.pg_class c "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind IN ('r', 'p', 'f', 'v', 'm') AND c.relname IN ({names}) AND {scope}"
)

# Column names other runners of the legacy family use for the migration name, most likely first.
NAME_COLUMN_GUESSES = ("migration_name", "filename", "file_name", "migration", "version", "name")


def guess_name_column(columns) -> str | None:
    """Return which of a legacy table's *columns* most likely holds the migration names (None: no guess)."""
    found = {c.lower(): c for c in columns}
    return next((found[guess] for guess in NAME_COLUMN_GUESSES if guess in found), None)


def require_columns(legacy: LegacyTable, columns, where: str = "") -> None:
    """Refuse a legacy table whose *columns* lack a configured one (``where``: e.g. `` in schema t_b``)."""
    columns = list(columns)
    checks = [("legacy_name_column", legacy.name_column, "holds the migration names")]
    if legacy.applied_column is not None:
        checks.append(("legacy_applied_column", legacy.applied_column, "holds when each migration was applied"))
    for option, column, role in checks:
        if column in columns:
            continue
        guess = guess_name_column(columns) if option == "legacy_name_column" else None
        fix = f"{option} = {guess}" if guess else f"{option} = <the column that {role}>"
        raise ConfigError(
            f"The legacy table {legacy.name}{where} has no column {column}, which {option} names "
            f"(default {LegacyTable.name_column if option == 'legacy_name_column' else DEFAULT_APPLIED_COLUMN}); "
            f"its columns are {', '.join(columns) or 'none'}. Set {fix} in the [alembic] section of "
            "alembic.ini (or [tool.alembic] in pyproject.toml), or legacy_table to the table your "
            "old runner writes. Nothing was read, applied or recorded."
        )


def history_relations(connection: sa.Connection, names, legacy: LegacyTable, schema: str | None = None) -> set[str]:
    """Return which of the tables *names* exist, like `existing_tables` (PostgreSQL), checking the
    legacy table's configured columns in the same round trip."""
    names = tuple(names)
    params = {f"n{i}": name for i, name in enumerate(names)}
    params["legacy"] = legacy.name
    if schema is not None:
        params["schema"] = schema
    placeholders = ", ".join(f":n{i}" for i in range(len(names)))
    sql = _PG_HISTORY_RELATIONS.format(names=placeholders, scope=pg_relation_scope(schema))
    found = set()
    for name, columns in connection.execute(sa.text(sql), params):
        found.add(name)
        if columns is not None:
            require_columns(legacy, columns)
    return found


def table_columns(connection: sa.Connection, name: str) -> list[str]:
    """Return the columns of the table *name* on the search path, in order (none if it does not exist)."""
    inspector = sa.inspect(connection)
    if not inspector.has_table(name):
        return []
    return [column["name"] for column in inspector.get_columns(name)]


def existing_tables(connection: sa.Connection, names, schema: str | None = None) -> set[str]:
    """Return which of the tables *names* exist (in *schema*, else on the search path)."""
    names = tuple(names)
    if connection.dialect.name != "postgresql":
        inspector = sa.inspect(connection)
        return {name for name in names if inspector.has_table(name, schema=schema)}
    params = {f"n{i}": name for i, name in enumerate(names)}
    scope = pg_relation_scope(schema)
    if schema is not None:
        params["schema"] = schema
    placeholders = ", ".join(f":n{i}" for i in range(len(names)))
    sql = _PG_EXISTING_TABLES.format(names=placeholders, scope=scope)
    return {name for (name,) in connection.execute(sa.text(sql), params)}
