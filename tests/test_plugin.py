"""The ``alembic.plugins`` entry point (bridge.plugin) under every Alembic we accept.

Alembic 1.18.0 up to 1.20.0 iterate what an entry point loads
(``for mod in entrypoint.load()``); 1.20.1 calls ``setup`` on it when it is a
module and, with a deprecation warning, iterates anything else. The loops below
are those two loaders, run against our installed entry point; the min-versions
CI leg (.ci/run) also runs this file under the oldest Alembic we declare, where
``import alembic`` runs the old loader for real.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import warnings
from importlib import metadata
from types import ModuleType

import pytest
from alembic.runtime.plugins import Plugin
from alembic.script import ScriptDirectory

import bridge.plugin


def bridge_entry_point() -> metadata.EntryPoint:
    [entry_point] = [ep for ep in metadata.entry_points(group="alembic.plugins") if ep.name == "bridge.legacy"]
    return entry_point


PLUGIN_NAME = "bridge.legacy.under-test"  # not the real registration's name


@pytest.fixture
def setup_calls(monkeypatch):
    """Record the plugins Alembic passes to bridge.plugin.setup; unregister them afterwards."""
    plugins = []
    monkeypatch.setattr(bridge.plugin, "setup", lambda plugin=None: plugins.append(plugin))
    yield plugins
    for plugin in plugins:
        plugin.remove()


def test_the_entry_point_names_the_bridge_plugin_module():
    assert bridge_entry_point().value == "bridge.plugin"
    assert bridge_entry_point().load() is bridge.plugin


def test_the_1_18_to_1_20_0_loader_iterates_the_module_and_calls_setup_once(setup_calls):
    # Alembic 1.18.0 .. 1.20.0, alembic/runtime/plugins.py::_setup
    for mod in bridge_entry_point().load():
        Plugin.setup_plugin_from_module(mod, PLUGIN_NAME)
    assert [plugin.name for plugin in setup_calls] == [PLUGIN_NAME]


def test_the_1_20_1_loader_sees_a_module_and_calls_setup_once_without_a_warning(setup_calls):
    # Alembic 1.20.1, alembic/runtime/plugins.py::_setup
    loaded = bridge_entry_point().load()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        if isinstance(loaded, ModuleType):
            Plugin.setup_plugin_from_module(loaded, PLUGIN_NAME)
        else:
            pytest.fail("Alembic 1.20.1 would warn that the entry point is a collection")
    assert [plugin.name for plugin in setup_calls] == [PLUGIN_NAME]


def test_setup_wraps_from_config_once_however_often_it_is_called():
    wrapped = ScriptDirectory.from_config.__func__
    assert wrapped.__module__ == "bridge.plugin"
    bridge.plugin.setup()
    bridge.plugin.setup(None)
    assert ScriptDirectory.from_config.__func__ is wrapped


@pytest.mark.slow
def test_import_alembic_runs_the_installed_alembic_loader_without_error_or_warning():
    script = textwrap.dedent(
        """
        import alembic
        from alembic.runtime.plugins import _all_plugins
        from alembic.script import ScriptDirectory
        print(alembic.__version__, sorted(_all_plugins))
        print(ScriptDirectory.from_config.__func__.__module__)
        """
    )
    result = subprocess.run([sys.executable, "-W", "error", "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    version, registered = result.stdout.splitlines()[0].split(" ", 1)
    assert version == metadata.version("alembic")
    assert "'bridge.legacy'" in registered
    assert result.stdout.splitlines()[1] == "bridge.plugin"


def test_importing_the_plugin_before_alembic_works_too():
    # Alembic's plugin loader imports bridge.plugin while `import alembic` runs: the
    # module must be whole by then, whichever of the two a program imports first.
    script = "import bridge.plugin, alembic\nfrom alembic.script import ScriptDirectory\nprint(ScriptDirectory.from_config.__func__.__module__)"
    result = subprocess.run([sys.executable, "-W", "error", "-c", script], capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout.strip(), result.stderr) == (0, "bridge.plugin", "")


# -- without legacy_location the plugin is inert ------------------------------------------

# Options a plain Alembic project may hold for its own env.py; the bridge reads
# options of the same names only when legacy_location turns it on.
USER_OPTIONS = "lock_timeout = 5min\nstrict = maybe\nlegacy_name_format = x\n"

# The stock `alembic` command with the bridge's entry point hidden from Alembic's loader.
ALEMBIC_WITHOUT_THE_BRIDGE = textwrap.dedent(
    """
    import sys
    from importlib import metadata

    entry_points = metadata.entry_points

    def without_the_bridge(**kw):
        found = entry_points(**kw)
        if kw.get("group") == "alembic.plugins":
            return [ep for ep in found if ep.value != "bridge.plugin"]
        return found

    metadata.entry_points = without_the_bridge
    from alembic.config import main

    assert "bridge.plugin" not in sys.modules, "the bridge plugin was loaded"
    main(argv=sys.argv[1:], prog="alembic")
    """
)

COMMANDS = [
    ["revision", "-m", "first", "--rev-id", "aaa111"],
    ["history"],
    ["heads"],
    ["revision", "-m", "x", "--rev-id", "bbb222"],
    ["history", "--verbose"],
    ["heads"],
    ["upgrade", "head", "--sql"],
    ["upgrade", "head"],
    ["current"],
    ["downgrade", "base"],
]


def alembic_init_project(root, database_url):
    """Run the stock `alembic init` in *root* and add USER_OPTIONS to its [alembic] section."""
    from conftest import BIN, url_text

    root.mkdir()
    subprocess.run([str(BIN / "alembic"), "init", "alembic"], cwd=root, check=True, capture_output=True)
    ini = root / "alembic.ini"
    text = ini.read_text()
    assert "[alembic]\n" in text and "sqlalchemy.url = driver://user:pass@localhost/dbname\n" in text
    text = text.replace("[alembic]\n", "[alembic]\n" + USER_OPTIONS, 1)
    url = url_text(database_url).replace("%", "%%")
    text = text.replace("sqlalchemy.url = driver://user:pass@localhost/dbname", f"sqlalchemy.url = {url}")
    ini.write_text(text)
    return root


def run_each(root, prefix):
    def normal(output):
        output = output.replace(str(root), "<project>")
        return re.sub(r"Create Date: .*", "Create Date: <when the revision was written>", output)

    outcomes = []
    for argv in COMMANDS:
        result = subprocess.run([*prefix, *argv], cwd=root, capture_output=True, text=True, timeout=120)
        outcomes.append(
            (
                " ".join(argv),
                result.returncode,
                normal(result.stdout),
                normal(result.stderr),
            )
        )
    return outcomes


@pytest.mark.slow
def test_a_plain_alembic_init_project_with_options_named_like_the_bridges_behaves_as_without_it(tmp_path, database_url):
    from conftest import BIN

    stock = run_each(
        alembic_init_project(tmp_path / "stock", database_url),
        [sys.executable, "-c", ALEMBIC_WITHOUT_THE_BRIDGE],
    )
    bridged = run_each(alembic_init_project(tmp_path / "bridged", database_url), [str(BIN / "alembic")])

    assert [(argv, code) for argv, code, _, _ in stock] == [(" ".join(a), 0) for a in COMMANDS]
    history = stock[4][2]
    assert "Rev: bbb222 (head)\nParent: aaa111\nPath: <project>/alembic/versions/bbb222_x.py" in history
    assert "CREATE TABLE alembic_version" in stock[6][2]
    assert "Running upgrade aaa111 -> bbb222, x" in stock[7][3]
    assert stock[8][2] == "bbb222 (head)\n"
    for stock_outcome, bridged_outcome in zip(stock, bridged):
        assert bridged_outcome == stock_outcome
    assert (tmp_path / "bridged" / "alembic" / "versions" / "bbb222_x.py").is_file()
