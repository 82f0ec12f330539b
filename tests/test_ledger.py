"""The ledger (bridge.ledger): its one-statement record of a migration on PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa


def test_recording_a_migration_twice_keeps_one_row_and_the_latest_checksum(engine):
    from bridge.context import forget_connection
    from bridge.ledger import Ledger

    with engine.begin() as conn:
        ledger = Ledger(conn, "stem")
        ledger.record_applied("20251031_x", "a" * 64)
        ledger.record_applied("20251031_x", "b" * 64)
        ledger.record_applied("20251101_y")
        forget_connection(conn)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT migration_name FROM schema_migrations ORDER BY id").scalars().all()
        sums = conn.exec_driver_sql("SELECT migration_name, sha256 FROM alembic_bridge_checksums").all()
    assert rows == ["20251031_x", "20251101_y"]
    assert sums == [("20251031_x", "b" * 64)]


def test_a_row_in_the_other_name_format_is_not_duplicated(engine):
    from bridge.ledger import Ledger

    with engine.begin() as conn:
        Ledger(conn).ensure_tables()
        conn.exec_driver_sql("INSERT INTO schema_migrations (migration_name) VALUES ('20251031_x.py')")
    with engine.begin() as conn:
        Ledger(conn, "stem").record_applied("20251031_x", "c" * 64)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT migration_name FROM schema_migrations").scalars().all()
    assert rows == ["20251031_x.py"]


def test_history_tables_created_by_a_rolled_back_migration_are_created_again(engine):
    from bridge.ledger import Ledger

    with engine.connect() as conn:
        with conn.begin() as trans:
            Ledger(conn, "stem").record_applied("20251031_x", "a" * 64)
            trans.rollback()  # the migration failed: its tables and rows are gone
        with conn.begin():
            Ledger(conn, "stem").record_applied("20251031_x", "a" * 64)
        rows = conn.exec_driver_sql("SELECT migration_name FROM schema_migrations").scalars().all()
    assert rows == ["20251031_x"]


@pytest.mark.parametrize("version_schema", [None, "s%s"])
def test_a_version_table_whose_name_holds_percent_and_quotes_is_read(engine, version_schema):
    # Any PostgreSQL name is a valid version_table / version_table_schema; psycopg2's
    # pyformat must not see a % the identifier quoting already doubled.
    from bridge.ledger import read_history, read_history_by_schema

    name = "v%s\"x'%%y"
    table = sa.Table(name, sa.MetaData(), sa.Column("version_num", sa.String(32)), schema=version_schema)
    with engine.begin() as conn:
        if version_schema is not None:
            conn.execute(sa.schema.CreateSchema(version_schema))
        table.create(conn)
        conn.execute(table.insert().values(version_num="20251001_a"))
        assert conn.scalar(sa.text("SELECT count(*) FROM pg_class WHERE relname = :n"), {"n": name}) == 1
    with engine.connect() as conn:
        assert read_history(conn, name, version_schema).heads == ("20251001_a",)
        if version_schema is not None:
            assert read_history_by_schema(conn, [version_schema], name)[version_schema].heads == ("20251001_a",)
