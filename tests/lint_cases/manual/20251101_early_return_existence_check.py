"""The manual's rule 4 verbatim: an existence check that returns while `trans` is still open."""

from sqlalchemy import text


def upgrade(engine):
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            result = conn.execute(text("""
                SELECT COUNT(*) FROM information_schema.columns
                WHERE table_name = 'open_orders' AND column_name = 'error_message'
            """))
            if result.scalar() > 0:
                print("Column already exists, skipping")
                return          # note: returns while `trans` is still open

            conn.execute(text("ALTER TABLE open_orders ADD COLUMN error_message TEXT"))
            trans.commit()
        except Exception as e:
            trans.rollback()
            raise


def downgrade(engine):
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            conn.execute(text("ALTER TABLE open_orders DROP COLUMN IF EXISTS error_message"))
            trans.commit()
        except Exception as e:
            trans.rollback()
            raise
