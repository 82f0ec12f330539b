"""`alembic-bridge fleet` end to end: many databases and schemas on the embedded server, real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ET

import pytest
import sqlalchemy as sa
from conftest import BIN, legacy_source, make_project, url_text

PASSWORD = "Fl33tS3cretPw"  # the embedded server trusts local connections: any password is accepted
MIGRATIONS = 3


def _log_migration(i: int, fail_marked: bool = False, sleep: float = 0.0) -> str:
    up = [
        "CREATE TABLE IF NOT EXISTS applied_log (name text NOT NULL)",
        f"INSERT INTO applied_log (name) VALUES ('m{i}')",
        f"CREATE TABLE IF NOT EXISTS t{i} (id int)",
    ]
    if sleep:
        up.append(f"SELECT pg_sleep({sleep})")
    if fail_marked:
        # Fails only where a table fail_here exists (to_regclass is not folded at plan time).
        up.append("SELECT 1 / (CASE WHEN to_regclass('fail_here') IS NULL THEN 1 ELSE 0 END)")
    return legacy_source(up, [f"DROP TABLE IF EXISTS t{i}", f"DELETE FROM applied_log WHERE name = 'm{i}'"])


@pytest.fixture
def fleet(tmp_path, pg_admin_url):
    """A project, N databases (with a password in their URLs), a targets file; dropped afterwards."""
    made: list[str] = []
    admin = sa.create_engine(pg_admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)

    class Fleet:
        project = make_project(tmp_path / "project", pg_admin_url)
        urls: list = []

        def migrations(self, n=MIGRATIONS, fail_on=None, sleep=0.0):
            for i in range(1, n + 1):
                self.project.write(f"2025100{i}_step_{i}.py", _log_migration(i, fail_marked=i == fail_on, sleep=sleep))

        def databases(self, n):
            with admin.connect() as conn:
                for _ in range(n):
                    name = f"fl_{uuid.uuid4().hex[:10]}"
                    conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
                    made.append(name)
                    self.urls.append(pg_admin_url.set(database=name, password=PASSWORD))
            lines = ["# the fleet", *(f"tenant{i:03d}  {self._templated(u)}" for i, u in enumerate(self.urls))]
            (self.project.root / "targets.txt").write_text("\n".join(lines) + "\n")
            return self.urls

        def _templated(self, url):
            return url_text(url).replace(PASSWORD, "${FLEET_PW}")

        def run(self, *args, url=None, before=(), **kw):
            env = {**os.environ, "DATABASE_URL": url_text(pg_admin_url), "FLEET_PW": PASSWORD}
            first = [*before, *(["--url", url_text(url)] if url is not None else [])]
            return subprocess.run(
                [str(BIN / "alembic-bridge"), *first, "fleet", *args],
                cwd=self.project.root,
                env=env,
                capture_output=True,
                text=True,
                timeout=kw.pop("timeout", 300),
                **kw,
            )

        def popen(self, *args):
            env = {**os.environ, "DATABASE_URL": url_text(pg_admin_url), "FLEET_PW": PASSWORD}
            return subprocess.Popen(
                [str(BIN / "alembic-bridge"), "fleet", *args],
                cwd=self.project.root,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                start_new_session=True,
            )

        def sql(self, url, statement):
            engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
            try:
                with engine.begin() as conn:
                    result = conn.execute(sa.text(statement))
                    return result.fetchall() if result.returns_rows else None
            finally:
                engine.dispose()

        def log(self, url, schema=None):
            table = f"{schema}.applied_log" if schema else "applied_log"
            if not self.sql(url, f"SELECT to_regclass('{table}') IS NOT NULL")[0][0]:
                return []
            return sorted(r[0] for r in self.sql(url, f"SELECT name FROM {table}"))

        def version(self, url, schema=None):
            table = f"{schema}.alembic_version" if schema else "alembic_version"
            if not self.sql(url, f"SELECT to_regclass('{table}') IS NOT NULL")[0][0]:
                return []
            return [r[0] for r in self.sql(url, f"SELECT version_num FROM {table}")]

    yield Fleet()
    with admin.connect() as conn:
        for name in made:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


HEAD = f"2025100{MIGRATIONS}_step_{MIGRATIONS}"
ALL = [f"m{i}" for i in range(1, MIGRATIONS + 1)]


def _no_password(*texts):
    for text in texts:
        assert PASSWORD not in text


@pytest.mark.slow
def test_fifty_databases_reach_head_with_json_and_junit_matching_the_databases_and_a_rerun_does_nothing(
    fleet, tmp_path
):
    fleet.migrations()
    urls = fleet.databases(50)
    result = fleet.run("upgrade", "--targets", "targets.txt", "--parallel", "4", "--json", "--junit", "junit.xml")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    junit = (fleet.project.root / "junit.xml").read_text()
    _no_password(result.stdout, result.stderr, junit)
    assert data["summary"]["migrated"] == 50
    for record, url in zip(data["targets"], urls):
        assert (record["outcome"], record["applied"], record["to"], record["ok"]) == (
            "migrated",
            MIGRATIONS,
            [HEAD],
            True,
        )
        assert "***" in record["url"]
        assert fleet.version(url) == record["to"] and fleet.log(url) == ALL
        # Each target's run log, read back into the report: one applied step per migration.
        assert [(st["direction"], st["outcome"], st["attempts"]) for st in record["steps"]] == [
            ("upgrade", "applied", 1)
        ] * MIGRATIONS
        assert len({st["run_id"] for st in record["steps"]}) == 1
    suite = ET.fromstring(junit).find("testsuite")
    assert "  applied upgrade 20251001_step_1 (" in suite.find("testcase").find("system-out").text
    assert (suite.get("tests"), suite.get("failures"), len(suite.findall("testcase"))) == ("50", "0", 50)

    started = time.monotonic()
    again = fleet.run("upgrade", "--targets", "targets.txt", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["summary"]["at-head"] == 50
    assert time.monotonic() - started < 30
    assert all(fleet.log(u) == ALL for u in urls)
    status = fleet.run("status", "--targets", "targets.txt")
    assert status.returncode == 0 and "50 target(s): 50 at-head." in status.stdout
    _no_password(again.stdout, again.stderr, status.stdout, status.stderr)


@pytest.mark.slow
def test_out_of_order_plan_whole_errors_and_a_relative_downgrade_work_on_the_fleet_as_on_one_database(fleet):
    for i in (1, 3):
        fleet.project.write(f"2025100{i}_step_{i}.py", _log_migration(i))
    urls = fleet.databases(2)
    first = fleet.run("upgrade", "--targets", "targets.txt")
    # The summary counts states in the words of every other output (it said "0 already at head").
    assert first.returncode == 0 and first.stdout.endswith("\n2 target(s): 2 migrated.\n"), first.stdout
    late = fleet.project.write("20251002_step_2.py", _log_migration(2))  # a hotfix dated before the head

    # The pre-check names the out-of-order file and the way out (it said "schema_migrations is missing rows").
    checked = json.loads(fleet.run("status", "--targets", "targets.txt", "--json").stdout)["targets"]
    assert [(r["state"], r["reason"], r["pending_revisions"]) for r in checked] == [
        ("pending", "out of order: 20251002_step_2 (`fleet upgrade --out-of-order`)", ["20251002_step_2"])
    ] * 2

    planned = fleet.run("plan", "--targets", "targets.txt", "--json")
    assert planned.returncode == 1
    for record in json.loads(planned.stdout)["targets"]:
        assert record["state"] == "failed" and str(late) in record["error"]
        assert "`alembic-bridge fleet upgrade --out-of-order`" in record["error"]
    # The table shows the first line of the error and says there is more; -v shows it all.
    cut = fleet.run("upgrade", "--targets", "targets.txt")
    assert cut.returncode == 1 and str(late) not in cut.stdout
    assert "more line(s): -v or --json shows them" in cut.stdout and cut.stdout.endswith("\n2 target(s): 2 failed.\n")
    whole = fleet.run("upgrade", "--targets", "targets.txt", before=["-v"])
    assert whole.returncode == 1 and f"    {late}" in whole.stdout
    assert "    For every target of the fleet: `alembic-bridge fleet upgrade --out-of-order`." in whole.stdout
    assert "Traceback" not in whole.stderr

    planned = fleet.run("plan", "--out-of-order", "--targets", "targets.txt", "--json")
    assert planned.returncode == 0, planned.stderr
    assert [
        (r["state"], [(s["revision"], s["kind"]) for s in r["steps"]]) for r in json.loads(planned.stdout)["targets"]
    ] == [("pending", [("20251002_step_2", "legacy, out of order")])] * 2
    text = fleet.run("plan", "--out-of-order", "--targets", "targets.txt")
    assert "tenant000: pending, 1 migration(s)\n  upgrade   20251002_step_2  (legacy, out of order)" in text.stdout
    assert "2 target(s): 2 pending; 2 migration(s) in all." in text.stdout

    applied = fleet.run("upgrade", "--out-of-order", "--targets", "targets.txt", "--json")
    assert applied.returncode == 0, applied.stderr
    assert [(r["state"], r["applied"]) for r in json.loads(applied.stdout)["targets"]] == [("migrated", 1)] * 2
    assert all(fleet.log(u) == ["m1", "m2", "m3"] for u in urls)
    status = json.loads(fleet.run("status", "--targets", "targets.txt", "--json").stdout)
    assert [r["state"] for r in status["targets"]] == ["at-head", "at-head"]

    planned = fleet.run("plan", "--downgrade", "-1", "--targets", "targets.txt", "--json")
    assert planned.returncode == 0, planned.stderr
    assert [[(s["direction"], s["revision"]) for s in r["steps"]] for r in json.loads(planned.stdout)["targets"]] == [
        [("downgrade", "20251003_step_3")]
    ] * 2
    back = fleet.run("downgrade", "-1", "--targets", "targets.txt", "--json")
    assert back.returncode == 0, back.stderr
    assert [(r["state"], r["to"], r["ok"]) for r in json.loads(back.stdout)["targets"]] == [
        ("migrated", ["20251002_step_2"], True)
    ] * 2
    assert all(fleet.log(u) == ["m1", "m2"] for u in urls)
    _no_password(planned.stdout, whole.stdout, whole.stderr, back.stdout)


@pytest.mark.slow
def test_fifty_schemas_of_one_database_are_tenants_with_their_own_history(fleet, pg_admin_url):
    fleet.migrations()
    url = fleet.databases(1)[0]
    for i in range(50):
        fleet.sql(url, f"CREATE SCHEMA tenant_{i:02d}")
    fleet.sql(url, "CREATE SCHEMA other")
    result = fleet.run("upgrade", "--schemas", "tenant_*", "--json", "--parallel", "4", url=url)
    assert result.returncode == 0, result.stderr
    _no_password(result.stdout, result.stderr)
    data = json.loads(result.stdout)
    assert data["summary"]["migrated"] == 50 and len(data["targets"]) == 50
    for i in range(50):
        assert fleet.version(url, f"tenant_{i:02d}") == [HEAD]
        assert fleet.log(url, f"tenant_{i:02d}") == ALL
    assert fleet.version(url, "other") == [] and fleet.version(url) == []  # public untouched
    again = fleet.run("upgrade", "--schemas", "tenant_*", "--json", url=url)
    assert json.loads(again.stdout)["summary"]["at-head"] == 50


@pytest.mark.slow
@pytest.mark.parametrize("on_error", ["continue", "stop"])
def test_a_migration_failing_on_three_targets(fleet, on_error):
    # Each migration takes 0.3 s, so the target after the failing one is still running when
    # the failure (at its second migration) comes back: the order of events is fixed.
    fleet.migrations(fail_on=2, sleep=0.3)
    urls = fleet.databases(12)
    failing = {2, 6, 9}
    for i in failing:
        fleet.sql(urls[i], "CREATE TABLE fail_here (id int)")
    result = fleet.run("upgrade", "--targets", "targets.txt", "--json", "--on-error", on_error, "--parallel", "2")
    assert result.returncode == 1
    records = json.loads(result.stdout)["targets"]
    outcomes = [r["outcome"] for r in records]
    if on_error == "continue":
        assert [i for i, o in enumerate(outcomes) if o == "failed"] == sorted(failing)
        assert all(o == "migrated" for i, o in enumerate(outcomes) if i not in failing)
    else:
        first = outcomes.index("failed")
        assert first == 2 and "not-run" in outcomes
        # Targets start in order, two at a time: the one running beside the failing target
        # finishes; nothing starts after the failure, so every later target is not run.
        assert outcomes[first + 1 :] == ["migrated"] + ["not-run"] * (len(urls) - first - 2), outcomes
    for record, url in zip(records, urls):
        if record["outcome"] == "failed":
            assert "division by zero" in record["error"]
            assert [(st["outcome"], st["sqlstate"]) for st in record["steps"]] == [
                ("applied", None),
                ("failed", "22012"),
            ]
            # Per-migration atomicity: the first migration committed, the failing one left nothing.
            assert fleet.log(url) == ["m1"] and fleet.version(url) == ["20251001_step_1"] == record["to"]
        elif record["outcome"] == "migrated":
            assert fleet.log(url) == ALL
        else:
            assert fleet.log(url) == [] and record["to"] == []


@pytest.mark.slow
def test_a_canary_failure_stops_the_fleet_before_the_rest(fleet):
    fleet.migrations(fail_on=1)
    urls = fleet.databases(6)
    fleet.sql(urls[1], "CREATE TABLE fail_here (id int)")
    result = fleet.run("upgrade", "--targets", "targets.txt", "--json", "--canary", "2", "--on-error", "continue")
    assert result.returncode == 1
    outcomes = [r["outcome"] for r in json.loads(result.stdout)["targets"]]
    assert outcomes == ["migrated", "failed", "not-run", "not-run", "not-run", "not-run"]
    assert all(fleet.log(u) == [] for u in urls[2:])


@pytest.mark.slow
def test_kill_9_mid_run_then_a_rerun_completes_every_target_exactly_once(fleet):
    fleet.migrations(sleep=0.3)
    urls = fleet.databases(12)
    process = fleet.popen("upgrade", "--targets", "targets.txt", "--parallel", "2")
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(fleet.log(u) for u in urls):
            time.sleep(0.2)
        time.sleep(1.0)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        assert any(fleet.log(u) != ALL for u in urls), "the fleet finished before it was killed"
        rerun = fleet.run("upgrade", "--targets", "targets.txt", "--json", "--parallel", "4")
        assert rerun.returncode == 0, rerun.stderr
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)  # orphaned workers of the killed fleet
        except ProcessLookupError:
            pass
    for url in urls:
        assert fleet.log(url) == ALL and fleet.version(url) == [HEAD]


@pytest.mark.slow
def test_four_shard_processes_at_once_migrate_every_target_exactly_once(fleet):
    fleet.migrations()
    urls = fleet.databases(24)
    processes = [
        fleet.popen("upgrade", "--targets", "targets.txt", "--json", "--shard", f"{i}/4", "--parallel", "2")
        for i in range(4)
    ]
    names = []
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        names += [r["name"] for r in json.loads(out)["targets"]]
    assert sorted(names) == sorted(f"tenant{i:03d}" for i in range(24))  # every target in exactly one shard
    for url in urls:
        assert fleet.log(url) == ALL  # each migration ran once


@pytest.mark.slow
def test_shards_from_the_job_completion_index(fleet):
    fleet.migrations(1)
    fleet.databases(6)
    env_names = []
    for index in range(3):
        result = subprocess.run(
            [str(BIN / "alembic-bridge"), "fleet", "status", "--targets", "targets.txt", "--shards", "3"],
            cwd=fleet.project.root,
            capture_output=True,
            text=True,
            env={**os.environ, "FLEET_PW": PASSWORD, "JOB_COMPLETION_INDEX": str(index)},
        )
        assert result.returncode == 0, result.stderr
        env_names += [line.split()[0] for line in result.stdout.splitlines() if line.startswith("tenant")]
    assert sorted(env_names) == [f"tenant{i:03d}" for i in range(6)]


@pytest.mark.slow
def test_bad_input_is_one_clear_line_and_exit_1(fleet):
    fleet.migrations(1)
    (fleet.project.root / "targets.txt").write_text("postgresql://u:${MISSING_PW}@h/db\n")
    result = fleet.run("upgrade", "--targets", "targets.txt")
    assert result.returncode == 1
    assert "targets.txt:1: ${MISSING_PW} is not set" in result.stderr and "Traceback" not in result.stderr
    result = fleet.run("upgrade")
    assert result.returncode == 1 and "No targets: pass --targets FILE" in result.stderr
    result = fleet.run("upgrade", "--targets", "targets.txt", "--shard", "9/4")
    assert result.returncode == 1 and "--shard '9/4' is not I/N" in result.stderr
    assert sys.executable  # the venv's alembic-bridge ran
