from sqlalchemy import text


def upgrade(engine):
    with engine.begin() as conn:
        conn.execute(text(
            "ALTER TABLE open_orders ADD CONSTRAINT ck_error_message_length CHECK (length(error_message) < 2000) NOT VALID"
        ))  # expect: LB401


def downgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE open_orders DROP COLUMN IF EXISTS error_message"))
