"""Fleet mode's parts: target lists, shards, the pre-check, schema tenants, reports (real PostgreSQL)."""

from __future__ import annotations

import json
import uuid
import xml.etree.ElementTree as ET

import pytest
import sqlalchemy as sa
from conftest import legacy_source, url_text

from bridge import runner
from bridge.context import set_request
from bridge.fleet import api, report
from bridge.fleet.precheck import Expected, decide
from bridge.fleet.targets import (
    Source,
    Target,
    TargetsError,
    parse_shard,
    query_targets,
    read_targets_file,
    schema_targets,
    select_shard,
    shard_from_environment,
    shard_of,
)
from bridge.ledger import LedgerState
from bridge.loader import scan
from bridge.lock import lock_key


@pytest.fixture
def make_databases(pg_admin_url):
    """Create N fresh databases on the test server; return their URLs (dropped afterwards)."""
    made = []
    admin = sa.create_engine(pg_admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)

    def make(n: int):
        urls = []
        with admin.connect() as conn:
            for _ in range(n):
                name = f"f_{uuid.uuid4().hex[:12]}"
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
                made.append(name)
                urls.append(pg_admin_url.set(database=name))
        return urls

    yield make
    with admin.connect() as conn:
        for name in made:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def _sql(url, statement, **params):
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            result = conn.execute(sa.text(statement), params)
            return result.fetchall() if result.returns_rows else None
    finally:
        engine.dispose()


# -- target lists ---------------------------------------------------------------------------


def test_a_targets_file_takes_urls_names_comments_and_variables(tmp_path):
    path = tmp_path / "targets.txt"
    path.write_text(
        "# tenants\n\npostgresql://app:${PW}@db1/shop_a\neu-b  postgresql://app:${PW}@db2/shop_b   # the EU one\n"
    )
    found = read_targets_file(path, {"PW": "s3cret"})
    assert [(t.name, t.url) for t in found] == [
        ("db1/shop_a", "postgresql://app:s3cret@db1/shop_a"),
        ("eu-b", "postgresql://app:s3cret@db2/shop_b"),
    ]
    assert "s3cret" not in repr(found) and found[1].masked_url == "postgresql://app:***@db2/shop_b"


@pytest.mark.parametrize(
    "text, message",
    [
        ("postgresql://app:${NOPE}@db/x\n", "targets.txt:1: ${NOPE} is not set. Export NOPE (or put it in .env)"),
        ("\na b c\n", "targets.txt:2: expected `URL` or `name URL`, found 3 fields"),
        ("a postgresql://u:pw@h/x\na postgresql://u:pw@h/y\n", "targets.txt:2: the target 'a' is already named at"),
        ("just-a-name\n", "targets.txt:1: *** is not a database URL"),
        ("# nothing\n", "lists no target"),
    ],
)
def test_a_bad_targets_file_is_refused_naming_the_line_and_the_fix(tmp_path, text, message):
    path = tmp_path / "targets.txt"
    path.write_text(text)
    with pytest.raises(TargetsError) as caught:
        read_targets_file(path, {})
    assert message in str(caught.value)
    assert "pw" not in str(caught.value)


def test_one_target_source_only():
    with pytest.raises(TargetsError, match="Give one target list, not --targets and --schemas"):
        Source.choose(targets_file="t.txt", schemas="tenant_*")
    with pytest.raises(TargetsError, match="No targets: pass --targets FILE"):
        Source.choose()
    assert Source.choose(options={"fleet_schemas": "tenant_*"}).schemas == "tenant_*"


@pytest.mark.parametrize(
    "option, value, named",
    [
        ("fleet_targets", "/nonexistent/targets.txt", "Pass an existing file to fleet_targets"),
        ("fleet_targets_query", "SELEKT garbage", "fleet_targets_query failed on the configured database"),
        ("fleet_targets_query", "SELECT 1", "fleet_targets_query row 1 has 1 column(s)"),
        ("fleet_schemas", "no_such_*", "matches fleet_schemas 'no_such_*'"),
    ],
)
def test_a_bad_target_list_from_the_configuration_names_the_option_not_a_flag(engine, option, value, named):
    source = Source.choose(options={option: value})
    assert source.label == option
    with pytest.raises(TargetsError) as caught, engine.connect() as conn:
        if source.targets_file is not None:
            read_targets_file(source.targets_file, {}, given_as=source.label)
        elif source.query:
            query_targets(conn, source.query, given_as=source.label)
        else:
            schema_targets(conn, source.schemas or "", given_as=source.label)
    assert named in str(caught.value)
    assert "--" not in str(caught.value).split(". ")[0], str(caught.value)


def test_a_targets_query_is_run_as_written_colons_and_percents_included(engine):
    # A registry query is SQL for the server, not SQLAlchemy text(): ':x' is no bind parameter.
    sql = "SELECT 'a', 'postgresql://u@h/d' WHERE ':y' = ':y' AND '100%' LIKE '%'"
    with engine.connect() as conn:
        (target,) = query_targets(conn, sql)
    assert (target.name, target.url) == ("a", "postgresql://u@h/d")


def test_shards_are_a_hash_of_the_name_and_stable_when_targets_are_added():
    names = [f"tenant_{i}" for i in range(200)]
    before = {n: shard_of(n, 4) for n in names}
    targets = [Target(n, f"postgresql://h/{n}") for n in names + ["new_1", "new_2"]]
    shards = [select_shard(targets, i, 4) for i in range(4)]
    assert sorted(t.name for s in shards for t in s) == sorted(t.name for t in targets)  # each exactly once
    assert all(shard_of(n, 4) == before[n] for n in names)
    assert min(len(s) for s in shards) > 30  # roughly even
    assert parse_shard("3/4") == (3, 4)
    assert shard_from_environment(4, {"JOB_COMPLETION_INDEX": "2"}) == (2, 4)
    with pytest.raises(TargetsError, match="--shard '4/4' is not I/N with 0 <= I < N"):
        parse_shard("4/4")
    with pytest.raises(TargetsError, match="--shards needs JOB_COMPLETION_INDEX"):
        shard_from_environment(4, {})


def test_a_schema_lock_is_its_own_and_the_database_lock_is_unchanged():
    assert lock_key("shop") == lock_key("shop", None)
    assert lock_key("shop", "tenant_1") not in (lock_key("shop"), lock_key("shop", "tenant_2"))


# -- the pre-check ----------------------------------------------------------------------------


def _expected(project, n=3):
    for i in range(n):
        project.table(f"2025100{i + 1}_t{i}", f"t{i}")
    config = project.config()
    expected, _ = api.expected_of(config)
    return config, expected


def test_the_precheck_says_at_head_only_when_a_full_run_would_do_nothing(project):
    config, expected = _expected(project)
    stems = [f.stem for f in expected.files]
    assert not decide(expected, LedgerState({}, {}, (), False, False)).at_head
    runner.upgrade(config)
    checked = api.check(config, [Target("one", url_text(project.url))], expected)
    assert checked[0].verdict.at_head and checked[0].current == [stems[-1]]
    # Rows missing (the tables disagree: the full run would backfill): not decided here.
    project.sql("DELETE FROM schema_migrations WHERE migration_name = :n", n=stems[0])
    verdict = api.check(config, [Target("one", url_text(project.url))], expected)[0].verdict
    assert (verdict.at_head, verdict.reason) == (False, "schema_migrations is missing rows")
    runner.upgrade(config)  # backfills it
    assert api.check(config, [Target("one", url_text(project.url))], expected)[0].verdict.at_head
    # A file edited after it was applied: the full run warns, so it runs.
    project.legacy.joinpath(f"{stems[1]}.py").write_text(
        project.legacy.joinpath(f"{stems[1]}.py").read_text() + "\n# edited\n"
    )
    config, expected = _expected(project, 0)
    verdict = api.check(config, [Target("one", url_text(project.url))], expected)[0].verdict
    assert (verdict.at_head, verdict.reason) == (False, f"{stems[1]} was edited after it was applied")


def test_the_precheck_tells_an_out_of_order_file_from_a_row_the_full_run_backfills(tmp_path):
    a, b, c = "20251001_a", "20251002_b", "20251003_c"
    for stem in (a, b, c):
        (tmp_path / f"{stem}.py").write_text("def upgrade(engine):\n    pass\n")
    expected = Expected(scan(tmp_path).files, frozenset({c}))
    digests = {stem: expected.digest(expected.stems[stem]) for stem in (a, b, c)}

    def verdict(rows, checksums=()):
        state = LedgerState({s: s for s in rows}, {s: digests[s] for s in checksums}, (c,), True, True)
        return decide(expected, state)

    # b has neither row nor checksum, c after it has: the full run refuses b as out of order.
    late = verdict([a, c], [a, c])
    assert (late.at_head, late.reason) == (False, f"out of order: {b} (`fleet upgrade --out-of-order`)")
    assert (late.pending, late.pending_revisions) == (1, (b,))
    # The last file's row only is missing (alembic_version at head implies it), or a row deleted
    # by hand whose checksum is still there: the full run backfills the row.
    for rows, checksums in (([a, b], [a, b]), ([b, c], [a, b, c])):
        assert verdict(rows, checksums).reason == "schema_migrations is missing rows"
    # A row whose file was deleted: the repair is named.
    gone = decide(expected, LedgerState({s: s for s in (a, b, c, "20251002_x")}, {}, (c,), True, True))
    assert gone.reason == "schema_migrations names files that are gone: 20251002_x (`alembic-bridge repair`)"


def test_the_precheck_counts_what_is_pending(project):
    config, expected = _expected(project)
    runner.upgrade(config, expected.files[0].stem)
    verdict = api.check(config, [Target("one", url_text(project.url))], expected)[0].verdict
    assert (verdict.at_head, verdict.reason, verdict.pending) == (False, "behind head", 2)


def test_an_unreachable_target_is_reported_with_its_password_masked(project):
    config, expected = _expected(project, 1)
    url = "postgresql://someone:hunter2secret@127.0.0.1:1/nowhere"
    checked = api.check(config, [Target("gone", url)], expected)
    assert checked[0].error and "hunter2secret" not in checked[0].error and "someone:***@" in checked[0].error


# -- schema tenants ----------------------------------------------------------------------------


def test_a_schema_tenant_keeps_its_own_tables_and_history(project):
    project.table("20251001_create_orders", "orders")
    for schema in ("tenant_a", "tenant_b"):
        project.sql(f"CREATE SCHEMA {schema}")
    config = project.config()
    set_request(config, schema="tenant_a")
    result = runner.upgrade(config)
    assert [s.revision for s in result.steps] == ["20251001_create_orders"]
    tables = project.sql(
        "SELECT schemaname, tablename FROM pg_tables WHERE schemaname LIKE 'tenant_%' OR schemaname = 'public' ORDER BY 1, 2"
    )
    assert tables == [
        ("tenant_a", "alembic_bridge_checksums"),
        ("tenant_a", "alembic_bridge_log"),
        ("tenant_a", "alembic_version"),
        ("tenant_a", "orders"),
        ("tenant_a", "schema_migrations"),
    ]
    assert project.sql("SELECT version_num FROM tenant_a.alembic_version") == [("20251001_create_orders",)]
    # One query reads every schema; tenant_b is new, tenant_a at head.
    expected, _ = api.expected_of(project.config())
    checked = api.check(
        project.config(), [Target("tenant_a", schema="tenant_a"), Target("tenant_b", schema="tenant_b")], expected
    )
    assert [(c.target.name, c.verdict.at_head) for c in checked] == [("tenant_a", True), ("tenant_b", False)]
    # The status of a schema reads that schema.
    set_request(config, schema="tenant_b")
    assert [m.revision for m in runner.status(config).pending] == ["20251001_create_orders"]
    # Without a schema the run is the database's, as before.
    assert project.version() == [] and project.tables() == []


def test_schema_targets_are_the_schemas_matching_the_glob(project):
    for schema in ("tenant_1", "tenant_2", "other"):
        project.sql(f"CREATE SCHEMA {schema}")
    engine = sa.create_engine(project.url, poolclass=sa.pool.NullPool)
    from bridge.fleet.targets import schema_targets

    with engine.connect() as conn:
        assert [t.schema for t in schema_targets(conn, "tenant_*")] == ["tenant_1", "tenant_2"]
        with pytest.raises(TargetsError, match="No schema of the configured database matches --schemas 'nope_\\*'"):
            schema_targets(conn, "nope_*")
    engine.dispose()


# -- running, in-process pool -------------------------------------------------------------------


def test_the_fleet_upgrades_pending_targets_skips_those_at_head_and_reports_each(project, make_databases):
    project.table("20251001_create_a", "a")
    project.table("20251002_create_b", "b")
    urls = make_databases(3)
    config = project.config()
    runner.upgrade(runner.load_config(config.config_file_name, url=url_text(urls[0])))
    found = [Target(f"db{i}", url_text(u)) for i, u in enumerate(urls)]
    records = api.run(config, found, "upgrade", "head", parallel=2)
    assert [(r.name, r.outcome, r.applied, r.to_revisions) for r in records] == [
        ("db0", "at-head", 0, ["20251002_create_b"]),
        ("db1", "migrated", 2, ["20251002_create_b"]),
        ("db2", "migrated", 2, ["20251002_create_b"]),
    ]
    assert report.exit_code(records) == 0
    data = json.loads(report.to_json(records))
    assert data["summary"]["migrated"] == 2 and all(t["ok"] for t in data["targets"])
    assert all("***" in t["url"] or "@" not in t["url"] for t in data["targets"])
    suite = ET.fromstring(report.to_junit(records)).find("testsuite")
    assert (suite.get("tests"), suite.get("failures")) == ("3", "0")


def test_a_failing_target_with_on_error_stop_starts_nothing_new(project, make_databases):
    project.write(
        "20251001_fails_where_marked.py",
        legacy_source(
            ["CREATE TABLE IF NOT EXISTS x (id int)", "SELECT 1 / (SELECT count(*) - 1 FROM marker)"],
        ),
    )
    urls = make_databases(4)
    for i, url in enumerate(urls):
        _sql(url, "CREATE TABLE marker (id int)")
        _sql(url, "INSERT INTO marker VALUES (1)" + (", (2)" if i != 1 else ""))  # db1 divides by zero
    config = project.config()
    found = [Target(f"db{i}", url_text(u)) for i, u in enumerate(urls)]
    records = api.run(config, found, "upgrade", "head", parallel=1, on_error="stop")
    assert [r.outcome for r in records] == ["migrated", "failed", "not-run", "not-run"]
    assert "division by zero" in records[1].error and report.exit_code(records) == 1
    records = api.run(config, found, "upgrade", "head", parallel=2, on_error="continue")
    assert [r.outcome for r in records] == ["at-head", "failed", "migrated", "migrated"]


# -- a fleet does what one database does (issue 24) ------------------------------------------------


def _at(url, config, revision="head"):
    runner.upgrade(runner.load_config(config.config_file_name, url=url_text(url)), revision)


@pytest.mark.slow  # a process pool over several databases: seconds
def test_a_file_dated_before_applied_ones_fails_whole_then_applies_everywhere_with_out_of_order(
    project, make_databases
):
    project.table("20251001_create_a", "a")
    project.table("20251003_create_c", "c")
    urls = make_databases(2)
    config = project.config()
    for url in urls:
        _at(url, config)
    late = project.table("20251002_create_b", "b")  # a hotfix dated before the applied head
    found = [Target(f"db{i}", url_text(u)) for i, u in enumerate(urls)]
    records = api.run(config, found, "upgrade", "head", parallel=2, on_error="continue")
    assert [r.outcome for r in records] == ["failed", "failed"]
    error = records[0].error
    # The whole message: the file list and the fixes, the fleet's own included.
    assert str(late) in error and "Nothing was changed." in error
    assert error.endswith("For every target of the fleet: `alembic-bridge fleet upgrade --out-of-order`.")
    assert json.loads(report.to_json(records))["targets"][0]["error"] == error
    assert report.table(records)[3:5] == [
        "    " + error.splitlines()[0],
        f"    ({len(error.splitlines()) - 1} more line(s): -v or --json shows them)",
    ]
    assert "    For every target of the fleet: `alembic-bridge fleet upgrade --out-of-order`." in report.table(
        records, full_errors=True
    )
    records = api.run(config, found, "upgrade", "head", parallel=2, out_of_order=True)
    assert [(r.outcome, r.applied, r.ok) for r in records] == [("migrated", 1, True)] * 2
    for url in urls:
        assert _sql(url, "SELECT to_regclass('b') IS NOT NULL")[0][0]


@pytest.mark.slow  # a process pool over several databases: seconds
def test_a_relative_downgrade_counts_from_where_each_target_is(project, make_databases):
    for i in range(1, 4):
        project.table(f"2025100{i}_t{i}", f"t{i}")
    urls = make_databases(2)
    config = project.config()
    _at(urls[0], config)
    _at(urls[1], config, "20251002_t2")
    found = [Target(f"db{i}", url_text(u)) for i, u in enumerate(urls)]
    records = api.run(config, found, "downgrade", "-1", parallel=2)
    assert [(r.outcome, r.target, r.to_revisions, r.ok) for r in records] == [
        ("migrated", ["20251002_t2"], ["20251002_t2"], True),
        ("migrated", ["20251001_t1"], ["20251001_t1"], True),
    ]
    records = api.run(config, found, "downgrade", "-2", parallel=2)
    assert [(r.target, r.to_revisions, r.ok) for r in records] == [([], [], True), (None, ["20251001_t1"], False)]
    assert "Relative revision -2 didn't produce 2 migrations" in records[1].error


@pytest.mark.slow  # a process pool over several databases: seconds
def test_the_fleet_plan_is_what_upgrade_dry_run_says_for_each_target(project, make_databases):
    for i in range(1, 4):
        project.table(f"2025100{i}_t{i}", f"t{i}")
    project.sql("CREATE SCHEMA tenant_a")
    urls = make_databases(2)
    config = project.config()
    _at(urls[0], config)
    _at(urls[1], config, "20251001_t1")
    found = [Target("db0", url_text(urls[0])), Target("db1", url_text(urls[1])), Target("tenant_a", schema="tenant_a")]
    planned = api.plan(config, found, "upgrade", "head", config_url=url_text(project.url))
    one = runner.plan_upgrade(runner.load_config(config.config_file_name, url=url_text(urls[1])))
    assert [(p.target.name, p.state, [s.revision for s in (p.plan.steps if p.plan else [])]) for p in planned] == [
        ("db0", "at-head", []),
        ("db1", "pending", [s.revision for s in one.steps]),
        ("tenant_a", "pending", ["20251001_t1", "20251002_t2", "20251003_t3"]),
    ]
    assert planned[1].as_dict()["steps"][0] == {
        "revision": "20251002_t2",
        "direction": "upgrade",
        "kind": "legacy",
        "title": one.steps[0].title,
    }
    # Nothing was run: a plan reads only.
    assert _sql(urls[1], "SELECT version_num FROM alembic_version") == [("20251001_t1",)]
    assert project.sql("SELECT to_regclass('tenant_a.alembic_version')") == [(None,)]
    downgrade = api.plan(config, found[:2], "downgrade", "-1")
    assert [[s.revision for s in p.plan.steps] for p in downgrade] == [["20251003_t3"], ["20251001_t1"]]


@pytest.mark.slow  # a process pool over several databases: seconds
def test_status_and_runs_speak_one_vocabulary_and_tenants_are_tenants(project, make_databases):
    project.table("20251001_create_a", "a")
    project.sql("CREATE SCHEMA tenant_a")
    urls = make_databases(1)
    config = project.config()
    _at(urls[0], config)
    found = [
        Target("db0", url_text(urls[0])),
        Target("tenant_a", schema="tenant_a"),
        Target("gone", "postgresql://someone:pw@127.0.0.1:1/nowhere"),
    ]
    rows = [c.as_dict() for c in api.check(config, found)]
    assert [(r["name"], r["kind"], r["state"], r["reason"]) for r in rows[:2]] == [
        ("db0", "database", "at-head", "at head"),
        ("tenant_a", "tenant schema", "pending", "new tenant schema"),
    ]
    assert rows[1]["pending_revisions"] == ["20251001_create_a"] and rows[2]["state"] == "unreachable"
    records = api.run(
        config, found, "upgrade", "head", parallel=2, config_url=url_text(project.url), on_error="continue"
    )
    states = [json_record["state"] for json_record in json.loads(report.to_json(records))["targets"]]
    assert states == ["at-head", "migrated", "unreachable"]
    assert {r["state"] for r in rows} | set(states) <= set(report.STATES)


def test_every_json_output_names_what_a_target_is_from_one_place():
    from bridge.fleet.report import MIGRATED, Record
    from bridge.fleet.targets import Target

    assert Record("t_a", None, "t_a", MIGRATED).as_dict()["kind"] == "tenant schema"
    assert Record("db", "postgresql://u:***@h/db", None, MIGRATED).as_dict()["kind"] == "database"
    assert Target("t_a", schema="t_a").identity()["kind"] == "tenant schema"
    assert Target("db", url="postgresql://u:secret@h/db").identity() == {
        "name": "db",
        "kind": "database",
        "url": "postgresql://u:***@h/db",
        "schema": None,
    }


def test_a_relative_downgrade_in_digits_int_refuses_is_left_to_the_run_not_a_traceback():
    # "-²" is digits to str.isdigit(), not to int(): the run names it (Alembic's error), per target.
    assert api._target_revisions(None, "-\u00b2", ["20251001_a"]) is None


@pytest.mark.parametrize("command", ["status", "plan"])
def test_junit_on_a_command_that_runs_nothing_is_refused_not_ignored(tmp_path, command):
    # --junit is a shared target option; only upgrade and downgrade have outcomes to write.
    from click.testing import CliRunner

    from bridge.cli.commands import cli

    junit = tmp_path / "out.xml"
    result = CliRunner().invoke(cli, ["fleet", command, "--targets", str(tmp_path / "none.txt"), "--junit", str(junit)])
    assert result.exit_code == 2, result.output
    assert "--junit is for runs" in result.output
    assert not junit.exists()
