"""The Python API inside an application: `bridge.upgrade()` leaves its logging and environment alone."""

from __future__ import annotations

import json

import pytest

# An application that set up its own logging, then calls the bridge twice, as a
# run.py replaced by ``bridge.upgrade()`` does at every start.
APPLICATION = r"""
import json, logging, os, sys

root = logging.getLogger()
mine = logging.StreamHandler(sys.stdout)
root.addHandler(mine)
root.setLevel(logging.INFO)
app = logging.getLogger("myapp")
before_environ = dict(os.environ)

import bridge

bridge.upgrade()
bridge.upgrade()
bridge.downgrade(None, "base")
print(json.dumps({
    "root_level": root.level,
    "root_handlers_kept": root.handlers == [mine],
    "app_logger_disabled": app.disabled,
    "environ_unchanged": dict(os.environ) == before_environ,
}))
"""


@pytest.mark.slow
def test_bridge_upgrade_inside_an_application_leaves_its_logging_and_environment_alone(project):
    project.table("20251001_create_a", "a")
    (project.root / ".env").write_text("export APP_SETTING='from dotenv'\n")
    result = project.run("python", "-c", APPLICATION, check=True)
    state = json.loads(result.stdout.strip().splitlines()[-1])
    assert state == {
        "root_level": 20,  # INFO, as the application set it (alembic.ini's [logger_root] says WARNING)
        "root_handlers_kept": True,
        "app_logger_disabled": False,
        "environ_unchanged": True,
    }
    assert project.rows() == []  # it did run: up twice (the second a no-op), then down
