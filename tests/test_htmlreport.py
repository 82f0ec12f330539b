"""The HTML report's builder (bridge.htmlreport): content, escaping, merging shards' JSON; the data from a real database."""

from __future__ import annotations

import datetime
import json
import re

import pytest
from conftest import legacy_source

from bridge import htmlreport, runner
from bridge.htmlreport import ReportData, ReportInputError, build_html, fleet_rows_from_json

EVIL = "<script>window.pwned=1</script>"


def _row(name, state, **more):
    return {"name": name, "kind": "database", "state": state, "current": [], "pending_revisions": [], **more}


def _cells(html: str) -> list[tuple[str, str]]:
    return re.findall(r'<div class=cell data-state="([^"]*)" data-name="([^"]*)"', html)


def test_the_fleet_grid_has_a_cell_per_target_coloured_by_state_with_counts_and_pending_migrations():
    rows = [
        _row("eu-1", "at-head", current=["20251003_c"]),
        _row(
            "eu-2",
            "pending",
            reason="behind head",
            current=["20251001_a"],
            pending_revisions=["20251002_b", "20251003_c"],
        ),
        _row("us-1", "failed", error="division by zero\nthe second line"),
        _row("us-2", "at-head", current=["20251003_c"]),
        _row(
            "t1",
            "pending",
            kind="tenant schema",
            reason="new tenant schema",
            pending_revisions=[f"m{i}" for i in range(12)],
        ),
    ]
    html = build_html(ReportData(fleet=rows, fleet_sources=["shard-0.json", "shard-1.json"]))
    assert _cells(html) == [
        ("at-head", "eu-1"),
        ("pending", "eu-2"),
        ("failed", "us-1"),
        ("at-head", "us-2"),
        ("pending", "t1"),
    ]
    assert (
        "<b>2</b> at-head</button>" in html
        and "<b>2</b> pending</button>" in html
        and "<b>1</b> failed</button>" in html
    )
    assert "migrated</button>" not in html  # no chip for a state no target is in
    assert "<summary>2 pending</summary><ol><li>20251002_b</li><li>20251003_c</li></ol>" in html
    assert "<li>m7</li><li class=muted>and 4 more</li>" in html and "<li>m8</li>" not in html
    assert "pending · tenant schema" in html and "new tenant schema" in html
    assert '<p class=error title="division by zero\nthe second line">division by zero</p>' in html
    assert "From shard-0.json, shard-1.json." in html
    assert f"--c:{htmlreport.COLOURS['failed']}" in html


def test_every_value_is_escaped_and_nothing_is_loaded_from_the_network():
    rows = [
        _row(
            EVIL, "failed", error=f"boom {EVIL}", reason=EVIL, pending_revisions=[EVIL], url='x" onmouseover="alert(1)'
        )
    ]
    runs = [_step("r1", EVIL, "failed", error=EVIL)]
    status = {"database": EVIL, "head": EVIL, "current": [EVIL], "migrations": [{"revision": EVIL, "state": EVIL}]}
    html = build_html(ReportData(title=EVIL, fleet=rows, runs=runs, status=status))
    assert "<script>window" not in html and html.count("<script>") == 1  # the report's own script only
    assert "&lt;script&gt;window.pwned=1&lt;/script&gt;" in html
    assert 'onmouseover="alert' not in html
    # Self-contained: no attribute points anywhere; the only URL is the SVG namespace (never fetched).
    assert not re.search(r"\b(src|href)\s*=", html)
    assert set(re.findall(r"https?://[^\s\"'<>]+", html)) == {"http://www.w3.org/2000/svg"}
    assert "default-src 'none'" in html and "script-src 'sha256-" in html and "unsafe-inline'; img" not in html


def _step(run_id, revision, outcome, *, ms=1200, attempts=1, error=None, second=0, sqlstate=None):
    return {
        "id": second,
        "run_id": run_id,
        "revision": revision,
        "direction": "upgrade",
        "outcome": outcome,
        "attempts": attempts,
        "duration_ms": ms,
        "started_at": datetime.datetime(2026, 12, 1, 10, 0, second),
        "error": error,
        "sqlstate": sqlstate,
        "db_user": "app",
        "host": "ci-7",
    }


def test_the_run_log_is_a_timeline_of_runs_with_failures_and_retries_marked():
    rows = [  # newest first, as runner.run_log returns them
        _step("run-2", "20251003_c", "applied", second=9),
        _step("run-2", "20251002_b", "applied", ms=4000, second=8),
        _step("run-2", "20251002_b", "retried", ms=500, attempts=2, error="lock timeout", second=7, sqlstate="55P03"),
        _step("run-1", "20251002_b", "failed", error="division by zero", second=2, sqlstate="22012"),
        _step("run-1", "20251001_a", "applied", second=1),
    ]
    html = build_html(ReportData(runs=rows))
    assert "Run log: 2 run(s), 5 step(s)" in html
    bars = re.findall(r'<rect class="step (\w+)" x="([\d.]+)" y="(\d+)" width="([\d.]+)"', html)
    # Oldest run first; each run's steps in the order they were written; widths as long as each took.
    assert [(b[0], b[2]) for b in bars] == [
        ("applied", "4"),
        ("failed", "4"),
        ("retried", "30"),
        ("applied", "30"),
        ("applied", "30"),
    ]
    widths = [float(b[3]) for b in bars]
    assert widths[3] == pytest.approx(widths[4] * 4000 / 1200, rel=0.01)
    assert html.count(">\u2715</text>") == 1 and html.count(">\u21bb</text>") == 1
    assert "<title>failed upgrade 20251002_b: 1.20s\ndivision by zero</title>" in html
    assert "<td class=error>[55P03] lock timeout</td>" in html
    assert "No runs recorded yet" in build_html(ReportData(runs=[]))


def test_shards_json_files_merge_into_one_row_per_target_in_one_vocabulary(tmp_path):
    status = {
        "targets": [
            {
                "name": "a",
                "url": "postgresql://u:***@h/a",
                "schema": None,
                "current": ["x"],
                "state": "at-head",
                "pending": 0,
            },
            {
                "name": "b",
                "url": "postgresql://u:***@h/b",
                "state": "pending",
                "pending_revisions": ["y"],
                "current": [],
            },
        ]
    }
    upgrade = {
        "summary": {},
        "targets": [
            {
                "name": "c",
                "url": "postgresql://u:s3cret@h/c",
                "outcome": "failed",
                "state": "failed",
                "error": "postgresql://u:s3cret@h/c refused",
                "to": ["x"],
            },
            {
                "name": "b",
                "url": None,
                "schema": "b",
                "outcome": "migrated",
                "applied": 1,
                "seconds": 0.5,
                "to": ["y"],
                "steps": [{"revision": "y", "outcome": "applied"}],
            },
        ],
    }
    old_status = {
        "targets": [
            {"name": "d", "url": None, "current": ["x"], "state": "at head"},
            {"name": "e", "current": [], "state": "new database"},
        ]
    }
    plan = {
        "targets": [
            {
                "name": "f",
                "state": "pending",
                "steps": [{"revision": "y", "direction": "upgrade", "kind": "legacy", "title": ""}],
            }
        ]
    }
    rows = fleet_rows_from_json(
        [(n, json.dumps(d)) for n, d in [("s0", status), ("s1", upgrade), ("old", old_status), ("plan", plan)]]
    )
    assert [(r["name"], r["state"], r["reason"], r["pending_revisions"]) for r in rows] == [
        ("a", "at-head", None, []),
        ("b", "migrated", None, []),  # named again by a later file: that one wins, in the first place
        ("c", "failed", None, []),
        ("d", "at-head", "at head", []),
        ("e", "pending", "new database", []),
        ("f", "pending", None, ["y"]),
    ]
    assert rows[1]["kind"] == "tenant schema" and "s3cret" not in json.dumps(rows)
    for text, why in [
        ("not json", "JSONDecodeError"),
        ('{"summary": {}}', "KeyError"),
        ('{"targets": {}}', "TypeError"),
    ]:
        with pytest.raises(
            ReportInputError, match=rf"^shard-3\.json: not a fleet JSON document \({why}.*fleet status --json"
        ):
            fleet_rows_from_json([("shard-3.json", text)])
    with pytest.raises(ReportInputError, match="nope.json: cannot read it"):
        htmlreport.gather(None, fleet_files=[tmp_path / "nope.json"], database=False)


def test_the_report_reads_a_real_databases_status_and_run_log(project):
    project.table("20251001_create_a", "a")
    project.write("20251002_fails.py", legacy_source(["SELECT 1 / 0"]))
    config = project.config()
    with pytest.raises(Exception, match="division by zero"):
        runner.upgrade(config)
    data = htmlreport.gather(config)
    assert [(r["revision"], r["outcome"]) for r in data.runs] == [
        ("20251002_fails", "failed"),
        ("20251001_create_a", "applied"),
    ]
    assert [(m["revision"], m["state"]) for m in data.status["migrations"]] == [
        ("20251001_create_a", "applied"),
        ("20251002_fails", "pending"),
    ]
    html = build_html(data)
    assert html.count('<rect class="step ') == 2 and "division by zero" in html
    assert '<tr class="pending"><td>20251002_fails</td>' in html
    assert data.fleet is None and "id=fleet" not in html


def test_the_status_table_shows_when_each_migration_was_applied_as_the_timeline_does_in_utc():
    status = {
        "migrations": [
            {
                "revision": "r1",
                "state": "applied",
                "edited": False,
                "applied_at": "2026-01-01T12:00:00.123456+09:00",
                "duration_ms": 1500,
                "checksum": "matches",
            },
            {"revision": "r2", "state": "pending", "applied_at": None, "duration_ms": None},
        ]
    }
    html = build_html(ReportData(status=status))
    assert "<td class=when>2026-01-01 03:00:00 UTC</td><td>1.50s</td><td>matches</td></tr>" in html, html
    assert "<th>applied at</th><th>duration</th><th>checksum</th>" in html
    assert "<th>edited</th>" not in html  # the checksum column says it
    assert "T12:00:00" not in html
