"""f-strings over constants of this file are expanded and checked, not reported as LB403."""
# Indexes built inside the transaction, as the manual writes them; LB501 and `check` on new files say why not.
# alembic-bridge: noqa: LB501

from sqlalchemy import text

TABLES = ["accounts", "strategies", "open_orders"]
INDEXES = {
    "idx_open_orders_status": "open_orders (status)",
    "idx_open_orders_with_error": "open_orders (updated_at) WHERE error_message IS NOT NULL",
}
SCHEMA = "trading"  # the application's own schema (a schema named `public` would be LB601)


def upgrade(engine):
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            for table in TABLES:
                conn.execute(text(f"ALTER TABLE {SCHEMA}.{table} ADD COLUMN IF NOT EXISTS updated_at TIMESTAMP"))
            for name, definition in INDEXES.items():
                conn.exec_driver_sql(f"CREATE INDEX IF NOT EXISTS {name} ON {definition}")
            statements = [
                "ALTER TABLE open_orders ALTER COLUMN updated_at SET DEFAULT now()",
                "COMMENT ON COLUMN open_orders.updated_at IS 'maintained by the app'",
            ]
            for statement in statements:
                conn.execute(text(statement))
            trans.commit()
        except Exception:
            trans.rollback()
            raise


def downgrade(engine):
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            for name in INDEXES:
                conn.execute(text("DROP INDEX IF EXISTS %s" % name))
            for table in TABLES:
                conn.execute(text("ALTER TABLE {}.{} DROP COLUMN IF EXISTS updated_at".format(SCHEMA, table)))
            trans.commit()
        except Exception:
            trans.rollback()
            raise
