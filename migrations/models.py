"""SQLAlchemy models of the schema the sample migrations build (at head).

alembic.ini points ``target_metadata`` here, so `alembic revision --autogenerate`
compares these tables with the database at the head of the mixed
legacy/native chain, and `alembic check` passes when they agree. Change a
model, run autogenerate, and the new native revision follows the legacy head.
"""

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

metadata = sa.MetaData()

NOW = sa.text("CURRENT_TIMESTAMP")
strategy_market_type = postgresql.ENUM("SPOT", "FUTURES", name="strategy_market_type", create_type=False)
client_order_id_seq = sa.Sequence("client_order_id_seq", start=1000, metadata=metadata)


def timestamps():
    return [
        sa.Column("created_at", sa.DateTime, nullable=False, server_default=NOW),
        sa.Column("updated_at", sa.DateTime, nullable=False, server_default=NOW),
    ]


accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("exchange", sa.String(20), nullable=False),
    sa.Column("account_type", sa.String(20), nullable=False, server_default="SPOT"),
    sa.Column("base_currency", sa.String(10), nullable=False, server_default="USDT"),
    sa.Column("is_active", sa.Boolean, nullable=False, server_default=sa.true()),
    *timestamps(),
    sa.CheckConstraint("account_type IN ('SPOT', 'FUTURES', 'MARGIN')", name="ck_accounts_account_type"),
    sa.UniqueConstraint("exchange", "name", name="uq_accounts_exchange_name"),
)

strategies = sa.Table(
    "strategies",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("group_name", sa.String(100), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("market_type", strategy_market_type, nullable=False, server_default="SPOT"),
    sa.Column("leverage", sa.Numeric(5, 2), nullable=False, server_default="1"),
    sa.Column("config", postgresql.JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    sa.Column("is_active", sa.Boolean, nullable=False, server_default=sa.true()),
    *timestamps(),
    sa.UniqueConstraint("group_name", name="uq_strategies_group_name"),
    sa.Index("idx_strategies_account_id", "account_id"),
    sa.Index("idx_strategies_active", "account_id", postgresql_where=sa.text("is_active")),
)

open_orders = sa.Table(
    "open_orders",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("strategy_id", sa.Integer, sa.ForeignKey("strategies.id", ondelete="CASCADE"), nullable=False),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("exchange_order_id", sa.String(100)),
    sa.Column("symbol", sa.String(30), nullable=False),
    sa.Column("side", sa.String(4), nullable=False),
    sa.Column("order_type", sa.String(20), nullable=False, server_default="LIMIT"),
    sa.Column("price", sa.Numeric(20, 8)),
    sa.Column("stop_price", sa.Numeric(20, 8)),
    sa.Column("quantity", sa.Numeric(20, 8), nullable=False),
    sa.Column("filled_quantity", sa.Numeric(20, 8), nullable=False, server_default="0"),
    sa.Column("status", sa.String(20), nullable=False, server_default="NEW"),
    *timestamps(),
    sa.Column("error_message", sa.Text),
    sa.Column(
        "client_order_id",
        sa.String(64),
        nullable=False,
        server_default=sa.text("('CO-'::text || (nextval('client_order_id_seq'::regclass))::text)"),
    ),
    sa.Column("notes", sa.Text, comment="Free text from the dashboard"),
    sa.CheckConstraint("quantity > 0", name="ck_open_orders_quantity_positive"),
    sa.CheckConstraint("side IN ('BUY', 'SELL')", name="ck_open_orders_side"),
    sa.CheckConstraint(
        "status IN ('NEW', 'OPEN', 'PARTIALLY_FILLED', 'FILLED', 'CANCELLED', 'REJECTED', 'FAILED')",
        name="ck_open_orders_status",
    ),
    sa.Index("idx_open_orders_status", "status"),
    sa.Index("idx_open_orders_strategy_symbol", "strategy_id", "symbol"),
    sa.Index("idx_open_orders_with_error", "updated_at", postgresql_where=sa.text("error_message IS NOT NULL")),
    sa.Index(
        "uq_open_orders_account_exchange_order_id",
        "account_id",
        "exchange_order_id",
        unique=True,
        postgresql_where=sa.text("exchange_order_id IS NOT NULL"),
    ),
    sa.Index("uq_open_orders_client_order_id", "client_order_id", unique=True),
)

trade_history = sa.Table(
    "trade_history",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("strategy_id", sa.Integer, sa.ForeignKey("strategies.id", ondelete="SET NULL")),
    sa.Column("exchange_order_id", sa.String(100), nullable=False),
    sa.Column("exchange_trade_id", sa.String(100), nullable=False),
    sa.Column("symbol", sa.String(30), nullable=False),
    sa.Column("side", sa.String(4), nullable=False),
    sa.Column("price", sa.Numeric(20, 8), nullable=False),
    sa.Column("quantity", sa.Numeric(20, 8), nullable=False),
    sa.Column("fee", sa.Numeric(20, 8), nullable=False, server_default="0"),
    sa.Column("fee_currency", sa.String(10)),
    sa.Column("realized_pnl", sa.Numeric(20, 8)),
    sa.Column("is_maker", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("executed_at", sa.DateTime, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False, server_default=NOW),
    sa.CheckConstraint("side IN ('BUY', 'SELL')", name="trade_history_side_check"),
    sa.UniqueConstraint("account_id", "exchange_trade_id", name="uq_trade_history_account_trade"),
    sa.Index("idx_trade_history_exchange_order_id", "exchange_order_id"),
    sa.Index("idx_trade_history_strategy_executed", "strategy_id", sa.text("executed_at DESC")),
    sa.Index("idx_trade_history_symbol_executed", "symbol", sa.text("executed_at DESC")),
)

supported_exchanges = sa.Table(
    "supported_exchanges",
    metadata,
    sa.Column("code", sa.String(20), primary_key=True),
    sa.Column("display_name", sa.String(50), nullable=False),
    sa.Column("supports_futures", sa.Boolean, nullable=False, server_default=sa.false()),
)

exchange_credentials = sa.Table(
    "exchange_credentials",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("exchange", sa.String(20), sa.ForeignKey("supported_exchanges.code"), nullable=False),
    sa.Column("api_key", sa.String(255), nullable=False),
    sa.Column("api_secret_encrypted", postgresql.BYTEA, nullable=False),
    sa.Column("passphrase_encrypted", postgresql.BYTEA),
    sa.Column("is_testnet", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("last_verified_at", sa.DateTime),
    *timestamps(),
    sa.UniqueConstraint("account_id", "exchange", "is_testnet", name="uq_exchange_credentials_account_exchange"),
)

order_events = sa.Table(
    "order_events",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("order_id", sa.Integer, sa.ForeignKey("open_orders.id", ondelete="CASCADE"), nullable=False),
    sa.Column("event_type", sa.String(20), nullable=False),
    sa.Column("payload", postgresql.JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    sa.Column("created_at", sa.DateTime, nullable=False, server_default=NOW),
    sa.Index("idx_order_events_order_id", "order_id"),
)
