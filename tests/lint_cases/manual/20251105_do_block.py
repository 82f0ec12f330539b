"""A DO $$ ... $$ block is its own guard: CREATE TYPE has no IF NOT EXISTS."""

from sqlalchemy import text


def upgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("""
            DO $$
            BEGIN
                IF NOT EXISTS (SELECT 1 FROM pg_type WHERE typname = 'order_error_kind') THEN
                    CREATE TYPE order_error_kind AS ENUM ('exchange', 'network');
                END IF;
            END
            $$
        """))
        conn.execute(text("""
            DO $$ BEGIN
                ALTER TABLE open_orders ADD CONSTRAINT ck_error_kind CHECK (error_kind IS NOT NULL);
            EXCEPTION WHEN duplicate_object THEN NULL;
            END $$;
        """))
        conn.execute(text("ALTER TYPE order_error_kind ADD VALUE IF NOT EXISTS 'timeout'"))


def downgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE open_orders DROP CONSTRAINT IF EXISTS ck_error_kind"))
        conn.execute(text("DROP TYPE IF EXISTS order_error_kind"))
