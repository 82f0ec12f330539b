from sqlalchemy import text


def upgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE open_orders ADD COLUMN IF NOT EXISTS public_id UUID DEFAULT gen_random_uuid()"))  # expect: LB507


def downgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE open_orders DROP COLUMN IF EXISTS error_message"))
