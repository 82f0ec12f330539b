"""Benchmark fleet mode and the run.py start pre-check (issue 14). Ratios are from this run only.

    python bench/fleet.py                      # fleet no-op over 100 databases, apply on 100, start at N=1000
    python bench/fleet.py --dbs 100 500 --apply-dbs 100 --start-n 1000 --url postgresql://u:pw@host/postgres

- **fleet no-op**: every database at head; ``alembic-bridge fleet upgrade --targets FILE``
  vs a shell loop of ``alembic upgrade head`` per database (the loop is timed
  over all of them, one process each, as a team's script would run it).
- **fleet apply**: 10 migrations on each of the apply databases, ``--parallel 1`` vs ``--parallel 4``.
- **start no-op**: ``python run.py start`` with nothing pending vs ``bench/legacy_runner.py``
  at N legacy files (median of --repeat runs, interleaved).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import generate  # noqa: E402

from run import Server  # noqa: E402

BIN = Path(sys.executable).parent
RUN_PY = "import sys; from bridge.cli.runpy import main; sys.exit(main(sys.argv[1:]))"


def _timed(argv, cwd, env) -> float:
    started = time.perf_counter()
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{argv} failed:\n{result.stdout}\n{result.stderr}")
    return seconds


def _url(url) -> str:
    return url.render_as_string(hide_password=False)


def fleet_noop(server, root: Path, n: int, env) -> dict:
    project = generate.write_bridge_project(root / f"noop{n}", 10)
    urls = [server.create(f"noop{n}_{i}") for i in range(n)]
    (project / "targets.txt").write_text("".join(f"db{i} {_url(u)}\n" for i, u in enumerate(urls)))
    fleet = [str(BIN / "alembic-bridge"), "fleet", "upgrade", "--targets", "targets.txt", "--parallel", "4"]
    _timed(fleet, project, env)  # apply everything first (untimed)
    fleet_seconds = _timed(fleet, project, env)
    loop = "for url in $(cut -d' ' -f2 targets.txt); do DATABASE_URL=$url alembic upgrade head || exit 1; done"
    loop_seconds = _timed(["bash", "-c", loop], project, {**env, "PATH": f"{BIN}:{env['PATH']}"})
    return {"n": n, "fleet": fleet_seconds, "loop": loop_seconds}


def fleet_apply(server, root: Path, n: int, env) -> dict:
    project = generate.write_bridge_project(root / f"apply{n}", 10)
    result = {"n": n}
    for parallel in (1, 4):
        urls = [server.create(f"apply{n}_{parallel}_{i}") for i in range(n)]
        (project / "targets.txt").write_text("".join(f"db{i} {_url(u)}\n" for i, u in enumerate(urls)))
        result[parallel] = _timed(
            [str(BIN / "alembic-bridge"), "fleet", "upgrade", "--targets", "targets.txt", "--parallel", str(parallel)],
            project,
            env,
        )
    return result


def start_noop(server, root: Path, n: int, repeat: int, env) -> dict:
    project = generate.write_bridge_project(root / f"start{n}", n)
    url = server.create(f"start{n}")
    legacy_url = server.create(f"start{n}_legacy")
    bridge_env = {**env, "DATABASE_URL": _url(url)}
    legacy_env = {**env, **{k: v for k, v in _db_vars(legacy_url).items()}}
    legacy = [sys.executable, str(BENCH / "legacy_runner.py"), str(project / "legacy")]
    start = [sys.executable, "-c", RUN_PY, "start"]
    _timed(start, project, bridge_env)
    _timed(legacy, project, legacy_env)
    times: dict[str, list[float]] = {"start": [], "legacy": []}
    for i in range(repeat):
        order = [("start", start, bridge_env), ("legacy", legacy, legacy_env)]
        for name, argv, e in order if i % 2 == 0 else reversed(order):
            times[name].append(_timed(argv, project, e))
    return {"n": n, "start": statistics.median(times["start"]), "legacy": statistics.median(times["legacy"])}


def _db_vars(url) -> dict[str, str]:
    host = url.host or url.query.get("host") or ""
    return {
        "DB_USER": url.username or "",
        "DB_PASSWORD": url.password or "",
        "DB_HOST": str(host),
        "DB_PORT": str(url.port or 5432),
        "DB_NAME": url.database or "",
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dbs", type=int, nargs="*", default=[100])
    parser.add_argument("--apply-dbs", type=int, default=100)
    parser.add_argument("--start-n", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--url")
    args = parser.parse_args()
    server = Server(args.url)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "DB_USER", "DB_PASSWORD", "DB_HOST", "DB_PORT", "DB_NAME")
    }
    env["PYTHONDONTWRITEBYTECODE"] = ""
    lines = []
    with tempfile.TemporaryDirectory(prefix="bridge-fleet-bench-") as tmp:
        root = Path(tmp)
        try:
            for n in args.dbs:
                r = fleet_noop(server, root, n, env)
                lines.append(
                    f"fleet no-op, {n} databases: fleet {r['fleet']:.1f} s, shell loop {r['loop']:.1f} s, "
                    f"ratio {r['fleet'] / r['loop']:.3f}x (target <= 0.05)"
                )
                print(lines[-1], flush=True)
            if args.apply_dbs:
                r = fleet_apply(server, root, args.apply_dbs, env)
                lines.append(
                    f"fleet apply, 10 migrations x {args.apply_dbs} databases: --parallel 1 {r[1]:.1f} s, "
                    f"--parallel 4 {r[4]:.1f} s, ratio {r[4] / r[1]:.2f}x"
                )
                print(lines[-1], flush=True)
            if args.start_n:
                r = start_noop(server, root, args.start_n, args.repeat, env)
                lines.append(
                    f"run.py start no-op, N={r['n']}: {r['start'] * 1000:.0f} ms, legacy runner "
                    f"{r['legacy'] * 1000:.0f} ms, ratio {r['start'] / r['legacy']:.2f}x (target <= 1.15)"
                )
                print(lines[-1], flush=True)
        finally:
            server.close() if hasattr(server, "close") else None
    return 0


if __name__ == "__main__":
    sys.exit(main())
