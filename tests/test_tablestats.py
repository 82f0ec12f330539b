"""The live catalog (bridge.tablestats): a table's rows, size and writes, read from PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa

from bridge import tablestats


def test_a_large_and_a_small_table_are_told_apart_by_rows_size_and_writes(engine):
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE big (id INT, pad TEXT)")
        conn.exec_driver_sql("INSERT INTO big SELECT g, repeat('x', 100) FROM generate_series(1, 50000) g")
        conn.exec_driver_sql("CREATE TABLE small (id INT)")
        conn.exec_driver_sql("INSERT INTO small VALUES (1), (2)")
        conn.exec_driver_sql('CREATE SCHEMA "Other"')
        conn.exec_driver_sql('CREATE TABLE "Other"."Mixed" (id INT)')
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE big")
        found = tablestats.read(conn, ["big", "small", "public.big", '"Other"."Mixed"', "missing", "pg_class"])
    assert set(found) == {"big", "small", "public.big", '"Other"."Mixed"', "pg_class"}
    big, small = found["big"], found["small"]
    assert 45_000 <= big.rows <= 55_000  # reltuples: an estimate after ANALYZE
    assert small.rows == 2  # never analyzed: n_live_tup
    assert big.bytes > 5_000_000 > small.bytes > 0
    assert big.writes >= 50_000 and big.minutes > 0
    assert found["public.big"] == big
    assert big.describe().startswith("big: ") and " rows, " in big.describe()
    assert big.describe().endswith(" writes/min since stats reset")
    assert set(big.as_dict()) == {"table", "rows", "bytes", "writes_per_minute"}


def test_an_index_is_sized_as_the_table_it_blocks(engine):
    # DROP INDEX ix / REINDEX INDEX ix name only the index: the lock, and the figures, are its table's.
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE orders (id INT, status TEXT)")
        conn.exec_driver_sql("INSERT INTO orders SELECT g, 'NEW' FROM generate_series(1, 3000) g")
        conn.exec_driver_sql("CREATE INDEX ix_orders_status ON orders (status)")
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE orders")
        found = tablestats.read(conn, ["ix_orders_status", "orders"])
    assert found["ix_orders_status"] == found["orders"]
    assert (found["orders"].name, found["orders"].rows) == ("orders", 3000)


def test_figures_read_as_people_write_them():
    stats = tablestats.TableStats("orders", 12_400_000, 3_300_000_000, 41_000 * 60, 60.0)
    assert stats.describe() == "orders: 12.4 M rows, 3.1 GB, 41.0 k writes/min since stats reset"
    assert (
        tablestats.TableStats("t", 12, 8192, 0, 1.0).describe() == "t: 12 rows, 8.0 kB, 0 writes/min since stats reset"
    )
    assert (
        tablestats.TableStats("t", 1, 8192, 60, 1.0).describe() == "t: 1 row, 8.0 kB, 60 writes/min since stats reset"
    )


def test_other_databases_and_no_tables_read_nothing():
    engine = sa.create_engine("sqlite://")
    with engine.connect() as conn:
        assert tablestats.read(conn, ["t"]) == {}


def test_names_postgresql_cannot_resolve_are_skipped_not_an_error(engine):
    # A migration may name a table as db.schema.table, with too many dots, or with a quote
    # left open: to_regclass raises on each (one error would fail the whole `check`).
    with engine.begin() as conn:
        conn.exec_driver_sql('CREATE TABLE orders (id int); CREATE TABLE "odd.name" (id int)')
    names = ["a.b.c.d", "otherdb.public.orders", '"unterminated', "orders", 'public."odd.name"', ""]
    with engine.connect() as conn:
        found = tablestats.read(conn, names)
    assert sorted(found) == ["orders", 'public."odd.name"']
