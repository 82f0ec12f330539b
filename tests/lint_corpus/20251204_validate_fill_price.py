"""
Migration: Check that fill prices are positive
Date: 2025-12-04

Changes:
    - ADD CONSTRAINT ck_order_fills_price_positive ... NOT VALID, committed; then VALIDATE
      on an AUTOCOMMIT connection (no long lock)
"""

# @FEAT:order-tracking @COMP:migration @TYPE:core

import os
import sys

from sqlalchemy import create_engine, text

migration_lock_timeout = "5s"


def upgrade(engine):
    """Apply migration"""
    print("🚀 Starting migration: validate order_fills.price")

    with engine.connect() as conn:
        trans = conn.begin()
        try:
            found = conn.execute(text(
                "SELECT 1 FROM pg_constraint WHERE conname = 'ck_order_fills_price_positive'"
            )).scalar()
            if not found:
                conn.execute(text("""
                    ALTER TABLE order_fills ADD CONSTRAINT ck_order_fills_price_positive
                    CHECK (price > 0) NOT VALID
                """))
            trans.commit()
        except Exception as e:
            trans.rollback()
            print(f"❌ Migration failed, rolled back: {e}")
            raise
    # A VALIDATE in the ADD's transaction would scan under the ADD's ACCESS EXCLUSIVE lock.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ALTER TABLE order_fills VALIDATE CONSTRAINT ck_order_fills_price_positive"))
    print("✅ Migration completed")


def downgrade(engine):
    """Rollback migration"""
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE order_fills DROP CONSTRAINT IF EXISTS ck_order_fills_price_positive"))


if __name__ == "__main__":
    from dotenv import load_dotenv

    load_dotenv()

    database_url = (
        f"postgresql://{os.getenv('DB_USER', 'trader')}:{os.getenv('DB_PASSWORD', 'password123')}"
        f"@{os.getenv('DB_HOST', 'localhost')}:{os.getenv('DB_PORT', '5432')}/{os.getenv('DB_NAME', 'trading_system')}"
    )
    if len(sys.argv) != 2 or sys.argv[1] not in ("--upgrade", "--downgrade"):
        print(f"Usage: python {sys.argv[0]} [--upgrade|--downgrade]")
        sys.exit(1)
    engine = create_engine(database_url)
    try:
        upgrade(engine) if sys.argv[1] == "--upgrade" else downgrade(engine)
    except Exception as e:
        print(f"❌ Error: {e}")
        sys.exit(1)
    finally:
        engine.dispose()
