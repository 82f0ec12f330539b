"""Two-way sync: the old runner and the bridge on one database, in every order.

The old runner is `tests/legacy_runner.py` (the reference behaviour written
from the legacy contract), run as a real process; the bridge is the real
``alembic`` / ``alembic-bridge`` command.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
from conftest import BIN, REPO, legacy_source, make_project, url_text

STEMS = [f"202510{day:02d}_create_t{day}" for day in range(1, 7)]


def add_files(project, stems):
    for stem in stems:
        project.table(stem, stem.rsplit("_", 1)[1])


def old_runner(project, name_format="stem"):
    return project.run(
        "python",
        str(REPO / "tests" / "legacy_runner.py"),
        "--url",
        url_text(project.url),
        "--dir",
        str(project.legacy),
        "--name-format",
        name_format,
        check=True,
    )


def assert_agree(project, stems):
    """Both tables hold exactly *stems* (in either name format) and the schema matches."""
    rows = sorted(r[:-3] if r.endswith(".py") else r for r in project.rows())
    assert rows == sorted(stems)
    assert project.version() == ([stems[-1]] if stems else [])
    tables = set(project.tables())
    for stem in STEMS:
        assert (stem.rsplit("_", 1)[1] in tables) == (stem in stems)


@pytest.mark.slow
@pytest.mark.parametrize("name_format", ["stem", "filename"])
@pytest.mark.parametrize("prefix", [0, 1, 3, 6])
def test_a_database_migrated_by_the_old_runner_is_adopted_without_rerunning_anything(
    tmp_path, database_url, prefix, name_format
):
    # A team whose old runner writes `stem.py` rows says so; on a fresh database
    # there are no rows to follow (`auto` follows existing rows).
    project = make_project(tmp_path / "p", database_url, extra_ini=f"legacy_name_format = {name_format}")
    add_files(project, STEMS[:prefix])
    if prefix:
        old_runner(project, name_format)
    add_files(project, STEMS[prefix:])
    result = project.run("alembic", "upgrade", "head", check=True)
    for stem in STEMS[:prefix]:
        assert f"-> {stem}," not in result.output  # not re-run
    for stem in STEMS[prefix:]:
        assert f"-> {stem}," in result.output
    if prefix:
        assert f"reconcile: alembic_version: set to {STEMS[prefix - 1]} (adopt" in result.output
    assert_agree(project, STEMS)
    assert all(r.endswith(".py") == (name_format == "filename") for r in project.rows())
    # The old runner afterwards finds nothing pending.
    assert old_runner(project, name_format).stdout == ""


@pytest.mark.slow
def test_old_runner_and_bridge_in_turn_keep_both_tables_equal_to_the_applied_set(project):
    order = ["old", "bridge", "old", "bridge", "bridge", "old"]
    applied = []
    for i, runner in enumerate(order):
        add_files(project, STEMS[i : i + 1])
        applied.append(STEMS[i])
        if runner == "old":
            old_runner(project)
            assert sorted(project.rows()) == sorted(applied)
        else:
            project.run("alembic", "upgrade", "head", check=True)
            assert_agree(project, applied)
    project.run("alembic", "upgrade", "head", check=True)
    assert_agree(project, STEMS)


@pytest.mark.slow
def test_the_bridge_follows_an_old_runner_that_ran_after_it(project):
    add_files(project, STEMS[:2])
    project.run("alembic", "upgrade", "head", check=True)
    add_files(project, STEMS[2:4])
    old_runner(project)
    result = project.run("alembic", "upgrade", "head", check=True)
    assert f"reconcile: alembic_version: {STEMS[1]} -> {STEMS[3]} (follow the old runner" in result.output
    assert "Running upgrade" not in result.output
    assert_agree(project, STEMS[:4])


@pytest.mark.slow
def test_missing_rows_below_alembic_version_are_backfilled(project):
    add_files(project, STEMS[:3])
    project.run("alembic", "upgrade", "head", check=True)
    project.sql("DELETE FROM schema_migrations")
    project.sql("DELETE FROM alembic_bridge_checksums")
    result = project.run("alembic", "upgrade", "head", check=True)
    for stem in STEMS[:3]:
        assert f"reconcile: schema_migrations: insert {stem} (backfill" in result.output
    assert_agree(project, STEMS[:3])


@pytest.mark.slow
def test_a_file_dated_before_applied_ones_is_refused_and_nothing_changes(project):
    add_files(project, [STEMS[0], STEMS[2]])
    project.run("alembic", "upgrade", "head", check=True)
    add_files(project, [STEMS[1], STEMS[3]])
    before = (project.rows(), project.version(), project.tables())
    result = project.run("alembic", "upgrade", "head")
    assert result.returncode != 0
    assert "1 legacy migration(s) are out of order" in result.output
    assert str(project.legacy / f"{STEMS[1]}.py") in result.output
    assert "alembic-bridge upgrade --out-of-order" in result.output
    assert (project.rows(), project.version(), project.tables()) == before
    # `check` fails on it too, naming it.
    check = project.run("alembic-bridge", "check")
    assert check.returncode == 1 and f"{STEMS[1]}.py: out of order" in check.output
    # Applied deliberately, both tables record it and the chain goes on.
    fixed = project.run("alembic-bridge", "upgrade", "--out-of-order", check=True)
    assert STEMS[1] in fixed.output
    assert_agree(project, STEMS[:4])


@pytest.mark.slow
def test_an_old_runner_applying_a_later_file_first_is_a_hole_too(project):
    add_files(project, [STEMS[0], STEMS[2]])
    old_runner(project)
    add_files(project, [STEMS[1]])
    result = project.run("alembic", "upgrade", "head")
    assert result.returncode != 0 and STEMS[1] in result.output
    assert project.version() == []


@pytest.mark.slow
def test_rows_whose_file_is_gone_warn_by_default_and_fail_when_strict(tmp_path, database_url):
    project = make_project(tmp_path / "p", database_url)
    add_files(project, STEMS[:2])
    project.run("alembic", "upgrade", "head", check=True)
    project.sql("INSERT INTO schema_migrations (migration_name) VALUES ('20240101_retired')")
    result = project.run("alembic", "upgrade", "head", check=True)
    assert (
        "schema_migrations has rows for files that are not in the legacy directory: 20240101_retired" in result.output
    )
    ini = project.root / "alembic.ini"
    ini.write_text(ini.read_text().replace("path_separator = os", "path_separator = os\nstrict = true"))
    strict = project.run("alembic", "upgrade", "head")
    assert strict.returncode != 0 and "20240101_retired" in strict.output


@pytest.mark.slow
def test_a_file_edited_after_it_was_applied_is_reported_by_name(project):
    add_files(project, STEMS[:2])
    project.run("alembic", "upgrade", "head", check=True)
    path = project.legacy / f"{STEMS[0]}.py"
    path.write_text(path.read_text() + "\n# edited\n")
    result = project.run("alembic", "upgrade", "head", check=True)
    assert f"{STEMS[0]}.py was edited after it was applied" in result.output
    status = json.loads(project.run("alembic-bridge", "status", "--json", check=True).stdout)
    edited = {m["revision"]: m["edited"] for m in status["migrations"]}
    assert edited == {STEMS[0]: True, STEMS[1]: False}


@pytest.mark.slow
def test_stamp_keeps_schema_migrations_in_step(project):
    add_files(project, STEMS[:4])
    project.run("alembic", "stamp", STEMS[2], check=True)
    assert project.rows() == STEMS[:3] and project.version() == [STEMS[2]]
    project.run("alembic", "stamp", STEMS[0], check=True)
    assert project.rows() == STEMS[:1]
    project.run("alembic", "stamp", "base", check=True)
    assert project.rows() == [] and project.version() == []


@pytest.mark.slow
def test_status_reports_every_state_and_reads_never_write(project):
    add_files(project, STEMS[:5])
    project.run("alembic", "upgrade", STEMS[1], check=True)  # 0,1 applied (both)
    project.sql(f"DELETE FROM schema_migrations WHERE migration_name = '{STEMS[1]}'")  # 1: alembic only
    project.sql(f"DELETE FROM alembic_bridge_checksums WHERE migration_name = '{STEMS[1]}'")
    project.sql(f"INSERT INTO schema_migrations (migration_name) VALUES ('{STEMS[3]}')")  # 3: old runner only
    project.sql("INSERT INTO schema_migrations (migration_name) VALUES ('20240101_retired')")  # missing file
    before = project.sql("SELECT count(*) FROM pg_stat_user_tables")  # nothing created by status
    status = json.loads(project.run("alembic-bridge", "status", "--json", check=True).stdout)
    states = {m["revision"]: m["state"] for m in status["migrations"]}
    assert states == {
        STEMS[0]: "applied",
        STEMS[1]: "alembic-only",
        STEMS[2]: "out-of-order",
        STEMS[3]: "old-runner-only",
        STEMS[4]: "pending",
        "20240101_retired": "file-missing",
    }
    assert status["pending_count"] == 2 and status["head"] == STEMS[4]
    assert project.sql("SELECT count(*) FROM pg_stat_user_tables") == before
    text = project.run("alembic-bridge", "status", check=True).stdout
    assert f"out-of-order     {STEMS[2]}" in text


@pytest.mark.slow
def test_status_on_a_fresh_database_creates_no_table(project):
    add_files(project, STEMS[:2])
    project.run("alembic-bridge", "status", check=True)
    assert project.tables() == []


@pytest.mark.slow
def test_sync_brings_the_tables_into_agreement_printing_each_change(project):
    add_files(project, STEMS[:3])
    old_runner(project)
    dry = project.run("alembic-bridge", "sync", "--dry-run", check=True)
    assert f"sync would make 1 change(s) (--dry-run: none made):\n  alembic_version: set to {STEMS[2]}" in dry.output
    assert "would alembic_version" not in dry.output
    assert project.version() == []
    done = project.run("alembic-bridge", "sync", check=True)
    assert f"alembic_version: set to {STEMS[2]}" in done.output
    assert_agree(project, STEMS[:3])
    again = project.run("alembic-bridge", "sync", check=True)
    assert "The history tables agree; nothing to change." in again.output


# -- one runner at a time; crash safety -----------------------------------------------

COUNTED = """\
from sqlalchemy import text


def upgrade(engine):
    with engine.connect() as conn:
        trans = conn.begin()
        conn.execute(text("CREATE TABLE IF NOT EXISTS run_log (name TEXT)"))
        conn.execute(text("INSERT INTO run_log VALUES (:n)"), {{"n": "{stem}"}})
        conn.execute(text("SELECT pg_sleep({sleep})"))
        conn.execute(text("CREATE TABLE IF NOT EXISTS {table} (id INT)"))
        trans.commit()


def downgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS {table}"))
"""


def counted_files(project, n, sleep):
    stems = [f"202510{i + 1:02d}_counted_c{i}" for i in range(n)]
    for i, stem in enumerate(stems):
        project.write(f"{stem}.py", COUNTED.format(stem=stem, sleep=sleep, table=f"c{i}"))
    return stems


@pytest.mark.slow
def test_eight_simultaneous_upgrades_apply_each_migration_exactly_once(project):
    stems = counted_files(project, 6, 0.05)
    env = {**os.environ, "DATABASE_URL": url_text(project.url)}
    procs = [
        subprocess.Popen(
            [str(BIN / "alembic"), "upgrade", "head"],
            cwd=project.root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(8)
    ]
    outputs = [p.communicate(timeout=180)[0] for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, outputs
    runs = project.sql("SELECT name, count(*) FROM run_log GROUP BY name ORDER BY name")
    assert runs == [(stem, 1) for stem in stems]
    assert project.rows() == stems and project.version() == [stems[-1]]


@pytest.mark.slow
def test_kill_9_mid_run_leaves_the_tables_agreeing_and_the_next_run_finishes(project):
    stems = counted_files(project, 8, 0.15)
    env = {**os.environ, "DATABASE_URL": url_text(project.url)}
    rng = random.Random(int(os.environ.get("BRIDGE_TEST_SEED", "7")))
    sleeping = "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE 'SELECT pg_sleep%'"
    for _attempt in range(3):
        while project.sql(sleeping)[0][0]:  # the killed run's server session is still finishing
            time.sleep(0.01)
        before = len(project.rows())
        wait_for = rng.randrange(before, len(stems) - 1)  # committed rows to see before the kill
        proc = subprocess.Popen(
            [str(BIN / "alembic"), "upgrade", "head"],
            cwd=project.root,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # Kill while a migration is inside its transaction (its pg_sleep is running), not
        # before the run started or after it ended.
        deadline = time.monotonic() + 60
        while not (len(project.rows()) >= wait_for and project.sql(sleeping)[0][0]):
            assert proc.poll() is None and time.monotonic() < deadline, "the run ended before the kill"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL  # the kill landed: the run did not finish by itself
        rows = project.rows()
        assert len(rows) < len(stems)  # ... and it landed mid-run
        applied_tables = {t for t in project.tables() if t.startswith("c") and t[1:].isdigit()}
        # Per-migration atomicity: a row exists exactly for each migration whose table exists.
        assert applied_tables == {f"c{stems.index(r)}" for r in rows}
        assert rows == stems[: len(rows)]
        assert project.version() == ([rows[-1]] if rows else [])
    project.run("alembic", "upgrade", "head", check=True)
    assert project.rows() == stems and project.version() == [stems[-1]]
    runs = project.sql("SELECT name, count(*) FROM run_log GROUP BY name ORDER BY name")
    assert runs == [(stem, 1) for stem in stems]


@pytest.mark.slow
def test_a_runner_waiting_longer_than_lock_timeout_fails_with_a_clear_message(tmp_path, database_url):
    project = make_project(tmp_path / "p", database_url, extra_ini="lock_timeout = 1")
    counted_files(project, 1, 4)
    env = {**os.environ, "DATABASE_URL": url_text(project.url)}
    first = subprocess.Popen(
        [str(BIN / "alembic"), "upgrade", "head"],
        cwd=project.root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    time.sleep(1.0)
    second = project.run("alembic", "upgrade", "head")
    first.communicate(timeout=60)
    assert first.returncode == 0
    assert second.returncode != 0
    assert "Another migration runner still holds the bridge's lock after" in second.output
    assert "still holds the bridge's lock after 1 s (the lock is held by pid " in second.output


def test_reconcile_plan_is_pure_and_handles_every_case(tmp_path):
    from bridge.loader import scan
    from bridge.reconcile import LedgerState, plan

    for stem in STEMS[:4]:
        (tmp_path / f"{stem}.py").write_text(legacy_source("SELECT 1"))
    files = scan(tmp_path).files

    def state(rows=(), heads=(), checksums=()):
        return LedgerState({r: r for r in rows}, {c: files[0].sha256() for c in checksums}, tuple(heads), True, True)

    adopt = plan(files, state(rows=STEMS[:2]), lambda r: False)
    assert (adopt.new_head, adopt.backfill, adopt.holes) == (STEMS[1], [], [])
    follow = plan(files, state(rows=STEMS[:3], heads=[STEMS[0]]), lambda r: False)
    assert follow.new_head == STEMS[2]
    backfill = plan(files, state(rows=STEMS[:1], heads=[STEMS[2]]), lambda r: False)
    assert (backfill.new_head, backfill.backfill) == (None, STEMS[1:3])
    hole = plan(files, state(rows=[STEMS[0], STEMS[2]]), lambda r: False)
    assert [f.stem for f in hole.holes] == [STEMS[1]]
    by_checksum = plan(files, state(rows=[STEMS[0], STEMS[2]], checksums=[STEMS[1]]), lambda r: False)
    assert by_checksum.holes == [] and by_checksum.backfill == [STEMS[1]]
    native = plan(files, state(heads=["abc123"]), lambda r: r == "abc123")
    assert native.backfill == STEMS[:4] and native.new_head is None
    with pytest.raises(Exception, match="alembic_version holds 'gone'"):
        plan(files, state(heads=["gone"]), lambda r: False)


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX only")
def test_sqlite_is_a_second_target_for_the_ledger_and_sync(tmp_path):
    db = tmp_path / "app.db"
    project = make_project(tmp_path / "p", None)
    project.url = None
    add_files(project, STEMS[:3])
    env = {"DATABASE_URL": f"sqlite:///{db}"}
    project.run("alembic", "upgrade", "head", check=True, env=env)
    import sqlite3

    con = sqlite3.connect(db)
    assert [r[0] for r in con.execute("SELECT migration_name FROM schema_migrations ORDER BY id")] == STEMS[:3]
    assert [r[0] for r in con.execute("SELECT version_num FROM alembic_version")] == [STEMS[2]]
    con.execute("DELETE FROM alembic_version")
    con.commit()
    result = project.run("alembic", "upgrade", "head", check=True, env=env)
    assert f"set to {STEMS[2]} (adopt" in result.output
    project.run("alembic", "downgrade", "base", check=True, env=env)
    assert [r[0] for r in con.execute("SELECT count(*) FROM schema_migrations")] == [0]


# -- the legacy table's shape ------------------------------------------------------------

SHAPE_SQL = """
    SELECT column_name, data_type, character_maximum_length, is_nullable, column_default
    FROM information_schema.columns WHERE table_name = 'schema_migrations' ORDER BY ordinal_position
"""
CONSTRAINTS_SQL = """
    SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint
    WHERE conrelid = 'schema_migrations'::regclass ORDER BY conname
"""


@pytest.mark.slow
def test_schema_migrations_created_by_the_bridge_has_the_shape_the_old_runner_gives_it(tmp_path, pg_admin_url):
    import sqlalchemy as sa

    shapes = []
    for who in ("old", "bridge"):
        name = f"shape_{who}_{os.getpid()}"
        admin = sa.create_engine(pg_admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            project = make_project(tmp_path / who, pg_admin_url.set(database=name))
            add_files(project, STEMS[:1])
            if who == "old":
                old_runner(project)
            else:
                project.run("alembic", "upgrade", "head", check=True)
            shapes.append((project.sql(SHAPE_SQL), project.sql(CONSTRAINTS_SQL)))
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.dispose()
    old, bridge = shapes
    assert bridge == old
    columns = {c[0]: c for c in old[0]}
    assert columns["applied_at"] == ("applied_at", "timestamp without time zone", None, "NO", "now()")


@pytest.mark.slow
def test_the_sql_script_creates_schema_migrations_with_the_legacy_shape(project):
    add_files(project, STEMS[:1])
    sql = project.run("alembic", "upgrade", "head", "--sql", check=True).stdout
    assert "applied_at TIMESTAMP WITHOUT TIME ZONE DEFAULT now() NOT NULL" in sql


# -- several rows in alembic_version ---------------------------------------------------------


@pytest.mark.slow
def test_two_version_rows_naming_legacy_revisions_are_refused_before_anything_is_written(project):
    add_files(project, STEMS[:4])
    project.run("alembic", "upgrade", STEMS[1], check=True)
    project.sql(f"INSERT INTO alembic_version VALUES ('{STEMS[3]}')")  # a bad manual stamp
    before = (project.rows(), project.version(), project.tables())
    for argv in (("alembic", "upgrade", "head"), ("alembic-bridge", "sync"), ("alembic-bridge", "status")):
        result = project.run(*argv)
        assert result.returncode != 0, argv
        assert (
            f"alembic_version holds 2 rows naming legacy revisions ({STEMS[1]}, {STEMS[3]}), "
            "but the legacy chain is linear" in result.output
        ), argv
        assert "alembic stamp --purge <revision>" in result.output
        assert "Traceback" not in result.output
        assert (project.rows(), project.version(), project.tables()) == before
    # The repair the message names works, and then the migrations really run.
    project.run("alembic", "stamp", "--purge", STEMS[1], check=True)
    assert project.version() == [STEMS[1]] and project.rows() == STEMS[:2]
    result = project.run("alembic", "upgrade", "head", check=True)
    assert f"Running upgrade {STEMS[1]} -> {STEMS[2]}" in result.output
    assert f"Running upgrade {STEMS[2]} -> {STEMS[3]}" in result.output
    assert_agree(project, STEMS[:4])


@pytest.mark.slow
def test_deleting_the_stray_version_row_lets_the_next_run_apply_what_it_skipped(project):
    add_files(project, STEMS[:4])
    project.run("alembic", "upgrade", STEMS[0], check=True)
    project.sql(f"INSERT INTO alembic_version VALUES ('{STEMS[2]}')")
    assert project.run("alembic", "upgrade", "head").returncode != 0
    project.sql(f"DELETE FROM alembic_version WHERE version_num = '{STEMS[2]}'")
    result = project.run("alembic", "upgrade", "head", check=True)
    for stem in STEMS[1:4]:
        assert f"-> {stem}," in result.output
    assert_agree(project, STEMS[:4])


@pytest.mark.slow
def test_a_legacy_and_a_native_version_row_together_are_refused(project):
    add_files(project, STEMS[:2])
    project.versions.joinpath("n1_native.py").write_text(
        f'revision = "n1"\ndown_revision = "{STEMS[1]}"\n\n\ndef upgrade():\n    pass\n\n\ndef downgrade():\n    pass\n'
    )
    project.run("alembic", "upgrade", STEMS[0], check=True)
    project.sql("INSERT INTO alembic_version VALUES ('n1')")
    before = (project.rows(), project.version())
    result = project.run("alembic", "upgrade", "head")
    assert result.returncode != 0
    assert f"alembic_version holds 2 rows ({STEMS[0]}, n1) that overlap" in result.output
    assert "alembic stamp --purge <revision>" in result.output
    assert (project.rows(), project.version()) == before


# -- a legacy file slipped in before an applied native revision --------------------------------

NATIVE = """\
revision = "{rev}"
down_revision = "{down}"


def upgrade():
    pass


def downgrade():
    pass
"""


@pytest.mark.slow
def test_a_legacy_file_slipped_in_before_an_applied_native_revision_is_refused_not_backfilled(project):
    add_files(project, STEMS[:2])
    native = project.versions / "n1_native.py"
    native.write_text(NATIVE.format(rev="n1", down=STEMS[1]))
    project.run("alembic", "upgrade", "head", check=True)
    add_files(project, STEMS[2:3])  # dated after the legacy head, added after n1 ran
    chain = project.run("alembic", "upgrade", "head")
    assert chain.returncode != 0
    assert "later legacy files exist (20251003_create_t3.py)" in chain.output
    # The safe way first; editing down_revision only where no database applied n1.
    assert "Databases that applied n1 never ran them" in chain.output
    assert "write their changes as a native revision after the head" in chain.output
    assert f"Only if no database has applied n1 yet, set down_revision = {STEMS[2]!r}" in chain.output
    # Someone edits n1's down_revision anyway: the file is a hole, never recorded unrun.
    native.write_text(NATIVE.format(rev="n1", down=STEMS[2]))
    before = (project.rows(), project.version(), project.tables())
    for argv in (("alembic", "upgrade", "head"), ("alembic-bridge", "sync")):
        result = project.run(*argv)
        assert result.returncode != 0, argv
        assert (
            "1 legacy migration(s) have no record of being applied, but the revision n1 after them is" in result.output
        ), result.output
        assert str(project.legacy / f"{STEMS[2]}.py") in result.output
        assert "alembic-bridge upgrade --out-of-order" in result.output
        assert "alembic stamp --purge n1" in result.output
        assert (project.rows(), project.version(), project.tables()) == before
    status = json.loads(project.run("alembic-bridge", "status", "--json", check=True).stdout)
    assert {m["revision"]: m["state"] for m in status["migrations"]}[STEMS[2]] == "out-of-order"
    # Applied deliberately, it really runs and both tables record it.
    project.run("alembic-bridge", "upgrade", "--out-of-order", check=True)
    assert "t3" in project.tables()
    assert project.rows() == STEMS[:3] and project.version() == ["n1"]


@pytest.mark.slow
def test_rows_lost_below_a_native_head_are_refused_and_a_purge_stamp_restores_them(project):
    add_files(project, STEMS[:3])
    (project.versions / "n1_native.py").write_text(NATIVE.format(rev="n1", down=STEMS[2]))
    project.run("alembic", "upgrade", "head", check=True)
    project.sql(f"DELETE FROM schema_migrations WHERE migration_name = '{STEMS[2]}'")
    project.sql(f"DELETE FROM alembic_bridge_checksums WHERE migration_name = '{STEMS[2]}'")
    result = project.run("alembic", "upgrade", "head")
    assert result.returncode != 0 and STEMS[2] in result.output
    project.run("alembic", "stamp", "--purge", "n1", check=True)
    assert project.rows() == STEMS[:3]
    project.run("alembic", "upgrade", "head", check=True)


@pytest.mark.slow
def test_a_native_head_with_no_legacy_record_at_all_backfills_every_legacy_file(project):
    add_files(project, STEMS[:2])
    (project.versions / "n1_native.py").write_text(NATIVE.format(rev="n1", down=STEMS[1]))
    project.run("alembic", "upgrade", "head", check=True)
    project.sql("DELETE FROM schema_migrations")
    project.sql("DELETE FROM alembic_bridge_checksums")
    result = project.run("alembic", "upgrade", "head", check=True)
    assert f"reconcile: schema_migrations: insert {STEMS[0]} (backfill" in result.output
    assert project.rows() == STEMS[:2] and project.version() == ["n1"]


def test_below_a_native_head_only_recorded_legacy_files_count_as_applied(tmp_path):
    from bridge.loader import scan
    from bridge.reconcile import LedgerState, plan

    for stem in STEMS[:4]:
        (tmp_path / f"{stem}.py").write_text(legacy_source("SELECT 1"))
    files = scan(tmp_path).files

    def state(rows=(), heads=("n1",), checksums=()):
        return LedgerState({r: r for r in rows}, {c: "x" for c in checksums}, tuple(heads), True, True)

    native = lambda r: r == "n1"  # noqa: E731
    slipped = plan(files, state(rows=STEMS[:3]), native)
    assert ([f.stem for f in slipped.holes], slipped.backfill, slipped.new_head) == ([STEMS[3]], [], None)
    assert slipped.native_heads == ("n1",)
    by_checksum = plan(files, state(rows=STEMS[:2], checksums=STEMS[2:4]), native)
    assert (by_checksum.holes, by_checksum.backfill) == ([], STEMS[2:4])
    nothing_recorded = plan(files, state(), native)
    assert (nothing_recorded.holes, nothing_recorded.backfill) == ([], STEMS[:4])
    retired_only = plan(files, state(rows=["20250101_old"]), native, retired=["20250101_old"])
    assert [f.stem for f in retired_only.holes] == STEMS[:4] and retired_only.backfill == []


def test_sync_adopts_a_database_the_old_runner_migrated_without_running_anything(project):
    # In-process and on real PostgreSQL: the fast tier's test of reconcile.
    import bridge

    add_files(project, STEMS[:3])
    project.sql(
        "CREATE TABLE schema_migrations (id SERIAL PRIMARY KEY, migration_name VARCHAR(255) UNIQUE NOT NULL, "
        "applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)"
    )
    for stem in STEMS[:2]:
        project.sql("INSERT INTO schema_migrations (migration_name) VALUES (:name)", name=stem)
    plan = bridge.sync_tables(project.config())
    assert plan.new_head == STEMS[1]
    assert project.version() == [STEMS[1]]
    assert project.rows() == STEMS[:2]
    # Adopting runs no migration: only history tables exist.
    assert set(project.tables()) <= {"schema_migrations", "alembic_version", "alembic_bridge_checksums"}
    assert [m.revision for m in bridge.status(project.config()).pending] == [STEMS[2]]
