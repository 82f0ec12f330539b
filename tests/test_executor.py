"""Running one legacy file: how each way a migration can end is reported, end to end.

Every test drives the real ``alembic`` / ``python run.py`` commands (or the
library API) against a real PostgreSQL and asserts the exit code, the message
(file, line, what was and was not applied, the fix) and both history tables.
"""

from __future__ import annotations

import functools
import inspect
import shutil
import threading
import time
import types

import pytest
import sqlalchemy as sa
from conftest import REPO, legacy_source

from bridge import runner
from bridge.errors import MigrationError

EXITS_EARLY = """\
import sys
from sqlalchemy import text


def upgrade(engine):
    with engine.connect() as conn:
        trans = conn.begin()
        conn.execute(text("CREATE TABLE half (id INTEGER)"))
        trans.commit()
        if conn.execute(text("SELECT 1")).scalar() == 1:
            print("Nothing to do, exiting")
            {exit_call}
        conn.execute(text("CREATE TABLE never (id INTEGER)"))


def downgrade(engine):
    pass
"""
EXIT_LINE = 12


def exits_early(project, exit_call: str = "sys.exit()") -> None:
    project.table("20251001_first", "first")
    project.write("20251002_exits.py", EXITS_EARLY.replace("{exit_call}", exit_call))
    project.table("20251003_after", "after")


@pytest.mark.slow
@pytest.mark.parametrize("exit_call", ["sys.exit()", "sys.exit(0)", "raise GeneratorExit()"])
def test_sys_exit_in_upgrade_fails_alembic_upgrade_naming_the_file_and_line(project, exit_call):
    exits_early(project, exit_call)
    result = project.run("alembic", "upgrade", "head")
    assert result.returncode != 0, result.output
    path = project.legacy / "20251002_exits.py"
    assert f"FAILED: {path}:{EXIT_LINE}: upgrade() raised " in result.output
    assert "it tried to stop the program, not just the migration" in result.output
    assert "Use `return` to end a migration early, or raise an exception to fail it." in result.output
    assert "Nothing from this migration was applied or recorded." in result.output
    assert "Traceback" not in result.output
    assert project.rows() == ["20251001_first"]
    assert project.version() == ["20251001_first"]
    assert "half" not in project.tables() and "after" not in project.tables()


@pytest.mark.slow
def test_sys_exit_in_upgrade_fails_run_py_start(project):
    exits_early(project)
    shutil.copy(REPO / "run.py", project.root / "run.py")
    result = project.run("python", "run.py", "start")
    assert result.returncode != 0, result.output
    assert f"20251002_exits.py:{EXIT_LINE}: upgrade() raised SystemExit" in result.output
    assert "Database is ready" not in result.output
    assert project.rows() == ["20251001_first"]


def test_sys_exit_in_upgrade_raises_migration_error_from_the_library_api(project):
    exits_early(project, "sys.exit('done')")
    with pytest.raises(MigrationError) as raised:
        runner.upgrade(project.config())
    assert raised.value.line == EXIT_LINE
    assert raised.value.path == project.legacy / "20251002_exits.py"
    assert "upgrade() raised SystemExit: done" in str(raised.value)
    assert project.rows() == ["20251001_first"]


@pytest.mark.slow
def test_sys_exit_at_import_time_fails_naming_the_file(project):
    project.table("20251001_first", "first")
    project.write("20251002_exits_on_import.py", "import sys\nsys.exit(0)\n")
    result = project.run("alembic", "upgrade", "head")
    assert result.returncode != 0, result.output
    assert (
        f"FAILED: {project.legacy / '20251002_exits_on_import.py'}:2: importing the file raised SystemExit: 0, which would end the whole run."
        in result.output
    )
    assert '`if __name__ == "__main__":`' in result.output
    assert project.rows() == ["20251001_first"]


KEYBOARD_INTERRUPT = """\
from sqlalchemy import text


def upgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE interrupted (id INTEGER)"))
    raise KeyboardInterrupt


def downgrade(engine):
    pass
"""


def test_ctrl_c_in_upgrade_still_stops_the_run_and_rolls_the_migration_back(project):
    project.table("20251001_first", "first")
    project.write("20251002_interrupted.py", KEYBOARD_INTERRUPT)
    project.table("20251003_after", "after")
    with pytest.raises(KeyboardInterrupt):
        runner.upgrade(project.config())
    assert project.rows() == ["20251001_first"]
    assert "interrupted" not in project.tables() and "after" not in project.tables()


AUTOCOMMIT_THEN_FAILS = """\
from sqlalchemy import text


def upgrade(engine):
    with engine.connect() as conn:
        trans = conn.begin()
        conn.execute(text("CREATE TABLE big (id INTEGER, v INTEGER)"))
        trans.commit()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("CREATE INDEX CONCURRENTLY ix_big_v ON big (v)"))
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE after_index (id INTEGER)"))
        conn.execute(text("INSERT INTO big VALUES (1, 1 / 0)"))


def downgrade(engine):
    pass
"""


@pytest.mark.slow
def test_a_failure_after_an_autocommit_statement_says_what_was_committed_and_what_was_not(project):
    project.table("20251001_first", "first")
    path = project.write("20251002_concurrent_index.py", AUTOCOMMIT_THEN_FAILS)
    project.table("20251003_after", "after")
    result = project.run("alembic", "upgrade", "head")
    assert result.returncode != 0, result.output
    assert f"FAILED: {path}:13: SQL failed: division by zero" in result.output
    assert "Nothing from this migration was applied" not in result.output
    assert (
        "Partly applied: the AUTOCOMMIT statement at line 10 (CREATE INDEX CONCURRENTLY "
        "ix_big_v ON big (v)) committed everything this migration did up to and including "
        "it; what it did after line 10 was rolled back."
    ) in result.output
    assert (
        "20251002_concurrent_index is not recorded, so the next run starts it again from "
        "the top: make the steps before line 10 idempotent (IF NOT EXISTS), fix the error "
        "and run again."
    ) in result.output
    # What the message says is what happened:
    assert "big" in project.tables() and "after_index" not in project.tables()
    assert project.sql("SELECT indexname FROM pg_indexes WHERE tablename = 'big'") == [("ix_big_v",)]
    assert project.rows() == ["20251001_first"] and project.version() == ["20251001_first"]


AUTOCOMMIT_STATEMENT_FAILS = """\
from sqlalchemy import text


def upgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE big (id INTEGER, v INTEGER)"))
        conn.execute(text("INSERT INTO big VALUES (1, 1), (2, 1)"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("CREATE UNIQUE INDEX CONCURRENTLY ix_big_v ON big (v)"))


def downgrade(engine):
    pass
"""


@pytest.mark.slow
def test_a_failing_autocommit_statement_says_the_work_before_it_was_committed(project):
    path = project.write("20251002_unique_index.py", AUTOCOMMIT_STATEMENT_FAILS)
    result = project.run("alembic", "upgrade", "head")
    assert result.returncode != 0, result.output
    assert f"FAILED: {path}:9: SQL failed: could not create unique index" in result.output
    assert (
        "Partly applied: the AUTOCOMMIT statement at line 9 (CREATE UNIQUE INDEX CONCURRENTLY "
        "ix_big_v ON big (v)) failed, after committing everything this migration did before it."
    ) in result.output
    assert "A failed CREATE INDEX CONCURRENTLY leaves an invalid index behind" in result.output
    assert "Nothing from this migration was applied" not in result.output
    assert "big" in project.tables()
    assert project.rows() == [] and project.version() == []


ADDS_A_COLUMN_WITH_LOCK_TIMEOUT = """\
from sqlalchemy import text


def upgrade(engine):
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            conn.execute(text("SET LOCAL lock_timeout = '300ms'"))
            conn.execute(text("ALTER TABLE orders ADD COLUMN note TEXT"))
            trans.commit()
        except Exception as e:
            trans.rollback()
            raise


def downgrade(engine):
    pass
"""


@pytest.mark.slow
def test_a_lock_timeout_names_the_session_that_holds_the_lock(project):
    project.sql("CREATE TABLE orders (id INTEGER)")
    path = project.write("20251002_add_note.py", ADDS_A_COLUMN_WITH_LOCK_TIMEOUT)
    other = sa.create_engine(
        project.url, poolclass=sa.pool.NullPool, connect_args={"application_name": "nightly_report"}
    )
    try:
        with other.connect() as holder:
            pid = holder.execute(sa.text("SELECT pg_backend_pid()")).scalar()
            holder.execute(sa.text("SELECT COUNT(*) FROM orders"))  # holds its lock until rollback
            result = project.run("alembic", "upgrade", "head")
    finally:
        other.dispose()
    assert result.returncode != 0, result.output
    assert f"FAILED: {path}:9: SQL failed: canceling statement due to lock timeout" in result.output
    assert "statement: ALTER TABLE orders ADD COLUMN note TEXT" in result.output
    assert "Fix the SQL" not in result.output
    assert ("The statement waited longer than lock_timeout for a lock another session holds:") in result.output
    assert (
        f"  pid {pid} (application nightly_report) holds AccessShareLock on orders, idle in transaction"
    ) in result.output
    assert "last query: SELECT COUNT(*) FROM orders" in result.output
    assert (
        f"Let that session finish, or end it (SELECT pg_terminate_backend({pid})), then run "
        "again; or raise migration_lock_timeout (in alembic.ini, or at the top of the migration) "
        "to let it wait longer."
    ) in result.output
    assert "Nothing from this migration was applied or recorded." in result.output
    assert project.rows() == []


SLOW_STATEMENT = """\
from sqlalchemy import text


def upgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL statement_timeout = '200ms'"))
        conn.execute(text("CREATE TABLE slow AS SELECT pg_sleep(2)::text AS slept"))


def downgrade(engine):
    pass
"""


@pytest.mark.slow
def test_a_statement_timeout_says_the_statement_ran_past_it(project):
    path = project.write("20251002_slow.py", SLOW_STATEMENT)
    result = project.run("alembic", "upgrade", "head")
    assert result.returncode != 0, result.output
    assert f"FAILED: {path}:7: SQL failed: canceling statement due to statement timeout" in result.output
    assert "Fix the SQL" not in result.output
    assert (
        "The statement ran longer than statement_timeout allows and was cancelled. Make it "
        "faster (an index, smaller batches), or give this migration a longer "
        "statement_timeout (SET LOCAL statement_timeout = ...), then run again."
    ) in result.output
    assert project.rows() == [] and "slow" not in project.tables()


DEADLOCKS = """\
import time
from sqlalchemy import text


def upgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("UPDATE accounts SET balance = balance - 1 WHERE id = 1"))
        time.sleep(0.5)
        conn.execute(text("UPDATE accounts SET balance = balance + 1 WHERE id = 2"))


def downgrade(engine):
    pass
"""


@pytest.mark.slow
def test_a_deadlock_names_the_other_session(project):
    project.sql("CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER)")
    project.sql("INSERT INTO accounts VALUES (1, 10), (2, 10)")
    path = project.write("20251002_transfer.py", DEADLOCKS)
    other = sa.create_engine(project.url, poolclass=sa.pool.NullPool)
    outcome = {}

    def other_session():
        # Locks row 2 first, then (once the migration holds row 1) asks for row 1.
        with other.connect() as conn:
            outcome["pid"] = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()
            conn.execute(sa.text("UPDATE accounts SET balance = balance - 1 WHERE id = 2"))
            ready.set()
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                waiting = conn.execute(
                    sa.text(
                        "SELECT COUNT(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                        "WHERE NOT l.granted AND a.query LIKE 'UPDATE accounts%id = 2'"
                    )
                ).scalar()
                if waiting:
                    break
                time.sleep(0.05)
            conn.execute(sa.text("SET deadlock_timeout = '5s'"))  # the migration detects it first
            conn.execute(sa.text("UPDATE accounts SET balance = balance + 1 WHERE id = 1"))
            conn.commit()

    ready = threading.Event()
    thread = threading.Thread(target=other_session)
    thread.start()
    try:
        assert ready.wait(20)
        result = project.run("alembic", "upgrade", "head")
    finally:
        thread.join(30)
        other.dispose()
    assert result.returncode != 0, result.output
    assert f"FAILED: {path}:9: SQL failed: deadlock detected" in result.output
    assert "Fix the SQL" not in result.output
    assert (
        f"This migration and another session (pid {outcome['pid']}) each waited for a lock "
        "the other held; PostgreSQL cancelled this statement to break the deadlock."
    ) in result.output
    assert "Run again once the other session is done" in result.output
    assert project.rows() == []
    assert project.sql("SELECT id, balance FROM accounts ORDER BY id") == [(1, 11), (2, 9)]


RAW_COMMIT_THEN_FAILS = """\
from sqlalchemy import text


def upgrade(engine):
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            conn.execute(text("CREATE TABLE half (id INTEGER)"))
            conn.execute(text("INSERT INTO half VALUES (1); COMMIT;"))
            if conn.execute(text("SELECT COUNT(*) FROM half")).scalar() != {expected}:
                raise Exception("Verification failed")
            trans.commit()
        except Exception as e:
            trans.rollback()
            raise


def downgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE half"))
"""


@pytest.mark.slow
def test_a_raw_commit_stays_inside_the_migration_so_a_later_failure_leaves_nothing(project):
    project.table("20251001_first", "first")
    path = project.write("20251002_raw_commit.py", RAW_COMMIT_THEN_FAILS.replace("{expected}", "2"))
    project.table("20251003_after", "after")
    result = project.run("alembic", "upgrade", "head")
    assert result.returncode != 0, result.output
    assert f"FAILED: {path}:11: upgrade() raised Exception: Verification failed" in result.output
    assert "Nothing from this migration was applied or recorded." in result.output
    assert "half" not in project.tables()  # the message is true: the COMMIT did not escape
    assert project.rows() == ["20251001_first"] and project.version() == ["20251001_first"]
    path.write_text(RAW_COMMIT_THEN_FAILS.replace("{expected}", "1"))
    project.run("alembic", "upgrade", "head", check=True)
    assert project.rows() == ["20251001_first", "20251002_raw_commit", "20251003_after"]
    assert project.sql("SELECT id FROM half") == [(1,)]


SWALLOWS_A_REFUSED_STATEMENT = """\
from sqlalchemy import text


def upgrade(engine):
    with engine.connect() as conn:
        trans = conn.begin()
        conn.execute(text("CREATE TABLE prepared (id INTEGER)"))
        try:
            conn.execute(text("PREPARE TRANSACTION 'migration_42'"))
        except Exception as e:
            print(f"Two-phase commit unavailable, committing normally: {e}")
        trans.commit()


def downgrade(engine):
    pass
"""


@pytest.mark.slow
def test_a_refused_transaction_statement_fails_the_migration_even_when_caught(project):
    path = project.write("20251002_two_phase.py", SWALLOWS_A_REFUSED_STATEMENT)
    result = project.run("alembic", "upgrade", "head")
    assert result.returncode != 0, result.output
    assert (
        f"FAILED: {path}:9: `PREPARE TRANSACTION 'migration_42'` would hand the migration's "
        "transaction (Alembic's) to two-phase commit; the bridge runs each migration in one "
        "transaction. Remove it. The statement was not run."
    ) in result.output
    assert "Nothing from this migration was applied or recorded." in result.output
    assert project.rows() == [] and "prepared" not in project.tables()
    assert project.sql("SELECT COUNT(*) FROM pg_prepared_xacts") == [(0,)]


SETS_THE_SEARCH_PATH = """\
from sqlalchemy import text


def upgrade(engine):
    with engine.connect() as conn:
        trans = conn.begin()
        conn.execute(text("CREATE SCHEMA audit"))
        conn.execute(text("SET search_path TO audit"))
        conn.execute(text("SET statement_timeout = '50ms'; SET lock_timeout TO 1"))
        conn.execute(text("CREATE TABLE events (id INTEGER)"))
        trans.commit()


def downgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA audit CASCADE"))
"""


@pytest.mark.slow
def test_a_session_set_in_a_migration_does_not_leak_into_the_ledger_or_later_migrations(project):
    project.write("20251001_audit_schema.py", SETS_THE_SEARCH_PATH)
    project.write(
        "20251002_slow_after.py",
        legacy_source(["SELECT pg_sleep(0.2)", "CREATE TABLE after (id INTEGER)"], "DROP TABLE after"),
    )
    project.run("alembic", "upgrade", "head", check=True)
    assert project.rows() == ["20251001_audit_schema", "20251002_slow_after"]
    assert project.sql("SELECT to_regclass('audit.events') IS NOT NULL") == [(True,)]
    assert project.tables() == [
        "after",
        "alembic_bridge_checksums",
        "alembic_bridge_log",
        "alembic_version",
        "schema_migrations",
    ]


@pytest.mark.slow
def test_os_exit_cannot_be_caught_but_leaves_nothing_of_its_migration_recorded(project):
    # LIMITATION: os._exit() ends the process at once (exit status as given); the
    # server then rolls back the migration's transaction, so the tables stay true.
    exits_early(project, "os._exit(0)")
    path = project.legacy / "20251002_exits.py"
    path.write_text("import os\n" + path.read_text())
    result = project.run("alembic", "upgrade", "head")
    assert result.returncode == 0
    assert project.rows() == ["20251001_first"] and project.version() == ["20251001_first"]
    assert "half" not in project.tables()


# -- the signature check: the code-object shortcut never accepts what inspect refuses --


def _wrapped(inner):
    @functools.wraps(inner)
    def wrapper(*args, **kwargs):
        return inner(*args, **kwargs)

    return wrapper


def _no_args():
    pass


def _two(conn, cursor):
    pass


SIGNATURES = [
    lambda engine: None,
    lambda engine, extra=1: None,
    lambda *args: None,
    lambda engine=None: None,
    lambda engine, *, flag=False: None,
    lambda: None,
    lambda conn, cursor: None,
    lambda engine, *, required: None,
    lambda **kw: None,
    lambda *, engine=None: None,
    _wrapped(_no_args),
    _wrapped(_two),
    _wrapped(lambda engine: None),
    print,
]


@pytest.mark.parametrize("fn", SIGNATURES)
def test_the_signature_shortcut_agrees_with_inspect(fn):
    from bridge.executor import _takes_one_positional

    try:
        inspect.signature(fn).bind(object())
        binds = True
    except TypeError:
        binds = False
    except ValueError:
        binds = None  # no signature: the call decides
    if _takes_one_positional(fn):
        assert binds is True


def test_a_decorated_upgrade_without_the_engine_parameter_gets_the_signature_message(tmp_path):
    from bridge.errors import MigrationError
    from bridge.executor import migration_function
    from bridge.loader import LegacyFile

    legacy = LegacyFile(tmp_path / "20251031_x.py", "20251031_x", None, "x")
    module = types.SimpleNamespace(upgrade=_wrapped(_no_args))
    with pytest.raises(MigrationError, match=r"`def upgrade\(\)` cannot take the engine"):
        migration_function(legacy, module, "upgrade")
