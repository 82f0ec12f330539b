"""pytest-alembic's own built-in tests, run on this repository's migrations through the bridge.

pytest-alembic drives ``alembic.command`` with ``config.attributes["connection"]``,
so this checks that tools built on Alembic see the legacy revisions.
"""

import pytest
import sqlalchemy as sa
from pytest_alembic import Config
from pytest_alembic.tests import (  # noqa: F401  (collected as tests of this module)
    test_model_definitions_match_ddl,
    test_single_head_revision,
    test_up_down_consistency,
    test_upgrade,
)

from conftest import REPO


@pytest.fixture
def alembic_config():
    return Config(config_options={"file": str(REPO / "alembic.ini")})


@pytest.fixture
def alembic_engine(database_url):
    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    yield engine
    engine.dispose()
