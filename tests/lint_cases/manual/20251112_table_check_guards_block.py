"""A check that the table exists guards everything the block creates on it: its indexes and constraints."""

from sqlalchemy import text


def upgrade(engine):
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            exists = conn.execute(text(
                "SELECT to_regclass('order_events') IS NOT NULL"
            )).scalar()
            if not exists:
                conn.execute(text("CREATE TABLE order_events (id BIGSERIAL PRIMARY KEY, order_id BIGINT, kind TEXT)"))
                conn.execute(text("CREATE INDEX idx_order_events_order_id ON order_events (order_id)"))
                conn.execute(text(
                    "ALTER TABLE order_events ADD CONSTRAINT order_events_kind_check CHECK (kind <> '')"
                ))
            trans.commit()
        except Exception:
            trans.rollback()
            raise


def downgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS order_events"))
