"""
Migration: Backfill error_message for old rejected orders
Date: 2025-10-15

Purpose:
    Orders rejected before open_orders.error_message existed have no reason
    stored, and the dashboard shows an empty cell. Give them a placeholder so
    "reason unknown" is explicit. Runs after 20251015_add_error_message_to_open_orders
    (same date, later file name).

Feature: order-tracking
Phase: 3 - data quality

Changes:
    - UPDATE open_orders SET error_message = <placeholder>
      WHERE status IN ('REJECTED', 'FAILED') AND error_message IS NULL
      (in batches of 500, each committed)

Usage:
    python migrations/20251015_backfill_order_error_messages.py --upgrade
    python migrations/20251015_backfill_order_error_messages.py --downgrade
"""

# @FEAT:order-tracking @COMP:migration @TYPE:core

import os
import sys

from sqlalchemy import create_engine, text

PLACEHOLDER = "Unknown: rejected before error tracking was added (backfilled 2025-10-15)"
BATCH_SIZE = 500


def upgrade(engine):
    """Apply migration"""
    print("🚀 Starting migration: backfill error_message for rejected orders")

    with engine.connect() as conn:
        trans = conn.begin()
        try:
            result = conn.execute(text("""
                SELECT COUNT(*) FROM information_schema.columns
                WHERE table_schema = current_schema() AND table_name = 'open_orders'
                  AND column_name = 'error_message'
            """))
            if result.scalar() == 0:
                raise Exception("open_orders.error_message is missing: run 20251015_add_error_message_to_open_orders first")
            trans.commit()
        except Exception as e:
            trans.rollback()
            print(f"❌ Migration failed: {e}")
            raise

    # Batches, each committed on its own, so a big table is never locked for long.
    total = 0
    with engine.connect() as conn:
        try:
            while True:
                result = conn.execute(
                    text("""
                        UPDATE open_orders SET error_message = :placeholder
                        WHERE id IN (
                            SELECT id FROM open_orders
                            WHERE status IN ('REJECTED', 'FAILED') AND error_message IS NULL
                            ORDER BY id
                            LIMIT :batch_size
                        )
                    """),
                    {"placeholder": PLACEHOLDER, "batch_size": BATCH_SIZE},
                )
                conn.commit()
                if result.rowcount == 0:
                    break
                total += result.rowcount
                print(f"📦 Backfilled {total} orders so far...")
        except Exception as e:
            conn.rollback()
            print(f"❌ Backfill failed after {total} orders: {e}")
            raise

    with engine.connect() as conn:
        trans = conn.begin()
        try:
            print("🔍 Verifying...")
            result = conn.execute(text("""
                SELECT 1 WHERE NOT EXISTS (
                    SELECT 1 FROM open_orders
                    WHERE status IN ('REJECTED', 'FAILED') AND error_message IS NULL
                )
            """))
            if result.fetchone() is None:
                raise Exception("Verification failed")

            trans.commit()
            print(f"✅ Migration completed: {total} orders backfilled")
        except Exception as e:
            trans.rollback()
            print(f"❌ Migration failed, rolled back: {e}")
            raise


def downgrade(engine):
    """Rollback migration"""
    print("⏪ Rolling back migration: backfill error_message for rejected orders")

    with engine.connect() as conn:
        trans = conn.begin()
        try:
            result = conn.execute(text("""
                SELECT COUNT(*) FROM information_schema.columns
                WHERE table_schema = current_schema() AND table_name = 'open_orders'
                  AND column_name = 'error_message'
            """))
            if result.scalar() == 0:
                print("ℹ️  Column open_orders.error_message does not exist, nothing to undo")
                return

            count = conn.execute(
                text("SELECT COUNT(*) FROM open_orders WHERE error_message = :placeholder"),
                {"placeholder": PLACEHOLDER},
            ).scalar()
            if count > 0:
                print(f"⚠️  WARNING: clearing the placeholder error_message of {count} orders")

            conn.execute(
                text("UPDATE open_orders SET error_message = NULL WHERE error_message = :placeholder"),
                {"placeholder": PLACEHOLDER},
            )

            trans.commit()
            print("✅ Rollback completed: placeholder error messages cleared")
        except Exception as e:
            trans.rollback()
            print(f"❌ Rollback failed: {e}")
            raise


if __name__ == "__main__":
    from dotenv import load_dotenv

    load_dotenv()

    db_user = os.getenv("DB_USER", "trader")
    db_password = os.getenv("DB_PASSWORD", "password123")
    db_host = os.getenv("DB_HOST", "localhost")
    db_port = os.getenv("DB_PORT", "5432")
    db_name = os.getenv("DB_NAME", "trading_system")
    database_url = f"postgresql://{db_user}:{db_password}@{db_host}:{db_port}/{db_name}"

    if len(sys.argv) != 2 or sys.argv[1] not in ("--upgrade", "--downgrade"):
        print("Usage: python migrations/20251015_backfill_order_error_messages.py [--upgrade|--downgrade]")
        sys.exit(1)

    try:
        engine = create_engine(database_url)
        if sys.argv[1] == "--upgrade":
            upgrade(engine)
        else:
            downgrade(engine)
        engine.dispose()
    except Exception as e:
        print(f"❌ Error: {e}")
        sys.exit(1)
