"""
Migration: Backfill accounts.status in batches (each committed: stays legacy code)
Date: 2025-01-07
"""

from sqlalchemy import text


def upgrade(engine):
    """Apply migration"""
    with engine.connect() as conn:
        while True:
            result = conn.execute(text("""
                UPDATE accounts SET status = 'active'
                WHERE id IN (SELECT id FROM accounts WHERE status IS NULL LIMIT 500)
            """))
            conn.commit()
            if result.rowcount == 0:
                break


def downgrade(engine):
    """Rollback migration"""
    pass
