"""Count the client/server round trips of the bridge and of the minimal legacy runner.

    python bench/roundtrips.py                 # N = 10 and 20 legacy files, per-migration figures
    python bench/roundtrips.py --show 3        # also list the round trips of the 3rd migration

Each runner runs in this process, against an embedded server (or ``--url``),
with SQLAlchemy event hooks on every engine counting what goes over the wire:

- one per ``cursor.execute`` (a string of several statements is one round
  trip: psycopg2 sends it as one simple query);
- one per ``BEGIN`` psycopg2 sends by itself before the first statement of a
  transaction (read off the DBAPI connection's status just before the execute);
- one per ``COMMIT`` / ``ROLLBACK`` that reaches the server (not when the
  DBAPI connection has no transaction open: psycopg2 then sends nothing);
- one per new connection (the start-up exchange, however many packets it takes).

Per migration = (count at N = 2k - count at N = k) / k, so the fixed costs of a
run (connecting, reading the history, the lock) cancel out. The no-op line is a
whole ``alembic upgrade head`` with everything applied (and the legacy runner's
run with nothing pending).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

import psycopg2.extensions
import sqlalchemy as sa

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import generate  # noqa: E402

from run import Server, url_text  # noqa: E402


class Counter:
    def __init__(self):
        self.trips: list[str] = []
        self.on = False

    def install(self) -> None:
        sa.event.listen(sa.engine.Engine, "before_cursor_execute", self._execute)
        sa.event.listen(sa.engine.Engine, "commit", self._commit)
        sa.event.listen(sa.engine.Engine, "rollback", self._rollback)
        sa.event.listen(sa.pool.Pool, "connect", self._connect)

    def _add(self, what: str) -> None:
        if self.on:
            self.trips.append(what)

    def _execute(self, conn, cursor, statement, parameters, context, executemany):
        dbapi = cursor.connection
        if not dbapi.autocommit and dbapi.status == psycopg2.extensions.STATUS_READY:
            self._add("BEGIN (psycopg2)")
        self._add(" ".join(statement.split())[:110])

    def _end(self, conn, word: str) -> None:
        dbapi = conn.connection.dbapi_connection
        if dbapi is not None and not dbapi.autocommit and dbapi.status != psycopg2.extensions.STATUS_READY:
            self._add(word)

    def _commit(self, conn):
        self._end(conn, "COMMIT")

    def _rollback(self, conn):
        self._end(conn, "ROLLBACK")

    def _connect(self, dbapi_connection, record):
        self._add("(connect)")

    @contextlib.contextmanager
    def counting(self):
        self.trips = []
        self.on = True
        try:
            yield self.trips
        finally:
            self.on = False


@contextlib.contextmanager
def chdir_env(folder: Path, env: dict[str, str]):
    old_cwd, old_env = os.getcwd(), dict(os.environ)
    os.chdir(folder)
    os.environ.update(env)
    try:
        yield
    finally:
        os.chdir(old_cwd)
        os.environ.clear()
        os.environ.update(old_env)


def run_bridge(project: Path, url) -> None:
    from alembic.config import main as alembic_main

    with chdir_env(project, {"DATABASE_URL": url_text(url)}):
        alembic_main(["--raiseerr", "-c", str(project / "alembic.ini"), "upgrade", "head"])


def run_legacy(folder: Path, url) -> None:
    import legacy_runner

    env = {
        "DB_USER": url.username or "",
        "DB_PASSWORD": url.password or "",
        "DB_HOST": url.host or url.query.get("host", ""),
        "DB_PORT": str(url.port or 5432),
        "DB_NAME": url.database,
    }
    with chdir_env(folder.parent, env), contextlib.redirect_stdout(open(os.devnull, "w")):
        assert legacy_runner.main(str(folder)) == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10, help="k: runs N = k and N = 2k (default 10)")
    parser.add_argument("--show", type=int, help="list the round trips of this migration (1-based) of the N = k run")
    parser.add_argument("--url", help="PostgreSQL URL of a user who may create databases (default: embedded)")
    args = parser.parse_args(argv)

    counter = Counter()
    counter.install()
    server = Server(args.url)
    work = Path(tempfile.mkdtemp(prefix="bridge-roundtrips-"))
    results: dict[tuple[str, int], list[str]] = {}
    try:
        for n in (args.n, 2 * args.n):
            project = generate.write_bridge_project(work / f"n{n}", n)
            for runner in ("bridge", "legacy"):
                url = server.create(f"rt_{runner}_{n}")
                run = run_bridge if runner == "bridge" else run_legacy
                target = project if runner == "bridge" else project / "legacy"
                with counter.counting() as trips:
                    run(target, url)
                results[(runner, n)] = trips
                with counter.counting() as trips:
                    run(target, url)
                results[(runner, -n)] = trips  # the no-op
                server.drop(url)
    finally:
        server.close()
        shutil.rmtree(work, ignore_errors=True)

    k = args.n
    print(f"round trips (client/server exchanges), N = {k} and {2 * k}:")
    print(f"{'':28} {'bridge':>8} {'legacy':>8}")
    for label, key in ((f"apply N={k}", k), (f"apply N={2 * k}", 2 * k), ("no-op", -k)):
        print(f"{label:28} {len(results[('bridge', key)]):8} {len(results[('legacy', key)]):8}")
    per = {r: (len(results[(r, 2 * k)]) - len(results[(r, k)])) / k for r in ("bridge", "legacy")}
    print(f"{'per migration':28} {per['bridge']:8.2f} {per['legacy']:8.2f}")
    if args.show:
        tag = f"bench_{args.show:05d}"
        for runner in ("bridge", "legacy"):
            trips = results[(runner, k)]
            where = [i for i, t in enumerate(trips) if tag in t and t.upper().startswith("CREATE TABLE")]
            nxt = [i for i, t in enumerate(trips) if f"bench_{args.show + 1:05d}" in t and "CREATE TABLE" in t.upper()]
            if where and nxt:
                print(f"\n{runner}: from migration {args.show}'s CREATE TABLE to the next one's")
                for t in trips[where[0] : nxt[0]]:
                    print(f"  {t}")
    print("\nno-op, bridge:")
    for t in results[("bridge", -k)]:
        print(f"  {t}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
