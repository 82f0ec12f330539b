from sqlalchemy import text


def upgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE open_orders ADD COLUMN IF NOT EXISTS error_message TEXT"))
        conn.execute(text("UPDATE open_orders SET error_message = 'unknown' WHERE status = 'REJECTED' AND error_message IS NULL"))  # expect: LB513


def downgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE open_orders DROP COLUMN IF EXISTS error_message"))
