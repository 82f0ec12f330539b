from sqlalchemy import text


def upgrade(engine):
    with engine.begin() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_constraint WHERE conname = 'open_orders_account_id_fkey'")).scalar()
        if not exists:
            conn.execute(text("ALTER TABLE open_orders ADD CONSTRAINT open_orders_account_id_fkey FOREIGN KEY (account_id) REFERENCES accounts (id) NOT VALID"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ALTER TABLE open_orders VALIDATE CONSTRAINT open_orders_account_id_fkey"))


def downgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE open_orders DROP COLUMN IF EXISTS error_message"))
