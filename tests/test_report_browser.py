"""`alembic-bridge report --html` end to end, read in a real headless Chromium (Debian's, driven by Playwright).

A sharded fleet run writes its JSON files, the report command builds the page
from them and from the configured database, and the browser renders it: the
test reads the grid after the page's script ran, filters it, checks that a
migration's error holding ``<script>`` stayed text, that nothing was fetched
from the network, and keeps a screenshot (its path is printed; set
``BRIDGE_TEST_ARTEFACTS`` to keep it in a folder of your choice).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import BIN, legacy_source, make_project, url_text

CHROMIUM = os.environ.get("BRIDGE_TEST_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
EVIL = "<script>window.pwned=1</script>"

# Fails, raising an error that holds markup, on a database that has a table fail_here.
FAILING = f'''\
"""
Migration: fails where marked
Date: 2025-10-02
Purpose: test migration
"""

from sqlalchemy import text


def upgrade(engine):
    with engine.begin() as conn:
        if conn.execute(text("SELECT to_regclass('fail_here') IS NOT NULL")).scalar():
            raise RuntimeError("refused: {EVIL}")
        conn.execute(text("CREATE TABLE b (id int)"))


def downgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS b"))
'''


@pytest.fixture
def browser():
    if CHROMIUM is None:
        pytest.skip("no Chromium: install Debian's (apt-get install chromium) or set BRIDGE_TEST_CHROMIUM")
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install playwright)")
    with sync_api.sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def artefacts(tmp_path) -> Path:
    folder = Path(os.environ.get("BRIDGE_TEST_ARTEFACTS") or tmp_path / "artefacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def databases(pg_admin_url):
    made: list[str] = []
    admin = sa.create_engine(pg_admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)

    def make(n):
        with admin.connect() as conn:
            for _ in range(n):
                made.append(f"rp_{uuid.uuid4().hex[:10]}")
                conn.exec_driver_sql(f'CREATE DATABASE "{made[-1]}"')
        return [pg_admin_url.set(database=name) for name in made[-n:]]

    yield make
    with admin.connect() as conn:
        for name in made:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def _sql(url, statement):
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(statement))
    finally:
        engine.dispose()


@pytest.mark.slow
def test_the_report_of_a_sharded_fleet_run_renders_in_chromium(browser, artefacts, tmp_path, pg_admin_url, databases):
    project = make_project(tmp_path / "project", pg_admin_url)
    project.write("20251001_create_a.py", legacy_source("CREATE TABLE a (id int)", "DROP TABLE a"))
    project.write("20251002_fails_where_marked.py", FAILING)
    project.write("20251003_create_c.py", legacy_source("CREATE TABLE c (id int)", "DROP TABLE c"))
    urls = databases(6)
    _sql(urls[3], "CREATE TABLE fail_here (id int)")
    env = {**os.environ, "DATABASE_URL": url_text(urls[3])}

    def bridge(*args):
        return subprocess.run(
            [str(BIN / "alembic-bridge"), *args], cwd=project.root, env=env, capture_output=True, text=True, timeout=300
        )

    assert bridge("--url", url_text(urls[4]), "upgrade").returncode == 0  # shop-5 is at head already
    # Shard 0 is upgraded, shard 1 only looked at: each writes its JSON file, as the Indexed Job's pods do.
    shard0 = [f"shop-{i + 1} {url_text(u)}" for i, u in enumerate(urls[:4])] + [
        "shop-gone postgresql://u@127.0.0.1:1/x"
    ]
    (project.root / "shard0.txt").write_text("\n".join(shard0) + "\n")
    (project.root / "shard1.txt").write_text(f"shop-5 {url_text(urls[4])}\nshop-6 {url_text(urls[5])}\n")
    run = bridge("fleet", "upgrade", "--targets", "shard0.txt", "--json", "--on-error", "continue")
    assert run.returncode == 1, run.stderr
    (project.root / "shard-0.json").write_text(run.stdout)
    status = bridge("fleet", "status", "--targets", "shard1.txt", "--json")
    assert status.returncode == 0, status.stderr
    (project.root / "shard-1.json").write_text(status.stdout)

    page_file = tmp_path / "report.html"
    made = bridge("report", "--html", str(page_file), "shard-0.json", "shard-1.json")
    assert made.returncode == 0, made.stderr
    assert made.stdout == f"Wrote {page_file}: 7 fleet target(s), 2 run-log row(s), 3 migration(s).\n"

    page = browser.new_page(viewport={"width": 1000, "height": 700})
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(page_file.as_uri())
    # The grid, as rendered, after the page's script ran (it writes the "showing" line).
    assert page.text_content("#fleet-shown") == "showing 7 of 7"
    cells = page.eval_on_selector_all(
        "#fleet-grid .cell",
        "cells => cells.map(c => [c.querySelector('.name').innerText, c.querySelector('.state').innerText])",
    )
    assert cells == [
        ["shop-1", "migrated"],
        ["shop-2", "migrated"],
        ["shop-3", "migrated"],
        ["shop-4", "failed"],
        ["shop-gone", "unreachable"],
        ["shop-5", "at-head"],
        ["shop-6", "pending"],
    ]
    colours = page.eval_on_selector_all(
        "#fleet-grid .cell", "cells => cells.map(c => getComputedStyle(c).borderLeftColor)"
    )
    assert colours[3] == "rgb(198, 40, 40)" and colours[5] == "rgb(46, 125, 50)"
    counts = page.eval_on_selector_all(".chip[data-filter]", "chips => chips.map(c => c.innerText)")
    assert counts == ["all", "1 at-head", "1 pending", "3 migrated", "1 failed", "1 unreachable"]
    page.click("details:has(summary:text('3 pending')) summary")
    assert (
        page.inner_text(".cell[data-name='shop-6'] ol")
        == "20251001_create_a\n20251002_fails_where_marked\n20251003_create_c"
    )
    # The error holding <script> is text on the page; it never ran.
    assert EVIL in page.text_content(".cell[data-name='shop-4'] .error")
    assert page.evaluate("typeof window.pwned") == "undefined"
    page.screenshot(path=str(artefacts / "report.png"), full_page=True)
    print(f"\nscreenshot: {artefacts / 'report.png'}")

    # Filtering by a state and by name.
    page.click(".chip[data-filter='failed']")
    assert page.text_content("#fleet-shown") == "showing 1 of 7"
    assert page.eval_on_selector_all(".cell:not(.hidden)", "cells => cells.map(c => c.dataset.name)") == ["shop-4"]
    page.click(".chip.all")
    page.fill("#fleet-search", "shop-5")
    assert page.text_content("#fleet-shown") == "showing 1 of 7"

    # The run log of the configured database (shop-4): one applied step, one failed, marked.
    assert page.eval_on_selector_all("#timeline rect.step", "r => r.map(x => x.classList[1])") == ["applied", "failed"]
    assert page.eval_on_selector_all("#timeline text.mark", "t => t.map(x => x.textContent)") == ["\u2715"]
    # Its status: one migration applied, two pending.
    states = page.eval_on_selector_all("#status tr td:nth-child(3)", "c => c.map(x => x.innerText)")
    assert states == ["applied", "pending", "pending"]
    assert all(url.startswith("file://") for url in requested), requested
    assert json.loads((project.root / "shard-0.json").read_text())["summary"]["failed"] == 1

    # Were escaping ever to miss one, the page's policy runs no script but its own.
    slipped = page_file.read_text().replace("</header>", f"</header>{EVIL}", 1)
    (tmp_path / "slipped.html").write_text(slipped)
    page.goto((tmp_path / "slipped.html").as_uri())
    assert page.text_content("#fleet-shown") == "showing 7 of 7"  # its own script ran
    assert page.evaluate("typeof window.pwned") == "undefined"

    # From the shards' files alone (no database), and live from a targets file.
    only = bridge("report", "--html", "only.html", "--no-database", "shard-0.json", "shard-1.json")
    assert only.stdout == "Wrote only.html: 7 fleet target(s).\n", only.stderr
    assert "id=runs" not in (project.root / "only.html").read_text()
    live = bridge("report", "--html", "live.html", "--no-database", "--targets", "shard1.txt")
    assert live.stdout == "Wrote live.html: 2 fleet target(s).\n", live.stderr
    assert "From a live pre-check of every target." in (project.root / "live.html").read_text()
    bad = bridge("report", "--html", "bad.html", "--no-database", "shard0.txt")
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert "shard0.txt: not a fleet JSON document (JSONDecodeError" in bad.stderr
