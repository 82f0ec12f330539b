from sqlalchemy import text


def upgrade(engine):
    with engine.begin() as conn:
        # release 4.3 reads a NULL status as 'NEW'
        conn.execute(text("ALTER TABLE open_orders ALTER COLUMN status DROP NOT NULL"))  # noqa: LB704


def downgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE open_orders DROP COLUMN IF EXISTS error_message"))
