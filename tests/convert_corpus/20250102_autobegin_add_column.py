"""
Migration: Add accounts.email (2.0-style autobegin)
Date: 2025-01-02
"""

from sqlalchemy import text


def upgrade(engine):
    """Apply migration"""
    with engine.connect() as conn:
        result = conn.execute(text("""
            SELECT COUNT(*) FROM information_schema.columns
            WHERE table_name = 'accounts' AND column_name = 'email'
        """))
        if result.scalar() > 0:
            print("Column already exists, skipping")
            return
        conn.execute(text("ALTER TABLE accounts ADD COLUMN email TEXT"))
        conn.commit()
    print("✅ email added")


def downgrade(engine):
    """Rollback migration"""
    with engine.connect() as conn:
        conn.execute(text("ALTER TABLE accounts DROP COLUMN IF EXISTS email"))
        conn.commit()
