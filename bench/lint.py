"""Benchmark `alembic-bridge lint` over 1,000 generated legacy files (issue 16).

    python bench/lint.py                 # N = 1000, 3 repeats
    python bench/lint.py --n 5000 --repeat 5

Writes N files in the legacy template's style (`bench/generate.py`, the same
files the runner benchmarks apply), then times, every rule on:

- **floor**: reading every file and parsing it with `ast.parse`, and every SQL string
  literal in it with pglast: the work any linter of these files must do, measured in
  the same run as the baseline (this machine is noisy: compare, do not quote seconds);
- **library**: `bridge.lint.lint_paths([folder])` in this process (median of --repeat);
- **CLI**: `alembic-bridge lint FOLDER` as a subprocess, start-up included;
- **squawk**: squawk-cli (`pip install squawk-cli`, not a dependency) over the same SQL, one
  .sql file per migration (the statements the floor parses), as a subprocess; skipped with a
  message when squawk is not installed.

Also prints the CPU and wall time of `import bridge.lint` in a fresh interpreter.
"""

from __future__ import annotations

import argparse
import ast
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import generate  # noqa: E402

from bridge.lint import lint_paths  # noqa: E402

BIN = Path(sys.executable).parent


def _sql_literal(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value.lstrip()[:6].upper() in ("CREATE", "ALTER ", "DROP T", "INSERT", "UPDATE", "DELETE", "SELECT")
    )


def floor(folder: Path) -> int:
    """Parse every file, and each SQL-looking string literal in it with pglast; return the statements."""
    import pglast

    statements = 0
    for path in sorted(folder.glob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if _sql_literal(node):
                try:
                    statements += len(pglast.parse_sql(node.value))
                except pglast.parser.ParseError:
                    pass
    return statements


def write_sql(folder: Path, target: Path) -> None:
    """Write each migration's SQL literals to one .sql file (what squawk reads of the same files)."""
    target.mkdir()
    for path in sorted(folder.glob("*.py")):
        literals = [n.value for n in ast.walk(ast.parse(path.read_text())) if _sql_literal(n)]
        (target / f"{path.stem}.sql").write_text("".join(s.rstrip().rstrip(";") + ";\n" for s in literals))


def squawk_binary() -> str | None:
    local = BIN / "squawk"
    return str(local) if local.exists() else shutil.which("squawk")


def _timed(work) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - wall, time.process_time() - cpu


def _timed_child(command: list[str], ok: tuple[int, ...]) -> tuple[float, float]:
    """Run *command*; return its (wall, CPU) seconds, CPU from the children's resource usage."""
    before, wall = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in ok:
        raise SystemExit(f"{command[0]} failed:\n{done.stderr}")
    return wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def import_time() -> tuple[float, float]:
    """Return (wall, CPU) seconds of `import bridge.lint` in a fresh interpreter: the best of five."""
    code = (
        "import time; w, c = time.perf_counter(), time.process_time(); import bridge.lint; "
        "print(time.perf_counter() - w, time.process_time() - c)"
    )
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True) for _ in range(5)]
    pairs = [tuple(map(float, r.stdout.split())) for r in runs]
    return min(p[0] for p in pairs), min(p[1] for p in pairs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "legacy"
        folder.mkdir()
        generate.write_legacy_files(folder, args.n)
        # Floor and library alternate, so load from other work on the machine hits both alike;
        # CPU seconds (process / child CPU time) are the figures to compare on a busy machine.
        floors, library, cli, squawks = [], [], [], []
        for _ in range(args.repeat):
            floors.append(_timed(lambda: floor(folder)))
            library.append(_timed(lambda: lint_paths([folder])))
        statements = floor(folder)
        violations = lint_paths([folder])
        for _ in range(args.repeat):
            cli.append(_timed_child([str(BIN / "alembic-bridge"), "--quiet", "lint", str(folder)], ok=(0, 1)))
        squawk = squawk_binary()
        if squawk is not None:
            sql = Path(tmp) / "sql"
            write_sql(folder, sql)
            files = sorted(str(p) for p in sql.glob("*.sql"))
            for _ in range(args.repeat):
                squawks.append(_timed_child([squawk, "--reporter", "json", *files], ok=(0, 1)))
    print(f"files: {args.n}; SQL statements parsed by the floor: {statements}; findings: {len(violations)}")
    print("                            wall (median)   CPU (median)")
    rows = [("floor (ast + pglast parse)", floors), ("library lint_paths", library), ("CLI alembic-bridge lint", cli)]
    if squawks:
        rows.append(("squawk-cli, same SQL", squawks))
    med = {
        label: (statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs)) for label, runs in rows
    }
    for label, (wall, cpu) in med.items():
        print(f"{label:<27} {wall:8.2f} s      {cpu:8.2f} s")
    (fw, fc), (lw, lc), (cw, cc) = (
        med["floor (ast + pglast parse)"],
        med["library lint_paths"],
        med["CLI alembic-bridge lint"],
    )
    print(
        f"library / floor: {lw / fw:.2f}x wall, {lc / fc:.2f}x CPU; CLI / floor: {cw / fw:.2f}x wall, {cc / fc:.2f}x CPU"
    )
    if squawks:
        sw, sc = med["squawk-cli, same SQL"]
        print(f"CLI / squawk-cli: {cw / sw:.1f}x wall, {cc / sc:.1f}x CPU")
    else:
        print("squawk-cli: not installed, not timed (pip install squawk-cli to compare)")
    wall, cpu = import_time()
    print(f"import bridge.lint: {wall:.3f} s wall, {cpu:.3f} s CPU (best of 5, fresh interpreter)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
