"""pytest-alembic's own built-in tests, run on this repository's migrations through the bridge.

pytest-alembic drives ``alembic.command`` with ``config.attributes["connection"]``,
so this checks that tools built on Alembic see the legacy revisions.
"""

import pytest
import sqlalchemy as sa
from conftest import REPO
from pytest_alembic import Config
from pytest_alembic.tests import (  # noqa: F401  (collected as tests of this module)
    test_model_definitions_match_ddl,
    test_single_head_revision,
    test_up_down_consistency,
    test_upgrade,
)

# Each of these runs every migration (seconds): the slow tier. The single-head check is quick.
for _test in (test_model_definitions_match_ddl, test_up_down_consistency, test_upgrade):
    pytest.mark.slow(_test)


@pytest.fixture
def alembic_config():
    return Config(config_options={"file": str(REPO / "alembic.ini")})


@pytest.fixture
def alembic_engine(database_url):
    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    yield engine
    engine.dispose()


LOGGED = """\
from sqlalchemy import text


def upgrade(engine):
    with engine.connect() as conn:
        trans = conn.begin()
        conn.execute(text("CREATE TABLE IF NOT EXISTS run_log (name TEXT)"))
        conn.execute(text("INSERT INTO run_log VALUES ('{stem}')"))
        trans.commit()


def downgrade(engine):
    pass
"""


@pytest.mark.slow
def test_pytest_alembic_on_a_database_the_old_runner_migrated_runs_nothing_twice(project, engine):
    import pytest_alembic

    stems = ["20251001_first", "20251002_second"]
    for stem in stems:
        project.write(f"{stem}.py", LOGGED.format(stem=stem))
    project.run(
        "python",
        str(REPO / "tests" / "legacy_runner.py"),
        "--url",
        project.url.render_as_string(hide_password=False),
        "--dir",
        str(project.legacy),
        check=True,
    )
    project.write("20251003_third.py", LOGGED.format(stem="20251003_third"))
    config = Config(config_options={"file": str(project.root / "alembic.ini")})
    with pytest_alembic.runner(config=config, engine=engine) as alembic_runner:
        alembic_runner.migrate_up_to("head")
        assert alembic_runner.current == "20251003_third"
    with engine.connect() as conn:
        runs = conn.execute(sa.text("SELECT name, count(*) FROM run_log GROUP BY name ORDER BY name")).all()
        version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
    assert runs == [(stem, 1) for stem in [*stems, "20251003_third"]]
    assert version == ["20251003_third"]
    assert project.rows() == [*stems, "20251003_third"]


CONCURRENT_INDEX = '''\
"""
Migration: index a concurrently
"""
from sqlalchemy import text


def upgrade(engine):
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("CREATE INDEX CONCURRENTLY a_id ON a (id)"))


def downgrade(engine):
    pass
'''


def test_an_autocommit_statement_in_a_connection_handed_over_in_a_transaction_is_refused_clearly(project, engine):
    # An AUTOCOMMIT statement would have to commit the caller's transaction (and with it
    # the transaction-level runner lock): refused up front, saying why and what to do,
    # and never "partly applied": nothing was committed.
    from alembic import command

    from bridge.errors import BridgeError

    project.table("20251001_create_a", "a")
    project.write("20251002_index_a.py", CONCURRENT_INDEX)
    config = project.config()
    with engine.connect() as conn:
        conn.begin()
        config.attributes["connection"] = conn
        with pytest.raises(BridgeError) as caught:
            command.upgrade(config, "head")
        conn.rollback()
    message = str(caught.value)
    assert "20251002_index_a.py:9" in message
    assert "config.attributes['connection']" in message and "outside a transaction" in message
    assert "Partly applied" not in message and "invalid index" not in message
    assert project.rows() == [] and "a" not in project.tables()
