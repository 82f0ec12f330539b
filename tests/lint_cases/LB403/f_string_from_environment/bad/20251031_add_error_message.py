import os

from sqlalchemy import text


def upgrade(engine):
    table = os.environ.get("ORDERS_TABLE", "open_orders")
    with engine.begin() as conn:
        conn.execute(text(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS error_message TEXT"))  # expect: LB403


def downgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE open_orders DROP COLUMN IF EXISTS error_message"))
