from sqlalchemy import Column, Integer, MetaData, Table, text


def upgrade(engine):
    meta = MetaData()
    Table("order_notes", meta, Column("id", Integer, primary_key=True))
    meta.create_all(engine, checkfirst=True)


def downgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE open_orders DROP COLUMN IF EXISTS error_message"))
