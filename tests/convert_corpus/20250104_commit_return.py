"""
Migration: Create sessions
Date: 2025-01-04
"""

from sqlalchemy import text


def upgrade(engine):
    """Apply migration"""
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            if conn.execute(text("SELECT to_regclass('sessions') IS NOT NULL")).scalar():
                print("sessions exists")
                trans.commit()
                return
            conn.execute(text("CREATE TABLE sessions (id SERIAL PRIMARY KEY, account_id INT)"))
            trans.commit()
        except Exception:
            trans.rollback()
            raise


def downgrade(engine):
    """Rollback migration"""
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS sessions"))
