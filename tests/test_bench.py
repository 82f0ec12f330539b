"""The benchmark script.

The smoke test runs ``bench/run.py`` end to end on 20 migrations against the
test server and checks that it prints its tables and ratios; it asserts no
timing (docs/benchmarks.md has the numbers). The tests that pin down each
shortcut taken for speed live with their subject: the docstring reader in
test_loader.py, the signature check in test_executor.py, the ledger's
one-statement record in test_ledger.py, the legacy-head fast path in
test_alembic_cli.py.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import types

import pytest
import sqlalchemy as sa
from conftest import REPO, url_text


def _bench_databases(url) -> set[str]:
    admin = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with admin.connect() as conn:
            query = sa.text("SELECT datname FROM pg_database WHERE datname LIKE :pattern")
            return set(conn.execute(query, {"pattern": "bench%"}).scalars())
    finally:
        admin.dispose()


@pytest.mark.slow
def test_the_bench_runs_on_twenty_migrations_and_prints_every_ratio(pg_admin_url, tmp_path):
    before = _bench_databases(pg_admin_url)
    report = tmp_path / "bench.json"
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "run.py"),
            "--n",
            "20",
            "--repeat",
            "1",
            "--url",
            url_text(pg_admin_url),
            "--json",
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for line in (
        "N=20    no-op bridge / stock Alembic",
        "N=20    no-op bridge / legacy runner",
        "N=20    apply bridge / legacy runner",
        "N=20    no-op bridge / floor",
        "floor: import alembic, sqlalchemy + 1 query",
    ):
        assert line in result.stdout
    data = json.loads(report.read_text())
    assert set(data["n"]["20"]["noop"]) == {"bridge", "stock", "legacy", "floor"}
    assert set(data["n"]["20"]["apply"]) == {"bridge", "stock", "legacy"}
    assert all(run["max_rss_mb"] > 0 for run in data["n"]["20"]["noop"].values())
    assert _bench_databases(pg_admin_url) == before  # it drops what it created


def _bench_module(monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))  # bench/run.py adds bench/ to it
    spec = importlib.util.spec_from_file_location("bench_run", REPO / "bench" / "run.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_run", module)  # its dataclasses look it up
    spec.loader.exec_module(module)
    return module


def test_callgrind_counts_become_per_migration_figures_and_ratios(tmp_path, capsys, monkeypatch):
    # valgrind itself is too slow for the suite (about 90 s at N = 5); this checks the
    # arithmetic and the parsing, on counts in callgrind's own output format.
    run = _bench_module(monkeypatch)
    out = tmp_path / "callgrind.out"
    out.write_text("# callgrind format\nversion: 1\nevents: Ir\nsummary: 4497832760\n")
    assert run.callgrind_total(out) == 4_497_832_760
    (tmp_path / "empty.out").write_text("events: Ir\n")
    with pytest.raises(run.RunFailed, match="no instruction total"):
        run.callgrind_total(tmp_path / "empty.out")
    counts = {
        ("apply", "bridge"): 4_000e6,
        ("noop", "bridge"): 1_000e6,
        ("apply", "stock"): 3_000e6,
        ("noop", "stock"): 1_500e6,
        ("apply", "legacy"): 2_000e6,
        ("noop", "legacy"): 500e6,
        ("noop", "floor"): 800e6,
    }
    bench = types.SimpleNamespace(n=1000, instructions=counts)
    info = dict(cpus=2, cpu="x", python="3", postgresql="18", alembic="1", sqlalchemy="2")
    data = run.report_instructions([bench], info)
    ratios = data["ratios"]
    assert ratios["per migration bridge / legacy @ N=1000"] == pytest.approx(3.0 / 1.5)
    assert ratios["per migration bridge / stock @ N=1000"] == pytest.approx(3.0 / 1.5)
    assert ratios["apply bridge / legacy runner @ N=1000"] == pytest.approx(2.0)
    assert ratios["no-op bridge / stock Alembic @ N=1000"] == pytest.approx(1 / 1.5)
    assert ratios["no-op bridge / floor @ N=1000"] == pytest.approx(1.25)
    printed = capsys.readouterr().out
    assert "per migration: (apply - no-op) / N   1000 |     3.00M     1.50M     1.50M" in printed


@pytest.mark.slow
def test_the_round_trip_counter_sees_the_legacy_runner_s_seven_and_the_bridge_s_nine(pg_admin_url):
    """bench/roundtrips.py: the legacy runner's 7 per migration (BEGIN, CREATE TABLE, SELECT, COMMIT,
    BEGIN, INSERT, COMMIT) checks the counter; the bridge's 9 is docs/benchmarks.md's table (the
    run-log row in one round trip: a SAVEPOINT/INSERT/RELEASE sent apart makes it 11)."""
    before = _bench_databases(pg_admin_url)
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "roundtrips.py"),
            "--n",
            "3",
            "--show",
            "2",
            "--url",
            url_text(pg_admin_url),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    [line] = [line for line in result.stdout.splitlines() if line.startswith("per migration")]
    assert line.split()[2:] == ["9.00", "7.00"], result.stdout
    assert "SAVEPOINT bridge_log_sp; INSERT INTO alembic_bridge_log" in result.stdout
    assert _bench_databases(pg_admin_url) == before
