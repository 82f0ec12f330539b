from sqlalchemy import text


def upgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE open_orders DROP CONSTRAINT IF EXISTS ck_error_message_length"))
        conn.execute(text(
            "ALTER TABLE open_orders ADD CONSTRAINT ck_error_message_length CHECK (length(error_message) < 2000) NOT VALID"
        ))


def downgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE open_orders DROP COLUMN IF EXISTS error_message"))
