"""The legacy script directory (bridge.script) answers as Alembic does, without building the revision map when it need not."""

from __future__ import annotations

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from conftest import make_project, native_source

from bridge.script import LegacyScriptDirectory


def _script(root) -> LegacyScriptDirectory:
    script = ScriptDirectory.from_config(Config(str(root / "alembic.ini")))
    assert isinstance(script, LegacyScriptDirectory)
    return script


def _map_built(script) -> bool:
    return "_revision_map" in script.revision_map.__dict__


def _alembic_answer(root, id_):
    """What Alembic's own as_revision_number says, on a fresh script directory (it builds the map)."""
    return ScriptDirectory.as_revision_number(_script(root), id_)


@pytest.mark.parametrize("files", [0, 1, 3])
@pytest.mark.parametrize("id_", ["head", "heads"])
def test_head_of_a_legacy_only_chain_is_its_last_file_without_the_revision_map(tmp_path, files, id_):
    project = make_project(tmp_path / "p", None)
    for i in range(files):
        project.table(f"2025100{i + 1}_create_t{i}", f"t{i}")
    script = _script(project.root)
    answer = script.as_revision_number(id_)
    assert not _map_built(script)
    assert answer == _alembic_answer(project.root, id_)
    if files:
        assert answer in (f"2025100{files}_create_t{files - 1}", (f"2025100{files}_create_t{files - 1}",))


@pytest.mark.parametrize("id_", ["head", "heads", "base", "20251001_create_a", "20251002"])
def test_with_a_native_revision_or_another_id_alembic_answers(tmp_path, id_):
    project = make_project(tmp_path / "p", None)
    project.table("20251001_create_a", "a")
    project.table("20251002_create_b", "b")
    (project.root / "alembic" / "versions" / "c3_native.py").write_text(native_source("c3", "20251002_create_b"))
    script = _script(project.root)
    answer = script.as_revision_number(id_)
    assert answer == _alembic_answer(project.root, id_)
    if id_ in ("head", "heads"):
        assert answer in ("c3", ("c3",))
        assert _map_built(script)
