"""`with engine.begin()` commits on success and rolls back on error: no explicit commit needed."""

from sqlalchemy import text


def upgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("CREATE SCHEMA IF NOT EXISTS reporting"))
        conn.execute(text("CREATE SEQUENCE IF NOT EXISTS reporting.export_id_seq"))
        conn.execute(text("CREATE TABLE IF NOT EXISTS reporting.exports (id BIGINT PRIMARY KEY)"))
        exists = conn.execute(text("SELECT to_regclass('reporting.exports')")).scalar()
        if exists is None:
            raise Exception("Verification failed")
        if conn.execute(text("SELECT COUNT(*) FROM reporting.exports")).scalar() > 0:
            return  # leaving engine.begin() early commits too


def downgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS reporting.exports"))
        conn.execute(text("DROP SEQUENCE IF EXISTS reporting.export_id_seq"))
        conn.execute(text("DROP SCHEMA IF EXISTS reporting CASCADE"))
