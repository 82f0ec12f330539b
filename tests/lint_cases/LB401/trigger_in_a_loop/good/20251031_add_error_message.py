from sqlalchemy import text

TABLES = ["accounts", "open_orders"]


def upgrade(engine):
    with engine.begin() as conn:
        for table in TABLES:
            conn.execute(text(f"DROP TRIGGER IF EXISTS trg_{table}_updated_at ON {table}"))
            conn.execute(text(f"""
                CREATE TRIGGER trg_{table}_updated_at BEFORE UPDATE ON {table}
                FOR EACH ROW EXECUTE FUNCTION set_updated_at()
            """))


def downgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE open_orders DROP COLUMN IF EXISTS error_message"))
