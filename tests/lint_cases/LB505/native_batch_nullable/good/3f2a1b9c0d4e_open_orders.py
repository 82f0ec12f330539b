"""open_orders.status not null

Revision ID: 3f2a1b9c0d4e
Revises: 20251118_create_order_events
"""

import sqlalchemy as sa
from alembic import op

revision = "3f2a1b9c0d4e"
down_revision = "20251118_create_order_events"
migration_lock_timeout = "5s"


def upgrade():
    op.create_check_constraint("nn_status", "open_orders", "status IS NOT NULL", postgresql_not_valid=True)
    with op.get_context().autocommit_block():
        op.execute("ALTER TABLE open_orders VALIDATE CONSTRAINT nn_status")
    with op.batch_alter_table("open_orders") as batch_op:
        batch_op.alter_column("status", nullable=False)


def downgrade():
    pass

