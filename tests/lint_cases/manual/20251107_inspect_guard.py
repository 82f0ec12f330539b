"""Existence checks in Python: sqlalchemy.inspect(), and a helper that queries pg_catalog."""

from sqlalchemy import inspect, text


def _constraint_exists(conn, name):
    return conn.execute(
        text("SELECT 1 FROM pg_constraint WHERE conname = :name"), {"name": name}
    ).scalar() is not None


def upgrade(engine):
    if "exports" not in inspect(engine).get_table_names():
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE exports (id BIGINT PRIMARY KEY, kind TEXT)"))

    with engine.begin() as conn:
        if not _constraint_exists(conn, "ck_exports_kind"):
            conn.execute(text("ALTER TABLE exports ADD CONSTRAINT ck_exports_kind CHECK (kind <> '')"))

    with engine.begin() as conn:
        columns = {c["name"] for c in inspect(conn).get_columns("exports")}
        if "created_at" in columns:
            return
        conn.execute(text("ALTER TABLE exports ADD COLUMN created_at TIMESTAMP"))


def downgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS exports"))
