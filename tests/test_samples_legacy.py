"""The sample legacy migrations in migrations/ work under the legacy runner on a real PostgreSQL.

This is the baseline the bridge is measured against: whatever these files do
under `legacy_runner.MigrationHelper` (the old runner's reference behaviour),
they must also do under Alembic through the bridge.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import text

TESTS_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = TESTS_DIR.parent
MIGRATIONS_DIR = PROJECT_ROOT / "migrations"

if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))

from legacy_runner import MigrationHelper  # noqa: E402

SAMPLES = [
    "20250312_create_accounts",
    "20250408_create_strategies",
    "20250520_create_open_orders",
    "20250617_create_trade_history",
    "20250722_create_exchange_credentials",
    "20250903_add_updated_at_triggers",
    "20251015_add_error_message_to_open_orders",
    "20251015_backfill_order_error_messages",
    "20251022_add_trading_indexes",
    "20251104_add_client_order_id",
    "20251112_add_order_notes",
    "20251118_create_order_events",
]
BACKFILL_PLACEHOLDER = "Unknown: rejected before error tracking was added (backfilled 2025-10-15)"
MAIN_BLOCK_SAMPLE = "20250312_create_accounts"


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def load_sample(stem: str, directory: Path = MIGRATIONS_DIR):
    spec = importlib.util.spec_from_file_location(f"sample_{stem}", directory / f"{stem}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def scalars(engine, sql: str, **params) -> list:
    with engine.connect() as conn:
        return list(conn.execute(text(sql), params).scalars())


def user_objects(engine) -> dict[str, set[str]]:
    """Return every object a migration could leave behind, by kind."""
    queries = {
        "relations": """
            SELECT c.relkind::text || ':' || c.relname FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'""",
        "functions": """
            SELECT p.proname FROM pg_proc p
            JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'""",
        "triggers": "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal",
        "types": """
            SELECT t.typname FROM pg_type t
            JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = 'public'""",
        "extensions": "SELECT extname FROM pg_extension",
    }
    return {kind: set(scalars(engine, sql)) for kind, sql in queries.items()}


def legacy_main_env(url: sa.URL) -> dict:
    """Return the environment for running a sample's __main__ block against `url`.

    The block builds postgresql://USER:PASSWORD@HOST:PORT/NAME, so a Unix socket
    directory cannot go in DB_HOST (a path breaks the URL's authority part):
    DB_HOST is left empty and libpq finds the socket directory in PGHOST.
    """
    env = dict(os.environ)
    env.update(
        DB_USER=url.username or "postgres",
        DB_PASSWORD=url.password or "",
        DB_HOST=url.host or "",
        DB_PORT=str(url.port or 5432),
        DB_NAME=url.database,
    )
    socket_dir = url.query.get("host")
    if socket_dir:
        env["PGHOST"] = socket_dir if isinstance(socket_dir, str) else socket_dir[0]
    return env


def run_main_block(stem: str, *args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, f"migrations/{stem}.py", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


# ---------------------------------------------------------------------------
# The samples under the legacy runner
# ---------------------------------------------------------------------------


def test_the_migrations_directory_holds_exactly_the_samples():
    helper = MigrationHelper(None, MIGRATIONS_DIR)
    assert [path.stem for path in helper.migration_files()] == SAMPLES


def test_legacy_runner_applies_every_sample_in_file_name_order(engine):
    helper = MigrationHelper(engine, MIGRATIONS_DIR)

    assert helper.run_pending() == SAMPLES

    assert helper.applied() == set(SAMPLES)
    assert scalars(engine, "SELECT migration_name FROM schema_migrations ORDER BY id") == SAMPLES
    assert helper.pending() == []


def test_second_run_of_the_legacy_runner_applies_nothing(engine):
    helper = MigrationHelper(engine, MIGRATIONS_DIR)
    helper.run_pending()

    assert helper.run_pending() == []
    assert scalars(engine, "SELECT COUNT(*) FROM schema_migrations") == [len(SAMPLES)]


@pytest.mark.slow
def test_samples_build_the_trading_schema(engine):
    MigrationHelper(engine, MIGRATIONS_DIR).run_pending()
    inspector = sa.inspect(engine)

    assert set(inspector.get_table_names()) == {
        "schema_migrations",
        "accounts",
        "strategies",
        "open_orders",
        "trade_history",
        "supported_exchanges",
        "exchange_credentials",
        "order_events",
    }
    open_orders = {column["name"] for column in inspector.get_columns("open_orders")}
    assert {"error_message", "client_order_id", "status", "updated_at"} <= open_orders
    assert {index["name"] for index in inspector.get_indexes("open_orders")} == {
        "uq_open_orders_account_exchange_order_id",
        "idx_open_orders_status",
        "idx_open_orders_strategy_symbol",
        "idx_open_orders_with_error",
        "uq_open_orders_client_order_id",
    }
    assert inspector.get_enums() == [
        {"name": "strategy_market_type", "schema": "public", "visible": True, "labels": ["SPOT", "FUTURES"]},
    ]
    assert "client_order_id_seq" in inspector.get_sequence_names()
    assert set(scalars(engine, "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")) == {
        "trg_accounts_updated_at",
        "trg_strategies_updated_at",
        "trg_open_orders_updated_at",
        "trg_exchange_credentials_updated_at",
    }
    assert scalars(engine, "SELECT proname FROM pg_proc WHERE proname = 'set_updated_at'") == ["set_updated_at"]
    assert scalars(engine, "SELECT code FROM supported_exchanges ORDER BY code") == [
        "BINANCE",
        "BYBIT",
        "KRAKEN",
        "OKX",
        "UPBIT",
    ]


def test_optional_trigram_step_is_rolled_back_and_the_migration_carries_on(engine, capsys):
    MigrationHelper(engine, MIGRATIONS_DIR).run_pending()

    output = capsys.readouterr().out
    assert '⚠️  Trigram index skipped (extension "no_such_extension_xyz" is not available)' in output
    assert "✅ Migration completed: 5 indexes created" in output
    assert "idx_open_orders_symbol_trgm" not in {
        index["name"] for index in sa.inspect(engine).get_indexes("open_orders")
    }


def test_downgrading_every_sample_in_reverse_leaves_an_empty_database(engine):
    helper = MigrationHelper(engine, MIGRATIONS_DIR)
    helper.ensure_table()
    runner_only = user_objects(engine)
    helper.run_pending()

    for stem in reversed(SAMPLES):
        load_sample(stem).downgrade(engine)

    left = user_objects(engine)
    assert left == runner_only
    assert left["relations"] == {
        "r:schema_migrations",
        "S:schema_migrations_id_seq",
        "i:schema_migrations_pkey",
        "i:schema_migrations_migration_name_key",
    }
    assert left["functions"] == set()
    assert left["triggers"] == set()
    assert left["types"] == {"schema_migrations", "_schema_migrations"}


@pytest.mark.slow
def test_every_downgrade_can_run_again_on_an_empty_database(engine):
    MigrationHelper(engine, MIGRATIONS_DIR).run_pending()
    for _ in range(2):
        for stem in reversed(SAMPLES):
            load_sample(stem).downgrade(engine)

    assert user_objects(engine)["relations"] == {
        "r:schema_migrations",
        "S:schema_migrations_id_seq",
        "i:schema_migrations_pkey",
        "i:schema_migrations_migration_name_key",
    }


def test_every_upgrade_can_run_twice_without_the_runner(engine):
    for stem in SAMPLES:
        module = load_sample(stem)
        module.upgrade(engine)
        module.upgrade(engine)

    assert "schema_migrations" not in sa.inspect(engine).get_table_names()
    assert scalars(engine, "SELECT COUNT(*) FROM supported_exchanges") == [5]


def test_early_return_samples_skip_when_their_table_exists(engine, capsys):
    for stem in SAMPLES:
        load_sample(stem).upgrade(engine)
    capsys.readouterr()

    load_sample("20250312_create_accounts").upgrade(engine)
    load_sample("20250722_create_exchange_credentials").upgrade(engine)
    load_sample("20251015_add_error_message_to_open_orders").upgrade(engine)

    output = capsys.readouterr().out
    assert "ℹ️  Table accounts already exists, skipping" in output
    assert "ℹ️  Table exchange_credentials already exists, skipping" in output
    assert "ℹ️  Column open_orders.error_message already exists, skipping" in output


@pytest.mark.slow
def test_backfill_fills_old_rejected_orders_and_its_downgrade_clears_them(engine, tmp_path):
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    helper = MigrationHelper(engine, migrations)
    first, rest = SAMPLES[:7], SAMPLES[7:]
    for stem in first:
        shutil.copy(MIGRATIONS_DIR / f"{stem}.py", migrations)
    assert helper.run_pending() == first
    with engine.begin() as conn:
        conn.execute(
            text("""
            INSERT INTO accounts (id, name, exchange) VALUES (1, 'main', 'BINANCE');
            INSERT INTO strategies (id, account_id, group_name, name) VALUES (1, 1, 'btc', 'BTC trend');
            INSERT INTO open_orders (id, strategy_id, account_id, symbol, side, quantity, status, error_message)
            VALUES (1, 1, 1, 'BTCUSDT', 'BUY', 1, 'REJECTED', NULL),
                   (2, 1, 1, 'BTCUSDT', 'BUY', 1, 'FAILED', NULL),
                   (3, 1, 1, 'BTCUSDT', 'SELL', 1, 'REJECTED', 'Insufficient balance'),
                   (4, 1, 1, 'ETHUSDT', 'BUY', 2, 'OPEN', NULL);
        """)
        )

    for stem in rest:
        shutil.copy(MIGRATIONS_DIR / f"{stem}.py", migrations)
    assert helper.run_pending() == rest

    orders = "SELECT error_message FROM open_orders ORDER BY id"
    assert scalars(engine, orders) == [
        BACKFILL_PLACEHOLDER,
        BACKFILL_PLACEHOLDER,
        "Insufficient balance",
        None,
    ]
    assert scalars(engine, "SELECT client_order_id FROM open_orders ORDER BY client_order_id") == [
        "CO-1000",
        "CO-1001",
        "CO-1002",
        "CO-1003",
    ]
    for stem in reversed(rest):
        load_sample(stem).downgrade(engine)
    assert scalars(engine, orders) == [None, None, "Insufficient balance", None]


def test_updated_at_trigger_bumps_only_rows_that_changed(engine):
    MigrationHelper(engine, MIGRATIONS_DIR).run_pending()
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO accounts (id, name, exchange) VALUES (1, 'main', 'BINANCE')"))
    updated_at = "SELECT updated_at FROM accounts WHERE id = 1"
    [created] = scalars(engine, updated_at)

    with engine.begin() as conn:
        conn.execute(text("UPDATE accounts SET name = 'main' WHERE id = 1"))
    assert scalars(engine, updated_at) == [created]

    with engine.begin() as conn:
        conn.execute(text("UPDATE accounts SET name = 'primary' WHERE id = 1"))
    [changed] = scalars(engine, updated_at)
    assert changed > created


# ---------------------------------------------------------------------------
# The reference runner itself
# ---------------------------------------------------------------------------


def test_filename_format_records_file_names_and_stem_format_does_not_recognise_them(engine):
    by_filename = MigrationHelper(engine, MIGRATIONS_DIR, name_format="filename")

    assert by_filename.run_pending() == [f"{stem}.py" for stem in SAMPLES]

    assert by_filename.pending() == []
    assert MigrationHelper(engine, MIGRATIONS_DIR, name_format="stem").pending() == [
        MIGRATIONS_DIR / f"{stem}.py" for stem in SAMPLES
    ]


def test_applied_reads_nothing_and_creates_no_table_on_a_fresh_database(engine):
    helper = MigrationHelper(engine, MIGRATIONS_DIR)

    assert helper.applied() == set()
    assert not helper.has_table()


@pytest.mark.slow
def test_runner_script_prints_one_line_per_applied_migration_then_nothing(database_url):
    command = [
        sys.executable,
        "tests/legacy_runner.py",
        "--url",
        database_url.render_as_string(hide_password=False),
        "--dir",
        "migrations",
    ]

    first = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    second = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)

    assert first.returncode == 0, first.stderr
    applied = [line for line in first.stdout.splitlines() if line.startswith("Applied migration: ")]
    assert applied == [f"Applied migration: {stem}" for stem in SAMPLES]
    assert second.returncode == 0, second.stderr
    assert second.stdout == ""


@pytest.mark.slow
def test_runner_script_exits_1_and_names_the_failing_file(database_url, tmp_path):
    (tmp_path / "20250101_broken.py").write_text("def upgrade(engine):\n    raise RuntimeError('boom')\n")

    result = subprocess.run(
        [
            sys.executable,
            "tests/legacy_runner.py",
            "--url",
            database_url.render_as_string(hide_password=False),
            "--dir",
            str(tmp_path),
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 1
    assert result.stderr == "Migration failed in 20250101_broken.py: boom\n"


# ---------------------------------------------------------------------------
# A sample's __main__ block, run by hand as the legacy docs say
# ---------------------------------------------------------------------------


@pytest.mark.slow
def test_main_block_upgrade_and_downgrade_exit_0(database_url, engine, tmp_path):
    env = legacy_main_env(database_url)

    upgraded = run_main_block(MAIN_BLOCK_SAMPLE, "--upgrade", env=env)
    assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
    assert "✅ Migration completed: accounts table created" in upgraded.stdout
    assert sa.inspect(engine).has_table("accounts")

    downgraded = run_main_block(MAIN_BLOCK_SAMPLE, "--downgrade", env=env)
    assert downgraded.returncode == 0, downgraded.stdout + downgraded.stderr
    assert not sa.inspect(engine).has_table("accounts")


@pytest.mark.parametrize("args", [(), ("--sideways",), ("--upgrade", "--downgrade")])
@pytest.mark.slow
def test_main_block_without_a_valid_argument_prints_usage_and_exits_1(database_url, tmp_path, args):
    env = legacy_main_env(database_url)

    result = run_main_block(MAIN_BLOCK_SAMPLE, *args, env=env)

    assert result.returncode == 1
    assert result.stdout == (f"Usage: python migrations/{MAIN_BLOCK_SAMPLE}.py [--upgrade|--downgrade]\n")
