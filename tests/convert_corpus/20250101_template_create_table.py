"""
Migration: Create accounts
Date: 2025-01-01
"""

# @FEAT:accounts @COMP:migration @TYPE:core

from sqlalchemy import text


def upgrade(engine):
    """Apply migration"""
    print("🚀 Starting migration: create accounts")
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            conn.execute(text("CREATE TABLE IF NOT EXISTS accounts (id SERIAL PRIMARY KEY, name TEXT NOT NULL)"))
            result = conn.execute(text("SELECT to_regclass('accounts')"))
            if result.scalar() is None:
                raise Exception("Verification failed")
            trans.commit()
            print("✅ Migration completed")
        except Exception as e:
            trans.rollback()
            print(f"❌ Migration failed: {e}")
            raise


def downgrade(engine):
    """Rollback migration"""
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            conn.execute(text("DROP TABLE IF EXISTS accounts"))
            trans.commit()
        except Exception as e:
            trans.rollback()
            raise
