from sqlalchemy import text


def upgrade(engine):
    with engine.begin() as conn:
        found = conn.execute(text("SELECT 1 FROM information_schema.columns WHERE table_name = 'open_orders' AND column_name = 'error_message'")).scalar()
        if found:
            conn.execute(text("ALTER TABLE open_orders RENAME COLUMN error_message TO rejection_reason"))  # expect: LB509


def downgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE open_orders DROP COLUMN IF EXISTS error_message"))
