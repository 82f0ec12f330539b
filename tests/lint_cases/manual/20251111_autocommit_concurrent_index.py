"""CREATE INDEX CONCURRENTLY needs an AUTOCOMMIT connection: every statement commits by itself."""

from sqlalchemy import text


def upgrade(engine):
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_open_orders_symbol ON open_orders (symbol)"
        ))

    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(text("VACUUM ANALYZE open_orders"))


def downgrade(engine):
    with engine.execution_options(isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(text("DROP INDEX CONCURRENTLY IF EXISTS idx_open_orders_symbol"))
