"""The live catalog: how big a table is and how busy, for `check`'s lock-danger findings.

No static linter can say whether ``CREATE INDEX`` without ``CONCURRENTLY`` blocks
ten rows or ten million. With a database, `check` can: `read` takes each table's
estimated rows and size from ``pg_class`` and its writes from
``pg_stat_user_tables`` (per minute since the statistics were reset, or since
the server started when they never were), one query for every table named.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlalchemy as sa

# to_regclass resolves each name as PostgreSQL would in the migration (search_path, quoting);
# an index (DROP INDEX ix, REINDEX INDEX ix) stands for the table it is on, whose lock it takes.
_STATS_SQL = sa.text("""
    SELECT t.name, c.relname,
           CASE WHEN c.reltuples >= 0 THEN c.reltuples::bigint ELSE s.n_live_tup END,
           pg_catalog.pg_total_relation_size(c.oid),
           coalesce(s.n_tup_ins + s.n_tup_upd + s.n_tup_del, 0),
           extract(epoch FROM now() - coalesce(d.stats_reset, pg_catalog.pg_postmaster_start_time())) / 60
    FROM unnest(CAST(:names AS text[])) AS t(name)
    LEFT JOIN pg_catalog.pg_index i ON i.indexrelid = pg_catalog.to_regclass(t.name)
    JOIN pg_catalog.pg_class c ON c.oid = coalesce(i.indrelid, pg_catalog.to_regclass(t.name))
    LEFT JOIN pg_catalog.pg_stat_user_tables s ON s.relid = c.oid
    LEFT JOIN pg_catalog.pg_stat_database d ON d.datname = current_database()
    WHERE c.relkind IN ('r', 'p', 'm')
""")


@dataclass(frozen=True)
class TableStats:
    """One table as the live catalog sees it."""

    name: str
    rows: int  # pg_class.reltuples (an estimate), or n_live_tup before the first ANALYZE
    bytes: int  # table, indexes and TOAST
    writes: int  # rows inserted, updated and deleted since the statistics were reset
    minutes: float  # since then

    @property
    def writes_per_minute(self) -> float:
        return self.writes / self.minutes if self.minutes > 0 else float(self.writes)

    def describe(self) -> str:
        """Return e.g. ``orders: 12.4 M rows, 3.1 GB, 41 k writes/min since stats reset``."""
        return (
            f"{self.name}: {_count(self.rows)} {'row' if self.rows == 1 else 'rows'}, {_size(self.bytes)}, "
            f"{_count(round(self.writes_per_minute))} writes/min since stats reset"
        )

    def as_dict(self) -> dict:
        return {
            "table": self.name,
            "rows": self.rows,
            "bytes": self.bytes,
            "writes_per_minute": round(self.writes_per_minute, 1),
        }


# `table` or `schema.table`, each part plain or double-quoted: what to_regclass resolves without
# raising (it raises on a third part, another database's name, or an open quote).
_RESOLVABLE = re.compile(r'(?:"(?:[^"]|"")+"|[^".]+)(?:\.(?:"(?:[^"]|"")+"|[^".]+))?')


def read(connection: sa.Connection, tables: list[str]) -> dict[str, TableStats]:
    """Return the stats of each of *tables* that exists, keyed by the name as given (a name
    PostgreSQL cannot resolve as a relation of this database is left out)."""
    names = sorted({name for name in tables if _RESOLVABLE.fullmatch(name)})
    if connection.dialect.name != "postgresql" or not names:
        return {}
    rows = connection.execute(_STATS_SQL, {"names": names})
    return {
        name: TableStats(relname, int(count or 0), int(size or 0), int(writes or 0), float(minutes or 0))
        for name, relname, count, size, writes, minutes in rows
    }


def _count(n: float) -> str:
    for limit, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= limit:
            return f"{n / limit:.1f} {unit}"
    return str(int(n))


def _size(n: float) -> str:
    for limit, unit in ((1 << 40, "TB"), (1 << 30, "GB"), (1 << 20, "MB"), (1 << 10, "kB")):
        if n >= limit:
            return f"{n / limit:.1f} {unit}"
    return f"{int(n)} bytes"
