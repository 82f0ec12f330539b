from sqlalchemy import MetaData, Table, text


def upgrade(engine):
    meta = MetaData()
    orders = Table("open_orders", meta, autoload=True)  # expect: LB208
    with engine.begin() as conn:
        conn.execute(orders.update().values(error_message=None))


def downgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE open_orders DROP COLUMN IF EXISTS error_message"))
