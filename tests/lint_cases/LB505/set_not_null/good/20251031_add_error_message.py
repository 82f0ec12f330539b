from sqlalchemy import text


def upgrade(engine):
    with engine.begin() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_constraint WHERE conname = 'open_orders_error_message_not_null'")).scalar()
        if not exists:
            conn.execute(text("ALTER TABLE open_orders ADD CONSTRAINT open_orders_error_message_not_null CHECK (error_message IS NOT NULL) NOT VALID"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ALTER TABLE open_orders VALIDATE CONSTRAINT open_orders_error_message_not_null"))
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE open_orders ALTER COLUMN error_message SET NOT NULL"))


def downgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE open_orders DROP COLUMN IF EXISTS error_message"))
