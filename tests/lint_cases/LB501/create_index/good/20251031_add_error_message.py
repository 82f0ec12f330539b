from sqlalchemy import text


def upgrade(engine):
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_open_orders_status ON open_orders (status)"))


def downgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE open_orders DROP COLUMN IF EXISTS error_message"))
