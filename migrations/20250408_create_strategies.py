"""
Migration: Create strategies table
Date: 2025-04-08

Purpose:
    A strategy is the unit a webhook signal is routed to: it belongs to one
    account, trades one market type and carries its own JSON configuration.

Feature: strategy-management
Phase: 1 - core schema

Changes:
    - CREATE TYPE strategy_market_type AS ENUM ('SPOT', 'FUTURES')
    - CREATE TABLE strategies (id, account_id -> accounts, group_name, name,
      market_type, leverage, config, is_active, created_at, updated_at)
    - UNIQUE (group_name)

Usage:
    python migrations/20250408_create_strategies.py --upgrade
    python migrations/20250408_create_strategies.py --downgrade
"""

# @FEAT:strategy-management @COMP:migration @TYPE:core

import os
import sys

from sqlalchemy import create_engine, text


def upgrade(engine):
    """Apply migration"""
    print("🚀 Starting migration: create strategies table")

    # engine.begin() commits on success and rolls back on any exception.
    with engine.begin() as conn:
        print("📦 Creating enum type strategy_market_type...")
        conn.execute(text("""
            DO $$
            BEGIN
                IF NOT EXISTS (
                    SELECT 1 FROM pg_type
                    WHERE typname = 'strategy_market_type'
                      AND typnamespace = current_schema()::regnamespace
                ) THEN
                    CREATE TYPE strategy_market_type AS ENUM ('SPOT', 'FUTURES');
                END IF;
            END
            $$
        """))

        print("📦 Creating table strategies...")
        conn.execute(text("""
            CREATE TABLE IF NOT EXISTS strategies (
                id SERIAL PRIMARY KEY,
                account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                group_name VARCHAR(100) NOT NULL,
                name VARCHAR(100) NOT NULL,
                market_type strategy_market_type NOT NULL DEFAULT 'SPOT',
                leverage NUMERIC(5, 2) NOT NULL DEFAULT 1,
                config JSONB NOT NULL DEFAULT '{}'::jsonb,
                is_active BOOLEAN NOT NULL DEFAULT TRUE,
                created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
                updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
                CONSTRAINT uq_strategies_group_name UNIQUE (group_name)
            )
        """))
        conn.execute(text(
            "CREATE INDEX IF NOT EXISTS idx_strategies_account_id ON strategies (account_id)"
        ))

    # A second connection: sees the table only because the block above committed.
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            print("🔍 Verifying...")
            result = conn.execute(text("""
                SELECT c.column_name
                FROM information_schema.columns c
                WHERE c.table_schema = current_schema() AND c.table_name = 'strategies'
                  AND c.column_name = 'market_type' AND c.udt_name = 'strategy_market_type'
            """))
            if result.fetchone() is None:
                raise Exception("Verification failed")

            trans.commit()
            print("✅ Migration completed: strategies table created")
        except Exception as e:
            trans.rollback()
            print(f"❌ Migration failed, rolled back: {e}")
            raise


def downgrade(engine):
    """Rollback migration"""
    print("⏪ Rolling back migration: create strategies table")

    with engine.connect() as conn:
        trans = conn.begin()
        try:
            exists = conn.execute(text("SELECT to_regclass('strategies')")).scalar()
            if exists is not None:
                count = conn.execute(text("SELECT COUNT(*) FROM strategies")).scalar()
                if count > 0:
                    print(f"⚠️  WARNING: {count} strategies will be permanently deleted")

            conn.execute(text("DROP TABLE IF EXISTS strategies"))
            conn.execute(text("DROP TYPE IF EXISTS strategy_market_type"))

            trans.commit()
            print("✅ Rollback completed: strategies table and strategy_market_type dropped")
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
        print("Usage: python migrations/20250408_create_strategies.py [--upgrade|--downgrade]")
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
