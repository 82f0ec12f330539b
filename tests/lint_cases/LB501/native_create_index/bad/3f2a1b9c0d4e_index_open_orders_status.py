"""index open_orders.status

Revision ID: 3f2a1b9c0d4e
Revises: 20251118_create_order_events
"""

from alembic import op

revision = "3f2a1b9c0d4e"
down_revision = "20251118_create_order_events"
migration_lock_timeout = "5s"


def upgrade():
    op.create_index("idx_open_orders_status", "open_orders", ["status"])  # expect: LB501


def downgrade():
    op.drop_index("idx_open_orders_status", table_name="open_orders")
