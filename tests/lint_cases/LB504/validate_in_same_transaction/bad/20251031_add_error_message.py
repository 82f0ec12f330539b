from sqlalchemy import text


def upgrade(engine):
    with engine.begin() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_constraint WHERE conname = 'ck_qty'")).scalar()
        if not exists:
            conn.execute(text("ALTER TABLE open_orders ADD CONSTRAINT ck_qty CHECK (qty > 0) NOT VALID"))
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE open_orders VALIDATE CONSTRAINT ck_qty"))  # expect: LB504


def downgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE open_orders DROP COLUMN IF EXISTS error_message"))

