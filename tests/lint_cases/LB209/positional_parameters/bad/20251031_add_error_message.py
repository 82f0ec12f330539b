from sqlalchemy import text


def upgrade(engine):
    with engine.begin() as conn:
        conn.execute("UPDATE open_orders SET error_message = %s WHERE status = %s", "unknown", "REJECTED")  # expect: LB209


def downgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE open_orders DROP COLUMN IF EXISTS error_message"))
