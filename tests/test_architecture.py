"""The layout's rules, checked on the source: no import cycle, front ends apart, no stray state.

These read ``bridge/`` with the ast module (no import needed), except the last
ones, which run a real upgrade on a connection the caller keeps.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "bridge"
FRONT_ENDS = "bridge.cli"  # the only code that prints, parses a command line or picks an exit code
MAX_LINES = 500
# Over MAX_LINES because each is one concept; their docstrings say which.
COHESIVE = {
    "bridge.proxy",
    "bridge.convert.rewrite",
    "bridge.lint.rules.checks",
    "bridge.lint.rules.pysource",
    "bridge.ledger",  # every statement on schema_migrations and the checksums
    "bridge.reconcile",  # what "applied" means, and the two tables brought to agree on it
}


def _modules() -> dict[str, Path]:
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if "templates" in path.relative_to(PACKAGE).parts:
            continue  # files the bridge writes into projects, not its modules
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    return modules


MODULES = _modules()


def _package_of(name: str, path: Path) -> str:
    return name if path.name == "__init__.py" else name.rsplit(".", 1)[0]


def _imports(name: str, path: Path):
    """Yield (imported bridge module, node, inside a function) for each import in *path*."""
    tree = ast.parse(path.read_text(), str(path))
    in_function = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            in_function.update(id(child) for child in ast.walk(node) if child is not node)
    package = _package_of(name, path)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            submodules = [f"{module}.{alias.name}" for alias in node.names if f"{module}.{alias.name}" in MODULES]
            # `from . import x` imports the package too, but that is always loaded first.
            targets = submodules if submodules and len(submodules) == len(node.names) else [module, *submodules]
        elif isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            continue
        for target in targets:
            if target in MODULES and target != name:
                yield target, node, id(node) in in_function


def _graph() -> dict[str, set[str]]:
    return {name: {target for target, _, _ in _imports(name, path)} for name, path in MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state, stack = [], {}, []

    def visit(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                found.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_between_bridge_modules_counting_imports_inside_functions():
    assert _cycles(_graph()) == []


def test_a_bridge_module_imported_inside_a_function_says_why():
    bare = []
    for name, path in MODULES.items():
        lines = path.read_text().splitlines()
        for _, node, inside in _imports(name, path):
            if inside and "#" not in lines[node.lineno - 1] and not lines[node.lineno - 2].strip().startswith("#"):
                bare.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    assert bare == [], "say why the import is deferred, in a comment on its line or the line above"


def test_bridge_errors_is_never_imported_inside_a_function():
    # bridge.errors imports nothing heavy (Alembic comes later, on its own): no reason left to defer it.
    deferred = [
        f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"
        for name, path in MODULES.items()
        for imported, node, inside in _imports(name, path)
        if inside and imported == "bridge.errors"
    ]
    assert deferred == []


def _calls(path: Path, names: set[str]) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            func = node.func
            called = (
                func.id
                if isinstance(func, ast.Name)
                else (
                    f"{func.value.id}.{func.attr}"
                    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
                    else None
                )
            )
            if called in names:
                found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {called}()")
    return found


def test_only_front_ends_print_or_exit():
    outside = [name for name in MODULES if not name.startswith(FRONT_ENDS)]
    found = [
        hit for name in outside for hit in _calls(MODULES[name], {"print", "sys.exit", "exit", "quit", "click.echo"})
    ]
    assert found == []


def test_only_front_ends_import_click_or_argparse():
    found = []
    for name, path in MODULES.items():
        if name.startswith(FRONT_ENDS):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            modules = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else ([node.module] if isinstance(node, ast.ImportFrom) and not node.level else [])
            )
            found += [f"{name}: {m}" for m in modules if m and m.split(".")[0] in ("click", "argparse")]
    assert found == []


def test_no_module_is_over_the_size_limit_unless_it_is_one_concept():
    long = {name: len(path.read_text().splitlines()) for name, path in MODULES.items()}
    over = {name: n for name, n in long.items() if n > MAX_LINES and name not in COHESIVE}
    assert over == {}
    for name in COHESIVE & set(MODULES):
        assert "one concept" in (ast.get_docstring(ast.parse(MODULES[name].read_text())) or "").lower(), name


@pytest.mark.parametrize(
    "statement, module",
    [
        ("import bridge.cli", "click"),  # run.py and the __main__ helper stay cheap
        ("import bridge.cli.runpy", "click"),
        ("import alembic", "bridge.script"),  # `import alembic` loads bridge.plugin, and only it
        ("import bridge.errors", "alembic"),  # the errors are raised where Alembic is not loaded
        ("import bridge.fleet.precheck", "alembic"),  # run.py start's pre-check
        ("import bridge.lint", "sqlalchemy"),  # issue 23: import bridge.lint <= 0.15 s (SQLAlchemy alone is ~0.2 s)
    ],
)
def test_light_entry_points_do_not_load_heavy_modules(statement, module):
    code = f"import sys; {statement}; print({module!r} in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False", result.stderr


@pytest.mark.parametrize("first", ["bridge.errors", "alembic.util"])
def test_the_bridge_errors_are_alembic_command_errors_whichever_is_imported_first(first):
    # The stock `alembic` CLI prints a CommandError as "FAILED: ..." without a traceback.
    code = (
        f"import {first}; import alembic.util, bridge.errors as e; "
        "assert all(issubclass(c, alembic.util.CommandError) for c in "
        "(e.BridgeError, e.ConfigError, e.MigrationError, e.ConnectionFailed, e.UncommittedWork)); "
        "import pickle; err = pickle.loads(pickle.dumps(e.ConfigError('x'))); "
        "assert isinstance(err, alembic.util.CommandError); print('ok')"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "ok", result.stderr


def test_the_entry_points_users_committed_still_import():
    from bridge.cli.manual import run_file
    from bridge.cli.runpy import main
    from bridge.launcher import main as old_main  # run.py files
    from bridge.manual import run_file as old_run_file  # the legacy template's __main__ block

    assert (old_main, old_run_file) == (main, run_file)


def test_the_python_api_names_resolve():
    import bridge
    from bridge import lock, runner

    for name in bridge.__all__:
        assert getattr(bridge, name) is not None, name
    assert (bridge.run_log, bridge.lock_key, bridge.upgrade) == (runner.run_log, lock.lock_key, runner.upgrade)


# -- run state -------------------------------------------------------------------------------


def test_a_run_leaves_no_bridge_state_on_the_callers_connection_or_config(project, engine):
    from alembic import command

    project.table("20251001_create_a", "a")
    config = project.config()
    attributes_before = set(config.attributes)
    with engine.connect() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        leftover = [key for key in connection.info if str(key).startswith("bridge.")]
    del config.attributes["connection"]
    assert project.version() == ["20251001_create_a"]
    assert leftover == []
    assert set(config.attributes) == attributes_before


def test_a_run_is_current_only_inside_its_block():
    from bridge import context
    from bridge.settings import BridgeSettings

    settings = BridgeSettings(None, name_format="filename")
    with context.started(settings, context.RunRequest()) as run:
        assert context.current() is run
        with context.started(BridgeSettings(None), context.RunRequest()) as inner:
            assert context.current() is inner
        assert context.current() is run
    assert context.current() is not run and context.current().settings.name_format == "auto"


def test_requesting_restores_the_callers_request():
    from alembic.config import Config

    from bridge.context import request_of, requesting, set_request

    config = Config()
    set_request(config, url="sqlite://")
    with requesting(config, out_of_order=True) as request:
        assert (request.url, request.out_of_order) == ("sqlite://", True)
    assert (request_of(config).url, request_of(config).out_of_order) == ("sqlite://", False)


# -- layers ----------------------------------------------------------------------------------

DESIGN = PACKAGE.parent / "docs" / "design.md"


def _layer_table(text: str) -> dict[str, int]:
    """docs/design.md's module table: module (or package) -> its layer's number, lowest first."""
    table = text[text.index("## Modules and data flow") : text.index("## Decisions worth knowing")]
    layers: dict[str, int] = {}
    layer = 0
    for line in table.splitlines():
        if line.startswith("| **"):
            layer += 1
        elif line.startswith("| `"):
            first_cell = line.split(" | ")[0]
            for name in first_cell.split("`")[1::2]:
                layers[name if name == "bridge" else f"bridge.{name}"] = layer
    return layers


def _layer_of(module: str, layers: dict[str, int]) -> int | None:
    """The layer of *module*: its own row, or the row of the nearest package above it."""
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in layers:
            return layers[".".join(parts[:end])]
    return None


def _upward_imports(imports, layers: dict[str, int]) -> list[str]:
    """Each import of a module in a higher layer, as 'importer (layer n) imports target (layer m) at where'."""
    return [
        f"{importer} (layer {_layer_of(importer, layers)}) imports {target} (layer {_layer_of(target, layers)}) at {where}"
        for importer, target, where in imports
        if _layer_of(target, layers) > _layer_of(importer, layers)
    ]


def _all_imports():
    for name, path in MODULES.items():
        for target, node, _ in _imports(name, path):
            yield name, target, f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"


def test_every_module_has_a_layer_in_the_design_notes():
    layers = _layer_table(DESIGN.read_text())
    missing = [name for name in MODULES if _layer_of(name, layers) is None]
    assert missing == [], "give each a row in the module table of docs/design.md, under its layer"
    stale = [name for name in layers if name not in MODULES]
    assert stale == [], "docs/design.md names modules that do not exist"


def test_imports_only_go_down_the_layers():
    layers = _layer_table(DESIGN.read_text())
    assert _upward_imports(_all_imports(), layers) == []


def test_the_layer_check_names_an_upward_import():
    # A deliberately upward import: the ledger (layer 3) importing the runner (layer 6).
    layers = _layer_table(DESIGN.read_text())
    assert (_layer_of("bridge.ledger", layers), _layer_of("bridge.runner", layers)) == (3, 6)
    imports = [("bridge.ledger", "bridge.runner", "bridge/ledger.py:12"), ("bridge.runner", "bridge.ledger", "x:1")]
    assert _upward_imports(imports, layers) == [
        "bridge.ledger (layer 3) imports bridge.runner (layer 6) at bridge/ledger.py:12"
    ]
    # A submodule takes its package's row unless it has one of its own.
    assert _layer_of("bridge.fleet.pool", layers) == _layer_of("bridge.fleet", layers) == 7
    assert _layer_of("bridge.cli.commands", layers) == 8


# -- the Python API ----------------------------------------------------------------------------


def test_the_python_api_is_documented_name_for_name():
    import bridge

    documented = set(re.findall(r"^### (\w+)$", (PACKAGE.parent / "docs" / "api.md").read_text(), re.MULTILINE))
    exported = set(bridge.__all__) - {"__version__"}
    assert (sorted(exported - documented), sorted(documented - exported)) == ([], [])


def test_the_python_api_callbacks_have_one_typed_contract():
    import typing

    import bridge
    from bridge import context

    hints = typing.get_type_hints(bridge.upgrade)
    assert hints["on_step"] == context.OnStep | None
    assert hints["on_start"] == context.OnStart | None
    assert hints["on_wait"] == context.OnWait | None
    assert typing.get_args(context.OnStep) == ([context.Step, float], None)
    assert typing.get_type_hints(bridge.downgrade)["on_step"] == context.OnStep | None
