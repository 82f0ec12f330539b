"""
Migration: Create order_events table
Date: 2025-11-18

Purpose:
    Keep every state change of an order (new, filled, cancelled, rejected) for
    the audit trail, and register the KRAKEN exchange.

Feature: order-audit
Phase: 5 - usability

Changes:
    - CREATE TABLE IF NOT EXISTS order_events (FK to open_orders)
    - CREATE INDEX IF NOT EXISTS idx_order_events_order_id
    - INSERT KRAKEN into supported_exchanges (ON CONFLICT DO NOTHING)

Usage:
    python migrations/20251118_create_order_events.py --upgrade
    python migrations/20251118_create_order_events.py --downgrade
"""

# @FEAT:order-audit @COMP:migration @TYPE:core

import os
import sys

from sqlalchemy import create_engine, text


def upgrade(engine):
    """Apply migration"""
    print("🚀 Starting migration: create order_events")
    with engine.begin() as conn:
        print("📦 Creating table order_events...")
        conn.execute(text("""
            CREATE TABLE IF NOT EXISTS order_events (
                id BIGSERIAL PRIMARY KEY,
                order_id INTEGER NOT NULL REFERENCES open_orders(id) ON DELETE CASCADE,
                event_type VARCHAR(20) NOT NULL,
                payload JSONB NOT NULL DEFAULT '{}'::jsonb,
                created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
            )
        """))
        conn.execute(text(
            "CREATE INDEX IF NOT EXISTS idx_order_events_order_id ON order_events (order_id)"
        ))
        print("📦 Registering exchange KRAKEN...")
        conn.execute(
            text(
                "INSERT INTO supported_exchanges (code, display_name) "
                "VALUES (:code, :name) ON CONFLICT (code) DO NOTHING"
            ),
            {"code": "KRAKEN", "name": "Kraken"},
        )
    print("✅ Migration completed: order_events created")


def downgrade(engine):
    """Rollback migration"""
    print("⏪ Rolling back migration: create order_events")
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS order_events"))
        # Guarded in SQL (not by a query in Python) so the rollback renders with --sql too.
        conn.execute(text("""
            DO $$
            BEGIN
                IF to_regclass('supported_exchanges') IS NOT NULL THEN
                    DELETE FROM supported_exchanges WHERE code = 'KRAKEN';
                END IF;
            END
            $$
        """))
    print("✅ Rollback completed: order_events dropped")


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
        print("Usage: python migrations/20251118_create_order_events.py [--upgrade|--downgrade]")
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
