"""
Migration: Add indexes for the order manager and the dashboard
Date: 2025-10-22

Purpose:
    The reconciler scans open_orders by status every few seconds and the
    dashboard filters fills by symbol and time; both do sequential scans today.

Feature: query-performance
Phase: 4 - performance

Changes:
    - (optional) trigram index idx_open_orders_symbol_trgm for symbol search;
      skipped with a warning where the extension is not available
    - CREATE INDEX idx_open_orders_status ON open_orders (status)
    - CREATE INDEX idx_open_orders_strategy_symbol ON open_orders (strategy_id, symbol)
    - CREATE INDEX idx_open_orders_with_error ON open_orders (updated_at)
      WHERE error_message IS NOT NULL
    - CREATE INDEX idx_trade_history_symbol_executed ON trade_history (symbol, executed_at DESC)
    - CREATE INDEX idx_strategies_active ON strategies (account_id) WHERE is_active

Usage:
    python migrations/20251022_add_trading_indexes.py --upgrade
    python migrations/20251022_add_trading_indexes.py --downgrade
"""

# @FEAT:query-performance @COMP:migration @TYPE:core

import os
import sys

from sqlalchemy import create_engine, text

INDEXES = {
    "idx_open_orders_status": "open_orders (status)",
    "idx_open_orders_strategy_symbol": "open_orders (strategy_id, symbol)",
    "idx_open_orders_with_error": "open_orders (updated_at) WHERE error_message IS NOT NULL",
    "idx_trade_history_symbol_executed": "trade_history (symbol, executed_at DESC)",
    "idx_strategies_active": "strategies (account_id) WHERE is_active",
}


def upgrade(engine):
    """Apply migration"""
    print("🚀 Starting migration: add trading indexes")

    with engine.connect() as conn:
        # Optional step. The extension name is deliberately one that no server
        # ships, so this rollback-and-continue path runs on every server; it
        # stands in for pg_trgm, which some managed servers do not offer.
        trans = conn.begin()
        try:
            print("📦 (optional) Creating trigram index for symbol search...")
            conn.execute(text('CREATE EXTENSION IF NOT EXISTS "no_such_extension_xyz"'))
            conn.execute(text("""
                CREATE INDEX IF NOT EXISTS idx_open_orders_symbol_trgm
                ON open_orders USING gin (symbol gin_trgm_ops)
            """))
            trans.commit()
            print("✅ Trigram index created")
        except Exception as e:
            trans.rollback()
            reason = str(getattr(e, "orig", e)).strip().splitlines()[0]
            print(f"⚠️  Trigram index skipped ({reason}), continuing without it")

        trans = conn.begin()
        try:
            for name, definition in INDEXES.items():
                print(f"📦 Creating index {name}...")
                conn.exec_driver_sql(f"CREATE INDEX IF NOT EXISTS {name} ON {definition}")

            print("🔍 Verifying...")
            result = conn.execute(text("""
                SELECT COUNT(*) FROM pg_indexes
                WHERE schemaname = current_schema()
                  AND indexname IN ('idx_open_orders_status', 'idx_open_orders_strategy_symbol',
                                    'idx_open_orders_with_error', 'idx_trade_history_symbol_executed',
                                    'idx_strategies_active')
                HAVING COUNT(*) = 5
            """))
            if result.fetchone() is None:
                raise Exception("Verification failed")

            trans.commit()
            print(f"✅ Migration completed: {len(INDEXES)} indexes created")
        except Exception as e:
            trans.rollback()
            print(f"❌ Migration failed, rolled back: {e}")
            raise


def downgrade(engine):
    """Rollback migration"""
    print("⏪ Rolling back migration: add trading indexes")

    with engine.connect() as conn:
        trans = conn.begin()
        try:
            conn.execute(text("DROP INDEX IF EXISTS idx_open_orders_symbol_trgm"))
            for name in INDEXES:
                conn.execute(text(f"DROP INDEX IF EXISTS {name}"))

            trans.commit()
            print("✅ Rollback completed: trading indexes dropped")
            print("⚠️  Expect slower reconciler and dashboard queries")
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
        print("Usage: python migrations/20251022_add_trading_indexes.py [--upgrade|--downgrade]")
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
