"""The runner lock's hierarchy and its session, on real PostgreSQL (no subprocess: fast tier).

Every run holds the database lock shared and its schema's lock exclusive, on the
session that runs its migrations; the documented SQL takes the same locks.
"""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

import bridge
from bridge import lock
from bridge.errors import LockLost, LockTimeout

QUICK = SimpleNamespace(lock_timeout=0.3)


@pytest.fixture
def connect(engine):
    """Open connections on the test database; closed afterwards."""
    opened: list[sa.Connection] = []

    def make() -> sa.Connection:
        opened.append(engine.connect())
        return opened[-1]

    yield make
    for conn in opened:
        conn.close()


def _advisory_locks(engine) -> list[tuple[int, str]]:
    with engine.connect() as conn:
        return [
            (row[0], row[1])
            for row in conn.execute(
                sa.text(
                    "SELECT (classid::bigint << 32) | objid::bigint, mode FROM pg_locks "
                    "WHERE locktype = 'advisory' AND granted ORDER BY 1, 2"
                )
            )
        ]


def test_a_plain_run_and_a_run_for_the_public_schema_exclude_each_other(connect, engine):
    # `alembic upgrade head` vs `fleet upgrade --schemas public`: the plain run's own
    # schema (current_schema(), public here) is the plain run's lock.
    with lock.runner_lock(connect(), QUICK) as plain:
        assert plain is not None
        with pytest.raises(LockTimeout, match="still holds the bridge's lock after 0.3 s"):
            with lock.runner_lock(connect(), QUICK, schema="public"):
                pass
    with lock.runner_lock(connect(), QUICK, schema="public"):
        with pytest.raises(LockTimeout):
            with lock.runner_lock(connect(), QUICK):
                pass


def test_two_tenants_run_in_parallel_and_a_tenant_excludes_its_own_second_run(connect, engine):
    db = engine.url.database
    with lock.runner_lock(connect(), QUICK, schema="tenant_1"):
        with lock.runner_lock(connect(), QUICK, schema="tenant_2"):
            assert _advisory_locks(engine) == sorted(
                [
                    (lock.lock_key(db), "ShareLock"),
                    (lock.lock_key(db), "ShareLock"),
                    (lock.lock_key(db, "tenant_1"), "ExclusiveLock"),
                    (lock.lock_key(db, "tenant_2"), "ExclusiveLock"),
                ]
            )
        with pytest.raises(LockTimeout):
            with lock.runner_lock(connect(), QUICK, schema="tenant_1"):
                pass
    assert _advisory_locks(engine) == []  # released, and nothing left by the run that waited


def test_the_documented_database_lock_holds_off_every_run_and_the_wait_names_its_holder(connect, engine, caplog):
    holder = connect()
    holder.execute(sa.text(f"SELECT pg_advisory_lock({lock.LOCK_KEY_SQL})"))
    holder.commit()
    pid = holder.execute(sa.text("SELECT pg_backend_pid()")).scalar()
    holder.commit()
    for schema in (None, "tenant_1"):
        with caplog.at_level(logging.WARNING, logger="bridge.lock"):
            with pytest.raises(LockTimeout, match=f"held by pid {pid} "):
                with lock.runner_lock(connect(), QUICK, schema=schema):
                    pass
    holder.execute(sa.text(f"SELECT pg_advisory_unlock({lock.LOCK_KEY_SQL})"))
    holder.commit()
    # ... and a bridge run holds off an old runner taking it (it gets it only once the run ended).
    with lock.runner_lock(connect(), QUICK, schema="tenant_1"):
        assert holder.execute(sa.text(f"SELECT pg_try_advisory_lock({lock.LOCK_KEY_SQL})")).scalar() is False
        holder.commit()
    assert holder.execute(sa.text(f"SELECT pg_try_advisory_lock({lock.LOCK_KEY_SQL})")).scalar() is True
    holder.commit()


def test_the_documented_schema_lock_sql_is_what_a_plain_run_takes(connect, engine):
    old_runner = connect()
    old_runner.execute(
        sa.text(f"SELECT pg_advisory_lock_shared({lock.LOCK_KEY_SQL}), pg_advisory_lock({lock.SCHEMA_LOCK_KEY_SQL})")
    )
    old_runner.commit()
    with pytest.raises(LockTimeout):
        with lock.runner_lock(connect(), QUICK):
            pass
    with lock.runner_lock(connect(), QUICK, schema="tenant_1"):  # another schema: runs beside it
        pass
    assert lock.lock_key(engine.url.database, "public") in [key for key, _ in _advisory_locks(engine)]


def test_the_lock_is_taken_on_the_session_that_runs_the_migrations(connect, engine):
    conn = connect()
    with lock.runner_lock(conn, QUICK):
        own = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        holders = {
            pid for pid, _ in lock.blockers.advisory_holders(engine, lock.lock_key(engine.url.database, "public"))
        }
        assert holders == {own}


def test_a_statement_on_a_reconnected_session_is_refused_not_run_without_the_lock(connect, engine):
    conn = connect()
    with pytest.raises(LockLost, match="The bridge's migration lock was lost"):
        with lock.runner_lock(conn, QUICK) as held:
            own = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
            conn.commit()
            with engine.connect() as admin:
                admin.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": own})
            with pytest.raises(sa.exc.OperationalError):
                conn.exec_driver_sql("SELECT 1")
            conn.rollback()
            assert not held.held()
            conn.exec_driver_sql("CREATE TABLE ran_unlocked (id int)")  # SQLAlchemy would reconnect here
    with engine.connect() as check:
        assert check.execute(sa.text("SELECT to_regclass('ran_unlocked')")).scalar() is None


def test_a_session_gone_after_the_last_migration_is_a_warning_and_never_pooled(engine, caplog):
    pooled = sa.create_engine(engine.url)  # a pool that keeps its sessions, as a caller's engine does
    try:
        with pooled.connect() as conn:
            with caplog.at_level(logging.WARNING, logger="bridge.lock"):
                with lock.runner_lock(conn, QUICK):
                    own = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
                    conn.commit()
                    with engine.connect() as admin:
                        admin.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": own})
            assert conn.invalidated
        assert "Could not release the bridge's migration lock: its session had already ended" in caplog.text
        with pooled.connect() as again:
            assert again.exec_driver_sql("SELECT pg_backend_pid()").scalar() != own
    finally:
        pooled.dispose()


def test_a_pooled_session_goes_back_to_its_pool_without_the_lock(engine):
    pooled = sa.create_engine(engine.url)
    try:
        with pooled.connect() as conn:
            with lock.runner_lock(conn, QUICK):
                pass
            assert not conn.in_transaction()
        assert _advisory_locks(engine) == []  # the session is still open, in the pool
    finally:
        pooled.dispose()


def test_inside_a_caller_s_transaction_the_lock_ends_with_that_transaction(connect, engine):
    conn = connect()
    conn.exec_driver_sql("SELECT 1")  # the caller's transaction
    with lock.runner_lock(conn, QUICK) as held:
        assert held.transactional
    # Still held: the caller's transaction is open.
    with pytest.raises(LockTimeout):
        with lock.runner_lock(connect(), QUICK):
            pass
    conn.rollback()
    assert _advisory_locks(engine) == []


def test_the_schema_key_is_the_database_key_of_database_slash_schema():
    assert bridge.lock_key("shop", "public") == bridge.lock_key("shop/public")
    assert bridge.lock_key("shop", "public") != bridge.lock_key("shop")


def test_a_plain_run_whose_version_table_is_in_a_schema_locks_that_schema(tmp_path, database_url, engine):
    # version_table_schema = tenant_x: the plain run writes tenant_x.alembic_version, the
    # very table a fleet tenant run on tenant_x writes; both must take tenant_x's lock.
    from conftest import make_project

    project = make_project(tmp_path / "project", database_url, "lock_timeout = 0.3\nversion_table_schema = tenant_x\n")
    project.table("20251001_create_a", "a")
    project.sql("CREATE SCHEMA tenant_x")
    holder = engine.connect()
    try:
        # What `fleet upgrade --schemas tenant_x` holds while it runs.
        holder.execute(
            sa.text("SELECT pg_advisory_lock_shared(:db), pg_advisory_lock(:schema)"),
            {"db": lock.lock_key(database_url.database), "schema": lock.lock_key(database_url.database, "tenant_x")},
        )
        holder.commit()
        with pytest.raises(LockTimeout):
            bridge.upgrade(project.config())
    finally:
        holder.close()
    assert project.rows() == []
    bridge.upgrade(project.config())
    assert project.sql("SELECT version_num FROM tenant_x.alembic_version") == [("20251001_create_a",)]


def test_the_lock_schema_is_the_version_tables_schema_else_the_sessions():
    from bridge.settings import BridgeSettings, VersionTable

    plain = BridgeSettings(legacy_location=None)
    assert lock.lock_schema(plain, "public") == "public"
    assert lock.lock_schema(plain, None) == ""
    placed = BridgeSettings(legacy_location=None, version_table=VersionTable("versions", "tenant_x"))
    assert lock.lock_schema(placed, "public") == "tenant_x"
    assert lock.lock_schema(None, "public") == "public"


def test_a_sql_script_for_a_version_table_in_a_schema_takes_that_schemas_lock(tmp_path, database_url, engine):
    import io

    from alembic import command
    from conftest import make_project

    project = make_project(tmp_path / "project", database_url, "version_table_schema = tenant_x\n")
    project.table("20251001_create_a", "a")
    project.sql("CREATE SCHEMA tenant_x")
    config = project.config()
    config.output_buffer = io.StringIO()
    command.upgrade(config, "head", sql=True)
    script = config.output_buffer.getvalue()
    first = next(line for line in script.splitlines() if line.startswith("SELECT pg_advisory_lock"))
    with engine.connect() as applying:
        applying.exec_driver_sql(first)
        assert lock.lock_key(database_url.database, "tenant_x") in [key for key, _ in _advisory_locks(engine)]
        # and its last statement releases exactly that
        last = [line for line in script.splitlines() if line.startswith("SELECT pg_advisory_unlock")][-1]
        assert applying.exec_driver_sql(last).one() == (True, True)


@pytest.mark.parametrize("command_name", ["upgrade", "downgrade", "stamp", "sync", "repair"])
def test_every_command_that_writes_the_history_tables_takes_the_schema_lock(
    tmp_path, database_url, engine, command_name
):
    from alembic import command
    from conftest import make_project

    project = make_project(tmp_path / "project", database_url, "lock_timeout = 0.3\n")
    project.table("20251001_create_a", "a")
    project.table("20251002_create_b", "b")
    bridge.upgrade(project.config(), "20251001_create_a")
    run = {
        "upgrade": lambda config: command.upgrade(config, "head"),
        "downgrade": lambda config: command.downgrade(config, "base"),
        "stamp": lambda config: command.stamp(config, "head"),
        "sync": lambda config: bridge.sync_tables(config),
        "repair": lambda config: bridge.repair(config, apply=True),
    }[command_name]
    holder = engine.connect()
    try:  # what another run on this schema holds
        holder.execute(
            sa.text(
                f"SELECT pg_advisory_lock_shared({lock.LOCK_KEY_SQL}), pg_advisory_lock({lock.SCHEMA_LOCK_KEY_SQL})"
            )
        )
        holder.commit()
        with pytest.raises(LockTimeout):
            run(project.config())
    finally:
        holder.close()
    assert project.rows() == ["20251001_create_a"] and project.version() == ["20251001_create_a"]
    run(project.config())  # and runs once the lock is free
