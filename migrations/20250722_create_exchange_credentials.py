"""
Migration: Create exchange credentials tables
Date: 2025-07-22

Purpose:
    Move exchange API keys out of the .env file into the database, one set per
    account, exchange and environment (live / testnet). Secrets are stored
    encrypted by the application; the database only sees bytes.

Feature: exchange-integration
Phase: 2 - multi-exchange support

Changes:
    - CREATE TABLE supported_exchanges (code, display_name, supports_futures)
    - INSERT the exchanges supported today (BINANCE, BYBIT, OKX, UPBIT)
    - CREATE TABLE exchange_credentials (id, account_id -> accounts,
      exchange -> supported_exchanges, api_key, api_secret_encrypted,
      passphrase_encrypted, is_testnet, last_verified_at, created_at, updated_at)
    - UNIQUE (account_id, exchange, is_testnet)

Usage:
    python migrations/20250722_create_exchange_credentials.py --upgrade
    python migrations/20250722_create_exchange_credentials.py --downgrade
"""

# @FEAT:exchange-integration @COMP:migration @TYPE:core

import os
import sys

from sqlalchemy import create_engine, text

SUPPORTED_EXCHANGES = [
    {"code": "BINANCE", "display_name": "Binance", "supports_futures": True},
    {"code": "BYBIT", "display_name": "Bybit", "supports_futures": True},
    {"code": "OKX", "display_name": "OKX", "supports_futures": True},
    {"code": "UPBIT", "display_name": "Upbit", "supports_futures": False},
]


def upgrade(engine):
    """Apply migration"""
    print("🚀 Starting migration: create exchange credentials tables")

    if engine.dialect.name != "postgresql":
        raise Exception(f"This migration needs PostgreSQL, not {engine.dialect.name}")

    with engine.connect() as conn:
        trans = conn.begin()
        try:
            result = conn.execute(
                text("""
                    SELECT COUNT(*) FROM information_schema.tables
                    WHERE table_schema = current_schema() AND table_name = :table_name
                """),
                {"table_name": "exchange_credentials"},
            )
            if result.scalar() > 0:
                print("ℹ️  Table exchange_credentials already exists, skipping")
                return

            print("📦 Creating table supported_exchanges...")
            conn.execute(text("""
                CREATE TABLE IF NOT EXISTS supported_exchanges (
                    code VARCHAR(20) PRIMARY KEY,
                    display_name VARCHAR(50) NOT NULL,
                    supports_futures BOOLEAN NOT NULL DEFAULT FALSE
                )
            """))

            print(f"📦 Seeding {len(SUPPORTED_EXCHANGES)} supported exchanges...")
            conn.execute(
                text("""
                    INSERT INTO supported_exchanges (code, display_name, supports_futures)
                    VALUES (:code, :display_name, :supports_futures)
                    ON CONFLICT (code) DO NOTHING
                """),
                SUPPORTED_EXCHANGES,
            )

            print("📦 Creating table exchange_credentials...")
            conn.execute(text("""
                CREATE TABLE IF NOT EXISTS exchange_credentials (
                    id SERIAL PRIMARY KEY,
                    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                    exchange VARCHAR(20) NOT NULL REFERENCES supported_exchanges(code),
                    api_key VARCHAR(255) NOT NULL,
                    api_secret_encrypted BYTEA NOT NULL,
                    passphrase_encrypted BYTEA,
                    is_testnet BOOLEAN NOT NULL DEFAULT FALSE,
                    last_verified_at TIMESTAMP,
                    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
                    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
                    CONSTRAINT uq_exchange_credentials_account_exchange
                        UNIQUE (account_id, exchange, is_testnet)
                )
            """))

            print("🔍 Verifying...")
            result = conn.execute(
                text("SELECT code FROM supported_exchanges WHERE code = :code"),
                {"code": "BINANCE"},
            )
            if result.fetchone() is None:
                raise Exception("Verification failed")

            trans.commit()
            print("✅ Migration completed: exchange credentials tables created")
        except Exception as e:
            trans.rollback()
            print(f"❌ Migration failed, rolled back: {e}")
            raise


def downgrade(engine):
    """Rollback migration"""
    print("⏪ Rolling back migration: create exchange credentials tables")

    with engine.connect() as conn:
        trans = conn.begin()
        try:
            exists = conn.execute(
                text("SELECT to_regclass(:name)"), {"name": "exchange_credentials"}
            ).scalar()
            if exists is not None:
                count = conn.execute(text("SELECT COUNT(*) FROM exchange_credentials")).scalar()
                if count > 0:
                    print(f"⚠️  WARNING: {count} stored API credentials will be permanently deleted")

            conn.execute(text("DROP TABLE IF EXISTS exchange_credentials"))
            conn.execute(text("DROP TABLE IF EXISTS supported_exchanges"))

            trans.commit()
            print("✅ Rollback completed: exchange credentials tables dropped")
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
        print("Usage: python migrations/20250722_create_exchange_credentials.py [--upgrade|--downgrade]")
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
