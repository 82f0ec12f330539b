"""SQLAlchemy 2.0 style: the connection autobegins, `conn.commit()` commits; batches commit one by one."""

from sqlalchemy import text

BATCH_SIZE = 500


def upgrade(engine):
    with engine.connect() as conn:
        conn.execute(text("ALTER TABLE open_orders ADD COLUMN IF NOT EXISTS error_message TEXT"))
        conn.commit()

    with engine.connect() as conn:
        while True:
            result = conn.execute(
                text("""
                    UPDATE open_orders SET error_message = 'unknown'
                    WHERE id IN (SELECT id FROM open_orders WHERE error_message IS NULL LIMIT :n)
                """),
                {"n": BATCH_SIZE},
            )
            conn.commit()
            if result.rowcount == 0:
                break

    with engine.connect() as conn:
        count = conn.execute(text("SELECT COUNT(*) FROM open_orders WHERE error_message IS NULL")).scalar()
        if count:
            raise Exception("Verification failed")


def downgrade(engine):
    with engine.connect() as conn:
        try:
            conn.execute(text("ALTER TABLE open_orders DROP COLUMN IF EXISTS error_message"))
            conn.commit()
        except Exception:
            conn.rollback()
            raise
