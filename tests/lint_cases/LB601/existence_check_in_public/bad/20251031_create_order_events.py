"""The manual's existence check, pinned to public: a tenant run finds public's table and creates nothing."""

from sqlalchemy import text


def upgrade(engine):
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            exists = conn.execute(text("SELECT to_regclass('public.order_events')")).scalar()  # expect: LB601
            if exists is not None:
                trans.rollback()
                return
            conn.execute(text("CREATE TABLE order_events (id SERIAL PRIMARY KEY, kind TEXT NOT NULL)"))
            trans.commit()
        except Exception:
            trans.rollback()
            raise


def downgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS order_events"))
