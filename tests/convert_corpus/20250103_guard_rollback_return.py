"""
Migration: Add accounts.status
Date: 2025-01-03
"""

from sqlalchemy import text


def upgrade(engine):
    """Apply migration"""
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            exists = conn.execute(text("""
                SELECT 1 FROM information_schema.columns
                WHERE table_name = 'accounts' AND column_name = 'status'
            """)).fetchone()
            if exists:
                print("⏭️ status exists, skipping")
                trans.rollback()
                return
            conn.execute(text("ALTER TABLE accounts ADD COLUMN status TEXT DEFAULT 'active'"))
            trans.commit()
        except Exception as e:
            trans.rollback()
            print(f"❌ {e}")
            raise


def downgrade(engine):
    """Rollback migration"""
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            conn.execute(text("ALTER TABLE accounts DROP COLUMN IF EXISTS status"))
            trans.commit()
        except Exception as e:
            trans.rollback()
            raise
