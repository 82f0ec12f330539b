"""
Migration: Create open_orders table
Date: 2025-05-20

Purpose:
    Track every order the system has sent to an exchange until it is filled,
    cancelled or rejected, so the order manager can reconcile with the exchange.

Feature: order-tracking
Phase: 1 - core schema

Changes:
    - CREATE TABLE open_orders (id, strategy_id -> strategies, account_id -> accounts,
      exchange_order_id, symbol, side, order_type, price, stop_price, quantity,
      filled_quantity, status, created_at, updated_at)
    - CHECK side / status / quantity
    - CREATE UNIQUE INDEX uq_open_orders_account_exchange_order_id
      (partial: exchange_order_id IS NOT NULL)

Usage:
    python migrations/20250520_create_open_orders.py --upgrade
    python migrations/20250520_create_open_orders.py --downgrade
"""

# @FEAT:order-tracking @COMP:migration @TYPE:core

import os
import sys

from sqlalchemy import create_engine, text


def upgrade(engine):
    """Apply migration"""
    print("🚀 Starting migration: create open_orders table")

    with engine.connect() as conn:
        trans = conn.begin()
        try:
            # The DDL was pasted from psql, so it goes to the driver as is.
            print("📦 Creating table open_orders...")
            conn.exec_driver_sql("""
                CREATE TABLE IF NOT EXISTS open_orders (
                    id BIGSERIAL PRIMARY KEY,
                    strategy_id INTEGER NOT NULL REFERENCES strategies(id) ON DELETE CASCADE,
                    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                    exchange_order_id VARCHAR(100),
                    symbol VARCHAR(30) NOT NULL,
                    side VARCHAR(4) NOT NULL,
                    order_type VARCHAR(20) NOT NULL DEFAULT 'LIMIT',
                    price NUMERIC(20, 8),
                    stop_price NUMERIC(20, 8),
                    quantity NUMERIC(20, 8) NOT NULL,
                    filled_quantity NUMERIC(20, 8) NOT NULL DEFAULT 0,
                    status VARCHAR(20) NOT NULL DEFAULT 'NEW',
                    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
                    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
                    CONSTRAINT ck_open_orders_side CHECK (side IN ('BUY', 'SELL')),
                    CONSTRAINT ck_open_orders_status CHECK (status IN (
                        'NEW', 'OPEN', 'PARTIALLY_FILLED', 'FILLED',
                        'CANCELLED', 'REJECTED', 'FAILED'
                    )),
                    CONSTRAINT ck_open_orders_quantity_positive CHECK (quantity > 0)
                )
            """)

            print("📦 Creating unique index on (account_id, exchange_order_id)...")
            conn.exec_driver_sql("""
                CREATE UNIQUE INDEX IF NOT EXISTS uq_open_orders_account_exchange_order_id
                ON open_orders (account_id, exchange_order_id)
                WHERE exchange_order_id IS NOT NULL
            """)

            print("🔍 Verifying...")
            result = conn.execute(text("""
                SELECT indexname FROM pg_indexes
                WHERE schemaname = current_schema() AND tablename = 'open_orders'
                  AND indexname = 'uq_open_orders_account_exchange_order_id'
            """))
            if result.fetchone() is None:
                raise Exception("Verification failed")

            trans.commit()
            print("✅ Migration completed: open_orders table created")
        except Exception as e:
            trans.rollback()
            print(f"❌ Migration failed, rolled back: {e}")
            raise


def downgrade(engine):
    """Rollback migration"""
    print("⏪ Rolling back migration: create open_orders table")

    with engine.connect() as conn:
        trans = conn.begin()
        try:
            exists = conn.execute(text("SELECT to_regclass('open_orders')")).scalar()
            if exists is not None:
                count = conn.execute(text("""
                    SELECT COUNT(*) FROM open_orders
                    WHERE status IN ('NEW', 'OPEN', 'PARTIALLY_FILLED')
                """)).scalar()
                if count > 0:
                    print(f"⚠️  WARNING: {count} live orders will no longer be tracked")

            conn.exec_driver_sql("DROP TABLE IF EXISTS open_orders")

            trans.commit()
            print("✅ Rollback completed: open_orders table dropped")
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
        print("Usage: python migrations/20250520_create_open_orders.py [--upgrade|--downgrade]")
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
