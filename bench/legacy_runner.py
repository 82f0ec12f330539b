"""A minimal legacy migration runner: what ``python run.py start`` does before the app starts.

Written from shared/legacy-system.md, and as lean as that contract allows, so
it is the yardstick the bridge is measured against: load ``.env``, build the
URL from ``DB_*``, create ``schema_migrations`` if missing, read the applied
names, list the directory, and run each pending file's ``upgrade(engine)``
followed by its row, in file-name order.

    python bench/legacy_runner.py MIGRATIONS_DIR

The URL is built like the legacy files' ``__main__`` block, with the
``postgresql+psycopg2`` driver the bridge also uses (SQLAlchemy 2.1 would pick
psycopg 3 for a bare ``postgresql://``), so both sides pay for the same driver.
"""

import importlib.util
import os
import re
import sys

from dotenv import load_dotenv
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL

MIGRATION_FILE = re.compile(r"^\d{8}_.+\.py$")


def main(directory: str) -> int:
    load_dotenv()
    url = URL.create(
        "postgresql+psycopg2",
        username=os.getenv("DB_USER", "trader"),
        password=os.getenv("DB_PASSWORD", "password123"),
        host=os.getenv("DB_HOST", "localhost") or None,
        port=int(os.getenv("DB_PORT", "5432")),
        database=os.getenv("DB_NAME", "trading_system"),
    )
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "CREATE TABLE IF NOT EXISTS schema_migrations ("
                    " id SERIAL PRIMARY KEY,"
                    " migration_name VARCHAR(255) UNIQUE NOT NULL,"
                    " applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)"
                )
            )
            applied = {row[0] for row in conn.execute(text("SELECT migration_name FROM schema_migrations"))}
        names = sorted(name for name in os.listdir(directory) if MIGRATION_FILE.match(name))
        pending = [name for name in names if name[:-3] not in applied]
        for name in pending:
            spec = importlib.util.spec_from_file_location(f"migration_{name[:-3]}", os.path.join(directory, name))
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            module.upgrade(engine)
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO schema_migrations (migration_name) VALUES (:n)"), {"n": name[:-3]})
            print(f"Applied migration: {name[:-3]}")
        print(f"{len(pending)} migration(s) applied, {len(names) - len(pending)} already applied")
    except Exception as err:
        print(f"Migration failed: {err}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
