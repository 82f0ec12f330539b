from sqlalchemy import text


def upgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE open_orders ADD COLUMN IF NOT EXISTS public_id UUID"))
        conn.execute(text("ALTER TABLE open_orders ALTER COLUMN public_id SET DEFAULT gen_random_uuid()"))


def downgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE open_orders DROP COLUMN IF EXISTS error_message"))
