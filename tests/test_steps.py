"""Around each migration (bridge.steps): "applied" means committed; one step wrapper for every file.

Real PostgreSQL: a DEFERRABLE INITIALLY DEFERRED constraint makes a migration
fail at COMMIT, after its body ran.
"""

from __future__ import annotations

import json
import re
import shutil
import types

import pytest
import sqlalchemy as sa
from conftest import REPO, legacy_source

from bridge import runner
from bridge.errors import MigrationError

PARENT = "20251001_parent_child"
ORPHAN = "20251002_orphan"
AFTER = "20251003_after"

DEFERRED_FK = [
    "CREATE TABLE parent (id INT PRIMARY KEY)",
    "CREATE TABLE child (id INT PRIMARY KEY, parent_id INT REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)",
]


def with_orphan(project) -> None:
    project.write(f"{PARENT}.py", legacy_source(DEFERRED_FK, ["DROP TABLE child", "DROP TABLE parent"]))
    # Passes every statement; only the COMMIT checks the deferred foreign key.
    project.write(f"{ORPHAN}.py", legacy_source("INSERT INTO child VALUES (1, 42)", "DELETE FROM child"))
    project.table(AFTER, "after_orphan")


def log_rows(project) -> list[tuple]:
    return [tuple(r) for r in project.sql("SELECT revision, outcome, sqlstate FROM alembic_bridge_log ORDER BY id")]


def test_on_step_fires_after_the_commit_and_a_failed_commit_names_the_migration(project):
    with_orphan(project)
    seen: list[tuple[str, list[str]]] = []

    def on_step(step, seconds):
        # Read from another session: only committed work is visible there.
        seen.append((step.revision, project.rows()))

    with pytest.raises(MigrationError) as caught:
        runner.upgrade(project.config(), on_step=on_step)
    assert seen == [(PARENT, [PARENT])]  # reported once committed, and never the orphan
    message = str(caught.value)
    assert message.startswith(f"{project.legacy / (ORPHAN + '.py')}: ")
    assert "its COMMIT failed" in message and "child_parent_id_fkey" in message
    assert "DEFERRABLE INITIALLY DEFERRED" in message
    assert project.rows() == [PARENT] and project.version() == [PARENT]
    assert log_rows(project) == [(PARENT, "applied", None), (ORPHAN, "failed", "23503")]


NATIVE_ORPHAN = '''"""insert an orphan (native)"""
from alembic import op

revision = "n1_orphan"
down_revision = "20251001_parent_child"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("INSERT INTO child VALUES (1, 42)")


def downgrade():
    op.execute("DELETE FROM child")
'''


def test_a_native_revision_failing_at_commit_is_named_and_logged(project):
    project.write(f"{PARENT}.py", legacy_source(DEFERRED_FK, ["DROP TABLE child", "DROP TABLE parent"]))
    path = project.versions / "n1_orphan.py"
    path.write_text(NATIVE_ORPHAN)
    with pytest.raises(MigrationError) as caught:
        runner.upgrade(project.config())
    assert str(caught.value).startswith(f"{path}: n1_orphan ran, but its COMMIT failed")
    assert project.version() == [PARENT]
    assert log_rows(project)[-1] == ("n1_orphan", "failed", "23503")


@pytest.mark.slow
def test_a_failed_commit_is_a_clean_failure_under_every_front_end(project, tmp_path):
    with_orphan(project)
    stock = project.run("alembic", "upgrade", "head")
    assert stock.returncode != 0
    assert f"FAILED: {project.legacy / (ORPHAN + '.py')}: {ORPHAN} ran, but its COMMIT failed" in stock.output
    assert "Traceback" not in stock.output
    bridge_cli = project.run("alembic-bridge", "upgrade")
    assert bridge_cli.returncode == 1, bridge_cli.output
    assert f"applied {ORPHAN}" not in bridge_cli.output
    assert f"{ORPHAN} ran, but its COMMIT failed" in bridge_cli.output and "Traceback" not in bridge_cli.output
    shutil.copy(REPO / "run.py", project.root / "run.py")
    start = project.run("python", "run.py", "start")
    assert start.returncode != 0, start.output
    assert f"Applied migration {ORPHAN}" not in start.output
    assert f"{ORPHAN} ran, but its COMMIT failed" in start.output and "Traceback" not in start.output
    assert project.rows() == [PARENT]
    assert [r[1] for r in log_rows(project) if r[0] == ORPHAN] == ["failed"] * 3


# -- lock timeouts: native revisions as well as legacy files -----------------------------------

NATIVE_ALTER = '''"""add note (native)"""
from alembic import op

revision = "n1_note"
down_revision = "20251001_create_orders"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("ALTER TABLE orders ADD COLUMN note TEXT")


def downgrade():
    op.execute("ALTER TABLE orders DROP COLUMN note")
'''

TIMEOUT_ADVICE = "or raise migration_lock_timeout (in alembic.ini, or at the top of the migration)"


@pytest.fixture
def orders(tmp_path, database_url):
    from conftest import make_project

    project = make_project(tmp_path / "project", database_url, "migration_lock_timeout = 2s\n")
    project.write("20251001_create_orders.py", legacy_source("CREATE TABLE orders (id INT)", "DROP TABLE orders"))
    project.run("alembic", "upgrade", "head", check=True)
    return project


@pytest.mark.slow
def test_a_native_lock_timeout_names_the_blocker_and_the_option_under_every_front_end(orders):
    from test_live_traffic import Blocker

    path = orders.versions / "n1_note.py"
    path.write_text(NATIVE_ALTER)
    (orders.root / "targets.txt").write_text(f"db {orders.url.render_as_string(hide_password=False)}\n")
    shutil.copy(REPO / "run.py", orders.root / "run.py")
    blocker = Blocker(orders.url)
    try:
        results = {
            "alembic": orders.run("alembic", "upgrade", "head"),
            "alembic-bridge": orders.run("alembic-bridge", "upgrade"),
            "run.py": orders.run("python", "run.py", "start"),
            "fleet": orders.run("alembic-bridge", "fleet", "upgrade", "--targets", "targets.txt", "--json"),
        }
    finally:
        blocker.close()
    for front_end, result in results.items():
        assert result.returncode != 0, (front_end, result.output)
        assert "Traceback" not in result.output, (front_end, result.output)
        # The fleet's table shows each failure's first line; its JSON report the whole error.
        shown = json.loads(result.stdout)["targets"][0]["error"] if front_end == "fleet" else result.output
        assert f"{path}: SQL failed: canceling statement due to lock timeout" in shown, front_end
        assert f"pid {blocker.pid} (application nightly_report) holds AccessShareLock on orders" in shown
        assert TIMEOUT_ADVICE in shown, (front_end, shown)
        assert "a longer lock_timeout" not in shown
    assert results["alembic"].output.count("FAILED: ") == 1
    assert orders.version() == ["20251001_create_orders"]


@pytest.mark.slow
def test_a_legacy_lock_timeout_names_the_option_that_raises_it(orders):
    from test_live_traffic import Blocker

    orders.write("20251002_add_note.py", legacy_source("ALTER TABLE orders ADD COLUMN note TEXT"))
    blocker = Blocker(orders.url)
    try:
        result = orders.run("alembic", "upgrade", "head")
    finally:
        blocker.close()
    assert result.returncode != 0 and "Traceback" not in result.output
    assert TIMEOUT_ADVICE in result.output and "a longer lock_timeout" not in result.output


@pytest.mark.slow
def test_the_wait_line_comes_at_half_the_lock_timeout_when_that_is_sooner_than_3_s(orders):
    from test_live_traffic import Blocker

    orders.write("20251002_add_note.py", legacy_source("ALTER TABLE orders ADD COLUMN note TEXT"))
    blocker = Blocker(orders.url)
    try:
        result = orders.run("alembic-bridge", "upgrade")
    finally:
        blocker.close()
    assert result.returncode == 1
    # Reported after 1 s of the 2 s (read after the lookup: 1 or, on a busy machine, 2).
    assert re.search(r"  20251002_add_note has waited [12]s for a lock held by:", result.stderr), result.stderr
    assert f"    pid {blocker.pid} (application nightly_report)" in result.stderr


@pytest.mark.parametrize(
    ("lock_timeout", "after"), [(None, 3.0), ("0", 3.0), ("2s", 1.0), ("500ms", 0.25), ("10s", 3.0), ("4000", 2.0)]
)
def test_the_wait_line_delay_is_half_the_lock_timeout_or_3_s_whichever_is_sooner(lock_timeout, after):
    from bridge.steps import Policy

    assert Policy(lock_timeout=lock_timeout).report_after() == after


# -- one step wrapper: AUTOCOMMIT statements and out-of-order files get the timeouts too ------

SHOWS_IN_AUTOCOMMIT = '''"""Records the lock timeout an AUTOCOMMIT statement runs with."""

from sqlalchemy import text


def upgrade(engine):
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(
            text("CREATE TABLE seen_legacy AS SELECT current_setting('lock_timeout') AS lock_timeout, "
                 "current_setting('statement_timeout') AS statement_timeout")
        )


def downgrade(engine):
    pass
'''

NATIVE_SHOWS_IN_AUTOCOMMIT = '''"""records the timeouts an autocommit_block() runs with (native)"""
from alembic import op

revision = "n1_seen"
down_revision = "20251001_seen"
branch_labels = None
depends_on = None


def upgrade():
    with op.get_context().autocommit_block():
        op.execute(
            "CREATE TABLE seen_native AS SELECT current_setting('lock_timeout') AS lock_timeout, "
            "current_setting('statement_timeout') AS statement_timeout"
        )


def downgrade():
    pass
'''

TIMEOUTS = "migration_lock_timeout = 2s\nmigration_statement_timeout = 1min\n"


def test_the_timeouts_hold_for_autocommit_statements_and_are_put_back_after_them(tmp_path, database_url):
    from conftest import make_project

    project = make_project(tmp_path / "project", database_url, TIMEOUTS)
    project.write("20251001_seen.py", SHOWS_IN_AUTOCOMMIT)
    (project.versions / "n1_seen.py").write_text(NATIVE_SHOWS_IN_AUTOCOMMIT)
    config = project.config()
    engine = sa.create_engine(project.url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SET statement_timeout = '5min'")  # the caller's own setting
            connection.commit()
            config.attributes["connection"] = connection
            runner.upgrade(config)
            after = connection.exec_driver_sql(
                "SELECT current_setting('lock_timeout'), current_setting('statement_timeout')"
            )
            assert tuple(after.one()) == ("0", "5min")  # the session's own values, put back
            connection.rollback()
    finally:
        engine.dispose()
    for table in ("seen_legacy", "seen_native"):
        assert project.sql(f"SELECT lock_timeout, statement_timeout FROM {table}") == [("2s", "1min")], table


AUTOCOMMIT_ALTER = '''"""An AUTOCOMMIT ALTER, first thing: nothing of the migration has committed before it."""

from sqlalchemy import text


def upgrade(engine):
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ALTER TABLE orders ADD COLUMN note TEXT"))


def downgrade(engine):
    pass
'''


@pytest.mark.slow
def test_an_autocommit_statement_times_out_and_is_retried_when_nothing_had_committed(tmp_path, database_url):
    from conftest import make_project
    from test_live_traffic import RETRYING, Blocker

    project = make_project(tmp_path / "project", database_url, RETRYING)
    project.write("20251001_create_orders.py", legacy_source("CREATE TABLE orders (id INT)", "DROP TABLE orders"))
    project.run("alembic", "upgrade", "head", check=True)
    project.write("20251002_note.py", AUTOCOMMIT_ALTER)
    blocker = Blocker(project.url)
    # Released once the ALTER has waited past its 1 s lock timeout, however long the CLI took to start.
    waiter = blocker.release_after(1.5)
    try:
        result = project.run("alembic", "upgrade", "head", check=True)
    finally:
        waiter.join()
        blocker.close()
    assert "20251002_note hit a lock timeout (attempt 1 of 4)" in result.output
    rows = project.sql("SELECT outcome, attempts FROM alembic_bridge_log WHERE revision = '20251002_note' ORDER BY id")
    assert rows[0] == ("retried", 1) and rows[-1][0] == "applied"
    assert project.rows() == ["20251001_create_orders", "20251002_note"]


SHOWS_IN_TRANSACTION = '''"""Records the lock timeout it runs with."""

from sqlalchemy import text


def upgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE seen_hole AS SELECT current_setting('lock_timeout') AS lock_timeout"))


def downgrade(engine):
    pass
'''


def test_an_out_of_order_file_runs_through_the_same_step_wrapper(tmp_path, database_url):
    from conftest import make_project

    project = make_project(tmp_path / "project", database_url, TIMEOUTS)
    project.table("20251001_a", "a")
    project.table("20251003_c", "c")
    runner.upgrade(project.config())
    project.write("20251002_hole.py", SHOWS_IN_TRANSACTION)
    project.write("20251002_seen.py", SHOWS_IN_AUTOCOMMIT)  # AUTOCOMMIT works out of order too
    events: list[str] = []
    result = runner.upgrade(
        project.config(),
        out_of_order=True,
        on_start=lambda step: events.append(f"start {step.revision}"),
        on_step=lambda step, seconds: events.append(f"done {step.revision} {project.rows()[-1]}"),
    )
    assert events == [
        "start 20251002_hole",
        "done 20251002_hole 20251002_hole",
        "start 20251002_seen",
        "done 20251002_seen 20251002_seen",
    ]
    assert [s.revision for s in result.steps] == ["20251002_hole", "20251002_seen"]
    assert project.sql("SELECT lock_timeout FROM seen_hole") == [("2s",)]
    assert project.sql("SELECT lock_timeout, statement_timeout FROM seen_legacy") == [("2s", "1min")]
    assert project.sql(
        "SELECT revision, outcome FROM alembic_bridge_log WHERE revision LIKE '20251002%' ORDER BY id"
    ) == [
        ("20251002_hole", "applied"),
        ("20251002_seen", "applied"),
    ]


def test_an_out_of_order_file_failing_at_commit_is_named_and_logged(project):
    project.write(f"{PARENT}.py", legacy_source(DEFERRED_FK, ["DROP TABLE child", "DROP TABLE parent"]))
    project.table(AFTER, "after_orphan")
    runner.upgrade(project.config())
    project.write(f"{ORPHAN}.py", legacy_source("INSERT INTO child VALUES (1, 42)", "DELETE FROM child"))
    seen: list[str] = []
    with pytest.raises(MigrationError) as caught:
        runner.upgrade(project.config(), out_of_order=True, on_step=lambda step, s: seen.append(step.revision))
    assert str(caught.value).startswith(f"{project.legacy / (ORPHAN + '.py')}: {ORPHAN} ran, but its COMMIT failed")
    assert seen == [] and project.rows() == [PARENT, AFTER]
    assert log_rows(project)[-1] == (ORPHAN, "failed", "23503")


COUNTS_ITS_IMPORTS = '''"""Counts its imports and its upgrade() calls; its first attempt hits a lock timeout."""

from pathlib import Path

from sqlalchemy import text

TRACE = Path(TRACE_PATH)
with TRACE.open("a") as trace:
    trace.write("import\\n")  # a side effect of importing the file
calls = []  # module state: a module that served an attempt already would count 2
lock_retries = 2
lock_retry_backoff = 0.01


def upgrade(engine):
    calls.append(1)
    with TRACE.open("a") as trace:
        trace.write(f"upgrade {len(calls)}\\n")
    with engine.begin() as conn:
        if TRACE.read_text().count("import") == 1:  # the first attempt fails as a blocked ALTER would
            conn.execute(text("DO $$ BEGIN RAISE EXCEPTION 'held' USING ERRCODE = '55P03'; END $$"))
        conn.execute(text("CREATE TABLE imported_afresh (id INT)"))


def downgrade(engine):
    pass
'''


def _holds_a_module(value) -> bool:
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple, set)):
        return any(_holds_a_module(item) for item in value)
    return isinstance(value, types.ModuleType)


@pytest.mark.parametrize("out_of_order", [False, True])
def test_each_attempt_runs_the_file_it_imported_itself_handed_over_not_kept_in_the_run(project, tmp_path, out_of_order):
    # In process, on real PostgreSQL. The file is imported once per attempt: the import
    # that read its settings is the one the first attempt runs, a retry imports it afresh
    # (a fresh module: its module-level `calls` starts empty), and no module sits in the
    # run's state for another module to pick up.
    from bridge.context import current

    trace = tmp_path / "trace.txt"
    stem = "20251001_counts_its_imports"
    project.table("20251002_later", "later")
    if out_of_order:  # applied first: the counting file is then older than an applied one
        runner.upgrade(project.config())
    project.write(f"{stem}.py", COUNTS_ITS_IMPORTS.replace("TRACE_PATH", repr(str(trace))))
    held: list[tuple[str, list[str]]] = []

    def on_start(step):
        state = vars(current())
        held.append((step.revision, [name for name, value in state.items() if _holds_a_module(value)]))

    runner.upgrade(project.config(), out_of_order=out_of_order, on_start=on_start)
    assert trace.read_text().splitlines() == ["import", "upgrade 1", "import", "upgrade 1"]
    assert (stem, []) in held and all(names == [] for _, names in held)
    rows = project.sql(
        f"SELECT outcome, attempts, sqlstate FROM alembic_bridge_log WHERE revision = '{stem}' ORDER BY id"
    )
    assert [tuple(r) for r in rows] == [("retried", 1, "55P03"), ("applied", 2, None)]
    assert project.sql("SELECT to_regclass('imported_afresh') IS NOT NULL") == [(True,)]


# -- after_failure: what follows a failed attempt, as a table ------------------------------------


def _failed(state, *, intact=True, committed=False, err=None):
    import datetime

    from bridge.steps import Failed

    return Failed(err or RuntimeError("x"), state, datetime.datetime(2026, 1, 1), None, intact, committed)


@pytest.mark.parametrize(
    "state, attempt, retries, intact, committed, expected",
    [
        ("55P03", 1, 2, True, False, "RETRY"),  # a lock timeout, retries left
        ("40P01", 2, 2, True, False, "RETRY"),  # a deadlock, the last retry
        ("55P03", 3, 2, True, False, "FAIL"),  # retries used up
        ("55P03", 1, 0, True, False, "FAIL"),  # no retries configured
        ("23505", 1, 2, True, False, "FAIL"),  # not a lock timeout or a deadlock
        (None, 1, 2, True, False, "FAIL"),  # not a database error
        ("55P03", 1, 2, False, False, "RETRY"),  # an AUTOCOMMIT statement ended it, committing nothing
        ("55P03", 1, 2, False, True, "FAIL_NOT_RETRIED"),  # ... committing part of it
        ("55P03", 3, 2, False, True, "FAIL_NOT_RETRIED"),
        # Retries used up after an AUTOCOMMIT statement that committed nothing: a plain
        # failure, never "an AUTOCOMMIT statement had already committed part of it".
        ("55P03", 3, 2, False, False, "FAIL"),
        ("55P03", 1, 0, False, True, "FAIL"),  # no retries configured: nothing to explain
    ],
)
def test_after_failure_retries_only_what_is_safe_and_says_why_only_when_it_is_true(
    state, attempt, retries, intact, committed, expected
):
    from bridge.steps import Next, after_failure
    from bridge.timeouts import Policy

    decision = after_failure(_failed(state, intact=intact, committed=committed), attempt, Policy(retries=retries))
    assert decision is Next[expected]


def test_after_failure_never_retries_what_stops_the_program():
    from bridge.steps import Next, after_failure
    from bridge.timeouts import Policy

    assert after_failure(_failed("55P03", err=KeyboardInterrupt()), 1, Policy(retries=3)) is Next.FAIL
