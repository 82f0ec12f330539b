from sqlalchemy import text


def upgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_open_orders_status ON open_orders (status)"))  # expect: LB502


def downgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE open_orders DROP COLUMN IF EXISTS error_message"))
