"""
Migration: Create accounts table
Date: 2025-03-12

Purpose:
    Store the exchange accounts the trading system places orders through.
    Every strategy, order, fill and API credential hangs off an account.

Feature: account-management
Phase: 1 - core schema

Changes:
    - CREATE TABLE accounts (id, name, exchange, account_type, base_currency,
      is_active, created_at, updated_at)
    - UNIQUE (exchange, name)
    - CHECK account_type IN ('SPOT', 'FUTURES', 'MARGIN')

Usage:
    python migrations/20250312_create_accounts.py --upgrade
    python migrations/20250312_create_accounts.py --downgrade
"""

# @FEAT:account-management @COMP:migration @TYPE:core

import os
import sys

from sqlalchemy import create_engine, text


def upgrade(engine):
    """Apply migration"""
    print("🚀 Starting migration: create accounts table")

    with engine.connect() as conn:
        trans = conn.begin()
        try:
            result = conn.execute(text("""
                SELECT COUNT(*) FROM information_schema.tables
                WHERE table_schema = current_schema() AND table_name = 'accounts'
            """))
            if result.scalar() > 0:
                print("ℹ️  Table accounts already exists, skipping")
                return

            print("📦 Creating table accounts...")
            conn.execute(text("""
                CREATE TABLE IF NOT EXISTS accounts (
                    id SERIAL PRIMARY KEY,
                    name VARCHAR(100) NOT NULL,
                    exchange VARCHAR(20) NOT NULL,
                    account_type VARCHAR(20) NOT NULL DEFAULT 'SPOT',
                    base_currency VARCHAR(10) NOT NULL DEFAULT 'USDT',
                    is_active BOOLEAN NOT NULL DEFAULT TRUE,
                    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
                    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
                    CONSTRAINT uq_accounts_exchange_name UNIQUE (exchange, name),
                    CONSTRAINT ck_accounts_account_type
                        CHECK (account_type IN ('SPOT', 'FUTURES', 'MARGIN'))
                )
            """))

            print("🔍 Verifying...")
            result = conn.execute(text("""
                SELECT column_name FROM information_schema.columns
                WHERE table_schema = current_schema() AND table_name = 'accounts'
                  AND column_name = 'updated_at'
            """))
            if result.fetchone() is None:
                raise Exception("Verification failed")

            trans.commit()
            print("✅ Migration completed: accounts table created")
        except Exception as e:
            trans.rollback()
            print(f"❌ Migration failed, rolled back: {e}")
            raise


def downgrade(engine):
    """Rollback migration"""
    print("⏪ Rolling back migration: create accounts table")

    with engine.connect() as conn:
        trans = conn.begin()
        try:
            exists = conn.execute(text("SELECT to_regclass('accounts')")).scalar()
            if exists is not None:
                count = conn.execute(text("SELECT COUNT(*) FROM accounts")).scalar()
                if count > 0:
                    print(f"⚠️  WARNING: {count} accounts will be permanently deleted")

            conn.execute(text("DROP TABLE IF EXISTS accounts"))

            trans.commit()
            print("✅ Rollback completed: accounts table dropped")
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
        print("Usage: python migrations/20250312_create_accounts.py [--upgrade|--downgrade]")
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
