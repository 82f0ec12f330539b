from sqlalchemy import text


def upgrade(engine):
    with engine.begin() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_constraint WHERE conname = 'nn_status'")).scalar()
        if not exists:
            conn.execute(text("ALTER TABLE open_orders ADD CONSTRAINT nn_status CHECK (status IS NOT NULL) NOT VALID"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ALTER TABLE open_orders VALIDATE CONSTRAINT nn_status"))
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE open_orders ALTER COLUMN status SET NOT NULL"))


def downgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE open_orders DROP COLUMN IF EXISTS error_message"))

