"""
Migration: Index sessions.account_id
Date: 2025-01-05
"""

from sqlalchemy import text


def upgrade(engine):
    """Apply migration"""
    with engine.connect() as conn:
        trans = conn.begin()
        conn.execute(text("CREATE INDEX IF NOT EXISTS ix_sessions_account ON sessions (account_id)"))
        trans.commit()


def downgrade(engine):
    """Rollback migration"""
    with engine.connect() as conn:
        trans = conn.begin()
        conn.execute(text("DROP INDEX IF EXISTS ix_sessions_account"))
        trans.commit()
