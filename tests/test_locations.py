"""bridge.locations against Alembic itself: the same folders, the same revision files, for every form.

Each case writes a script folder with revision files (sources, bytecode only,
``__pycache__`` bytecode, sub-folders, files Alembic skips) and an alembic.ini
in one of the forms Alembic reads; then `VersionLocations.from_ini` must give
exactly ``ScriptDirectory.from_config``'s ``_version_locations`` and the files
its ``_load_revisions`` loads. No database: this is the fast tier's part.
"""

from __future__ import annotations

import configparser
import importlib.util
import itertools
import py_compile
import sys
import uuid
import warnings
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

from bridge.locations import VersionLocations

REVISION = 'revision = "{rev}"\ndown_revision = None\n\n\ndef upgrade():\n    pass\n\n\ndef downgrade():\n    pass\n'


def write_revision(folder: Path, name: str, form: str = "source") -> None:
    """Write one revision file: its source, only its .pyc next to it, or only its __pycache__ bytecode."""
    folder.mkdir(parents=True, exist_ok=True)
    rev = f"r{uuid.uuid4().hex[:10]}"
    source = folder / f"{name}.py"
    source.write_text(REVISION.format(rev=rev))
    if form == "pyc":
        py_compile.compile(str(source), cfile=str(folder / f"{name}.pyc"), doraise=True)
        source.unlink()
    elif form == "pycache":
        py_compile.compile(str(source), cfile=importlib.util.cache_from_source(str(source)), doraise=True)
        source.unlink()
    elif form == "both":  # a source with its bytecode beside it: loaded once
        py_compile.compile(str(source), cfile=importlib.util.cache_from_source(str(source)), doraise=True)
        py_compile.compile(str(source), cfile=str(folder / f"{name}.pyc"), doraise=True)


def populate(folder: Path) -> None:
    """Fill a version folder with every kind of entry Alembic looks at (or skips)."""
    write_revision(folder, "a_top")
    write_revision(folder, "b_pyc", "pyc")
    write_revision(folder, "c_cached", "pycache")
    write_revision(folder, "d_both", "both")
    write_revision(folder / "sub", "e_nested")
    write_revision(folder / "sub" / "deeper", "f_deeper", "pyc")
    write_revision(folder / "sub", "g_nested_cached", "pycache")
    (folder / "__init__.py").write_text("")
    (folder / ".#h_lock.py").write_text("not python")
    (folder / "notes.md").write_text("not a revision")


def alembic_view(ini: Path) -> tuple[list[Path], list[Path]]:
    """Return Alembic's version locations and the files it loads as revisions."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "No path_separator found" for the legacy split
        script = ScriptDirectory.from_config(Config(str(ini)))
        files = [Path(s.path).resolve() for s in script._load_revisions()]
    return list(script._version_locations), files


def ours(ini: Path) -> VersionLocations:
    parser = configparser.ConfigParser({"here": ini.absolute().parent.as_posix()})
    parser.read(ini, encoding="utf-8")
    return VersionLocations.from_ini(parser)


def write_ini(root: Path, **options: str) -> Path:
    lines = ["[alembic]"] + [f"{key} = {value}" for key, value in options.items() if value is not None]
    ini = root / "alembic.ini"
    ini.write_text("\n".join(lines) + "\n")
    return ini


# version_locations with two folders, written in each form Alembic splits.
SEPARATED = {
    "os": ("os", "path_separator", "{a}:{b}"),
    "colon": (":", "path_separator", "{a}:{b}"),
    "semicolon": (";", "path_separator", "{a};{b}"),
    "semicolon-spaced": (";", "path_separator", "{a} ; ;{b}"),
    "space": ("space", "path_separator", "{a} {b}"),
    "newline": ("newline", "path_separator", "\n    {a}\n    {b}"),
    "deprecated-option": (";", "version_path_separator", "{a};{b}"),
    "legacy-comma": (None, None, "{a}, {b}"),
    "legacy-space": (None, None, "{a}  {b}"),
}
# Alembic's ini booleans are true only when spelled "true".
FLAGS = list(itertools.product(["true", "True", None], ["true", "yes"]))


@pytest.mark.parametrize("form", list(SEPARATED))
@pytest.mark.parametrize(("recursive", "sourceless"), FLAGS)
def test_every_separator_and_flag_finds_what_alembic_finds(tmp_path, monkeypatch, form, recursive, sourceless):
    root = tmp_path / "p"
    (root / "scripts").mkdir(parents=True)
    populate(root / "va")
    populate(root / "vb")
    separator, option, pattern = SEPARATED[form]
    here = "%(here)s/va" if form != "legacy-space" else "va"
    locations = pattern.format(a=here, b="vb")
    options = {"script_location": "scripts", "version_locations": locations}
    if option:
        options[option] = separator
    options["recursive_version_locations"] = recursive
    options["sourceless"] = sourceless
    ini = write_ini(root, **options)
    monkeypatch.chdir(root)  # relative locations are relative to the working directory, in Alembic
    paths, files = alembic_view(ini)
    found = ours(ini)
    assert list(found.paths) == paths
    assert sorted(found.revision_files()) == sorted(files)
    assert files  # the case means something: Alembic found revisions


def test_a_relative_location_is_relative_to_the_working_directory_as_in_alembic(tmp_path, monkeypatch):
    root = tmp_path / "p"
    (root / "scripts").mkdir(parents=True)
    populate(root / "versions")
    ini = write_ini(root, script_location="%(here)s/scripts", version_locations="versions", path_separator="os")
    elsewhere = tmp_path / "elsewhere"
    populate(elsewhere / "versions")
    monkeypatch.chdir(elsewhere)
    paths, files = alembic_view(ini)
    assert list(ours(ini).paths) == paths == [elsewhere / "versions"]
    assert sorted(ours(ini).revision_files()) == sorted(files)


@pytest.mark.parametrize("sourceless", ["true", None])
@pytest.mark.parametrize("recursive", ["true", None])
@pytest.mark.parametrize("with_versions", [False, True])
def test_package_resource_locations_are_found_as_alembic_finds_them(
    tmp_path, monkeypatch, sourceless, recursive, with_versions
):
    package = f"bridge_locations_{uuid.uuid4().hex[:8]}"
    root = tmp_path / "p"
    (root / package / "migrations").mkdir(parents=True)
    (root / package / "__init__.py").write_text("")
    populate(root / package / ("more" if with_versions else "migrations/versions"))
    # path_separator = os would split "pkg:more" on its colon (in Alembic too).
    options = {"script_location": f"{package}:migrations", "prepend_sys_path": ".", "path_separator": ";"}
    if with_versions:
        options["version_locations"] = f"{package}:more"
    options["recursive_version_locations"] = recursive
    options["sourceless"] = sourceless
    ini = write_ini(root, **options)
    monkeypatch.chdir(root)
    monkeypatch.setattr(sys, "path", list(sys.path))
    importlib.invalidate_caches()  # "." on sys.path meant another folder in an earlier test
    found = ours(ini)  # first: it must put prepend_sys_path on sys.path itself
    paths, files = alembic_view(ini)
    assert list(found.paths) == paths
    assert sorted(found.revision_files()) == sorted(files) and files


def test_a_script_directory_gives_the_same_answer_as_its_ini(tmp_path, monkeypatch):
    root = tmp_path / "p"
    (root / "scripts").mkdir(parents=True)
    populate(root / "va")
    ini = write_ini(
        root,
        script_location="scripts",
        version_locations="%(here)s/va",
        path_separator="os",
        recursive_version_locations="true",
        sourceless="true",
    )
    monkeypatch.chdir(root)
    script = ScriptDirectory.from_config(Config(str(ini)))
    assert VersionLocations.of_script_directory(script) == ours(ini)


def test_a_bad_separator_is_refused_as_alembic_refuses_it(tmp_path):
    ini = write_ini(tmp_path, script_location="scripts", version_locations="a|b", path_separator="pipe")
    with pytest.raises(ValueError, match="'pipe' is not a valid value for path_separator"):
        ours(ini)


def test_reading_the_locations_imports_no_alembic():
    code = (
        "import sys, configparser; from bridge.locations import VersionLocations; "
        "p = configparser.ConfigParser(); p.read_string('[alembic]\\nscript_location = s\\n'); "
        "VersionLocations.from_ini(p).revision_files(); print('alembic' in sys.modules)"
    )
    import subprocess

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
