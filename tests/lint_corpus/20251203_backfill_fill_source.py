"""
Migration: Backfill order_fills.source in batches
Date: 2025-12-03

Purpose:
    Fills recorded before 2025-12-02 came from the REST feed.

Changes:
    - UPDATE order_fills SET source = 'rest' (10,000 rows per transaction)
"""

# @FEAT:order-tracking @COMP:migration @TYPE:data

import os
import sys

from sqlalchemy import create_engine, text

BATCH = 10_000


def upgrade(engine):
    """Apply migration"""
    print("🚀 Starting migration: backfill order_fills.source")
    total = 0
    while True:
        with engine.begin() as conn:
            updated = conn.execute(
                text("""
                    UPDATE order_fills SET source = :source
                    WHERE id IN (SELECT id FROM order_fills WHERE source IS NULL LIMIT :batch)
                """),
                {"source": "rest", "batch": BATCH},
            ).rowcount
        total += updated
        if updated < BATCH:
            break
    print(f"✅ Migration completed: {total} rows")


def downgrade(engine):
    """Rollback migration"""
    print("ℹ️  Nothing to undo: the column keeps its values until 20251202 is rolled back")


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
