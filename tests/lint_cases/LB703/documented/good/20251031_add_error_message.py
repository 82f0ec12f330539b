from sqlalchemy import text


def upgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS reporting_copy_rows"))  # noqa: LB510


def downgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE open_orders DROP COLUMN IF EXISTS error_message"))
