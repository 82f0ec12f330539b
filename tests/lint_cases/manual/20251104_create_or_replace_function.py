"""CREATE OR REPLACE FUNCTION with a $$ body, and DROP TRIGGER IF EXISTS before CREATE TRIGGER."""

from sqlalchemy import text


def upgrade(engine):
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            conn.execute(text("""
                CREATE OR REPLACE FUNCTION set_updated_at()
                RETURNS TRIGGER AS $$
                BEGIN
                    IF ROW(NEW.*) IS DISTINCT FROM ROW(OLD.*) THEN
                        NEW.updated_at := clock_timestamp()::timestamp;
                    END IF;
                    RETURN NEW;
                END;
                $$ LANGUAGE plpgsql
            """))
            conn.execute(text("DROP TRIGGER IF EXISTS trg_open_orders_updated_at ON open_orders"))
            conn.execute(text("""
                CREATE TRIGGER trg_open_orders_updated_at
                BEFORE UPDATE ON open_orders
                FOR EACH ROW EXECUTE FUNCTION set_updated_at()
            """))
            conn.execute(text("""
                CREATE OR REPLACE VIEW rejected_orders AS
                SELECT id, error_message FROM open_orders WHERE status = 'REJECTED'
            """))
            trans.commit()
        except Exception as e:
            trans.rollback()
            print(f"❌ Migration failed: {e}")
            raise


def downgrade(engine):
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            conn.execute(text("DROP VIEW IF EXISTS rejected_orders"))
            conn.execute(text("DROP TRIGGER IF EXISTS trg_open_orders_updated_at ON open_orders"))
            conn.execute(text("DROP FUNCTION IF EXISTS set_updated_at()"))
            trans.commit()
        except Exception as e:
            trans.rollback()
            raise
