"""Reference behaviour of the legacy runner (``cli/helpers/migration.py``), as a test double.

Written only from shared/legacy-system.md, so tests can interleave the old runner
with the bridge on one database. Faithful on purpose, including where the legacy
runner is weak: a migration's ``upgrade(engine)`` and the row recording it run in
separate transactions, so a crash between the two leaves a migration applied but
not recorded.

Library use::

    helper = MigrationHelper(engine, "migrations", name_format="stem")
    applied_now = helper.run_pending()

Script use (exit 0 on success, 1 on failure)::

    python tests/legacy_runner.py --url URL --dir DIR [--name-format stem|filename]
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import re
import sys
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import text

logger = logging.getLogger("legacy_runner")

MIGRATION_FILE_NAME = re.compile(r"^\d{8}_.+\.py$")

# The table as the legacy system creates it in the field (shared/legacy-system.md
# shows applied_at nullable; deployed databases have it NOT NULL DEFAULT now()).
SCHEMA_MIGRATIONS_DDL = """
CREATE TABLE schema_migrations (
    id SERIAL PRIMARY KEY,
    migration_name VARCHAR(255) UNIQUE NOT NULL,
    applied_at TIMESTAMP NOT NULL DEFAULT now()
);
"""

NAME_FORMATS = ("stem", "filename")


class MigrationHelper:
    """Scans a migrations directory, runs what is pending and records it in ``schema_migrations``.

    Invariant: a ``schema_migrations`` row is written only after that file's
    ``upgrade(engine)`` returned, in a transaction of its own; rows hold names in
    ``name_format`` only (``stem`` -> ``20251031_x``, ``filename`` -> ``20251031_x.py``),
    and a row in the other format is not recognised, as with the old runner.
    """

    def __init__(self, engine: sa.Engine, migrations_dir: str | Path, name_format: str = "stem"):
        if name_format not in NAME_FORMATS:
            raise ValueError(f"name_format must be one of {NAME_FORMATS}, not {name_format!r}")
        self.engine = engine
        self.migrations_dir = Path(migrations_dir)
        self.name_format = name_format

    def migration_name(self, path: Path) -> str:
        """Return the ``migration_name`` this runner records for a file."""
        return path.stem if self.name_format == "stem" else path.name

    def has_table(self) -> bool:
        """Return whether ``schema_migrations`` exists."""
        with self.engine.connect() as conn:
            return sa.inspect(conn).has_table("schema_migrations")

    def ensure_table(self) -> None:
        """Create ``schema_migrations`` with the legacy DDL unless it exists."""
        with self.engine.begin() as conn:
            if not sa.inspect(conn).has_table("schema_migrations"):
                conn.execute(text(SCHEMA_MIGRATIONS_DDL))

    def applied(self) -> set[str]:
        """Return the raw ``migration_name`` values (empty when the table does not exist)."""
        if not self.has_table():
            return set()
        with self.engine.connect() as conn:
            rows = conn.execute(text("SELECT migration_name FROM schema_migrations"))
            return {row[0] for row in rows}

    def migration_files(self) -> list[Path]:
        """Return every migration file in the directory, sorted by file name."""
        return sorted(
            (path for path in self.migrations_dir.glob("*.py") if MIGRATION_FILE_NAME.match(path.name)),
            key=lambda path: path.name,
        )

    def pending(self) -> list[Path]:
        """Return the migration files not yet recorded, in the order they will run."""
        applied = self.applied()
        return [path for path in self.migration_files() if self.migration_name(path) not in applied]

    def run_one(self, path: Path) -> str:
        """Import one migration file, call its ``upgrade(engine)``, then record it."""
        name = self.migration_name(path)
        logger.info("Applying migration %s", name)
        module = _import_migration(path)
        module.upgrade(self.engine)
        self.record_applied(name)
        logger.info("Applied migration %s", name)
        return name

    def record_applied(self, name: str) -> None:
        """Insert one ``schema_migrations`` row in its own transaction."""
        with self.engine.begin() as conn:
            conn.execute(
                text("INSERT INTO schema_migrations (migration_name) VALUES (:name)"),
                {"name": name},
            )

    def run_pending(self) -> list[str]:
        """Ensure the table, run every pending migration in order, return the names recorded."""
        self.ensure_table()
        return [self.run_one(path) for path in self.pending()]


def _import_migration(path: Path):
    """Import a migration file as a fresh module (never cached in ``sys.modules``)."""
    spec = importlib.util.spec_from_file_location(f"legacy_migration_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import migration file {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run pending legacy migrations (reference runner).")
    parser.add_argument("--url", required=True, help="SQLAlchemy database URL")
    parser.add_argument("--dir", required=True, help="migrations directory")
    parser.add_argument("--name-format", choices=NAME_FORMATS, default="stem")
    args = parser.parse_args(argv)

    current = None
    try:
        engine = sa.create_engine(args.url)
        try:
            helper = MigrationHelper(engine, args.dir, name_format=args.name_format)
            helper.ensure_table()
            for path in helper.pending():
                current = path.name
                name = helper.run_one(path)
                print(f"Applied migration: {name}", flush=True)
            current = None
        finally:
            engine.dispose()
    except Exception as err:
        where = f" in {current}" if current else ""
        print(f"Migration failed{where}: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
