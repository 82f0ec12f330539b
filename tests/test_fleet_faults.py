"""The fleet's faults stay with their target, and its reports stay machine-readable.

- a tenant schema (or a database) this role cannot read fails that target only, with the reason;
- ``kill -9`` of ``fleet upgrade`` mid-run leaves no worker, forkserver or resource tracker running;
- with ``--json`` / ``--junit``, what migrations print goes to standard error, and a control
  character in a target's name still gives XML that parses.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from conftest import BIN, legacy_source, make_project, url_text

PRINTING = '''"""
Migration: prints
"""
import os

from sqlalchemy import text


def upgrade(engine):
    print("PRINTED-BY-MIGRATION")
    os.system("echo PRINTED-BY-CHILD-PROCESS")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS printed (id int)"))


def downgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS printed"))
'''


def _fleet(project, *args, env=None, timeout=180):
    full = {**os.environ, "DATABASE_URL": url_text(project.url), **(env or {})}
    return subprocess.run(
        [str(BIN / "alembic-bridge"), "fleet", *args],
        cwd=project.root,
        env=full,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _admin(url):
    return sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)


# -- machine-readable output -------------------------------------------------------------------


@pytest.mark.slow
def test_fleet_json_and_junit_stay_machine_readable_when_migrations_print(tmp_path, database_url):
    project = make_project(tmp_path / "project", database_url)
    project.write("20251001_prints.py", PRINTING)
    with _admin(database_url).connect() as conn:
        for schema in ("tenant_a", "tenant_b"):
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")

    as_json = _fleet(project, "upgrade", "--schemas", "tenant_a", "--json")
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["summary"]["migrated"] == 1  # nothing else on stdout
    assert "PRINTED-BY-MIGRATION" in as_json.stderr and "PRINTED-BY-CHILD-PROCESS" in as_json.stderr

    report = tmp_path / "report.xml"
    junit = _fleet(project, "upgrade", "--schemas", "tenant_b", "--junit", str(report))
    assert junit.returncode == 0, junit.stderr
    assert "PRINTED" not in junit.stdout and "PRINTED-BY-MIGRATION" in junit.stderr
    ET.fromstring(report.read_bytes())


@pytest.mark.slow
def test_junit_parses_when_a_target_name_holds_control_characters(tmp_path, database_url):
    project = make_project(tmp_path / "project", database_url)
    project.table("20251001_create_a", "a")
    query = f"SELECT 'bell' || chr(7) || chr(27) || '[31m<&>', '{url_text(database_url)}'"
    report = tmp_path / "report.xml"
    result = _fleet(project, "upgrade", "--targets-query", query, "--junit", str(report), "--json")
    assert result.returncode == 0, result.stderr
    (case,) = ET.fromstring(report.read_bytes()).iter("testcase")
    assert case.get("name") == "bell\\x07\\x1b[31m<&>"
    assert json.loads(result.stdout)["targets"][0]["name"] == "bell\x07\x1b[31m<&>"
    # The text outputs show it escaped: the progress lines and the table, `fleet status`.
    for command in ("upgrade", "status"):
        text = _fleet(project, command, "--targets-query", query)
        assert text.returncode == 0, text.stderr
        assert "bell\\x07\\x1b[31m<&>" in text.stdout, text.stdout
        assert "\x1b" not in text.stdout + text.stderr and "\x07" not in text.stdout + text.stderr


def test_to_junit_escapes_what_xml_cannot_hold():
    from bridge.fleet.report import FAILED, NOT_RUN, Record, to_junit

    records = [
        Record("t\x00\x07\x1b\ud800", None, "s\x01", FAILED, error="bad\x08 <&> \x0e value"),
        Record("u\x1f", None, None, NOT_RUN, error="not run\x02"),
    ]
    root = ET.fromstring(to_junit(records).encode("utf-8"))
    names = [case.get("name") for case in root.iter("testcase")]
    assert names == ["t\\x00\\x07\\x1b\\ud800", "u\\x1f"]
    assert root.find(".//failure").get("message") == "bad\\x08 <&> \\x0e value"


def test_the_text_table_shows_control_characters_escaped_never_raw():
    # A target named by --targets-query (or a tenant schema) could hold a terminal escape:
    # printed raw it would recolour, move the cursor or clear the operator's terminal.
    from bridge.fleet.report import FAILED, Record, table

    records = [Record("t\x1b[2J\x07", None, None, FAILED, error="bad \x1b]0;title\x07 value\nsecond\x9b line")]
    lines = table(records, full_errors=True)
    assert not any(ch for line in lines for ch in line if not ch.isprintable()), lines
    assert lines[2].startswith("t\\x1b[2J\\x07  failed"), lines
    assert lines[3:] == ["    bad \\x1b]0;title\\x07 value", "    second\\x9b line"], lines


# -- one unreadable tenant fails only itself -----------------------------------------------------


@pytest.fixture
def reader(pg_admin_url, database_url):
    """A non-superuser role (hostile password) that may connect to the test database; dropped afterwards."""
    name = f"r_{uuid.uuid4().hex[:10]}"
    password = "R0le@:/%#'\" \\ü"
    admin = _admin(pg_admin_url)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE ROLE "{name}" LOGIN PASSWORD %(p)s', {"p": password})
        conn.exec_driver_sql(f'GRANT CONNECT, CREATE ON DATABASE "{database_url.database}" TO "{name}"')
    try:
        yield name, database_url.set(username=name, password=password)
    finally:
        db = _admin(database_url)
        with db.connect() as conn:
            conn.exec_driver_sql(f'REASSIGN OWNED BY "{name}" TO CURRENT_USER')
            conn.exec_driver_sql(f'DROP OWNED BY "{name}"')
        db.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP OWNED BY "{name}"')
            conn.exec_driver_sql(f'DROP ROLE "{name}"')
        admin.dispose()


@pytest.mark.slow
def test_a_schema_the_role_cannot_read_fails_that_target_only(tmp_path, database_url, reader):
    role, role_url = reader
    project = make_project(tmp_path / "project", role_url)
    project.table("20251001_create_a", "a")
    with _admin(database_url).connect() as conn:
        for schema in ("tenant_a", "tenant_b", "tenant_c"):
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        conn.exec_driver_sql("CREATE TABLE tenant_b.alembic_version (version_num varchar(255) PRIMARY KEY)")
        for schema in ("tenant_a", "tenant_c"):
            conn.exec_driver_sql(f'GRANT USAGE, CREATE ON SCHEMA {schema} TO "{role}"')

    status = _fleet(project, "status", "--schemas", "tenant_*", "--json")
    rows = {row["name"]: row for row in json.loads(status.stdout)["targets"]}
    assert status.returncode == 1
    assert rows["tenant_b"]["state"] == "unreachable"
    assert "permission denied for schema tenant_b" in rows["tenant_b"]["error"]
    assert [rows[t]["state"] for t in ("tenant_a", "tenant_c")] == ["pending", "pending"], rows

    upgrade = _fleet(project, "upgrade", "--schemas", "tenant_*", "--json", "--on-error", "continue")
    records = {r["name"]: r for r in json.loads(upgrade.stdout)["targets"]}
    assert {name: r["outcome"] for name, r in records.items()} == {
        "tenant_a": "migrated",
        "tenant_b": "unreachable",
        "tenant_c": "migrated",
    }
    assert "permission denied for schema tenant_b" in records["tenant_b"]["error"]
    assert "R0le" not in upgrade.stdout + upgrade.stderr + status.stdout + status.stderr


@pytest.mark.slow
def test_a_tenant_whose_legacy_table_lacks_the_configured_column_fails_that_target_only(tmp_path, database_url):
    project = make_project(tmp_path / "project", database_url)
    project.table("20251001_create_a", "a")
    with _admin(database_url).connect() as conn:
        for schema in ("tenant_a", "tenant_b", "tenant_c"):
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        # An old runner of this family wrote `filename` where the bridge is told to read migration_name.
        conn.exec_driver_sql("CREATE TABLE tenant_b.schema_migrations (id serial PRIMARY KEY, filename text)")

    status = _fleet(project, "status", "--schemas", "tenant_*", "--json")
    assert status.returncode == 1, status.stderr
    rows = {row["name"]: row for row in json.loads(status.stdout)["targets"]}
    assert "legacy_name_column" in rows["tenant_b"]["error"], rows
    assert [rows[t]["state"] for t in ("tenant_a", "tenant_c")] == ["pending", "pending"], rows

    upgrade = _fleet(project, "upgrade", "--schemas", "tenant_*", "--json", "--on-error", "continue")
    assert upgrade.returncode == 1, upgrade.stderr
    records = {r["name"]: r for r in json.loads(upgrade.stdout)["targets"]}
    assert records["tenant_a"]["outcome"] == records["tenant_c"]["outcome"] == "migrated", records
    assert records["tenant_b"]["outcome"] != "migrated"
    assert "legacy_name_column" in records["tenant_b"]["error"], records
    assert "Traceback" not in upgrade.stdout + upgrade.stderr + status.stdout + status.stderr


@pytest.mark.slow
def test_a_database_the_role_cannot_connect_to_fails_that_target_only(tmp_path, pg_admin_url, database_url, reader):
    role, role_url = reader
    closed = f"closed_{uuid.uuid4().hex[:8]}"
    admin = _admin(pg_admin_url)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{closed}"')
        conn.exec_driver_sql(f'REVOKE CONNECT ON DATABASE "{closed}" FROM PUBLIC')
    try:
        project = make_project(tmp_path / "project", role_url)
        project.table("20251001_create_a", "a")

        def line(url) -> str:  # the URL with ${PW} for its password (a raw space would split the line)
            return url.set(password="PWHERE").render_as_string(hide_password=False).replace("PWHERE", "${PW}")

        (project.root / "targets.txt").write_text(
            f"open {line(role_url)}\nclosed {line(role_url.set(database=closed))}\n", encoding="utf-8"
        )
        with _admin(database_url).connect() as conn:
            conn.exec_driver_sql(f'GRANT CREATE ON SCHEMA public TO "{role}"')
        env = {"PW": quote(role_url.password, safe="")}
        result = _fleet(project, "upgrade", "--targets", "targets.txt", "--json", "--on-error", "continue", env=env)
        assert result.stdout, result.stderr
        records = {r["name"]: r for r in json.loads(result.stdout)["targets"]}
        assert records["open"]["outcome"] == "migrated", records
        assert records["closed"]["outcome"] == "unreachable"
        assert "permission denied for database" in records["closed"]["error"]
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{closed}" WITH (FORCE)')
        admin.dispose()


# -- kill -9 leaves nothing running ----------------------------------------------------------------


def _session_processes(session: int) -> dict[int, str]:
    """Return {pid: command} of the live (not zombie) processes in *session*."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[3]) == session:
            found[int(entry.name)] = cmdline.strip()
    return found


@pytest.mark.slow
def test_kill_9_of_the_fleet_mid_run_leaves_nothing_running(tmp_path, database_url):
    project = make_project(tmp_path / "project", database_url)
    project.write(
        "20251001_slow.py", legacy_source(["CREATE TABLE IF NOT EXISTS slow (id int)", "SELECT pg_sleep(60)"])
    )
    with _admin(database_url).connect() as conn:
        for schema in ("tenant_a", "tenant_b"):
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    process = subprocess.Popen(
        [str(BIN / "alembic-bridge"), "fleet", "upgrade", "--schemas", "tenant_*", "--parallel", "2"],
        cwd=project.root,
        env={**os.environ, "DATABASE_URL": url_text(database_url)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    admin = _admin(database_url)
    try:
        deadline = time.monotonic() + 90
        sleeping = 0
        while time.monotonic() < deadline and sleeping < 2:
            with admin.connect() as conn:
                sleeping = conn.exec_driver_sql(
                    "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(60)%%' AND state = 'active'"
                ).scalar_one()
            time.sleep(0.2)
        assert sleeping == 2, "the migrations never started"
        before = _session_processes(process.pid)
        assert len(before) >= 4, before  # the fleet, the forkserver, two workers (and a resource tracker)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        killed_at = time.monotonic()
        left = _session_processes(process.pid)
        while left and time.monotonic() - killed_at < 5:
            time.sleep(0.1)
            left = _session_processes(process.pid)
        assert left == {}, f"still running {time.monotonic() - killed_at:.1f}s after kill -9: {left}"
        recorded = 0
        with admin.connect() as conn:
            # The kill landed mid-run: neither tenant recorded the migration.
            for schema in ("tenant_a", "tenant_b"):
                if conn.exec_driver_sql(f"SELECT to_regclass('{schema}.alembic_version') IS NOT NULL").scalar_one():
                    recorded += conn.exec_driver_sql(f"SELECT count(*) FROM {schema}.alembic_version").scalar_one()
        assert recorded == 0
    finally:
        for pid in _session_processes(process.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        with admin.connect() as conn:
            conn.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(60)%%'"
            )
        admin.dispose()
