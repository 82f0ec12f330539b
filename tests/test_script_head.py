"""A legacy-only chain's head, answered without the revision map, is what Alembic answers
in every version-location form (and ``stamp head``, ``upgrade heads``, ``current`` agree).
"""

from __future__ import annotations

import py_compile

import pytest
from conftest import legacy_source, make_project, native_source

from bridge.errors import BridgeError

# -- head of a legacy-only chain without the revision map (bridge.script) -------------------------


def _legacy_only(root) -> None:
    for stem in ("20251001_a", "20251002_b"):
        (root / "legacy" / f"{stem}.py").write_text(legacy_source("SELECT 1"))


def _layout_ignored(root):
    _legacy_only(root)
    (root / "legacy" / "helpers.py").write_text("def upgrade(engine):\n    pass\n")
    (root / "legacy" / "__init__.py").write_text("")
    return "legacy_ignore = helpers.py\n"


def _layout_native_in_a_subfolder(recursive: bool):
    def layout(root):
        _legacy_only(root)
        (root / "alembic" / "versions" / "sub").mkdir()
        (root / "alembic" / "versions" / "sub" / "n1.py").write_text(native_source("n1", "20251002_b"))
        return "recursive_version_locations = true\n" if recursive else ""

    return layout


def _layout_sourceless(sourceless: bool):
    def layout(root):
        _legacy_only(root)
        source = root / "alembic" / "versions" / "n1.py"
        source.write_text(native_source("n1", "20251002_b"))
        py_compile.compile(str(source), cfile=str(source.with_suffix(".pyc")))
        source.unlink()
        return "sourceless = true\n" if sourceless else ""

    return layout


def _layout_converted(root):
    # `alembic-bridge convert` output: the first file is a native revision now.
    (root / "legacy" / "20251002_b.py").write_text(legacy_source("SELECT 1"))
    (root / "alembic" / "versions" / "20251001_a.py").write_text(
        native_source("20251001_a", None) + "\nreplaces_legacy = ('20251001_a',)\n"
    )
    return ""


LAYOUTS = {
    "empty": lambda root: "",
    "ignored files": _layout_ignored,
    "native in a sub-folder, recursive": _layout_native_in_a_subfolder(True),
    "native in a sub-folder, not recursive": _layout_native_in_a_subfolder(False),
    "sourceless .pyc, sourceless": _layout_sourceless(True),
    "sourceless .pyc, not sourceless": _layout_sourceless(False),
    "converted first file": _layout_converted,
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("id_", ["head", "heads"])
def test_head_is_what_alembic_answers_in_every_layout(tmp_path, monkeypatch, layout, id_):
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    monkeypatch.chdir(tmp_path)
    root = tmp_path / "p"
    make_project(root, None)
    extra = LAYOUTS[layout](root)
    ini = root / "alembic.ini"
    ini.write_text(ini.read_text().replace("path_separator = os\n", f"path_separator = os\n{extra}"))

    def fresh():
        return ScriptDirectory.from_config(Config(str(ini)))

    bridge_answer = fresh().as_revision_number(id_)
    alembic_answer = ScriptDirectory.as_revision_number(fresh(), id_)  # builds the revision map
    assert bridge_answer == alembic_answer


def test_a_misnamed_legacy_file_fails_head_as_the_revision_map_does(tmp_path):
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    root = tmp_path / "p"
    make_project(root, None)
    _legacy_only(root)
    (root / "legacy" / "2025-10-03_c.py").write_text(legacy_source("SELECT 1"))
    ini = str(root / "alembic.ini")
    with pytest.raises(BridgeError) as fast:
        ScriptDirectory.from_config(Config(ini)).as_revision_number("head")
    with pytest.raises(BridgeError) as full:
        ScriptDirectory.as_revision_number(ScriptDirectory.from_config(Config(ini)), "head")
    assert str(fast.value) == str(full.value)


def test_upgrade_heads_stamp_head_and_current_on_a_legacy_only_chain(project):
    import io

    from alembic import command

    project.table("20251001_a", "a")
    project.table("20251002_b", "b")
    command.stamp(project.config(), "head")  # a stamp, not an upgrade: nothing runs
    assert project.version() == ["20251002_b"] and not {"a", "b"} & set(project.tables())
    assert project.rows() == ["20251001_a", "20251002_b"]
    command.upgrade(project.config(), "heads")  # at head: nothing to do
    assert not {"a", "b"} & set(project.tables())
    config = project.config()
    config.stdout = io.StringIO()
    command.current(config)
    assert "20251002_b (head)" in config.stdout.getvalue()
