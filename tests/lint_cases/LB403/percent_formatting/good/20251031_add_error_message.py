from sqlalchemy import text


def upgrade(engine):
    backfill(engine, "unknown")


def backfill(engine, reason):
    with engine.begin() as conn:
        conn.execute(text("UPDATE open_orders SET error_message = :reason WHERE error_message IS NULL"), {"reason": reason})


def downgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE open_orders DROP COLUMN IF EXISTS error_message"))
