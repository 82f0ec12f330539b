from sqlalchemy import text


def upgrade(engine):
    with engine.begin() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_type WHERE typname = 'price'")).scalar()
        if not exists:
            conn.execute(text("CREATE DOMAIN price AS numeric"))


def downgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE open_orders DROP COLUMN IF EXISTS error_message"))
