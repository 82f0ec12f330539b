"""What env.py calls: programmatic use through ``alembic.command`` and ``config.attributes``."""

import pytest
import sqlalchemy as sa
from alembic import command
from conftest import legacy_source


def files(project):
    project.table("20251001_create_a", "a")
    project.table("20251002_create_b", "b")


def test_a_connection_in_config_attributes_is_used_inside_the_callers_transaction(project, engine):
    files(project)
    config = project.config()
    with engine.connect() as conn:
        with conn.begin() as trans:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
            assert conn.execute(sa.text("SELECT count(*) FROM schema_migrations")).scalar() == 2
            trans.rollback()  # the caller owns the transaction: nothing is kept
    assert project.tables() == []


def test_a_connection_handed_over_outside_a_transaction_gets_each_migration_committed_as_without_the_bridge(
    project, engine
):
    # Stock Alembic commits per migration on a connection that is not in a transaction;
    # the bridge's own reads (reconcile) must not turn it into the caller's transaction.
    files(project)
    config = project.config()
    with engine.connect() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
        assert not conn.in_transaction()
    # The connection was closed without a commit: everything is still there.
    assert project.rows() == ["20251001_create_a", "20251002_create_b"]
    assert project.tables() == [
        "a",
        "alembic_bridge_checksums",
        "alembic_bridge_log",
        "alembic_version",
        "b",
        "schema_migrations",
    ]


def test_an_engine_in_config_attributes_is_used_and_not_disposed(project, engine):
    files(project)
    config = project.config()
    config.attributes["connection"] = engine
    command.upgrade(config, "head")
    assert project.rows() == ["20251001_create_a", "20251002_create_b"]
    with engine.connect() as conn:  # still usable
        assert conn.execute(sa.text("SELECT 1")).scalar() == 1


def test_the_python_api_plans_runs_and_reports(project):
    import bridge

    files(project)
    config = project.config()
    plan = bridge.plan_upgrade(config)
    assert [s.revision for s in plan.steps] == ["20251001_create_a", "20251002_create_b"]
    assert project.tables() == []  # planning reads only
    seen = []
    result = bridge.upgrade(config, on_step=lambda step, elapsed: seen.append(step.revision))
    assert seen == [s.revision for s in result.steps] == ["20251001_create_a", "20251002_create_b"]
    assert bridge.status(config).pending == []
    bridge.downgrade(config, "base")
    assert project.rows() == []


@pytest.mark.slow
def test_current_and_history_never_create_a_table(project):
    files(project)
    project.run("alembic", "current", check=True)
    project.run("alembic", "history", check=True)
    project.run("alembic", "heads", check=True)
    assert project.tables() == []


@pytest.mark.slow
def test_a_target_metadata_that_cannot_be_imported_is_a_clear_error(tmp_path, database_url):
    from conftest import make_project

    project = make_project(tmp_path / "p", database_url, extra_ini="target_metadata = nowhere.models:metadata")
    project.write("20251001_a.py", legacy_source("SELECT 1"))
    # An upgrade never compares with the models: it runs (and so agrees with run.py start's
    # fast path, which reads no Python of the project's).
    project.run("alembic", "upgrade", "head", check=True)
    for argv in (["check"], ["revision", "--autogenerate", "-m", "x"]):  # autogenerate needs them
        result = project.run("alembic", *argv)
        assert result.returncode != 0
        assert (
            "target_metadata = 'nowhere.models:metadata' could not be loaded (No module named 'nowhere')"
            in result.output
        )


@pytest.mark.slow
def test_downgrade_to_base_counts_as_mutating_and_adopts_the_old_runners_work_first(project):
    # get_revision_argument() is None for "base": the destination's presence decides, not its value.
    from conftest import REPO, url_text

    files(project)
    project.run(
        "python",
        str(REPO / "tests" / "legacy_runner.py"),
        "--url",
        url_text(project.url),
        "--dir",
        str(project.legacy),
        check=True,
    )
    result = project.run("alembic", "downgrade", "base", check=True)
    assert "reconcile: alembic_version: set to 20251002_create_b (adopt" in result.output
    assert "Running downgrade 20251002_create_b -> 20251001_create_a" in result.output
    assert project.rows() == [] and project.version() == []
    # Adopting took the checksums of the old runner's files (then downgrade removed them).
    assert project.tables() == [
        "alembic_bridge_checksums",
        "alembic_bridge_log",
        "alembic_version",
        "schema_migrations",
    ]


NATIVE_AUTOCOMMIT = '''"""builds an index concurrently (native)"""
from alembic import op

revision = "n1_index"
down_revision = "20251002_create_b"
branch_labels = None
depends_on = None


def upgrade():
    with op.get_context().autocommit_block():
        op.execute("CREATE INDEX CONCURRENTLY a_id ON a (id)")


def downgrade():
    pass
'''


LEGACY_AUTOCOMMIT = """from sqlalchemy import text


def upgrade(engine):
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("CREATE INDEX CONCURRENTLY a_id ON a (id)"))


def downgrade(engine):
    pass
"""


@pytest.mark.parametrize("kind", ["native", "legacy"])
def test_an_autocommit_block_inside_the_callers_transaction_is_refused_clearly_and_nothing_commits(
    project, engine, kind
):
    # autocommit_block() (native) or an AUTOCOMMIT connection (legacy) would commit the
    # caller's transaction (and the runner lock with it): refused alike, naming the file.
    from bridge import MigrationError

    files(project)
    if kind == "native":
        (project.versions / "n1_index.py").write_text(NATIVE_AUTOCOMMIT)
    else:
        project.write("20251003_index_a.py", LEGACY_AUTOCOMMIT)
    config = project.config()
    with engine.connect() as conn:
        with conn.begin() as trans:
            config.attributes["connection"] = conn
            with pytest.raises(MigrationError) as raised:
                command.upgrade(config, "head")
            trans.rollback()
    message = str(raised.value)
    assert ("n1_index.py" if kind == "native" else "20251003_index_a.py") in message, message
    assert "cannot run in the transaction the caller handed over" in message, message
    assert "Nothing was committed" in message, message
    assert project.tables() == []


def test_a_failure_inside_the_callers_transaction_is_logged_when_the_log_table_is_committed(project, engine):
    from bridge import MigrationError

    files(project)
    command.upgrade(project.config(), "head")  # committed: the run-log table exists
    (project.versions / "n1_index.py").write_text(NATIVE_AUTOCOMMIT)
    config = project.config()
    with engine.connect() as conn:
        with conn.begin() as trans:
            config.attributes["connection"] = conn
            with pytest.raises(MigrationError):
                command.upgrade(config, "head")
            trans.rollback()
    # Written on a connection of its own: the caller's rollback does not take it away.
    assert project.sql("SELECT revision, outcome FROM alembic_bridge_log WHERE outcome = 'failed'") == [
        ("n1_index", "failed")
    ]


def test_a_failure_inside_the_callers_transaction_that_created_the_log_table_is_not_logged_and_never_waits(
    project, engine, capfd
):
    import time

    from bridge import MigrationError

    files(project)
    (project.versions / "n1_index.py").write_text(NATIVE_AUTOCOMMIT)
    config = project.config()
    with engine.connect() as conn:
        with conn.begin() as trans:
            config.attributes["connection"] = conn
            started = time.monotonic()
            with pytest.raises(MigrationError):
                command.upgrade(config, "head")
            took = time.monotonic() - started
            trans.rollback()
    # Creating the table again from another session would wait for the caller's transaction
    # (lock_timeout 2 s), then fail: the bridge says why instead of trying.
    err = capfd.readouterr().err
    assert "not written for this run (n1_index failed)" in err and "not committed" in err, err
    assert "lock timeout" not in err, err
    assert took < 2, took
