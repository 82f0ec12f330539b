"""
Migration: Add order_fills.source and an index on it
Date: 2025-12-02

Purpose:
    Record which feed reported the fill; the reconciliation job filters on it.

Changes:
    - ALTER TABLE order_fills ADD COLUMN source TEXT
    - CREATE INDEX CONCURRENTLY idx_order_fills_source (AUTOCOMMIT: the table is busy)
"""

# @FEAT:order-tracking @COMP:migration @TYPE:core

import os
import sys

from sqlalchemy import create_engine, text

# Give up (and let the runner retry) rather than queue every query behind this migration.
migration_lock_timeout = "5s"


def upgrade(engine):
    """Apply migration"""
    print("🚀 Starting migration: add order_fills.source")

    with engine.connect() as conn:
        trans = conn.begin()
        try:
            conn.execute(text("ALTER TABLE order_fills ADD COLUMN IF NOT EXISTS source TEXT"))
            trans.commit()
        except Exception as e:
            trans.rollback()
            print(f"❌ Migration failed, rolled back: {e}")
            raise

    print("📦 Building idx_order_fills_source without blocking writes...")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_order_fills_source ON order_fills (source)"
        ))
    print("✅ Migration completed")


def downgrade(engine):
    """Rollback migration"""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("DROP INDEX CONCURRENTLY IF EXISTS idx_order_fills_source"))
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE order_fills DROP COLUMN IF EXISTS source"))


if __name__ == "__main__":
    from dotenv import load_dotenv

    load_dotenv()

    database_url = (
        f"postgresql://{os.getenv('DB_USER', 'trader')}:{os.getenv('DB_PASSWORD', 'password123')}"
        f"@{os.getenv('DB_HOST', 'localhost')}:{os.getenv('DB_PORT', '5432')}/{os.getenv('DB_NAME', 'trading_system')}"
    )
    if len(sys.argv) != 2 or sys.argv[1] not in ("--upgrade", "--downgrade"):
        print(f"Usage: python {sys.argv[0]} [--upgrade|--downgrade]")
        sys.exit(1)
    engine = create_engine(database_url)
    try:
        upgrade(engine) if sys.argv[1] == "--upgrade" else downgrade(engine)
    except Exception as e:
        print(f"❌ Error: {e}")
        sys.exit(1)
    finally:
        engine.dispose()
