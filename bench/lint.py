"""Benchmark `alembic-bridge lint` over 1,000 generated legacy files (issue 16).

    python bench/lint.py                 # N = 1000, 3 repeats
    python bench/lint.py --n 5000 --repeat 5

Writes N files in the legacy template's style (`bench/generate.py`, the same
files the runner benchmarks apply), then times, every rule on:

- **floor**: reading every file and parsing it with `ast.parse`, and every SQL string
  literal in it with pglast: the work any linter of these files must do, measured in
  the same run as the baseline (this machine is noisy: compare, do not quote seconds);
- **library**: `bridge.lint.lint_paths([folder])` in this process (median of --repeat);
- **CLI**: `alembic-bridge lint FOLDER` as a subprocess, start-up included.
"""

from __future__ import annotations

import argparse
import ast
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


def floor(folder: Path) -> int:
    """Parse every file, and each SQL-looking string literal in it with pglast; return the statements."""
    import pglast

    statements = 0
    for path in sorted(folder.glob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and node.value.lstrip()[:6].upper()
                in ("CREATE", "ALTER ", "DROP T", "INSERT", "UPDATE", "DELETE", "SELECT")
            ):
                try:
                    statements += len(pglast.parse_sql(node.value))
                except pglast.parser.ParseError:
                    pass
    return statements


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "legacy"
        folder.mkdir()
        generate.write_legacy_files(folder, args.n)
        floors = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            statements = floor(folder)
            floors.append(time.perf_counter() - started)
        library = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            violations = lint_paths([folder])
            library.append(time.perf_counter() - started)
        cli = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            done = subprocess.run(
                [str(BIN / "alembic-bridge"), "--quiet", "lint", str(folder)], capture_output=True, text=True
            )
            cli.append(time.perf_counter() - started)
            if done.returncode not in (0, 1):
                raise SystemExit(f"alembic-bridge lint failed:\n{done.stderr}")
    base, lib, command = (statistics.median(x) for x in (floors, library, cli))
    print(f"files: {args.n}; SQL statements parsed by the floor: {statements}; findings: {len(violations)}")
    print(f"floor (ast + pglast parse): median {base:.2f} s")
    print(f"library lint_paths:         median {lib:.2f} s ({lib / args.n * 1000:.2f} ms per file)")
    print(f"CLI alembic-bridge lint:    median {command:.2f} s")
    print(f"ratios (this run): library / floor {lib / base:.2f}x; CLI / floor {command / base:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
