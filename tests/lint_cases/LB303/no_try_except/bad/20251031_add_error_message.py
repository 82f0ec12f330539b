from sqlalchemy import text


def upgrade(engine):
    with engine.connect() as conn:
        trans = conn.begin()  # expect: LB303
        conn.execute(text("ALTER TABLE open_orders ADD COLUMN IF NOT EXISTS error_message TEXT"))
        trans.commit()


def downgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE open_orders DROP COLUMN IF EXISTS error_message"))
