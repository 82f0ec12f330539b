"""open_orders.priority

Revision ID: 3f2a1b9c0d4e
Revises: 20251118_create_order_events
"""

import sqlalchemy as sa
from alembic import op

revision = "3f2a1b9c0d4e"
down_revision = "20251118_create_order_events"
migration_lock_timeout = "5s"


def upgrade():
    with op.batch_alter_table("open_orders") as batch_op:
        batch_op.add_column(sa.Column("priority", sa.Integer(), nullable=False))  # expect: LB506


def downgrade():
    pass

