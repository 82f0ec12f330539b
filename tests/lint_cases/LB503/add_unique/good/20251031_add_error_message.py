from sqlalchemy import text


def upgrade(engine):
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS open_orders_client_order_id_idx ON open_orders (client_order_id)"))
    with engine.begin() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_constraint WHERE conname = 'open_orders_client_order_id_key'")).scalar()
        if not exists:
            conn.execute(text("ALTER TABLE open_orders ADD CONSTRAINT open_orders_client_order_id_key UNIQUE USING INDEX open_orders_client_order_id_idx"))


def downgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE open_orders DROP COLUMN IF EXISTS error_message"))
