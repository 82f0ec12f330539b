"""
Migration: Add updated_at triggers
Date: 2025-09-03

Purpose:
    The application forgot to bump updated_at on some code paths (bulk status
    updates from the order reconciler). Let the database keep it correct.

Feature: audit-timestamps
Phase: 3 - data quality

Changes:
    - CREATE FUNCTION set_updated_at() (PL/pgSQL, only bumps when the row changed)
    - CREATE TRIGGER trg_<table>_updated_at BEFORE UPDATE on accounts, strategies,
      open_orders, exchange_credentials

Usage:
    python migrations/20250903_add_updated_at_triggers.py --upgrade
    python migrations/20250903_add_updated_at_triggers.py --downgrade
"""

# @FEAT:audit-timestamps @COMP:migration @TYPE:core

import os
import sys

from sqlalchemy import create_engine, text

TABLES = ["accounts", "strategies", "open_orders", "exchange_credentials"]


def upgrade(engine):
    """Apply migration"""
    print("🚀 Starting migration: add updated_at triggers")

    with engine.connect() as conn:
        trans = conn.begin()
        try:
            print("📦 Creating function set_updated_at()...")
            conn.execute(text("""
                CREATE OR REPLACE FUNCTION set_updated_at()
                RETURNS TRIGGER AS $$
                BEGIN
                    IF ROW(NEW.*) IS DISTINCT FROM ROW(OLD.*) THEN
                        NEW.updated_at := clock_timestamp()::timestamp;
                    END IF;
                    RETURN NEW;
                END;
                $$ LANGUAGE plpgsql
            """))

            for table in TABLES:
                print(f"📦 Creating trigger trg_{table}_updated_at...")
                conn.execute(text(f"DROP TRIGGER IF EXISTS trg_{table}_updated_at ON {table}"))
                conn.execute(text(f"""
                    CREATE TRIGGER trg_{table}_updated_at
                    BEFORE UPDATE ON {table}
                    FOR EACH ROW EXECUTE FUNCTION set_updated_at()
                """))

            print("🔍 Verifying...")
            result = conn.execute(text("""
                SELECT COUNT(*) FROM pg_trigger t
                JOIN pg_proc p ON p.oid = t.tgfoid
                WHERE NOT t.tgisinternal AND p.proname = 'set_updated_at'
                  AND p.pronamespace = current_schema()::regnamespace
                HAVING COUNT(*) = 4
            """))
            if result.fetchone() is None:
                raise Exception("Verification failed")

            trans.commit()
            print(f"✅ Migration completed: updated_at triggers on {len(TABLES)} tables")
        except Exception as e:
            trans.rollback()
            print(f"❌ Migration failed, rolled back: {e}")
            raise


def downgrade(engine):
    """Rollback migration"""
    print("⏪ Rolling back migration: add updated_at triggers")

    with engine.connect() as conn:
        trans = conn.begin()
        try:
            for table in TABLES:
                conn.execute(text(f"DROP TRIGGER IF EXISTS trg_{table}_updated_at ON {table}"))
            conn.execute(text("DROP FUNCTION IF EXISTS set_updated_at()"))

            trans.commit()
            print("✅ Rollback completed: updated_at triggers dropped")
            print("⚠️  updated_at is no longer maintained by the database")
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
        print("Usage: python migrations/20250903_add_updated_at_triggers.py [--upgrade|--downgrade]")
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
