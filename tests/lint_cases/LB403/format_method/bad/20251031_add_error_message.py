from sqlalchemy import text


def upgrade(engine):
    column = input("column to add: ")
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE open_orders ADD COLUMN IF NOT EXISTS {} TEXT".format(column)))  # expect: LB403


def downgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE open_orders DROP COLUMN IF EXISTS error_message"))
