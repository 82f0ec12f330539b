"""validate open_orders.account_id

Revision ID: 3f2a1b9c0d4e
Revises: 20251118_create_order_events
"""

import sqlalchemy as sa
from alembic import op

revision = "3f2a1b9c0d4e"
down_revision = "20251118_create_order_events"
migration_lock_timeout = "5s"


def upgrade():
    op.create_foreign_key("fk_account", "open_orders", "accounts", ["account_id"], ["id"], postgresql_not_valid=True)
    op.execute("ALTER TABLE open_orders VALIDATE CONSTRAINT fk_account")  # expect: LB504


def downgrade():
    pass

