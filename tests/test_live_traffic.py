"""Migrating under live traffic: lock timeouts with retries, the run log, progress, invalid indexes.

Real PostgreSQL, real blocking sessions: a second connection holds a lock in
an open transaction while `alembic` / `alembic-bridge` run in subprocesses.
"""

from __future__ import annotations

import json
import re
import shlex
import threading
import time

import pytest
import sqlalchemy as sa
from conftest import BIN, legacy_source, make_project

RETRYING = "migration_lock_timeout = 1s\nlock_retries = 3\nlock_retry_backoff = 0.1\n"
ORDERS = "20251001_create_orders"
ALTER = "20251002_add_note"


@pytest.fixture
def retrying(tmp_path, database_url):
    project = make_project(tmp_path / "project", database_url, RETRYING)
    project.write(f"{ORDERS}.py", legacy_source("CREATE TABLE orders (id SERIAL PRIMARY KEY)", "DROP TABLE orders"))
    project.run("alembic", "upgrade", ORDERS, check=True)
    return project


class Blocker:
    """A session of 'the application': holds ACCESS SHARE on a table in an open transaction."""

    def __init__(self, url, table: str = "orders"):
        self.engine = sa.create_engine(
            url, poolclass=sa.pool.NullPool, connect_args={"application_name": "nightly_report"}
        )
        self.conn = self.engine.connect()
        self.pid = self.conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        self.conn.exec_driver_sql(f"SELECT count(*) FROM {table}")  # the lock lasts until the transaction ends

    def release(self) -> None:
        if not self.conn.closed:
            self.conn.rollback()
            self.conn.close()

    def release_after(self, seconds: float) -> threading.Thread:
        """Release the lock *seconds* after another session starts waiting for it.

        Counted from the wait, not from now: a CLI that takes long to start on a
        busy machine would otherwise find the lock already released.
        """
        thread = threading.Thread(target=self._release_after_waiting, args=(seconds,))
        thread.start()
        return thread

    def _release_after_waiting(self, seconds: float, deadline: float = 60.0) -> None:
        with self.engine.connect() as conn:
            started = time.monotonic()
            while time.monotonic() - started < deadline:
                waiting = conn.exec_driver_sql(
                    "SELECT count(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))", (self.pid,)
                ).scalar()
                conn.rollback()
                if waiting:
                    break
                time.sleep(0.05)
        time.sleep(seconds)
        self.release()

    def close(self) -> None:
        self.release()
        self.engine.dispose()


def log_rows(project, revision: str | None = None) -> list[dict]:
    where = f" WHERE revision = '{revision}'" if revision else ""
    return [dict(row._mapping) for row in project.sql(f"SELECT * FROM alembic_bridge_log{where} ORDER BY id")]


@pytest.mark.slow
def test_a_blocked_migration_fails_fast_after_its_retries_and_names_the_blocker(retrying):
    retrying.write(f"{ALTER}.py", legacy_source("ALTER TABLE orders ADD COLUMN note TEXT"))
    blocker = Blocker(retrying.url)
    try:
        started = time.monotonic()
        result = retrying.run("alembic", "upgrade", "head")
        took = time.monotonic() - started
    finally:
        blocker.close()
    assert result.returncode != 0, result.output
    for attempt in (1, 2, 3):
        assert f"{ALTER} hit a lock timeout (attempt {attempt} of 4); rolled back whole, retrying in" in result.output
    assert "attempt 4 of 4" not in result.output
    assert "SQL failed: canceling statement due to lock timeout" in result.output
    assert (
        f"pid {blocker.pid} (application nightly_report) holds AccessShareLock on orders, idle in transaction"
        in result.output
    )
    assert 4 <= took < 30  # four 1-second waits and short backoffs, not a queue behind the blocker
    rows = log_rows(retrying, ALTER)
    assert [(r["outcome"], r["attempts"], r["sqlstate"]) for r in rows] == [
        ("retried", 1, "55P03"),
        ("retried", 2, "55P03"),
        ("retried", 3, "55P03"),
        ("failed", 4, "55P03"),
    ]
    assert "lock timeout" in rows[-1]["error"]
    assert retrying.rows() == [ORDERS] and retrying.version() == [ORDERS]


@pytest.mark.slow
def test_when_the_blocker_finishes_during_the_retries_the_migration_succeeds(retrying):
    retrying.write(f"{ALTER}.py", legacy_source("ALTER TABLE orders ADD COLUMN note TEXT"))
    blocker = Blocker(retrying.url)
    timer = blocker.release_after(1.6)
    try:
        result = retrying.run("alembic", "upgrade", "head", check=True)
    finally:
        timer.join()
        blocker.close()
    assert "hit a lock timeout (attempt 1 of 4)" in result.output
    rows = log_rows(retrying, ALTER)
    applied = rows[-1]
    assert applied["outcome"] == "applied" and applied["attempts"] in (2, 3)
    assert [r["outcome"] for r in rows[:-1]] == ["retried"] * (applied["attempts"] - 1)
    assert retrying.rows() == [ORDERS, ALTER]
    assert "note" in [
        c for (c,) in retrying.sql("SELECT column_name FROM information_schema.columns WHERE table_name = 'orders'")
    ]


NATIVE_ALTER = """\"\"\"add note (native)\"\"\"
from alembic import op

revision = "n1_note"
down_revision = {down!r}
branch_labels = None
depends_on = None
{own}

def upgrade():
    op.execute("ALTER TABLE orders ADD COLUMN note TEXT")


def downgrade():
    op.execute("ALTER TABLE orders DROP COLUMN note")
"""


@pytest.mark.slow
@pytest.mark.parametrize("own", ["", "lock_retries = 0"])
def test_a_native_revision_gets_the_same_timeouts_and_retries_and_can_set_its_own(retrying, own):
    (retrying.versions / "n1_note.py").write_text(NATIVE_ALTER.format(down=ORDERS, own=own))
    blocker = Blocker(retrying.url)
    timer = blocker.release_after(1.6)
    try:
        result = retrying.run("alembic", "upgrade", "head")
    finally:
        timer.join()
        blocker.close()
    rows = log_rows(retrying, "n1_note")
    if own:
        assert result.returncode != 0 and "retrying in" not in result.output
        assert [(r["outcome"], r["attempts"], r["sqlstate"]) for r in rows] == [("failed", 1, "55P03")]
        assert retrying.version() == [ORDERS]
    else:
        assert result.returncode == 0, result.output
        assert "n1_note hit a lock timeout (attempt 1 of 4)" in result.output
        assert rows[-1]["outcome"] == "applied" and rows[-1]["attempts"] in (2, 3)
        assert retrying.version() == ["n1_note"]


@pytest.mark.slow
def test_a_deadlock_is_rolled_back_and_retried(tmp_path, database_url):
    project = make_project(tmp_path / "project", database_url, "lock_retries = 2\nlock_retry_backoff = 0.1\n")
    project.write("20251001_tables.py", legacy_source(["CREATE TABLE a (id INT)", "CREATE TABLE b (id INT)"]))
    project.run("alembic", "upgrade", "head", check=True)
    project.write(
        "20251002_lock_both.py",
        legacy_source(
            [
                "LOCK TABLE a IN ACCESS EXCLUSIVE MODE",
                "LOCK TABLE b IN ACCESS EXCLUSIVE MODE",
            ]
        ),
    )
    other = sa.create_engine(project.url, poolclass=sa.pool.NullPool)
    conn = other.connect()
    # This session never detects the deadlock itself: the migration's session does, and is the one cancelled.
    conn.exec_driver_sql("SET deadlock_timeout = '30s'")
    conn.exec_driver_sql("LOCK TABLE b IN ACCESS EXCLUSIVE MODE")

    def close_the_cycle():
        with other.connect() as watch:
            for _ in range(200):  # until the migration waits for b
                waiting = watch.exec_driver_sql(
                    "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                    "WHERE c.relname = 'b' AND NOT l.granted"
                ).scalar()
                if waiting:
                    break
                time.sleep(0.05)
        conn.exec_driver_sql("LOCK TABLE a IN ACCESS EXCLUSIVE MODE")  # waits: the cycle is closed
        conn.commit()

    thread = threading.Thread(target=close_the_cycle)
    thread.start()
    try:
        result = project.run("alembic", "upgrade", "head", check=True)
    finally:
        thread.join(timeout=60)
        conn.close()
        other.dispose()
    assert "20251002_lock_both hit a deadlock (attempt 1 of 3)" in result.output
    rows = log_rows(project, "20251002_lock_both")
    assert [(r["outcome"], r["sqlstate"]) for r in rows] == [("retried", "40P01"), ("applied", None)]
    assert rows[-1]["attempts"] == 2


AUTOCOMMIT_THEN_ALTER = '''"""Autocommit, then alter.

Date: 2025-10-02
"""

from sqlalchemy import text


def upgrade(engine):
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("CREATE TABLE side_effect (id INT)"))
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE orders ADD COLUMN note TEXT"))


def downgrade(engine):
    pass
'''


@pytest.mark.slow
def test_a_migration_that_committed_work_through_autocommit_is_never_retried(retrying):
    retrying.write(f"{ALTER}.py", AUTOCOMMIT_THEN_ALTER)
    blocker = Blocker(retrying.url)
    try:
        result = retrying.run("alembic", "upgrade", "head")
    finally:
        blocker.close()
    assert result.returncode != 0
    assert "retrying in" not in result.output
    assert (
        "Not retried: an AUTOCOMMIT statement had already committed part of this migration, so "
        "running it again from the start is not safe."
    ) in result.output
    assert [(r["outcome"], r["attempts"]) for r in log_rows(retrying, ALTER)] == [("failed", 1)]
    assert "side_effect" in retrying.tables()  # committed, as the message says


@pytest.mark.slow
def test_a_file_can_set_its_own_timeout_and_retries(retrying):
    source = legacy_source("ALTER TABLE orders ADD COLUMN note TEXT")
    source = source.replace(
        "from sqlalchemy import text\n",
        "from sqlalchemy import text\n\nlock_retries = 0\nmigration_lock_timeout = '300ms'\n",
    )
    retrying.write(f"{ALTER}.py", source)
    blocker = Blocker(retrying.url)
    try:
        started = time.monotonic()
        result = retrying.run("alembic", "upgrade", "head")
        took = time.monotonic() - started
    finally:
        blocker.close()
    assert result.returncode != 0 and "retrying in" not in result.output
    assert [(r["outcome"], r["attempts"]) for r in log_rows(retrying, ALTER)] == [("failed", 1)]
    assert took < 10


@pytest.mark.slow
def test_a_bad_value_in_a_file_names_the_file_and_applies_nothing(retrying):
    source = legacy_source("ALTER TABLE orders ADD COLUMN note TEXT")
    source = source.replace("from sqlalchemy import text\n", "from sqlalchemy import text\n\nlock_retries = 'many'\n")
    path = retrying.write(f"{ALTER}.py", source)
    result = retrying.run("alembic", "upgrade", "head")
    assert result.returncode != 0
    assert f"lock_retries = 'many' (in {path}) is not a count. Write a whole number" in result.output
    assert "Traceback" not in result.output
    assert retrying.rows() == [ORDERS]


@pytest.mark.slow
def test_a_file_that_does_not_import_is_logged_as_failed(project):
    project.table("20251001_create_a", "a")
    path = project.write("20251002_broken.py", "def upgrade(engine)\n    pass\n")
    result = project.run("alembic", "upgrade", "head")
    assert result.returncode != 0 and f"FAILED: {path}" in result.output
    rows = log_rows(project)
    assert [(r["revision"], r["outcome"]) for r in rows] == [
        ("20251001_create_a", "applied"),
        ("20251002_broken", "failed"),
    ]
    assert "syntax error" in rows[-1]["error"]


@pytest.mark.slow
def test_a_bad_option_is_refused_before_anything_runs(tmp_path, database_url):
    project = make_project(tmp_path / "project", database_url, "migration_lock_timeout = 2 sec\n")
    project.table("20251001_create_a", "a")
    result = project.run("alembic", "upgrade", "head")
    assert result.returncode != 0
    assert (
        "migration_lock_timeout = '2 sec' is not a PostgreSQL timeout. Write a number of milliseconds or a "
        "number and a unit: 2s, 500ms, 1min (0 means no timeout)."
    ) in result.output
    assert project.tables() == []


@pytest.mark.slow
def test_the_timeouts_are_set_local_to_each_migration_and_rendered_in_sql_scripts(retrying):
    retrying.write(f"{ALTER}.py", legacy_source("SELECT 1"))
    script = retrying.run("alembic", "upgrade", f"{ORDERS}:head", "--sql", check=True).stdout
    assert f"BEGIN;\n\n-- Running upgrade {ORDERS} -> {ALTER}\n\nSET LOCAL lock_timeout = '1s';\n" in script
    # Online, on a connection the caller keeps: the migration saw the timeout, the session never did.
    from alembic import command

    retrying.write(f"{ALTER}.py", legacy_source("CREATE TABLE seen AS SELECT current_setting('lock_timeout') AS v"))
    config = retrying.config()
    with sa.create_engine(retrying.url, poolclass=sa.pool.NullPool).connect() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
        after = conn.exec_driver_sql("SHOW lock_timeout").scalar()
    assert [v for (v,) in retrying.sql("SELECT v FROM seen")] == ["1s"]
    assert after == "0"


@pytest.mark.slow
def test_without_options_a_run_sets_no_timeout_and_takes_no_savepoint(project, engine):
    """Defaults keep today's behaviour: no SET LOCAL, no savepoint, one log row per migration."""
    project.write(
        "20251001_show.py", legacy_source("CREATE TABLE seen AS SELECT current_setting('lock_timeout') AS lock_timeout")
    )
    project.run("alembic", "upgrade", "head", check=True)
    assert [r[0] for r in project.sql("SELECT lock_timeout FROM seen")] == ["0"]
    assert [(r["outcome"], r["attempts"]) for r in log_rows(project)] == [("applied", 1)]


# -- the run log ---------------------------------------------------------------------------


@pytest.mark.slow
def test_the_run_log_answers_what_ran_when_for_how_long_and_why_it_failed_across_runs(retrying):
    retrying.write(f"{ALTER}.py", legacy_source("ALTER TABLE missing ADD COLUMN note TEXT"))
    failed = retrying.run("alembic-bridge", "upgrade")
    assert failed.returncode != 0
    retrying.write(
        f"{ALTER}.py", legacy_source("ALTER TABLE orders ADD COLUMN note TEXT", "ALTER TABLE orders DROP COLUMN note")
    )
    retrying.run("alembic-bridge", "upgrade", check=True)
    retrying.run("alembic-bridge", "downgrade", "-1", check=True)

    shown = retrying.run("alembic-bridge", "log", check=True).stdout.splitlines()
    # Newest first, each run's rows together (the first run: ORDERS applied, then ALTER failed).
    assert [re.sub(r"^\S+ \S+ UTC  ", "", line).split("  (")[0] for line in shown if not line.startswith("    ")] == [
        f"reverted downgrade {ALTER}",
        f"applied  upgrade   {ALTER}",
        f"failed   upgrade   {ALTER}",
        f"applied  upgrade   {ORDERS}",
    ]
    assert "    [42P01] " in "\n".join(shown) and 'relation "missing" does not exist' in "\n".join(shown)

    data = json.loads(retrying.run("alembic-bridge", "log", "--json", "--limit", "2", check=True).stdout)
    assert [(d["revision"], d["direction"], d["outcome"]) for d in data] == [
        (ALTER, "downgrade", "reverted"),
        (ALTER, "upgrade", "applied"),
    ]
    row = data[0]
    assert row["duration_ms"] >= 0 and row["started_at"] <= row["finished_at"]
    assert row["pid"] > 0 and row["host"] and row["db_user"] and row["bridge_version"] and row["alembic_version"]
    assert len({d["run_id"] for d in data}) == 2

    only = json.loads(retrying.run("alembic-bridge", "log", ALTER, "--json", check=True).stdout)
    assert {d["revision"] for d in only} == {ALTER} and len(only) == 3

    status = retrying.run("alembic-bridge", "status", check=True).stdout
    assert re.search(r"Last run: \S+ \S+ UTC by \S+@\S+: 1 reverted, \d+\.\ds of migrations", status), status


@pytest.mark.slow
def test_reads_never_create_the_log_table_and_passwords_never_reach_it(project):
    result = project.run("alembic-bridge", "log", check=True)
    assert "No migration runs recorded yet" in result.stdout
    project.run("alembic-bridge", "status", check=True)
    project.run("alembic", "current", check=True)
    assert project.tables() == []
    url = project.url.set(password="s3cr@t-pw")
    project.write("20251001_fail.py", legacy_source(f"SELECT 'postgresql://app:{url.password}@db/x'::int"))
    project.run("alembic", "upgrade", "head")
    assert "s3cr@t-pw" not in json.dumps([str(r) for r in log_rows(project)])


# -- progress ------------------------------------------------------------------------------

SLOW_AND_CHATTY = '''"""A slow backfill that talks.

Date: 2025-10-02
"""

import time

from sqlalchemy import text


def upgrade(engine):
    time.sleep(1.6)
    print("backfilled 1000 rows")
    time.sleep(0.6)
    with engine.begin() as conn:
        conn.execute(text("SELECT 1"))


def downgrade(engine):
    pass
'''


@pytest.mark.slow
def test_on_a_terminal_the_running_migration_ticks_and_its_output_gets_its_own_line(project):
    project.table("20251001_create_a", "a")
    project.write("20251002_backfill.py", SLOW_AND_CHATTY)
    command = shlex.join([str(BIN / "alembic-bridge"), "upgrade"])
    out = project.run("script", "-qec", command, "/dev/null", check=True).stdout
    # The live line ticks while the migration runs: some tick past one second shows it.
    assert re.search(r"\[2/2\] applying 20251002_backfill  [12]\.\ds", out), out
    # The migration's print starts on a cleared line and ends its own line.
    assert re.search(r"(^|\n|\x1b\[K)backfilled 1000 rows\r?\n", out), out
    assert not re.search(r"\d\.\ds ?backfilled", out), out
    assert re.search(r"\[2/2\] applied 20251002_backfill \(2\.\d\ds\)", out), out


@pytest.mark.slow
def test_the_python_api_reports_each_migrations_own_time_not_a_running_total(project):
    from bridge import runner

    project.write("20251001_slow.py", legacy_source("SELECT pg_sleep(1.2)"))
    project.table("20251002_create_b", "b")
    seen: list[tuple[str, float]] = []
    started: list[str] = []
    result = runner.upgrade(
        project.config(),
        on_start=lambda step: started.append(step.revision),
        on_step=lambda step, s: seen.append((step.revision, s)),
    )
    assert started == [s for s, _ in seen] == ["20251001_slow", "20251002_create_b"]
    (slow, slow_s), (fast, fast_s) = seen
    assert slow_s >= 1.2 and fast_s < 1.0 <= result.seconds


@pytest.mark.slow
def test_a_waiting_migration_says_who_blocks_it(retrying):
    retrying.write(f"{ALTER}.py", legacy_source("ALTER TABLE orders ADD COLUMN note TEXT"))
    ini = retrying.root / "alembic.ini"
    ini.write_text(ini.read_text().replace(RETRYING, "migration_lock_timeout = 20s\n"))
    blocker = Blocker(retrying.url)
    timer = blocker.release_after(4.5)
    try:
        result = retrying.run("alembic-bridge", "upgrade", check=True)
    finally:
        timer.join()
        blocker.close()
    # Reported once 3 s have passed (the seconds are read after the lookup: 3 or, on a busy machine, 4).
    assert re.search(rf"  {ALTER} has waited [34]s for a lock held by:", result.stderr), result.stderr
    assert f"    pid {blocker.pid} (application nightly_report) idle in transaction since " in result.stderr
    assert "last query: SELECT count(*) FROM orders" in result.stderr


# -- interrupted concurrent index builds -----------------------------------------------------


@pytest.mark.slow
def test_check_and_status_report_an_index_an_interrupted_concurrent_build_left_invalid(project, engine):
    project.table("20251001_create_a", "a")
    project.run("alembic", "upgrade", "head", check=True)
    with engine.connect() as conn:
        conn.exec_driver_sql("INSERT INTO a (id) VALUES (1)")
        conn.commit()
    auto = engine.execution_options(isolation_level="AUTOCOMMIT")
    with auto.connect() as conn, pytest.raises(sa.exc.IntegrityError):
        conn.exec_driver_sql("CREATE TABLE dup (x INT); INSERT INTO dup VALUES (1), (1)")
        conn.exec_driver_sql("CREATE UNIQUE INDEX CONCURRENTLY dup_x ON dup (x)")
    check = project.run("alembic-bridge", "check")
    assert check.returncode == 1
    expected = (
        "index public.dup_x on dup is INVALID: a CREATE INDEX CONCURRENTLY failed or was interrupted "
        "(or is running right now). Queries never use it, and a retry with IF NOT EXISTS skips it. Drop it "
        "(DROP INDEX CONCURRENTLY public.dup_x;) and run the migration that builds it again, or set "
        "rebuild_invalid_indexes = true to have the bridge do that."
    )
    assert expected in check.stderr
    assert f"Warning: {expected}" in project.run("alembic-bridge", "status", check=True).stdout
    assert json.loads(project.run("alembic-bridge", "status", "--json", check=True).stdout)["invalid_indexes"] == [
        expected
    ]


BUILD_UNIQUE_INDEX = '''"""Build a unique index without blocking writes.

Date: 2025-10-02
"""

from sqlalchemy import text


def upgrade(engine):
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(
            text("CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS dup_x ON dup (x)")
        )


def downgrade(engine):
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("DROP INDEX CONCURRENTLY IF EXISTS dup_x"))
'''


@pytest.mark.slow
@pytest.mark.parametrize("rebuild", [False, True])
def test_a_failed_concurrent_build_is_rebuilt_on_the_next_run_only_when_the_user_opts_in(
    tmp_path, database_url, rebuild
):
    project = make_project(tmp_path / "project", database_url, "rebuild_invalid_indexes = true\n" if rebuild else "")
    project.write(
        "20251001_dup.py", legacy_source(["CREATE TABLE IF NOT EXISTS dup (x INT)", "INSERT INTO dup VALUES (1), (1)"])
    )
    project.write("20251002_unique_x.py", BUILD_UNIQUE_INDEX)
    failed = project.run("alembic", "upgrade", "head")
    assert failed.returncode != 0 and "could not create unique index" in failed.output
    assert "A failed CREATE INDEX CONCURRENTLY leaves an invalid index behind" in failed.output
    project.sql("DELETE FROM dup WHERE ctid <> (SELECT min(ctid) FROM dup)")  # the data is fixed
    again = project.run("alembic", "upgrade", "head", check=True)
    valid = project.sql("SELECT i.indisvalid FROM pg_index i WHERE i.indexrelid = 'dup_x'::regclass")
    if rebuild:
        assert "Dropped the INVALID index dup_x an interrupted CREATE INDEX CONCURRENTLY left" in again.output
        assert [v for (v,) in valid] == [True]
        assert project.run("alembic-bridge", "check").returncode == 0
    else:
        assert [v for (v,) in valid] == [False]  # IF NOT EXISTS skipped it: still unusable
        assert "index public.dup_x on dup is INVALID" in project.run("alembic-bridge", "check").stderr


def test_a_lock_timeout_is_retried_in_process_until_the_blocker_is_gone(tmp_path, database_url):
    # In-process and on real PostgreSQL: the fast tier's test of the retries.
    import bridge

    project = make_project(tmp_path / "project", database_url, RETRYING.replace("1s", "300ms"))
    project.write(f"{ORDERS}.py", legacy_source("CREATE TABLE orders (id SERIAL PRIMARY KEY)", "DROP TABLE orders"))
    project.write(f"{ALTER}.py", legacy_source("ALTER TABLE orders ADD COLUMN note TEXT"))
    bridge.upgrade(project.config(), ORDERS)
    blocker = Blocker(project.url)
    timer = blocker.release_after(0.5)
    try:
        bridge.upgrade(project.config())
    finally:
        timer.join()
        blocker.close()
    outcomes = [r["outcome"] for r in log_rows(project, ALTER)]
    assert outcomes[-1] == "applied" and outcomes[:-1] and set(outcomes[:-1]) == {"retried"}
    assert project.rows() == [ORDERS, ALTER]
