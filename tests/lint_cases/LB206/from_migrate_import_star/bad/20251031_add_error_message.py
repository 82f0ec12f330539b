from migrate import *  # expect: LB206
from sqlalchemy import Column, MetaData, Table, Text, text


def upgrade(engine):
    meta = MetaData()
    orders = Table("open_orders", meta, autoload_with=engine)
    orders.create_column(Column("error_message", Text))


def downgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE open_orders DROP COLUMN IF EXISTS error_message"))
