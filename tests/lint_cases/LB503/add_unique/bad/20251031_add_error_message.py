from sqlalchemy import text


def upgrade(engine):
    with engine.begin() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_constraint WHERE conname = 'open_orders_client_order_id_key'")).scalar()
        if not exists:
            conn.execute(text("ALTER TABLE open_orders ADD CONSTRAINT open_orders_client_order_id_key UNIQUE (client_order_id)"))  # expect: LB503


def downgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE open_orders DROP COLUMN IF EXISTS error_message"))
