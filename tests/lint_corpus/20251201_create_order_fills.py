"""
Migration: Create order_fills
Date: 2025-12-01

Purpose:
    One row per partial fill reported by the exchange.

Changes:
    - CREATE TABLE order_fills, its index and its foreign key (one guarded block)
"""

# @FEAT:order-tracking @COMP:migration @TYPE:core

import os
import sys

from sqlalchemy import create_engine, text


def upgrade(engine):
    """Apply migration"""
    print("🚀 Starting migration: create order_fills")

    with engine.connect() as conn:
        trans = conn.begin()
        try:
            exists = conn.execute(text("""
                SELECT EXISTS (
                    SELECT 1 FROM information_schema.tables
                    WHERE table_schema = current_schema() AND table_name = 'order_fills'
                )
            """)).scalar()
            if exists:
                print("ℹ️  order_fills already exists, skipping")
                return

            print("📦 Creating order_fills...")
            conn.execute(text("""
                CREATE TABLE order_fills (
                    id BIGSERIAL PRIMARY KEY,
                    order_id BIGINT NOT NULL,
                    quantity NUMERIC(20, 8) NOT NULL,
                    price NUMERIC(20, 8) NOT NULL,
                    filled_at TIMESTAMPTZ NOT NULL DEFAULT now()
                )
            """))
            conn.execute(text("CREATE INDEX idx_order_fills_order_id ON order_fills (order_id)"))
            conn.execute(text("""
                ALTER TABLE order_fills ADD CONSTRAINT fk_order_fills_order
                FOREIGN KEY (order_id) REFERENCES open_orders (id)
            """))

            trans.commit()
            print("✅ Migration completed")
        except Exception as e:
            trans.rollback()
            print(f"❌ Migration failed, rolled back: {e}")
            raise


def downgrade(engine):
    """Rollback migration"""
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS order_fills"))
    print("✅ Rollback completed")


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
