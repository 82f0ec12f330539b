"""Benchmark `alembic-bridge lint` over 1,000 generated legacy files (issue 16).

    python bench/lint.py                 # N = 1000, 3 repeats
    python bench/lint.py --n 5000 --repeat 5

Writes N files in the legacy template's style (`bench/generate.py`, the same
files the runner benchmarks apply), then times, every rule on:

- **library**: `bridge.lint.lint_paths([folder])` in this process (median of --repeat);
- **CLI**: `alembic-bridge lint FOLDER` as a subprocess, start-up included.
"""

from __future__ import annotations

import argparse
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "legacy"
        folder.mkdir()
        generate.write_legacy_files(folder, args.n)
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
    per_file = statistics.median(library) / args.n * 1000
    print(f"files: {args.n}; findings: {len(violations)}")
    print(f"library lint_paths: median {statistics.median(library):.2f} s ({per_file:.2f} ms per file)")
    print(f"CLI alembic-bridge lint: median {statistics.median(cli):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
