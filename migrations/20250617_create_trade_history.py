"""
Migration: Create trade_history table
Date: 2025-06-17

Purpose:
    Keep every fill reported by the exchanges (one row per exchange trade),
    the source of truth for PnL and fee reports. Fills are immutable, so the
    table has no updated_at.

Feature: trade-history
Phase: 2 - fills and reporting

Changes:
    - CREATE TABLE trade_history (id, account_id -> accounts, strategy_id -> strategies,
      exchange_order_id, exchange_trade_id, symbol, side, price, quantity, fee,
      fee_currency, realized_pnl, is_maker, executed_at, created_at)
    - UNIQUE (account_id, exchange_trade_id)
    - CREATE INDEX idx_trade_history_exchange_order_id
    - CREATE INDEX idx_trade_history_strategy_executed (strategy_id, executed_at DESC)

Usage:
    python migrations/20250617_create_trade_history.py --upgrade
    python migrations/20250617_create_trade_history.py --downgrade
"""

# @FEAT:trade-history @COMP:migration @TYPE:core

import os
import sys

from sqlalchemy import create_engine, text


def upgrade(engine):
    """Apply migration"""
    print("🚀 Starting migration: create trade_history table")

    print("📦 Step 1/3: creating table trade_history...")
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            conn.execute(text("""
                CREATE TABLE IF NOT EXISTS trade_history (
                    id BIGSERIAL PRIMARY KEY,
                    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                    strategy_id INTEGER REFERENCES strategies(id) ON DELETE SET NULL,
                    exchange_order_id VARCHAR(100) NOT NULL,
                    exchange_trade_id VARCHAR(100) NOT NULL,
                    symbol VARCHAR(30) NOT NULL,
                    side VARCHAR(4) NOT NULL CHECK (side IN ('BUY', 'SELL')),
                    price NUMERIC(20, 8) NOT NULL,
                    quantity NUMERIC(20, 8) NOT NULL,
                    fee NUMERIC(20, 8) NOT NULL DEFAULT 0,
                    fee_currency VARCHAR(10),
                    realized_pnl NUMERIC(20, 8),
                    is_maker BOOLEAN NOT NULL DEFAULT FALSE,
                    executed_at TIMESTAMP NOT NULL,
                    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
                    CONSTRAINT uq_trade_history_account_trade UNIQUE (account_id, exchange_trade_id)
                )
            """))
            trans.commit()
        except Exception as e:
            trans.rollback()
            print(f"❌ Step 1 failed, rolled back: {e}")
            raise

    print("📦 Step 2/3: creating indexes...")
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            # A new connection only sees the table if step 1 really committed.
            exists = conn.execute(text("SELECT to_regclass('trade_history')")).scalar()
            if exists is None:
                raise Exception("trade_history is missing after step 1")

            conn.execute(text("""
                CREATE INDEX IF NOT EXISTS idx_trade_history_exchange_order_id
                ON trade_history (exchange_order_id)
            """))
            conn.execute(text("""
                CREATE INDEX IF NOT EXISTS idx_trade_history_strategy_executed
                ON trade_history (strategy_id, executed_at DESC)
            """))
            trans.commit()
        except Exception as e:
            trans.rollback()
            print(f"❌ Step 2 failed, rolled back: {e}")
            raise

    print("🔍 Step 3/3: verifying...")
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            result = conn.execute(text("""
                SELECT COUNT(*) FROM pg_indexes
                WHERE schemaname = current_schema() AND tablename = 'trade_history'
                  AND indexname IN ('idx_trade_history_exchange_order_id',
                                    'idx_trade_history_strategy_executed')
                HAVING COUNT(*) = 2
            """))
            if result.fetchone() is None:
                raise Exception("Verification failed")

            trans.commit()
            print("✅ Migration completed: trade_history table created")
        except Exception as e:
            trans.rollback()
            print(f"❌ Migration failed, rolled back: {e}")
            raise


def downgrade(engine):
    """Rollback migration"""
    print("⏪ Rolling back migration: create trade_history table")

    with engine.connect() as conn:
        trans = conn.begin()
        try:
            exists = conn.execute(text("SELECT to_regclass('trade_history')")).scalar()
            if exists is not None:
                count = conn.execute(text("SELECT COUNT(*) FROM trade_history")).scalar()
                if count > 0:
                    print(f"⚠️  WARNING: {count} fills will be permanently deleted")

            conn.execute(text("DROP TABLE IF EXISTS trade_history"))

            trans.commit()
            print("✅ Rollback completed: trade_history table dropped")
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
        print("Usage: python migrations/20250617_create_trade_history.py [--upgrade|--downgrade]")
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
