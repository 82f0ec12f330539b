"""The ``alembic-bridge`` command line, run as a real process."""

from __future__ import annotations

import datetime
import json
import re
import shutil
import time

import pytest
from conftest import REPO, legacy_source, make_project, url_text

STEMS = ["20251001_create_a", "20251002_create_b", "20251003_create_c"]


def files(project, stems=STEMS):
    for stem in stems:
        project.table(stem, stem.rsplit("_", 1)[1])


COMMANDS = ["upgrade", "downgrade", "status", "sync", "check", "init", "new", "lint"]


@pytest.mark.slow
@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(project, command):
    result = project.run("alembic-bridge", command, "--help", check=True)
    assert result.stdout.startswith(f"Usage: alembic-bridge {command}")


@pytest.mark.slow
def test_version(project):
    assert project.run("alembic-bridge", "--version", check=True).stdout.startswith("alembic-bridge, version ")


@pytest.mark.slow
def test_upgrade_dry_run_prints_the_plan_and_changes_nothing(project):
    files(project)
    result = project.run("alembic-bridge", "upgrade", "--dry-run", check=True)
    assert "Plan: 3 migration(s) to apply:" in result.stdout
    assert "upgrade   20251002_create_b  (legacy) create b" in result.stdout
    assert project.tables() == []


@pytest.mark.slow
def test_upgrade_prints_the_plan_then_one_line_per_migration(project):
    files(project)
    result = project.run("alembic-bridge", "upgrade", STEMS[1], check=True)
    assert "Plan: 2 migration(s) to apply:" in result.stdout
    assert "applied 20251001_create_a (" in result.stderr and "applied 20251002_create_b (" in result.stderr
    assert "Applied 2 migration(s)" in result.stdout
    assert project.rows() == STEMS[:2]
    again = project.run("alembic-bridge", "upgrade", STEMS[1], check=True)
    assert again.stdout.strip() == "Nothing to apply."


@pytest.mark.slow
def test_downgrade_dry_run_then_downgrade(project):
    files(project)
    project.run("alembic-bridge", "upgrade", check=True)
    dry = project.run("alembic-bridge", "downgrade", "-2", "--dry-run", check=True)
    assert "Plan: 2 migration(s) to revert:" in dry.stdout and project.rows() == STEMS
    project.run("alembic-bridge", "downgrade", "base", check=True)
    assert project.rows() == [] and project.tables() == [
        "alembic_bridge_checksums",
        "alembic_bridge_log",
        "alembic_version",
        "schema_migrations",
    ]


@pytest.mark.slow
def test_url_option_wins_and_passwords_are_never_printed(project):
    files(project)
    url = project.url.set(password="s3cr3t-pw")
    result = project.run(
        "alembic-bridge",
        "--url",
        url_text(url),
        "status",
        env={"DATABASE_URL": "postgresql://nobody:other-secret@127.0.0.1:1/none"},
    )
    assert "s3cr3t-pw" not in result.output and "other-secret" not in result.output
    assert result.returncode == 0, result.output
    assert "***@" in result.stdout or project.url.password is None


@pytest.mark.slow
def test_unreachable_database_is_a_clean_error_with_the_password_masked(project):
    files(project)
    result = project.run("alembic-bridge", "status", env={"DATABASE_URL": "postgresql://u:hunter2@127.0.0.1:1/db"})
    assert result.returncode == 1
    assert "hunter2" not in result.output and "Traceback" not in result.output
    assert result.stderr.startswith("Error: ")


@pytest.mark.slow
def test_errors_are_one_clean_line_and_verbose_shows_the_traceback(tmp_path):
    (tmp_path / "empty").mkdir()
    result = _run_in(tmp_path / "empty", "status")
    assert result.returncode == 1
    assert result.stderr.startswith("Error: No alembic.ini (or pyproject.toml with [tool.alembic])")
    assert "Traceback" not in result.stderr
    verbose = _run_in(tmp_path / "empty", "-v", "status")
    assert "Traceback" in verbose.stderr


def _run_in(cwd, *args):
    import os
    import subprocess

    from conftest import BIN

    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    return subprocess.run([str(BIN / "alembic-bridge"), *args], cwd=cwd, env=env, capture_output=True, text=True)


@pytest.mark.slow
def test_a_failed_migration_exits_1_with_the_file_named(project):
    files(project, STEMS[:1])
    project.write(
        "20251002_bad.py",
        "from sqlalchemy import text\n\ndef upgrade(engine):\n    with engine.begin() as c:\n        c.execute(text('SELEC 1'))\n",
    )
    result = project.run("alembic-bridge", "upgrade")
    assert result.returncode == 1
    assert '20251002_bad.py:5: SQL failed: syntax error at or near "SELEC"' in result.stderr
    assert project.rows() == STEMS[:1]


@pytest.mark.slow
def test_check_is_quiet_on_success_and_fails_on_bad_names_and_several_heads(project):
    files(project)
    project.run("alembic", "upgrade", "head", check=True)
    ok = project.run("alembic-bridge", "check", check=True)
    assert ok.stdout == "" and ok.stderr == ""
    project.write("2025-10-09_bad.py", legacy_source("SELECT 1"))
    bad = project.run("alembic-bridge", "check", "--offline")
    assert bad.returncode == 1 and "2025-10-09_bad.py: the date has dashes" in bad.stderr
    (project.legacy / "2025-10-09_bad.py").unlink()
    for rev in ("n1", "n2"):
        (project.versions / f"{rev}.py").write_text(
            f"revision = {rev!r}\ndown_revision = {STEMS[-1]!r}\n\ndef upgrade():\n    pass\n\ndef downgrade():\n    pass\n"
        )
    heads = project.run("alembic-bridge", "check", "--offline")
    assert heads.returncode == 1 and "2 heads (" in heads.stderr and "alembic merge heads" in heads.stderr


@pytest.mark.slow
def test_new_writes_a_dated_legacy_file_from_the_template_that_runs(project):
    files(project, STEMS[:1])
    result = project.run("alembic-bridge", "new", "Add notes & tags!", check=True)
    today = datetime.date.today().strftime("%Y%m%d")
    path = project.legacy / f"{today}_add_notes_tags.py"
    assert f"Created {path}" in result.stdout
    source = path.read_text()
    assert "Migration: Add notes & tags!" in source and "def upgrade(engine):" in source
    assert "from bridge.manual import run_file" in source
    project.run("alembic", "upgrade", "head", check=True)
    assert project.rows() == [STEMS[0], path.stem]
    clash = project.run("alembic-bridge", "new", "Add notes & tags!")
    assert clash.returncode == 1 and "already exists" in clash.stderr


@pytest.mark.slow
def test_new_refuses_a_date_that_sorts_before_existing_files(project):
    files(project, ["29991231_far_future"])
    result = project.run("alembic-bridge", "new", "something")
    assert result.returncode == 1 and "would sort before 29991231_far_future.py" in result.stderr
    ok = project.run("alembic-bridge", "new", "something", "--date", "30000101", check=True)
    assert "30000101_something.py" in ok.stdout


@pytest.mark.slow
def test_new_native_makes_an_alembic_revision_after_the_legacy_head(project):
    files(project)
    result = project.run("alembic-bridge", "new", "--native", "add index", check=True)
    (path,) = project.versions.glob("*_add_index.py")
    assert f"down_revision: Union[str, Sequence[str], None] = {STEMS[-1]!r}" in path.read_text()
    assert str(path) in result.stdout


@pytest.mark.slow
def test_init_onboards_a_legacy_project_layout_and_never_overwrites(tmp_path, database_url):
    root = tmp_path / "trading"
    legacy = root / "web_server" / "migrations"
    legacy.mkdir(parents=True)
    for path in sorted((REPO / "migrations").glob("2*.py")):
        shutil.copy(path, legacy / path.name)
    (root / ".env").write_text(
        f"DB_USER={database_url.username}\nDB_PASSWORD=\nDB_HOST=\nDB_NAME={database_url.database}\n"
    )
    proj = make_project(tmp_path / "unused", database_url)
    proj.root = root
    result = proj.run("alembic-bridge", "init", "--legacy", "web_server/migrations", check=True)
    assert "wrote  " in result.stdout and (root / "alembic.ini").is_file()
    assert "legacy_location = web_server/migrations" in (root / "alembic.ini").read_text()
    # The legacy DB_* variables from .env pick the database, as the legacy runner does.
    socket = database_url.query["host"]
    upgraded = proj.run("alembic", "upgrade", "head", env={"DATABASE_URL": "", "PGHOST": socket}, check=True)
    samples = sorted(p.stem for p in (REPO / "migrations").glob("2*.py"))
    assert f"-> {samples[-1]}," in upgraded.output
    assert proj.rows() == samples
    (root / "alembic" / "env.py").write_text("# customised\n")
    again = proj.run("alembic-bridge", "init", "--legacy", "web_server/migrations", check=True)
    assert "(exists, left unchanged)" in again.stdout
    assert (root / "alembic" / "env.py").read_text() == "# customised\n"


@pytest.mark.slow
def test_init_with_a_missing_legacy_folder_is_a_clean_error(tmp_path, project):
    result = project.run("alembic-bridge", "init", "--legacy", "nope/migrations")
    assert result.returncode == 1 and "--legacy nope/migrations is not a folder" in result.stderr


@pytest.mark.slow
def test_a_file_run_by_hand_through_the_main_helper_is_recorded_in_both_tables(project):
    files(project, STEMS[:1])
    project.run("alembic-bridge", "new", "hand run", "--date", "20251005", check=True)
    path = project.legacy / "20251005_hand_run.py"
    early = project.run("python", str(path), "--upgrade")
    assert early.returncode == 1 and "earlier migrations are pending (20251001_create_a)" in early.stdout
    project.run("alembic", "upgrade", STEMS[0], check=True)
    done = project.run("python", str(path), "--upgrade", check=True)
    assert "applied and recorded" in done.stdout
    assert project.rows() == [STEMS[0], path.stem] and project.version() == [path.stem]
    assert "already applied" in project.run("python", str(path), "--upgrade", check=True).stdout
    project.run("python", str(path), "--downgrade", check=True)
    assert project.rows() == [STEMS[0]] and project.version() == [STEMS[0]]
    usage = project.run("python", str(path))
    assert usage.returncode == 1 and usage.stdout.startswith(
        "Usage: python 20251005_hand_run.py --upgrade | --downgrade"
    )


@pytest.mark.slow
def test_status_json_is_data(project):
    files(project)
    project.run("alembic", "upgrade", STEMS[0], check=True)
    data = json.loads(project.run("alembic-bridge", "status", "--json", check=True).stdout)
    assert data["pending_count"] == 2 and data["current"] == [STEMS[0]]
    assert [m["state"] for m in data["migrations"]] == ["applied", "pending", "pending"]


@pytest.mark.slow
def test_on_a_terminal_upgrade_shows_a_live_progress_line(project):
    import shlex

    files(project)
    from conftest import BIN

    command = shlex.join([str(BIN / "alembic-bridge"), "upgrade"])
    result = project.run("script", "-qec", command, "/dev/null", check=True)
    # (text mode turned the carriage returns into newlines)
    assert "\x1b[K[1/3] applying 20251001_create_a  0.0s" in result.stdout
    assert "\x1b[K[1/3] applied 20251001_create_a (0." in result.stdout
    assert "Running upgrade" not in result.stdout  # Alembic's own lines only with -v
    assert "\x1b[K[3/3] applied 20251003_create_c (0." in result.stdout
    assert project.rows() == STEMS


@pytest.mark.slow
def test_plain_progress_names_each_migration_before_it_runs_and_gives_its_own_duration(project):
    files(project)
    result = project.run("alembic-bridge", "upgrade", check=True)
    lines = result.stderr.splitlines()
    for stem in STEMS:
        title = stem.split("_", 1)[1].replace("_", " ")
        start = lines.index(f"applying {stem} (legacy): {title}")
        assert re.fullmatch(rf"applied {stem} \(0\.\d\ds\)", lines[start + 1]), lines[start + 1]


@pytest.mark.slow
def test_an_upper_case_py_file_and_a_dangling_symlink_stop_the_upgrade_before_anything_runs(project):
    files(project, STEMS[:1])
    project.write("20251002_shout.PY", legacy_source("CREATE TABLE shout (id INT)"))
    (project.legacy / "20251003_gone.py").symlink_to(project.root / "moved" / "20251003_gone.py")
    result = project.run("alembic", "upgrade", "head")
    assert result.returncode == 255, result.output  # Alembic's exit code for FAILED
    assert "2 file(s) in the legacy migrations directory look like migrations but would never run" in result.stderr
    assert "20251002_shout.PY: the extension must be lower-case .py" in result.stderr
    assert (
        f"20251003_gone.py: a symbolic link to {project.root / 'moved' / '20251003_gone.py'}, which does not exist"
        in result.stderr
    )
    assert "Traceback" not in result.output
    assert project.rows() == [] and project.tables() == []
    check = project.run("alembic-bridge", "check", "--offline")
    assert check.returncode == 1 and "20251002_shout.PY: the extension must be lower-case .py" in check.stderr


def _wait_for_advisory_lock(project, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        held = project.sql(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )[0][0]
        if held:
            return
        time.sleep(0.05)
    raise AssertionError("no runner took the advisory lock")


@pytest.mark.slow
def test_upgrade_plans_under_the_lock_so_a_concurrent_runner_s_work_is_not_planned_again(project):
    import os
    import subprocess

    from conftest import BIN

    project.write("20251001_slow.py", legacy_source(["SELECT pg_sleep(3)", "CREATE TABLE slow (id INT)"]))
    files(project, STEMS[1:])
    env = {**os.environ, "DATABASE_URL": url_text(project.url)}
    first = subprocess.Popen(
        [str(BIN / "alembic"), "upgrade", "head"],
        cwd=project.root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for_advisory_lock(project)
        second = project.run("alembic-bridge", "upgrade")
    finally:
        out, err = first.communicate(timeout=60)
    assert first.returncode == 0, out + err
    assert second.returncode == 0, second.output
    assert "Waiting for another migration runner to finish (the lock is held by pid " in second.stderr
    assert second.stdout.strip() == "Nothing to apply."
    assert project.rows() == ["20251001_slow", *STEMS[1:]]


@pytest.mark.slow
def test_upgrade_out_of_order_plans_and_counts_the_out_of_order_file(project):
    files(project, [STEMS[0], STEMS[2]])
    project.run("alembic", "upgrade", "head", check=True)
    files(project, [STEMS[1]])
    result = project.run("alembic-bridge", "upgrade", "--out-of-order", check=True)
    assert "Plan: 1 migration(s) to apply:" in result.stdout
    assert "upgrade   20251002_create_b  (legacy, out of order) create b" in result.stdout
    assert "applied 20251002_create_b (" in result.stderr
    assert "Applied 1 migration(s) in " in result.stdout
    assert project.rows() == [STEMS[0], STEMS[2], STEMS[1]]


LOUD_NATIVE = (
    "import os\n\nprint('PRINTED-ON-IMPORT')\nos.system('echo PRINTED-BY-CHILD-ON-IMPORT')\n\n"
    "revision = 'n1'\ndown_revision = '20251001_create_a'\nbranch_labels = None\ndepends_on = None\n\n\n"
    "def upgrade():\n    pass\n\n\ndef downgrade():\n    pass\n"
)
MACHINE_READABLE = [
    ("status", "--json"),
    ("repair", "--json"),
    ("check", "--format", "json"),
    ("check", "--format", "sarif"),
    ("fleet", "status", "--targets", "targets.txt", "--json"),
    ("fleet", "plan", "--targets", "targets.txt", "--json"),
    ("fleet", "upgrade", "--targets", "targets.txt", "--json"),
]


@pytest.mark.slow
def test_a_json_report_stays_json_when_a_native_revision_prints_on_import(project):
    # Alembic imports every native revision to build the revision map, in the command's own process.
    project.table("20251001_create_a", "a")
    project.versions.mkdir(parents=True, exist_ok=True)
    (project.versions / "n1_loud.py").write_text(LOUD_NATIVE, encoding="utf-8")
    (project.root / "targets.txt").write_text(f"db {url_text(project.url)}\n", encoding="utf-8")
    for argv in MACHINE_READABLE:
        result = project.run("alembic-bridge", *argv)
        assert "Traceback" not in result.output, (argv, result.output)
        json.loads(result.stdout)  # nothing else on stdout
        assert "PRINTED-ON-IMPORT" in result.stderr and "PRINTED-BY-CHILD-ON-IMPORT" in result.stderr, argv


@pytest.mark.slow
def test_a_json_report_stays_json_when_a_native_revision_prints_to_the_original_stdout(project):
    # sys.__stdout__ (or a handler or library holding the stream from before the command) buffers
    # what it is given; unflushed when the report takes stdout back, it would land before the JSON.
    project.table("20251001_create_a", "a")
    project.versions.mkdir(parents=True, exist_ok=True)
    loud = LOUD_NATIVE.replace(
        "print('PRINTED-ON-IMPORT')", "import sys\nprint('PRINTED-ON-IMPORT', file=sys.__stdout__)"
    )
    (project.versions / "n1_loud.py").write_text(loud, encoding="utf-8")
    # Buffered, as a pipe is unless PYTHONUNBUFFERED is set.
    result = project.run("alembic-bridge", "status", "--json", env={"PYTHONUNBUFFERED": ""})
    assert "Traceback" not in result.output, result.output
    json.loads(result.stdout)  # nothing else on stdout
    assert "PRINTED-ON-IMPORT" in result.stderr
