from sqlalchemy import text


def upgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("CREATE INDEX IF NOT EXISTS idx_open_orders_status ON open_orders (status)"))  # expect: LB501


def downgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE open_orders DROP COLUMN IF EXISTS error_message"))
