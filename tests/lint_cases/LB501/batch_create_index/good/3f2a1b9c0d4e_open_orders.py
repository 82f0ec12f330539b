"""index open_orders.status

Revision ID: 3f2a1b9c0d4e
Revises: 20251118_create_order_events
"""

import sqlalchemy as sa
from alembic import op

revision = "3f2a1b9c0d4e"
down_revision = "20251118_create_order_events"
migration_lock_timeout = "5s"


def upgrade():
    with op.get_context().autocommit_block():
        op.create_index(op.f("ix_open_orders_status"), "open_orders", ["status"], postgresql_concurrently=True)


def downgrade():
    pass

