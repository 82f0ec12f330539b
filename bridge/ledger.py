"""The legacy history table ``schema_migrations`` and the bridge's checksum table.

This is the only module that reads or writes either table (one concept: the
history the two tables keep, every SQL statement on them, so that nothing else
knows their shape). `read_history` also reads Alembic's version table, so that
a run learns all three at once.
The legacy table's name and columns are the configured ones
(`bridge.settings.LegacyTable`: ``legacy_table``, ``legacy_name_column``,
``legacy_applied_column``); reading a table that lacks a configured column is
refused with a `ConfigError` naming the table, the column and the option,
before anything is written.
"""

from __future__ import annotations

import datetime
import functools
import logging
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateTable

from . import sqlstate
from .errors import LedgerMismatch
from .settings import LegacyTable
from .shape import (
    DEFAULT_LEGACY_TABLE,
    existing_tables,
    history_relations,
    legacy_table,
    require_columns,
    table_columns,
)

log = logging.getLogger(__name__)

LEGACY_TABLE = DEFAULT_LEGACY_TABLE.name
CHECKSUM_TABLE = "alembic_bridge_checksums"
LOG_TABLE = "alembic_bridge_log"  # bridge.runlog
# The tables that record history, not schema: autogenerate and the baseline leave them out.
HISTORY_TABLES = (LEGACY_TABLE, CHECKSUM_TABLE, LOG_TABLE)


def history_tables(legacy: LegacyTable) -> tuple[str, ...]:
    """Return `HISTORY_TABLES` with the configured legacy table's name."""
    return (legacy.name, CHECKSUM_TABLE, LOG_TABLE)


_metadata = sa.MetaData()


# Owned by the bridge; never change schema_migrations' shape, old runners read it.
checksums = sa.Table(
    CHECKSUM_TABLE,
    _metadata,
    sa.Column("migration_name", sa.String(255), primary_key=True),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("applied_at", sa.DateTime, nullable=False),
    sa.Column("recorded", sa.String(16)),  # NULL: the bridge ran it; else one of CHECKSUM_ORIGINS
)
# Checksums of files the bridge did not run: taken at adoption (`bridge.reconcile`), by `bridge.repairs`.
ADOPTION, REPAIR = "adoption", "repair"
CHECKSUM_ORIGINS = (ADOPTION, REPAIR)


# Quotes names for sa.text(), which doubles each % itself for psycopg2's pyformat: this preparer
# (named paramstyle) does not double them first. Plain lower-case names are left as they are.
_PREPARER = postgresql.dialect(paramstyle="named").identifier_preparer
_quote = _PREPARER.quote


@functools.cache
def _pg_record_statements(shape: LegacyTable) -> tuple[sa.TextClause, sa.TextClause]:
    """Return what `Ledger.record_applied` runs on PostgreSQL (the row; the row and its checksum):
    prepared once per shape, so each migration only binds values."""
    table, column = _quote(shape.name), _quote(shape.name_column)
    insert_row = (
        f"INSERT INTO {table} ({column}) SELECT :name WHERE NOT EXISTS "
        f"(SELECT 1 FROM {table} WHERE {column} IN (:stem, :stem_py))"
    )
    with_checksum = (
        f"WITH checksum AS (INSERT INTO {CHECKSUM_TABLE} (migration_name, sha256, applied_at) "
        "VALUES (:stem, :sha256, :applied_at) ON CONFLICT (migration_name) DO UPDATE SET "
        "sha256 = EXCLUDED.sha256, applied_at = EXCLUDED.applied_at) " + insert_row
    )
    return sa.text(insert_row), sa.text(with_checksum)


# connection.info key: True once both tables are known to exist and be committed,
# else the transaction that created them (see `Ledger._ensure_tables_once`).
TABLES_READY = "bridge.ledger_tables_ready"
# connection.info key: the name format `Ledger.row_name` chose for ``auto`` in this run.
NAME_FORMAT = "bridge.ledger_name_format"


class LedgerState(NamedTuple):
    """A read-only snapshot of the three history tables, read once before a run."""

    rows: dict[str, str]
    checksums: dict[str, str]
    heads: tuple[str, ...]
    has_version_table: bool
    has_ledger_table: bool
    # Stems with a row under both names (``x`` and ``x.py``): recorded twice.
    duplicates: tuple[str, ...] = ()


def read_history(
    connection: sa.Connection,
    version_table: str,
    version_schema: str | None = None,
    legacy: LegacyTable = DEFAULT_LEGACY_TABLE,
) -> LedgerState:
    """Read ``alembic_version``, the legacy table (*legacy*) and the checksums; write nothing."""
    if connection.dialect.name != "postgresql":
        ledger = Ledger(connection, shape=legacy)
        inspector = sa.inspect(connection)
        has_version = inspector.has_table(version_table, schema=version_schema)
        heads: tuple[str, ...] = ()
        if has_version:
            table = sa.table(version_table, sa.column("version_num"), schema=version_schema)
            heads = tuple(r[0] for r in connection.execute(sa.select(table.c.version_num)))
        has_ledger = ledger.has_table()
        if has_ledger:
            require_columns(legacy, table_columns(connection, legacy.name))
        rows, duplicates = _rows_by_stem(ledger.applied_names() if has_ledger else [])
        return LedgerState(rows, ledger.applied_checksums(), heads, has_version, has_ledger, duplicates)
    # Every run starts here, in a fresh process: two round trips of plain SQL,
    # rather than a reflection query and a SELECT per table.
    if version_schema is None:
        found = history_relations(connection, (version_table, legacy.name, CHECKSUM_TABLE), legacy)
        has_version = version_table in found
    else:
        found = history_relations(connection, (legacy.name, CHECKSUM_TABLE), legacy)
        has_version = bool(existing_tables(connection, (version_table,), version_schema))
    preparer = _PREPARER
    parts = []
    if has_version:
        qualified = preparer.quote(version_table)
        if version_schema is not None:
            qualified = f"{preparer.quote_schema(version_schema)}.{qualified}"
        parts.append(f"SELECT 0, version_num, NULL FROM {qualified}")
    if legacy.name in found:
        parts.append(f"SELECT 1, {preparer.quote(legacy.name_column)}, NULL FROM {preparer.quote(legacy.name)}")
    if CHECKSUM_TABLE in found:
        parts.append(f"SELECT 2, migration_name, sha256 FROM {CHECKSUM_TABLE}")
    found_rows = connection.execute(sa.text(" UNION ALL ".join(parts))) if parts else ()
    return _state_from_rows(found_rows, has_version, legacy.name in found)


def _state_from_rows(found_rows, has_version: bool, has_ledger: bool) -> LedgerState:
    """Build a `LedgerState` from ``(kind, name, sha256)`` rows: 0 version, 1 legacy row, 2 checksum."""
    heads_found: list[str] = []
    names = []
    digests = {}
    for kind, name, digest in found_rows:
        if kind == 0:
            heads_found.append(name)
        elif kind == 1:
            names.append(name)
        else:
            digests[stem_of(name)] = digest
    rows, duplicates = _rows_by_stem(names)
    return LedgerState(rows, digests, tuple(heads_found), has_version, has_ledger, duplicates)


_PG_TABLES_IN_SCHEMAS = (
    "SELECT n.nspname, c.relname, CASE WHEN c.relname = :legacy THEN ARRAY(SELECT a.attname::text "
    "FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 "
    "AND NOT a.attisdropped ORDER BY a.attnum) END FROM pg_catalog.pg_class c "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind IN ('r', 'p', 'f', 'v', 'm') AND c.relname IN (:version, :legacy, :checksums) "
    "AND n.nspname = ANY(:schemas)"
)


def read_history_by_schema(
    connection: sa.Connection, schemas, version_table: str, legacy: LegacyTable = DEFAULT_LEGACY_TABLE
) -> dict[str, LedgerState]:
    """Read the three history tables of each tenant schema in *schemas* (PostgreSQL); write nothing.

    Two round trips whatever the number of schemas: which tables exist where,
    then every one of them in one ``UNION ALL``. Each schema holds its own
    version table, ``schema_migrations`` and checksums (see `bridge.context.RunRequest.schema`).
    """
    schemas = list(schemas)
    existing: dict[str, set[str]] = {schema: set() for schema in schemas}
    params = {"version": version_table, "legacy": legacy.name, "checksums": CHECKSUM_TABLE, "schemas": schemas}
    for schema, table, columns in connection.execute(sa.text(_PG_TABLES_IN_SCHEMAS), params):
        existing[schema].add(table)
        if columns is not None:
            require_columns(legacy, columns, f" in schema {schema}")
    preparer = _PREPARER
    parts = []
    values: dict[str, str] = {}
    selects = (
        (version_table, "0, version_num, NULL"),
        (legacy.name, f"1, {preparer.quote(legacy.name_column)}, NULL"),
        (CHECKSUM_TABLE, "2, migration_name, sha256"),
    )
    for i, schema in enumerate(schemas):
        for table, columns in selects:
            if table in existing[schema]:
                values[f"s{i}"] = schema
                qualified = f"{preparer.quote_schema(schema)}.{preparer.quote(table)}"
                parts.append(f"SELECT CAST(:s{i} AS TEXT), {columns} FROM {qualified}")
    by_schema: dict[str, list] = {schema: [] for schema in schemas}
    if parts:
        for schema, kind, name, digest in connection.execute(sa.text(" UNION ALL ".join(parts)), values):
            by_schema[schema].append((kind, name, digest))
    return {
        schema: _state_from_rows(by_schema[schema], version_table in existing[schema], legacy.name in existing[schema])
        for schema in schemas
    }


def _rows_by_stem(names) -> tuple[dict[str, str], tuple[str, ...]]:
    """Return {stem: name} and the stems that have more than one row (``x`` and ``x.py``)."""
    rows: dict[str, str] = {}
    duplicates: list[str] = []
    for name in names:
        stem = stem_of(name)
        if stem in rows and stem not in duplicates:
            duplicates.append(stem)
        rows[stem] = name
    return rows, tuple(sorted(duplicates))


def _has_column(inspector, table: str, column: str) -> bool:
    return any(c["name"] == column for c in inspector.get_columns(table))


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


# The two spellings of a migration's name in ``schema_migrations``: its stem
# (``20251031_x``) or its file name (``20251031_x.py``). These three functions
# are the only code that knows them.


def stem_of(migration_name: str) -> str:
    """Return the file stem a ``schema_migrations`` row names (``x.py`` and ``x`` alike)."""
    return migration_name[:-3] if migration_name.endswith(".py") else migration_name


def names_of(stem: str) -> tuple[str, str]:
    """Return both names a row for *stem* may hold: the stem, then the file name."""
    return stem, f"{stem}.py"


def name_in_format(stem: str, name_format: str) -> str:
    """Return the name a row for *stem* holds in *name_format* (``filename``: the file name; else the stem)."""
    return names_of(stem)[1] if name_format == "filename" else stem


class Ledger:
    """Reads and writes ``schema_migrations`` (and the checksums) on one connection.

    Invariant kept with the executor: a legacy migration's row is inserted
    (upgrade) or deleted (downgrade) in the same transaction as the migration
    itself and Alembic's ``alembic_version`` update, so the two tables can only
    disagree when something other than the bridge wrote one of them.
    Rows are matched by stem whether they hold ``stem`` or ``stem.py``. The
    table and its columns are *shape*'s (the configured `LegacyTable`).
    """

    def __init__(self, connection: sa.Connection, name_format: str = "auto", shape: LegacyTable = DEFAULT_LEGACY_TABLE):
        self.connection = connection
        self.name_format = name_format
        self.shape = shape
        self.table = legacy_table(shape)
        self.column = self.table.c[shape.name_column]

    @classmethod
    def of(cls, connection: sa.Connection, settings) -> Ledger:
        """Return the ledger on *connection* as *settings* (`BridgeSettings`, or None: defaults) configure it."""
        if settings is None:
            return cls(connection)
        return cls(connection, settings.name_format, settings.legacy_table)

    # -- reads ---------------------------------------------------------------------
    def has_table(self) -> bool:
        """Return whether the legacy table exists."""
        return sa.inspect(self.connection).has_table(self.shape.name)

    def has_checksum_table(self) -> bool:
        """Return whether the bridge's checksum table exists."""
        return sa.inspect(self.connection).has_table(CHECKSUM_TABLE)

    def applied(self) -> dict[str, str]:
        """Return {stem: migration_name as stored} for every row (empty if no table)."""
        return {stem_of(name): name for name in self.applied_names()}

    def applied_names(self) -> list[str]:
        """Return every ``migration_name`` as stored, in id order (empty if no table)."""
        if not self.has_table():
            return []
        query = sa.select(self.column).order_by(self.table.c.id)
        return list(self.connection.execute(query).scalars())

    def applied_checksums(self) -> dict[str, str]:
        """Return {stem: sha256} recorded when each file was applied by the bridge."""
        if not self.has_checksum_table():
            return {}
        rows = self.connection.execute(sa.select(checksums.c.migration_name, checksums.c.sha256))
        return {stem_of(name): digest for name, digest in rows}

    def details(self) -> dict[str, dict]:
        """Return {stem: {"checksum_origin": "run", one of `CHECKSUM_ORIGINS` or None, "applied_at":
        the row's, aware (read in the session's time zone, as ``now()`` wrote it)}}; reads only."""
        found: dict[str, dict] = {}
        inspector = sa.inspect(self.connection)
        if self.has_checksum_table():
            origin = checksums.c.recorded if _has_column(inspector, CHECKSUM_TABLE, "recorded") else sa.null()
            for name, recorded in self.connection.execute(sa.select(checksums.c.migration_name, origin)):
                found[stem_of(name)] = {"checksum_origin": recorded or "run"}
        applied = self.shape.applied
        if self.has_table() and _has_column(inspector, self.shape.name, applied):
            pg = self.connection.dialect.name == "postgresql"
            at = sa.text(f"{_quote(applied)} AT TIME ZONE current_setting('TimeZone')" if pg else _quote(applied))
            for name, when in self.connection.execute(sa.select(self.column, at).select_from(self.table)):
                when = when.replace(tzinfo=datetime.timezone.utc) if when and not when.tzinfo else when
                found.setdefault(stem_of(name), {"checksum_origin": None})["applied_at"] = when
        return found

    def row_name(self, stem: str) -> str:
        """Return the ``migration_name`` to store for *stem*, following existing rows."""
        fmt = self.name_format
        if fmt == "auto":
            agreed = self.connection.info.get(NAME_FORMAT)
            if agreed is None:
                agreed = self.connection.info[NAME_FORMAT] = self._agreed_format(stem)
            fmt = agreed
        return name_in_format(stem, fmt)

    def _agreed_format(self, stem: str) -> str:
        """Return the format every row uses (``stem`` for no rows); refuse rows that disagree."""
        if not self.has_table():
            return "stem"
        name = self.column
        is_py = name.like("%.py")
        # Every row, not the newest one: a single stray row must not switch the format.
        with_py, without_py, py_example, stem_example = self.connection.execute(
            sa.select(
                sa.func.count().filter(is_py),
                sa.func.count().filter(~is_py),
                sa.func.min(name).filter(is_py),
                sa.func.min(name).filter(~is_py),
            )
        ).one()
        if with_py and without_py:
            raise LedgerMismatch(
                f"{self.shape.name} holds names in both formats ({without_py} like "
                f"{stem_example!r}, {with_py} like {py_example!r}), so legacy_name_format = "
                f"auto cannot tell which one to write for {stem}. Set legacy_name_format = "
                "stem or legacy_name_format = filename in the [alembic] section of alembic.ini "
                "(or [tool.alembic] in pyproject.toml) to match what your old runner writes. "
                "`alembic-bridge check` lists migrations recorded under both names. "
                f"{stem} was not applied or recorded."
            )
        return "filename" if with_py else "stem"

    # -- writes --------------------------------------------------------------------
    def ensure_tables(self) -> None:
        """Create the legacy table (legacy DDL) and the checksum table if missing."""
        self.table.create(self.connection, checkfirst=True)
        checksums.create(self.connection, checkfirst=True)

    def record_applied(self, stem: str, sha256: str | None = None) -> None:
        """Insert the row for *stem* (and its checksum) unless it is already there."""
        self._ensure_tables_once()
        try:
            self._insert_row(stem, sha256)
        except sa.exc.DBAPIError as err:
            # A schema_migrations of another shape than the legacy DDL: say which column
            # and how to fix it (the caller's transaction rolls the migration back).
            translated = _row_insert_error(err, stem, self.row_name(stem), self.shape)
            if translated is None:
                raise
            raise translated from err

    def _insert_row(self, stem: str, sha256: str | None) -> None:
        if self.connection.dialect.name == "postgresql":
            # One round trip instead of four: this runs once per migration applied.
            params: dict[str, object] = {"stem": stem, "stem_py": names_of(stem)[1], "name": self.row_name(stem)}
            insert_row, with_checksum = _pg_record_statements(self.shape)
            if sha256 is None:
                self.connection.execute(insert_row, params)
            else:
                params.update(sha256=sha256, applied_at=_utcnow())
                self.connection.execute(with_checksum, params)
            return
        names = names_of(stem)
        exists = self.connection.execute(
            sa.select(sa.func.count()).select_from(self.table).where(self.column.in_(names))
        ).scalar()
        if not exists:
            self.connection.execute(self.table.insert().values({self.column: self.row_name(stem)}))
        if sha256 is not None:
            self.connection.execute(checksums.delete().where(checksums.c.migration_name == stem))
            self.connection.execute(checksums.insert().values(migration_name=stem, sha256=sha256, applied_at=_utcnow()))

    def record_checksums(self, digests: dict[str, str], origin: str) -> None:
        """Record the current checksum of files the bridge did not run, marked *origin*."""
        self._ensure_tables_once()
        if not _has_column(sa.inspect(self.connection), CHECKSUM_TABLE, "recorded"):
            self.connection.execute(sa.text(f"ALTER TABLE {CHECKSUM_TABLE} ADD COLUMN recorded VARCHAR(16)"))
        self.connection.execute(checksums.delete().where(checksums.c.migration_name.in_(list(digests))))
        now = _utcnow()
        rows = [dict(migration_name=n, sha256=d, applied_at=now, recorded=origin) for n, d in digests.items()]
        self.connection.execute(checksums.insert(), rows)

    def record(self, stem: str, direction: str, sha256: str | None = None) -> None:
        """Record *stem* as applied (``upgrade``) or as not applied (``downgrade``); see `record_applied`."""
        if direction == "upgrade":
            self.record_applied(stem, sha256)
        else:
            self.record_unapplied(stem)

    def _ensure_tables_once(self) -> None:
        # Checking for both tables before every row would cost a catalog query per
        # migration. Once they are seen in a transaction other than the one that
        # created them, they are committed and stay; until then, check again.
        # bridge.env forgets this at the end of each run (`bridge.context.forget_connection`).
        info = self.connection.info
        ready = info.get(TABLES_READY)
        if ready is True:
            return
        transaction = self.connection.get_transaction()
        if ready is not None and ready is transaction:
            return
        both = (self.shape.name, CHECKSUM_TABLE)
        if existing_tables(self.connection, both) != set(both):
            self.ensure_tables()
            info[TABLES_READY] = transaction
        else:
            info[TABLES_READY] = True

    def record_unapplied(self, stem: str) -> None:
        """Delete the row for *stem* (in either name format) and its checksum."""
        if not self.has_table():
            return
        names = names_of(stem)
        self.connection.execute(self.table.delete().where(self.column.in_(names)))
        if self.has_checksum_table():
            self.connection.execute(checksums.delete().where(checksums.c.migration_name == stem))


def _row_insert_error(err: sa.exc.DBAPIError, stem: str, name: str, shape: LegacyTable) -> LedgerMismatch | None:
    """Translate a failed legacy-table insert caused by the table's shape; else None."""
    orig = err.orig
    state = sqlstate.of(err)
    diag = getattr(orig, "diag", None)
    table = getattr(diag, "table_name", None)
    fix = f"then run again. {stem} was not applied or recorded."
    if state == sqlstate.NOT_NULL_VIOLATION and table == shape.name:
        column = getattr(diag, "column_name", None) or "?"
        alter = f"ALTER TABLE {shape.name} ALTER COLUMN {column}"
        return LedgerMismatch(
            f"Recording {stem} in {shape.name} failed: its column {column} is NOT NULL and "
            f"has no default, but runners write only {shape.name_column}. Give it a default "
            f"({alter} SET DEFAULT ...) or allow NULL ({alter} DROP NOT NULL), {fix}"
        )
    if state == sqlstate.STRING_TOO_LONG and len(name) <= 255:
        # The only value of variable length a row gets is its name (checksum rows are ours).
        db_message = str(orig).strip().splitlines()[0] if str(orig).strip() else str(err)
        return LedgerMismatch(
            f"Recording {stem} in {shape.name} failed: its column {shape.name_column} is too "
            f"short for {name!r} ({len(name)} characters): {db_message}. Widen it to the "
            f"legacy VARCHAR(255): ALTER TABLE {shape.name} ALTER COLUMN {shape.name_column} "
            f"TYPE VARCHAR(255), {fix}"
        )
    return None


def render_ledger_sql(stem: str, direction: str, migration_context) -> list:
    """Return the statements that record *stem* in ``schema_migrations`` in a ``--sql`` script."""
    statements: list[sa.sql.expression.Executable | CreateTable] = []
    from .context import current  # deferred: keeps Alembic out of the run.py start pre-check

    run = current(migration_context.config)
    shape = run.settings.legacy_table
    table = legacy_table(shape)
    if not run.ledger_rendered:
        run.ledger_rendered = True
        statements.append(CreateTable(table, if_not_exists=True))
    if direction == "upgrade":
        name_format = run.settings.name_format
        name = name_in_format(stem, name_format)
        # Plain text: a Core insert would render RETURNING on PostgreSQL.
        insert = f"INSERT INTO {_quote(shape.name)} ({_quote(shape.name_column)}) VALUES (:name)"
        statements.append(sa.text(insert).bindparams(name=name))
    else:
        names = names_of(stem)
        statements.append(table.delete().where(table.c[shape.name_column].in_(names)))
    return statements


def emit_ledger_sql(stem: str, direction: str, migration_context) -> None:
    """Write the statements that record *stem* (see `render_ledger_sql`) to the ``--sql`` script."""
    for statement in render_ledger_sql(stem, direction, migration_context):
        migration_context.execute(statement)
