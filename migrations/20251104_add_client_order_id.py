"""
Migration: Add client_order_id to open_orders
Date: 2025-11-04

Purpose:
    Send our own id with every order (newClientOrderId / clOrdId) so a timed-out
    request can be looked up on the exchange instead of being sent twice.

Feature: order-tracking
Phase: 4 - reliability

Changes:
    - CREATE SEQUENCE client_order_id_seq START 1000
    - ALTER TABLE open_orders ADD COLUMN client_order_id VARCHAR(64)
    - backfill existing orders with 'CO-' || nextval(...)
    - ALTER COLUMN client_order_id SET DEFAULT 'CO-' || nextval(...), SET NOT NULL
    - CREATE UNIQUE INDEX uq_open_orders_client_order_id

Usage:
    python migrations/20251104_add_client_order_id.py --upgrade
    python migrations/20251104_add_client_order_id.py --downgrade
"""

# @FEAT:order-tracking @COMP:migration @TYPE:core

import os
import sys

from sqlalchemy import create_engine, text


def upgrade(engine):
    """Apply migration"""
    print("🚀 Starting migration: add client_order_id to open_orders")
    print(f"🔌 Database: {engine.url.render_as_string(hide_password=True)} ({engine.name})")

    with engine.connect() as conn:
        trans = conn.begin()
        try:
            print("📦 Creating sequence client_order_id_seq...")
            conn.execute(text("CREATE SEQUENCE IF NOT EXISTS client_order_id_seq START WITH 1000"))

            print("📦 Adding column open_orders.client_order_id...")
            conn.execute(text(
                "ALTER TABLE open_orders ADD COLUMN IF NOT EXISTS client_order_id VARCHAR(64)"
            ))

            result = conn.execute(text("""
                UPDATE open_orders
                SET client_order_id = 'CO-' || nextval('client_order_id_seq')::text
                WHERE client_order_id IS NULL
            """))
            print(f"📦 Backfilled client_order_id for {result.rowcount} existing orders")

            conn.execute(text("""
                ALTER TABLE open_orders
                    ALTER COLUMN client_order_id SET DEFAULT ('CO-' || nextval('client_order_id_seq')::text),
                    ALTER COLUMN client_order_id SET NOT NULL
            """))
            conn.execute(text("""
                CREATE UNIQUE INDEX IF NOT EXISTS uq_open_orders_client_order_id
                ON open_orders (client_order_id)
            """))

            print("🔍 Verifying...")
            result = conn.execute(text("""
                SELECT column_default FROM information_schema.columns
                WHERE table_schema = current_schema() AND table_name = 'open_orders'
                  AND column_name = 'client_order_id' AND column_default IS NOT NULL
            """))
            if result.fetchone() is None:
                raise Exception("Verification failed")

            trans.commit()
            print("✅ Migration completed: open_orders.client_order_id added")
        except Exception as e:
            trans.rollback()
            print(f"❌ Migration failed, rolled back: {e}")
            raise

    # Long-running app servers keep pooled connections with cached plans for open_orders.
    engine.dispose()


def downgrade(engine):
    """Rollback migration"""
    print("⏪ Rolling back migration: add client_order_id to open_orders")

    with engine.connect() as conn:
        trans = conn.begin()
        try:
            result = conn.execute(text("""
                SELECT COUNT(*) FROM information_schema.columns
                WHERE table_schema = current_schema() AND table_name = 'open_orders'
                  AND column_name = 'client_order_id'
            """))
            if result.scalar() > 0:
                count = conn.execute(text("SELECT COUNT(*) FROM open_orders")).scalar()
                if count > 0:
                    print(f"⚠️  WARNING: client_order_id of {count} orders will be lost")

            conn.execute(text("DROP INDEX IF EXISTS uq_open_orders_client_order_id"))
            conn.execute(text("ALTER TABLE IF EXISTS open_orders DROP COLUMN IF EXISTS client_order_id"))
            conn.execute(text("DROP SEQUENCE IF EXISTS client_order_id_seq"))

            trans.commit()
            print("✅ Rollback completed: client_order_id and its sequence dropped")
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
        print("Usage: python migrations/20251104_add_client_order_id.py [--upgrade|--downgrade]")
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
