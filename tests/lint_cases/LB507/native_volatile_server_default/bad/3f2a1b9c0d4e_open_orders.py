"""open_orders.public_id

Revision ID: 3f2a1b9c0d4e
Revises: 20251118_create_order_events
"""

import sqlalchemy as sa
from alembic import op

revision = "3f2a1b9c0d4e"
down_revision = "20251118_create_order_events"
migration_lock_timeout = "5s"


def upgrade():
    op.add_column("open_orders", sa.Column("public_id", sa.Uuid(), server_default=sa.text("gen_random_uuid()")))  # expect: LB507


def downgrade():
    pass

