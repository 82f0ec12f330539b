"""
Migration: Add notes to open_orders
Date: 2025-11-12

Purpose:
    Let traders annotate an order from the dashboard.

Feature: dashboard
Phase: 5 - usability

Changes:
    - ALTER TABLE open_orders ADD COLUMN IF NOT EXISTS notes TEXT
    - COMMENT ON COLUMN open_orders.notes

Usage:
    python migrations/20251112_add_order_notes.py --upgrade
    python migrations/20251112_add_order_notes.py --downgrade
"""

# @FEAT:dashboard @COMP:migration @TYPE:core

import os
import sys

from sqlalchemy import create_engine, text


def upgrade(engine):
    """Apply migration"""
    print("🚀 Starting migration: add notes to open_orders")
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            print("📦 Adding column open_orders.notes...")
            conn.execute(text("ALTER TABLE open_orders ADD COLUMN IF NOT EXISTS notes TEXT"))
            conn.execute(text("COMMENT ON COLUMN open_orders.notes IS 'Free text from the dashboard'"))
            trans.commit()
            print("✅ Migration completed: open_orders.notes added")
        except Exception as e:
            trans.rollback()
            print(f"❌ Migration failed: {e}")
            raise


def downgrade(engine):
    """Rollback migration"""
    print("⏪ Rolling back migration: add notes to open_orders")
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            conn.execute(text("ALTER TABLE IF EXISTS open_orders DROP COLUMN IF EXISTS notes"))
            trans.commit()
            print("✅ Rollback completed: open_orders.notes dropped")
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
        print("Usage: python migrations/20251112_add_order_notes.py [--upgrade|--downgrade]")
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
