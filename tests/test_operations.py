"""Day-two operations (issue 24): `status` as Flyway's ``info``, the run log's order and
time zones, the shared options after the subcommand, and where ``.env`` is looked up."""

from __future__ import annotations

import datetime
import json
import uuid

import pytest
from conftest import REPO, Project, legacy_source, make_project, url_text

from bridge import runlog

STEMS = ["20251001_create_a", "20251002_create_b", "20251003_create_c"]
COMMANDS = [
    ["status"],
    ["log"],
    ["upgrade"],
    ["downgrade"],
    ["sync"],
    ["check"],
    ["repair"],
    ["new"],
    ["lint"],
    ["convert"],
    ["baseline"],
    ["fleet", "status"],
    ["fleet", "plan"],
    ["report"],
]


def add_files(project, stems=STEMS):
    for stem in stems:
        project.table(stem, stem.rsplit("_", 1)[1])


# -- status: when, by whom, how long ---------------------------------------------------------


@pytest.mark.slow
def test_status_shows_when_by_whom_and_how_long_each_migration_ran_with_time_zones(project):
    add_files(project, STEMS[:1])
    project.run(
        "python", str(REPO / "tests" / "legacy_runner.py"), "--url", url_text(project.url), "--dir", str(project.legacy)
    )
    add_files(project, STEMS[1:])
    project.run("alembic-bridge", "upgrade", check=True)
    user = project.sql("SELECT current_user")[0][0]

    data = json.loads(project.run("alembic-bridge", "status", "--json", check=True).stdout)
    by_name = {m["revision"]: m for m in data["migrations"]}
    now = datetime.datetime.now(datetime.timezone.utc)
    for stem in STEMS:
        applied_at = datetime.datetime.fromisoformat(by_name[stem]["applied_at"])
        assert applied_at.tzinfo is not None, by_name[stem]  # a time zone, in JSON too
        assert abs((now - applied_at).total_seconds()) < 120, (stem, applied_at, now)
    old = by_name[STEMS[0]]  # the old runner's: schema_migrations knows when, nobody logged who
    assert (old["applied_by"], old["duration_ms"], old["checksum_taken"]) == (None, None, "adoption")
    for stem in STEMS[1:]:
        ran = by_name[stem]
        assert ran["applied_by"].startswith(f"{user}@") and isinstance(ran["duration_ms"], int), ran
        assert (ran["checksum"], ran["checksum_taken"]) == ("matches", "run")

    text = project.run("alembic-bridge", "status", check=True).stdout
    line = next(line for line in text.splitlines() if line.startswith(f"  applied  {STEMS[2]}"))
    assert " UTC  by " in line and line.rstrip().endswith("s"), line


# -- log: newest first, runs together, time zones --------------------------------------------


@pytest.mark.slow
def test_log_prints_newest_first_with_time_zones(project):
    add_files(project, STEMS[:1])
    project.run("alembic-bridge", "upgrade", check=True)
    add_files(project, STEMS[1:2])
    project.run("alembic-bridge", "upgrade", check=True)
    lines = project.run("alembic-bridge", "log", check=True).stdout.splitlines()
    assert [STEMS[1] in lines[0], STEMS[0] in lines[1]] == [True, True], lines
    assert all(" UTC  " in line for line in lines)
    rows = json.loads(project.run("alembic-bridge", "log", "--json", check=True).stdout)
    assert [r["revision"] for r in rows] == [STEMS[1], STEMS[0]]
    assert all(datetime.datetime.fromisoformat(r["started_at"]).utcoffset() == datetime.timedelta(0) for r in rows)


def test_the_run_log_keeps_each_run_together_a_failed_row_before_its_earlier_retries(engine):
    t0 = datetime.datetime(2026, 1, 1, 12, 0, 0)
    second = datetime.timedelta(seconds=1)
    first_run, second_run = str(uuid.uuid4()), str(uuid.uuid4())
    with engine.begin() as conn:
        runlog.ensure_table(conn)
        runlog.write(conn, first_run, [runlog.Entry("a", "upgrade", t0, t0 + second, runlog.APPLIED)], "u")
        runlog.write(conn, second_run, [runlog.Entry("x", "upgrade", t0, t0 + second, runlog.APPLIED)], "u")
        # The first run's failure, logged after its rollback: its retried attempt, then the
        # failed row, whose start is the migration's (before the retried attempt's).
        runlog.write(
            conn,
            first_run,
            [
                runlog.Entry("b", "upgrade", t0 + 2 * second, t0 + 3 * second, runlog.RETRIED, 1),
                runlog.Entry("b", "upgrade", t0 + second, t0 + 4 * second, runlog.FAILED, 2),
            ],
            "u",
        )
    with engine.connect() as conn:
        rows = runlog.read(conn)
    assert [(r["run_id"], r["revision"], r["outcome"]) for r in rows] == [
        (first_run, "b", runlog.FAILED),
        (first_run, "b", runlog.RETRIED),
        (first_run, "a", runlog.APPLIED),
        (second_run, "x", runlog.APPLIED),
    ]
    assert all(r["started_at"].tzinfo is datetime.timezone.utc for r in rows)


# -- the shared options, where users type them -----------------------------------------------


@pytest.mark.slow
def test_shared_options_work_after_the_subcommand_and_every_help_lists_them(project):
    add_files(project, STEMS[:1])
    broken = {"DATABASE_URL": "postgresql://nobody:secret@127.0.0.1:1/none"}
    url = url_text(project.url)
    after = project.run("alembic-bridge", "status", "--url", url, env=broken, check=True)
    assert "Pending:  1" in after.stdout
    before = project.run("alembic-bridge", "--url", url, "upgrade", "-q", env=broken, check=True)
    assert before.stdout == "" and project.rows() == STEMS[:1]  # -q after the command: quiet
    (project.root / "other.ini").write_text((project.root / "alembic.ini").read_text())
    assert project.run("alembic-bridge", "check", "-c", "other.ini", check=True).returncode == 0
    missing = project.run("alembic-bridge", "status", "-c", "nowhere.ini")
    assert missing.returncode == 1 and "nowhere.ini does not exist" in missing.stderr
    for command in COMMANDS:
        help_text = project.run("alembic-bridge", *command, "--help", check=True).stdout
        for option in ("-c, --config FILE", "--url URL", "-v, --verbose", "-q, --quiet"):
            assert option in help_text, (command, option)


# -- .env where the legacy runner keeps it ---------------------------------------------------


@pytest.fixture
def legacy_layout(tmp_path, database_url, monkeypatch):
    """alembic.ini at the root, the legacy files in web_server/migrations, the URL only in web_server/.env."""
    for key in ("DATABASE_URL", "DB_USER", "DB_PASSWORD", "DB_HOST", "DB_PORT", "DB_NAME"):
        monkeypatch.delenv(key, raising=False)
    project = make_project(tmp_path / "project", database_url)
    ini = project.root / "alembic.ini"
    ini.write_text(ini.read_text().replace("legacy_location = legacy\n", "legacy_location = web_server/migrations\n"))
    migrations = project.root / "web_server" / "migrations"
    migrations.mkdir(parents=True)
    (migrations / f"{STEMS[0]}.py").write_text(legacy_source("CREATE TABLE IF NOT EXISTS a (id INT)", "DROP TABLE a"))
    (project.root / "web_server" / ".env").write_text(f"DATABASE_URL={url_text(database_url)}\n")
    return project


def _config(project, ini="alembic.ini"):
    from alembic.config import Config

    return Config(str(project.root / ini))


def test_dotenv_is_found_where_the_legacy_runner_keeps_it(legacy_layout, monkeypatch, tmp_path):
    from bridge.database import target_for

    monkeypatch.chdir(tmp_path)  # not the project: the working directory's .env plays no part
    dotenv = legacy_layout.root / "web_server" / ".env"
    assert target_for(_config(legacy_layout)).where == f"DATABASE_URL from {dotenv}"
    # Next to alembic.ini still wins (as before); an explicit `dotenv` option is the only file read.
    (legacy_layout.root / ".env").write_text("DATABASE_URL=postgresql://root@h/db\n")
    assert target_for(_config(legacy_layout)).where == f"DATABASE_URL from {legacy_layout.root / '.env'}"
    (legacy_layout.root / "config").mkdir()
    (legacy_layout.root / "config" / "db.env").write_text("DB_NAME=explicit\n")
    ini = (legacy_layout.root / "alembic.ini").read_text()
    explicit = ini.replace("[alembic]\n", "[alembic]\ndotenv = config/db.env\n")
    (legacy_layout.root / "explicit.ini").write_text(explicit)
    target = target_for(_config(legacy_layout, "explicit.ini"))
    assert target.where == f"DB_* variables from {legacy_layout.root / 'config' / 'db.env'}"
    (legacy_layout.root / "typo.ini").write_text(explicit.replace("db.env", "db.emv"))
    with pytest.raises(Exception, match=r"dotenv = .*db\.emv: no such file"):
        target_for(_config(legacy_layout, "typo.ini"))


@pytest.mark.slow
def test_status_names_the_dotenv_file_it_used(legacy_layout):
    result = Project(legacy_layout.root, None).run("alembic-bridge", "status", check=True)
    dotenv = legacy_layout.root / "web_server" / ".env"
    assert f".env:     {dotenv}\n" in result.stdout, result.stdout
    assert f"(DATABASE_URL from {dotenv})" in result.stdout
    data = json.loads(Project(legacy_layout.root, None).run("alembic-bridge", "status", "--json", check=True).stdout)
    assert data["dotenv_files"] == [str(dotenv)]
