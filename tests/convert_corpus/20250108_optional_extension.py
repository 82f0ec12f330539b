"""
Migration: Try pg_trgm (optional step: stays legacy code)
Date: 2025-01-08
"""

from sqlalchemy import text


def upgrade(engine):
    """Apply migration"""
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
            trans.commit()
        except Exception as e:
            trans.rollback()
            print(f"⚠️ pg_trgm not available, skipping: {e}")


def downgrade(engine):
    """Rollback migration"""
    pass
