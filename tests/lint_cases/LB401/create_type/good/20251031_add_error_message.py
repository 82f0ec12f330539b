from sqlalchemy import text


def upgrade(engine):
    with engine.begin() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_type WHERE typname = 'order_error_kind'")).scalar()
        if exists is None:
            conn.execute(text("CREATE TYPE order_error_kind AS ENUM ('exchange', 'network')"))


def downgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE open_orders DROP COLUMN IF EXISTS error_message"))
