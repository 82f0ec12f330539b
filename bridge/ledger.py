"""The legacy history table ``schema_migrations`` and the bridge's checksum table.

This is the only module that reads or writes either table (one concept: the
history the two tables keep, every SQL statement on them, so that nothing else
knows their shape). `read_history` also reads Alembic's version table, so that
a run learns all three at once.
"""

from __future__ import annotations

import datetime
import functools
import logging
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.schema import CreateTable
from sqlalchemy.sql.expression import FunctionElement

from . import sqlstate
from .errors import LedgerMismatch

log = logging.getLogger(__name__)

LEGACY_TABLE = "schema_migrations"
CHECKSUM_TABLE = "alembic_bridge_checksums"
LOG_TABLE = "alembic_bridge_log"  # bridge.runlog
# The tables that record history, not schema: autogenerate and the baseline leave them out.
HISTORY_TABLES = (LEGACY_TABLE, CHECKSUM_TABLE, LOG_TABLE)

_metadata = sa.MetaData()


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


# The legacy table as the old runner creates it in the field, written so that it
# renders on any dialect; a database where the bridge came first must look the same
# to the old runner and to anyone comparing schemas. On PostgreSQL it is
#   id SERIAL PRIMARY KEY, migration_name VARCHAR(255) UNIQUE NOT NULL,
#   applied_at TIMESTAMP NOT NULL DEFAULT now()
schema_migrations = sa.Table(
    LEGACY_TABLE,
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("migration_name", sa.String(255), nullable=False, unique=True),
    sa.Column("applied_at", sa.DateTime, nullable=False, server_default=_now()),
)

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


# What `Ledger.record_applied` runs on PostgreSQL: prepared once, so each migration
# only binds values.
_PG_INSERT_ROW_IF_MISSING = sa.text(
    f"INSERT INTO {LEGACY_TABLE} (migration_name) SELECT :name WHERE NOT EXISTS "
    f"(SELECT 1 FROM {LEGACY_TABLE} WHERE migration_name IN (:stem, :stem_py))"
)
_PG_RECORD_WITH_CHECKSUM_SQL = (
    f"WITH checksum AS (INSERT INTO {CHECKSUM_TABLE} (migration_name, sha256, applied_at) "
    "VALUES (:stem, :sha256, :applied_at) ON CONFLICT (migration_name) DO UPDATE SET "
    "sha256 = EXCLUDED.sha256, applied_at = EXCLUDED.applied_at) "
    f"INSERT INTO {LEGACY_TABLE} (migration_name) SELECT :name WHERE NOT EXISTS "
    f"(SELECT 1 FROM {LEGACY_TABLE} WHERE migration_name IN (:stem, :stem_py))"
)
_PG_RECORD_WITH_CHECKSUM = sa.text(_PG_RECORD_WITH_CHECKSUM_SQL)


@functools.lru_cache(maxsize=8)
def _record_with(cte: str) -> sa.TextClause:
    # One TextClause per shape of the rider (parsing its binds costs more than the rest of the statement).
    return sa.text("WITH " + cte + ", " + _PG_RECORD_WITH_CHECKSUM_SQL[len("WITH ") :])


# connection.info key: True once both tables are known to exist and be committed,
# else the transaction that created them (see `Ledger._ensure_tables_once`).
TABLES_READY = "bridge.ledger_tables_ready"
# connection.info key: the name format `Ledger.row_name` chose for ``auto`` in this run.
NAME_FORMAT = "bridge.ledger_name_format"

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


class LedgerState(NamedTuple):
    """A read-only snapshot of the three history tables, read once before a run."""

    rows: dict[str, str]
    checksums: dict[str, str]
    heads: tuple[str, ...]
    has_version_table: bool
    has_ledger_table: bool
    # Stems with a row under both names (``x`` and ``x.py``): recorded twice.
    duplicates: tuple[str, ...] = ()


def read_history(connection: sa.Connection, version_table: str, version_schema: str | None = None) -> LedgerState:
    """Read ``alembic_version``, ``schema_migrations`` and the checksums; write nothing."""
    if connection.dialect.name != "postgresql":
        ledger = Ledger(connection)
        inspector = sa.inspect(connection)
        has_version = inspector.has_table(version_table, schema=version_schema)
        heads: tuple[str, ...] = ()
        if has_version:
            table = sa.table(version_table, sa.column("version_num"), schema=version_schema)
            heads = tuple(r[0] for r in connection.execute(sa.select(table.c.version_num)))
        has_ledger = ledger.has_table()
        rows, duplicates = _rows_by_stem(ledger.applied_names() if has_ledger else [])
        return LedgerState(rows, ledger.applied_checksums(), heads, has_version, has_ledger, duplicates)
    # Every run starts here, in a fresh process: two round trips of plain SQL,
    # rather than a reflection query and a SELECT per table.
    if version_schema is None:
        found = existing_tables(connection, (version_table, LEGACY_TABLE, CHECKSUM_TABLE))
        has_version = version_table in found
    else:
        found = existing_tables(connection, (LEGACY_TABLE, CHECKSUM_TABLE))
        has_version = bool(existing_tables(connection, (version_table,), version_schema))
    preparer = connection.dialect.identifier_preparer
    parts = []
    if has_version:
        qualified = preparer.quote(version_table)
        if version_schema is not None:
            qualified = f"{preparer.quote_schema(version_schema)}.{qualified}"
        parts.append(f"SELECT 0, version_num, NULL FROM {qualified}")
    if LEGACY_TABLE in found:
        parts.append(f"SELECT 1, migration_name, NULL FROM {LEGACY_TABLE}")
    if CHECKSUM_TABLE in found:
        parts.append(f"SELECT 2, migration_name, sha256 FROM {CHECKSUM_TABLE}")
    found_rows = connection.execute(sa.text(" UNION ALL ".join(parts))) if parts else ()
    return _state_from_rows(found_rows, has_version, LEGACY_TABLE in found)


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
    "SELECT n.nspname, c.relname FROM pg_catalog.pg_class c "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind IN ('r', 'p', 'f', 'v', 'm') AND c.relname IN (:version, :legacy, :checksums) "
    "AND n.nspname = ANY(:schemas)"
)


def read_history_by_schema(connection: sa.Connection, schemas, version_table: str) -> dict[str, LedgerState]:
    """Read the three history tables of each tenant schema in *schemas* (PostgreSQL); write nothing.

    Two round trips whatever the number of schemas: which tables exist where,
    then every one of them in one ``UNION ALL``. Each schema holds its own
    version table, ``schema_migrations`` and checksums (see `bridge.context.RunRequest.schema`).
    """
    schemas = list(schemas)
    existing: dict[str, set[str]] = {schema: set() for schema in schemas}
    params = {"version": version_table, "legacy": LEGACY_TABLE, "checksums": CHECKSUM_TABLE, "schemas": schemas}
    for schema, table in connection.execute(sa.text(_PG_TABLES_IN_SCHEMAS), params):
        existing[schema].add(table)
    preparer = connection.dialect.identifier_preparer
    parts = []
    values: dict[str, str] = {}
    selects = (
        (version_table, "0, version_num, NULL"),
        (LEGACY_TABLE, "1, migration_name, NULL"),
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
        schema: _state_from_rows(by_schema[schema], version_table in existing[schema], LEGACY_TABLE in existing[schema])
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
    Rows are matched by stem whether they hold ``stem`` or ``stem.py``.
    """

    def __init__(self, connection: sa.Connection, name_format: str = "auto"):
        self.connection = connection
        self.name_format = name_format

    # -- reads ---------------------------------------------------------------------
    def has_table(self) -> bool:
        """Return whether ``schema_migrations`` exists."""
        return sa.inspect(self.connection).has_table(LEGACY_TABLE)

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
        query = sa.select(schema_migrations.c.migration_name).order_by(schema_migrations.c.id)
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
        if self.has_table() and _has_column(inspector, LEGACY_TABLE, "applied_at"):
            pg = self.connection.dialect.name == "postgresql"
            at = sa.text("applied_at AT TIME ZONE current_setting('TimeZone')" if pg else "applied_at")
            for name, when in self.connection.execute(sa.select(schema_migrations.c.migration_name, at)):
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
        name = schema_migrations.c.migration_name
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
                f"schema_migrations holds names in both formats ({without_py} like "
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
        """Create ``schema_migrations`` (legacy DDL) and the checksum table if missing."""
        _metadata.create_all(self.connection, checkfirst=True)

    def record_applied(self, stem: str, sha256: str | None = None, rider=None) -> bool:
        """Insert the row for *stem* (and its checksum) unless it is already there.

        *rider()*, if given, returns another insert as a CTE and its values
        (`bridge.runlog.insert_cte`) to send in the same statement; returns
        whether it was sent (only on PostgreSQL, with a checksum).
        """
        self._ensure_tables_once()
        try:
            return self._insert_row(stem, sha256, rider)
        except sa.exc.DBAPIError as err:
            # A schema_migrations of another shape than the legacy DDL: say which column
            # and how to fix it (the caller's transaction rolls the migration back).
            translated = _row_insert_error(err, stem, self.row_name(stem))
            if translated is None:
                raise
            raise translated from err

    def _insert_row(self, stem: str, sha256: str | None, rider=None) -> bool:
        if self.connection.dialect.name == "postgresql":
            # One round trip instead of four: this runs once per migration applied.
            params: dict[str, object] = {"stem": stem, "stem_py": names_of(stem)[1], "name": self.row_name(stem)}
            if sha256 is None:
                self.connection.execute(_PG_INSERT_ROW_IF_MISSING, params)
                return False
            params.update(sha256=sha256, applied_at=_utcnow())
            if rider is None:
                self.connection.execute(_PG_RECORD_WITH_CHECKSUM, params)
                return False
            cte, values = rider()
            self.connection.execute(_record_with(cte), {**params, **values})
            return True
        names = names_of(stem)
        exists = self.connection.execute(
            sa.select(sa.func.count())
            .select_from(schema_migrations)
            .where(schema_migrations.c.migration_name.in_(names))
        ).scalar()
        if not exists:
            self.connection.execute(schema_migrations.insert().values(migration_name=self.row_name(stem)))
        if sha256 is not None:
            self.connection.execute(checksums.delete().where(checksums.c.migration_name == stem))
            self.connection.execute(checksums.insert().values(migration_name=stem, sha256=sha256, applied_at=_utcnow()))
        return False

    def record_checksums(self, digests: dict[str, str], origin: str) -> None:
        """Record the current checksum of files the bridge did not run, marked *origin*."""
        self._ensure_tables_once()
        if not _has_column(sa.inspect(self.connection), CHECKSUM_TABLE, "recorded"):
            self.connection.execute(sa.text(f"ALTER TABLE {CHECKSUM_TABLE} ADD COLUMN recorded VARCHAR(16)"))
        self.connection.execute(checksums.delete().where(checksums.c.migration_name.in_(list(digests))))
        now = _utcnow()
        rows = [dict(migration_name=n, sha256=d, applied_at=now, recorded=origin) for n, d in digests.items()]
        self.connection.execute(checksums.insert(), rows)

    def record(self, stem: str, direction: str, sha256: str | None = None, rider=None) -> bool:
        """Record *stem* as applied (``upgrade``) or as not applied (``downgrade``); see `record_applied`."""
        if direction == "upgrade":
            return self.record_applied(stem, sha256, rider)
        self.record_unapplied(stem)
        return False

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
        both = (LEGACY_TABLE, CHECKSUM_TABLE)
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
        self.connection.execute(schema_migrations.delete().where(schema_migrations.c.migration_name.in_(names)))
        if self.has_checksum_table():
            self.connection.execute(checksums.delete().where(checksums.c.migration_name == stem))


def _row_insert_error(err: sa.exc.DBAPIError, stem: str, name: str) -> LedgerMismatch | None:
    """Translate a failed ``schema_migrations`` insert caused by the table's shape; else None."""
    orig = err.orig
    state = sqlstate.of(err)
    diag = getattr(orig, "diag", None)
    table = getattr(diag, "table_name", None)
    fix = f"then run again. {stem} was not applied or recorded."
    if state == sqlstate.NOT_NULL_VIOLATION and table == LEGACY_TABLE:
        column = getattr(diag, "column_name", None) or "?"
        alter = f"ALTER TABLE {LEGACY_TABLE} ALTER COLUMN {column}"
        return LedgerMismatch(
            f"Recording {stem} in {LEGACY_TABLE} failed: its column {column} is NOT NULL and "
            "has no default, but runners write only migration_name. Give it a default "
            f"({alter} SET DEFAULT ...) or allow NULL ({alter} DROP NOT NULL), {fix}"
        )
    if state == sqlstate.STRING_TOO_LONG and len(name) <= 255:
        # The only value of variable length a row gets is its name (checksum rows are ours).
        db_message = str(orig).strip().splitlines()[0] if str(orig).strip() else str(err)
        return LedgerMismatch(
            f"Recording {stem} in {LEGACY_TABLE} failed: its column migration_name is too "
            f"short for {name!r} ({len(name)} characters): {db_message}. Widen it to the "
            f"legacy VARCHAR(255): ALTER TABLE {LEGACY_TABLE} ALTER COLUMN migration_name "
            f"TYPE VARCHAR(255), {fix}"
        )
    return None


def render_ledger_sql(stem: str, direction: str, migration_context) -> list:
    """Return the statements that record *stem* in ``schema_migrations`` in a ``--sql`` script."""
    statements: list[sa.sql.expression.Executable | CreateTable] = []
    from .context import current  # deferred: keeps Alembic out of the run.py start pre-check

    run = current(migration_context.config)
    if not run.ledger_rendered:
        run.ledger_rendered = True
        statements.append(CreateTable(schema_migrations, if_not_exists=True))
    if direction == "upgrade":
        name_format = run.settings.name_format
        name = name_in_format(stem, name_format)
        # Plain text: a Core insert would render RETURNING on PostgreSQL.
        statements.append(sa.text(f"INSERT INTO {LEGACY_TABLE} (migration_name) VALUES (:name)").bindparams(name=name))
    else:
        names = names_of(stem)
        statements.append(schema_migrations.delete().where(schema_migrations.c.migration_name.in_(names)))
    return statements


def emit_ledger_sql(stem: str, direction: str, migration_context) -> None:
    """Write the statements that record *stem* (see `render_ledger_sql`) to the ``--sql`` script."""
    for statement in render_ledger_sql(stem, direction, migration_context):
        migration_context.execute(statement)
