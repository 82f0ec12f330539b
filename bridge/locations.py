"""Which native revision files exist: Alembic's version locations, read as Alembic reads them.

One home for the question, used by the script directory (`bridge.script`),
the ``run.py start`` fast path and the fleet pre-check (`bridge.fleet.precheck`).
It imports no Alembic: the fast path decides from the files and one query, and
importing Alembic would be most of its cost. So it restates Alembic's own rules
(Alembic 1.18 to 1.20; tests/test_locations.py holds it to Alembic on every
form below):

- ``version_locations`` from ``[alembic]`` split by ``path_separator`` (or the
  deprecated ``version_path_separator``): ``os``, ``space``, ``newline``,
  ``:``, ``;``; with neither, the legacy split on commas and spaces. Without
  ``version_locations``, ``<script_location>/versions``. ``%(here)s`` is
  configparser's interpolation, as in Alembic.
- A location is a folder, relative to the working directory (as Alembic
  resolves it), or a package resource ``pkg:sub/dir`` (not absolute, has a
  colon), found with ``importlib.resources`` after ``prepend_sys_path``.
- ``recursive_version_locations = true`` walks sub-folders; ``sourceless =
  true`` also takes ``.pyc`` / ``.pyo`` files without a ``.py`` next to them,
  including ``__pycache__/<name>.cpython-XY.pyc`` whose source is gone. Both
  booleans are true only when spelled ``true``, as Alembic reads them.

`VersionLocations.from_ini` reads an ``[alembic]`` section the way
``ScriptDirectory.from_config`` does; ``[tool.alembic]`` of pyproject.toml is
not modelled (the fast path leaves such projects to Alembic).
`VersionLocations.of_script_directory` takes what Alembic itself read.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from configparser import ConfigParser
from dataclasses import dataclass
from pathlib import Path

# Alembic's alembic/config.py `_get_file_separator_char`.
SEPARATORS = {"space": " ", "newline": "\n", "os": os.pathsep, ":": ":", ";": ";"}
# Its fallbacks with no separator option: version_locations, prepend_sys_path.
_LEGACY_SPLIT = re.compile(r", *|(?: +)")
_LEGACY_SPLIT_SYS_PATH = re.compile(r", *|(?: +)|\:")
# alembic/script/base.py: the file names `Script._from_path` takes as revisions.
_SOURCE = re.compile(r"(?!\.\#|__init__)(.*\.py)$")
_SOURCELESS = re.compile(r"(?!\.\#|__init__)(.*\.py)(c|o)?$")


@dataclass(frozen=True)
class VersionLocations:
    """The folders Alembic reads native revisions from, and how it reads them.

    Invariant: `paths` is what Alembic's ``ScriptDirectory._version_locations``
    holds for the same configuration (absolute, in order, duplicates kept), and
    `revision_files` lists the files its ``_load_revisions`` loads.
    """

    script_dir: Path
    paths: tuple[Path, ...]
    recursive: bool = False
    sourceless: bool = False

    @classmethod
    def from_ini(cls, file_config: ConfigParser, section: str = "alembic") -> VersionLocations:
        """Read the options of an ini ``[alembic]`` section as ``ScriptDirectory.from_config`` does.

        Raises ValueError for a separator Alembic refuses, KeyError without ``script_location``.
        """

        def option(name: str) -> str | None:
            return file_config.get(section, name, fallback=None)

        script_location = option("script_location")
        if script_location is None:
            raise KeyError("script_location")
        raw = option("version_locations")
        locations: list[str] = []
        if raw:
            separator = _separator(option, "path_separator", "version_path_separator")
            locations = _LEGACY_SPLIT.split(raw) if separator is None else _split(raw, separator)
        if any(_is_resource(text) for text in [script_location, *locations]):
            # Alembic puts prepend_sys_path on sys.path before it resolves anything.
            _prepend_sys_path(option)
        script_dir = resolve(script_location)
        return cls.of(
            script_dir, locations, option("recursive_version_locations") == "true", option("sourceless") == "true"
        )

    @classmethod
    def of_script_directory(cls, script) -> VersionLocations:
        """Return the locations of an Alembic ``ScriptDirectory`` (its own options, already read)."""
        return cls.of(Path(script.dir), script.version_locations, script.recursive_version_locations, script.sourceless)

    @classmethod
    def of(cls, script_dir: Path, locations, recursive: bool, sourceless: bool) -> VersionLocations:
        """Build from a script folder and ``version_locations`` entries as Alembic holds them."""
        if locations:
            paths = tuple(resolve(str(text)).absolute() for text in locations)
        else:
            paths = (Path(script_dir, "versions").absolute(),)
        return cls(Path(script_dir), paths, bool(recursive), bool(sourceless))

    def revision_files(self) -> list[Path]:
        """Return the files Alembic loads as revisions, resolved, each once (Alembic's order)."""
        found: list[Path] = []
        seen: set[Path] = set()
        for location in self.paths:
            if not location.exists():
                continue
            for path in self._listed(location):
                real = path.resolve()
                if real in seen:
                    continue  # Alembic warns "loaded twice" and skips it too
                seen.add(real)
                if self._is_revision(real):
                    found.append(real)
        return found

    def _listed(self, location: Path) -> list[Path]:
        # Alembic's `Script._list_py_dir`, step for step.
        paths: list[Path] = []
        for root, dirs, files in _walk(location):
            if root.name.endswith("__pycache__"):
                continue
            paths.extend(root / name for name in sorted(files))
            if self.sourceless:
                cache = root / "__pycache__"
                if cache.exists():
                    names = {Path(name).name.split(".")[0] for name in files}
                    paths.extend(cache / pyc.name for pyc in cache.iterdir() if pyc.name.split(".")[0] not in names)
            if not self.recursive:
                break
            dirs.sort()
        return paths

    def _is_revision(self, path: Path) -> bool:
        # Alembic's `Script._from_path`, up to loading the module.
        match = (_SOURCELESS if self.sourceless else _SOURCE).match(path.name)
        if not match:
            return False
        compiled = match.group(2) if self.sourceless else None
        if compiled in ("c", "o"):
            source = match.group(1)
            # A .pyc next to its .py (or a .pyo next to either) is not loaded on its own.
            if (path.parent / source).exists() or (compiled == "o" and (path.parent / (source + "c")).exists()):
                return False
        return True


def resolve(location: str) -> Path:
    """Return the folder a location names: a path, or a package resource ``pkg:sub/dir``.

    Alembic's ``util.coerce_resource_to_filename``: not absolute and containing a
    colon means a resource (the package is imported to find it).
    """
    if not _is_resource(location):
        return Path(location)
    import atexit  # deferred: only resource locations need these
    from contextlib import ExitStack
    from importlib import resources

    package, *parts = location.split(":")
    ref = resources.files(package)
    for part in parts:
        ref = ref / part
    stack = ExitStack()
    atexit.register(stack.close)
    return Path(stack.enter_context(resources.as_file(ref)))


def _is_resource(location: str) -> bool:
    return not os.path.isabs(location) and ":" in location


def _separator(option, *names: str) -> str | None:
    for name in names:
        value = option(name)
        if value is not None:
            break
    else:
        return None
    if value not in SEPARATORS:
        raise ValueError(f"{value!r} is not a valid value for {name}; expected 'space', 'newline', 'os', ':', ';'")
    return SEPARATORS[value]


def _split(raw: str, separator: str) -> list[str]:
    return [part.strip() for part in raw.split(separator) if part]


def _prepend_sys_path(option) -> None:
    raw = option("prepend_sys_path")
    if not raw:
        return
    separator = _separator(option, "path_separator")
    sys.path[:0] = _LEGACY_SPLIT_SYS_PATH.split(raw) if separator is None else _split(raw, separator)


def _walk(top: Path) -> Iterator[tuple[Path, list[str], list[str]]]:
    # Alembic's `compat.path_walk`: Path.walk from Python 3.12 (symlinked folders count
    # as files there), os.walk before.
    if sys.version_info >= (3, 12):
        yield from top.walk()  # type: ignore[attr-defined]  # 3.12+
        return
    for root, dirs, files in os.walk(top):
        yield Path(root), dirs, files
