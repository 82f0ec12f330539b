from sqlalchemy import text


def upgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("""
            CREATE FUNCTION set_updated_at() RETURNS trigger AS $$
            BEGIN
                NEW.updated_at := now();
                RETURN NEW;
            END;
            $$ LANGUAGE plpgsql
        """))  # expect: LB401


def downgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE open_orders DROP COLUMN IF EXISTS error_message"))
