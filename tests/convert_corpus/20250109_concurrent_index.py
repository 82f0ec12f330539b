"""
Migration: Index accounts.email concurrently (AUTOCOMMIT: stays legacy code)
Date: 2025-01-09
"""

from sqlalchemy import text


def upgrade(engine):
    """Apply migration"""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_accounts_email ON accounts (email)"))


def downgrade(engine):
    """Rollback migration"""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("DROP INDEX CONCURRENTLY IF EXISTS ix_accounts_email"))
