"""A connection outside `with` is fine when a `finally` closes it; helpers may take `conn`."""

from sqlalchemy import text


def _add_error_message(conn):
    conn.execute(text("ALTER TABLE open_orders ADD COLUMN IF NOT EXISTS error_message TEXT"))


def upgrade(engine):
    conn = engine.connect()
    try:
        trans = conn.begin()
        try:
            _add_error_message(conn)
            conn.execute(text("LOCK TABLE open_orders IN SHARE MODE"))
            trans.commit()
        except Exception:
            trans.rollback()
            raise
    finally:
        conn.close()


def downgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE open_orders DROP COLUMN IF EXISTS error_message"))
