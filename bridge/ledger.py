"""The legacy history table ``schema_migrations`` and the bridge's checksum table.

This is the only module that reads or writes either table.
"""

from __future__ import annotations

import datetime
import logging

import sqlalchemy as sa

log = logging.getLogger(__name__)

LEGACY_TABLE = "schema_migrations"
CHECKSUM_TABLE = "alembic_bridge_checksums"

_metadata = sa.MetaData()

# The legacy DDL, written so that it renders on any dialect. On PostgreSQL it is
#   id SERIAL PRIMARY KEY, migration_name VARCHAR(255) UNIQUE NOT NULL,
#   applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
schema_migrations = sa.Table(
    LEGACY_TABLE,
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("migration_name", sa.String(255), nullable=False, unique=True),
    sa.Column("applied_at", sa.DateTime, server_default=sa.func.current_timestamp()),
)

# Owned by the bridge; never change schema_migrations' shape, old runners read it.
checksums = sa.Table(
    CHECKSUM_TABLE,
    _metadata,
    sa.Column("migration_name", sa.String(255), primary_key=True),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("applied_at", sa.DateTime, nullable=False),
)


def stem_of(migration_name: str) -> str:
    """Return the file stem a ``schema_migrations`` row names (``x.py`` and ``x`` alike)."""
    return migration_name[:-3] if migration_name.endswith(".py") else migration_name


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
        if not self.has_table():
            return {}
        rows = self.connection.execute(sa.select(schema_migrations.c.migration_name))
        return {stem_of(name): name for (name,) in rows}

    def applied_checksums(self) -> dict[str, str]:
        """Return {stem: sha256} recorded when each file was applied by the bridge."""
        if not self.has_checksum_table():
            return {}
        rows = self.connection.execute(sa.select(checksums.c.migration_name, checksums.c.sha256))
        return {stem_of(name): digest for name, digest in rows}

    def row_name(self, stem: str) -> str:
        """Return the ``migration_name`` to store for *stem*, following existing rows."""
        fmt = self.name_format
        if fmt == "auto":
            key = "bridge.ledger_name_format"
            fmt = self.connection.info.get(key)
            if fmt is None:
                fmt = "stem"
                if self.has_table():
                    sample = self.connection.execute(
                        sa.select(schema_migrations.c.migration_name)
                        .order_by(schema_migrations.c.id.desc())
                        .limit(1)
                    ).scalar()
                    if sample is not None and sample.endswith(".py"):
                        fmt = "filename"
                self.connection.info[key] = fmt
        return f"{stem}.py" if fmt == "filename" else stem

    # -- writes --------------------------------------------------------------------
    def ensure_tables(self) -> None:
        """Create ``schema_migrations`` (legacy DDL) and the checksum table if missing."""
        _metadata.create_all(self.connection, checkfirst=True)

    def record_applied(self, stem: str, sha256: str | None = None) -> None:
        """Insert the row for *stem* (and its checksum) unless it is already there."""
        self.ensure_tables()
        names = (stem, f"{stem}.py")
        exists = self.connection.execute(
            sa.select(sa.func.count())
            .select_from(schema_migrations)
            .where(schema_migrations.c.migration_name.in_(names))
        ).scalar()
        if not exists:
            self.connection.execute(
                schema_migrations.insert().values(migration_name=self.row_name(stem))
            )
        if sha256 is not None:
            self.connection.execute(checksums.delete().where(checksums.c.migration_name == stem))
            self.connection.execute(
                checksums.insert().values(
                    migration_name=stem,
                    sha256=sha256,
                    applied_at=datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None),
                )
            )

    def record_unapplied(self, stem: str) -> None:
        """Delete the row for *stem* (in either name format) and its checksum."""
        if not self.has_table():
            return
        names = (stem, f"{stem}.py")
        self.connection.execute(
            schema_migrations.delete().where(schema_migrations.c.migration_name.in_(names))
        )
        if self.has_checksum_table():
            self.connection.execute(checksums.delete().where(checksums.c.migration_name == stem))


def render_ledger_sql(stem: str, direction: str, migration_context) -> list:
    """Return the statements that record *stem* in ``schema_migrations`` in a ``--sql`` script."""
    from sqlalchemy.schema import CreateTable

    statements = []
    opts = migration_context.opts
    if not opts.get("bridge.ledger_rendered"):
        opts["bridge.ledger_rendered"] = True
        statements.append(CreateTable(schema_migrations, if_not_exists=True))
    if direction == "upgrade":
        name_format = opts.get("bridge.name_format", "stem")
        name = f"{stem}.py" if name_format == "filename" else stem
        # Plain text: a Core insert would render RETURNING on PostgreSQL.
        statements.append(
            sa.text(f"INSERT INTO {LEGACY_TABLE} (migration_name) VALUES (:name)").bindparams(name=name)
        )
    else:
        names = (stem, f"{stem}.py")
        statements.append(schema_migrations.delete().where(schema_migrations.c.migration_name.in_(names)))
    return statements
