from sqlalchemy import text


def upgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS open_order_notes (id bigint PRIMARY KEY, qty numeric, price numeric)"))
        conn.execute(text("ALTER TABLE open_order_notes ADD COLUMN IF NOT EXISTS notional numeric GENERATED ALWAYS AS (qty * price) STORED NOT NULL"))


def downgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE open_orders DROP COLUMN IF EXISTS error_message"))

