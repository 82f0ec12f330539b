"""
Migration: Add error_message to open_orders
Date: 2025-10-15

Purpose:
    When an exchange rejects an order we only kept status = 'REJECTED' and lost
    the reason. Store the exchange's error text so the dashboard can show it.

Feature: order-tracking
Phase: 3 - data quality

Changes:
    - ALTER TABLE open_orders ADD COLUMN error_message TEXT

Usage:
    python migrations/20251015_add_error_message_to_open_orders.py --upgrade
    python migrations/20251015_add_error_message_to_open_orders.py --downgrade
"""

# @FEAT:order-tracking @COMP:migration @TYPE:core

import os
import sys

from sqlalchemy import create_engine, inspect, text


def upgrade(engine):
    """Apply migration"""
    print("🚀 Starting migration: add error_message to open_orders")

    columns = [column["name"] for column in inspect(engine).get_columns("open_orders")]
    if "error_message" in columns:
        print("ℹ️  Column open_orders.error_message already exists, skipping")
        return

    with engine.connect() as conn:
        trans = conn.begin()
        try:
            print("📦 Adding column open_orders.error_message...")
            conn.execute(text("ALTER TABLE open_orders ADD COLUMN IF NOT EXISTS error_message TEXT"))

            print("🔍 Verifying...")
            result = conn.execute(text("""
                SELECT column_name FROM information_schema.columns
                WHERE table_schema = current_schema() AND table_name = 'open_orders'
                  AND column_name = 'error_message'
            """))
            if result.fetchone() is None:
                raise Exception("Verification failed")

            trans.commit()
            print("✅ Migration completed: open_orders.error_message added")
        except Exception as e:
            trans.rollback()
            print(f"❌ Migration failed, rolled back: {e}")
            raise


def downgrade(engine):
    """Rollback migration"""
    print("⏪ Rolling back migration: add error_message to open_orders")

    with engine.connect() as conn:
        trans = conn.begin()
        try:
            result = conn.execute(text("""
                SELECT COUNT(*) FROM information_schema.columns
                WHERE table_schema = current_schema() AND table_name = 'open_orders'
                  AND column_name = 'error_message'
            """))
            if result.scalar() == 0:
                print("ℹ️  Column open_orders.error_message does not exist, skipping")
                return

            count = conn.execute(text(
                "SELECT COUNT(*) FROM open_orders WHERE error_message IS NOT NULL"
            )).scalar()
            if count > 0:
                print(f"⚠️  WARNING: error messages of {count} orders will be lost")

            conn.execute(text("ALTER TABLE open_orders DROP COLUMN IF EXISTS error_message"))

            trans.commit()
            print("✅ Rollback completed: open_orders.error_message dropped")
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
        print("Usage: python migrations/20251015_add_error_message_to_open_orders.py [--upgrade|--downgrade]")
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
