from sqlalchemy import text


def upgrade(engine):
    with engine.begin() as conn:
        # release 4.2 stopped reading legacy_note
        conn.execute(text("ALTER TABLE open_orders DROP COLUMN IF EXISTS legacy_note"))  # noqa: LB510


def downgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE open_orders DROP COLUMN IF EXISTS error_message"))
