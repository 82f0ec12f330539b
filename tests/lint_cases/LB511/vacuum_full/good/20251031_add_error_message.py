from sqlalchemy import text


def upgrade(engine):
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM (ANALYZE) open_orders"))


def downgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE open_orders DROP COLUMN IF EXISTS error_message"))
