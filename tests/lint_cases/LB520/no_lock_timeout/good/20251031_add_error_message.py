from sqlalchemy import text

migration_lock_timeout = "5s"


def upgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE open_orders ADD COLUMN IF NOT EXISTS error_message TEXT"))


def downgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE open_orders DROP COLUMN IF EXISTS error_message"))
