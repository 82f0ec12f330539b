from sqlalchemy import text


def upgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE open_orders ALTER COLUMN quantity TYPE NUMERIC(30, 10)"))  # expect: LB508


def downgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE open_orders DROP COLUMN IF EXISTS error_message"))
