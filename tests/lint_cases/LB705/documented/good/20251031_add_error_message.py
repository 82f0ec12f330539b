from sqlalchemy import text


def upgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("UPDATE open_orders SET status = 'OPEN' WHERE status IS NULL"))


def downgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE open_orders DROP COLUMN IF EXISTS error_message"))
