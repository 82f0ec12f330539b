from sqlalchemy import text


def upgrade(engine):
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE open_orders SET error_message = %(reason)s WHERE status = 'REJECTED'", {"reason": "unknown"}
        )


def downgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE open_orders DROP COLUMN IF EXISTS error_message"))
