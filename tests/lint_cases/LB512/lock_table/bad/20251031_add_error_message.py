from sqlalchemy import text


def upgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("LOCK TABLE open_orders IN ACCESS EXCLUSIVE MODE"))  # expect: LB512
        conn.execute(text("UPDATE open_orders SET error_message = 'unknown' WHERE status = 'REJECTED' AND error_message IS NULL"))


def downgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE open_orders DROP COLUMN IF EXISTS error_message"))
