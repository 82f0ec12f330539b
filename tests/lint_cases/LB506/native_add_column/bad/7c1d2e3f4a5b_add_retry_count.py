"""add open_orders.retry_count

Revision ID: 7c1d2e3f4a5b
Revises: 20251118_create_order_events
"""

import sqlalchemy as sa
from alembic import op

revision = "7c1d2e3f4a5b"
down_revision = "20251118_create_order_events"


def upgrade():
    op.create_table("order_retries", sa.Column("id", sa.Integer(), primary_key=True))
    op.create_index("idx_order_retries_id", "order_retries", ["id"])
    op.add_column("open_orders", sa.Column("retry_count", sa.Integer(), nullable=False))  # expect: LB506
    op.create_foreign_key("fk_orders_account", "open_orders", "accounts", ["account_id"], ["id"])  # expect: LB504
    op.alter_column("open_orders", "symbol", type_=sa.String(64))  # expect: LB508
    op.execute("CREATE INDEX IF NOT EXISTS idx_open_orders_symbol ON open_orders (symbol)")  # expect: LB501


def downgrade():
    op.drop_column("open_orders", "retry_count")
    op.drop_table("order_retries")
