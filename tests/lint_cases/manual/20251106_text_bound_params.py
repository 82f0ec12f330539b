"""text() with :name bound parameters, casts (::), time literals and an escaped colon."""

from sqlalchemy import text

EXCHANGES = [
    {"code": "BINANCE", "display_name": "Binance"},
    {"code": "OKX", "display_name": "OKX"},
]


def upgrade(engine):
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            result = conn.execute(
                text("""
                    SELECT COUNT(*) FROM information_schema.tables
                    WHERE table_schema = current_schema() AND table_name = :table_name
                """),
                {"table_name": "supported_exchanges"},
            )
            if result.scalar() == 0:
                raise Exception("supported_exchanges is missing")
            conn.execute(
                text("""
                    INSERT INTO supported_exchanges (code, display_name)
                    VALUES (:code, :display_name)
                    ON CONFLICT (code) DO NOTHING
                """),
                EXCHANGES,
            )
            conn.execute(
                text("UPDATE open_orders SET config = '{}'::jsonb, note = 'at 12:30\\:00' WHERE id = :id"),
                {"id": 1},
            )
            trans.commit()
        except Exception as e:
            trans.rollback()
            raise


def downgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM supported_exchanges WHERE code = ANY(:codes)"), {"codes": ["OKX"]})
