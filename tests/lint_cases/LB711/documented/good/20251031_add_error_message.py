from sqlalchemy import text


def upgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("COMMENT ON INDEX idx_orders_status IS 'status lookups'"))


def downgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE open_orders DROP COLUMN IF EXISTS error_message"))
