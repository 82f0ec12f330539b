from sqlalchemy import text


def upgrade(engine):
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE open_orders SET error_message = :reason WHERE status = :status"),
            {"reason": "unknown", "status": "REJECTED"},
        )


def downgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE open_orders DROP COLUMN IF EXISTS error_message"))
