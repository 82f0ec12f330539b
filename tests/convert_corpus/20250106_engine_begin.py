"""
Migration: Seed a system account
Date: 2025-01-06
"""

from sqlalchemy import text


def upgrade(engine):
    """Apply migration"""
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO accounts (name) SELECT 'system' WHERE NOT EXISTS (SELECT 1 FROM accounts WHERE name = 'system')"))


def downgrade(engine):
    """Rollback migration"""
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM accounts WHERE name = 'system'"))
