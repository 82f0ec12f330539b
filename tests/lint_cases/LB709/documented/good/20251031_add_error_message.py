from sqlalchemy import text


def upgrade(engine):
    with engine.begin() as conn:
        # release 4.3 always sends status
        conn.execute(text("ALTER TABLE open_orders ALTER COLUMN status DROP DEFAULT"))  # noqa: LB709


def downgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE open_orders DROP COLUMN IF EXISTS error_message"))
