"""The Alembic ``ScriptDirectory`` adapter: legacy files as revisions.

This is the only module that speaks Alembic's ``ScriptDirectory`` / ``Script``
language. Legacy files become `LegacyScript` objects chained by file name
(revision id = file stem, ``down_revision`` = the previous file); ordinary
Alembic revisions in ``version_locations`` follow the legacy head.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from alembic.script import Script, ScriptDirectory
from alembic.script.revision import RevisionMap

from . import loader, settings
from .errors import ChainError
from .loader import LegacyFile


class LegacyModule:
    """Stands in for a legacy file's module until a migration actually runs.

    Alembic reads ``down_revision`` and ``upgrade``/``downgrade`` from a
    revision's module; reading them here imports nothing. The real file is
    imported by `bridge.executor` only when ``upgrade()``/``downgrade()`` is called.
    """

    branch_labels = None
    depends_on = None

    def __init__(self, legacy: LegacyFile, down_revision: str | None):
        self.legacy = legacy
        self.down_revision = down_revision
        self.__file__ = str(legacy.path)

    @property
    def __doc__(self):  # type: ignore[override]
        return self.legacy.docstring()

    def upgrade(self, **kw) -> None:
        from .executor import run_legacy

        run_legacy(self.legacy, "upgrade")

    def downgrade(self, **kw) -> None:
        from .executor import run_legacy

        run_legacy(self.legacy, "downgrade")


class LegacyScript(Script):
    """A revision backed by a legacy ``YYYYMMDD_description.py`` file."""

    is_legacy = True

    def __init__(self, legacy: LegacyFile, down_revision: str | None):
        self.legacy = legacy
        super().__init__(LegacyModule(legacy, down_revision), legacy.stem, legacy.path)

    @property
    def doc(self) -> str:
        return self.legacy.title()

    @property
    def longdoc(self) -> str:
        return self.legacy.docstring().strip() or self.legacy.title()


class LegacyScriptDirectory(ScriptDirectory):
    """A ``ScriptDirectory`` whose revisions start with the legacy chain.

    Invariant: the legacy files form one linear chain in file-name order, and
    every native revision descends from the legacy head, so the whole history
    has a single base (the first legacy file).
    """

    legacy_location: Path
    legacy_ignore: tuple[str, ...]

    @classmethod
    def from_script_directory(
        cls, base: ScriptDirectory, legacy_location: Path, legacy_ignore: tuple[str, ...]
    ) -> LegacyScriptDirectory:
        """Wrap a stock ``ScriptDirectory`` built by Alembic from the same config."""
        self = cls.__new__(cls)
        self.__dict__.update(base.__dict__)
        self.legacy_location = legacy_location
        self.legacy_ignore = legacy_ignore
        self.revision_map = RevisionMap(self._load_revisions)
        for version_path in self._version_locations:
            if version_path.resolve() == legacy_location.resolve():
                raise ChainError(
                    f"legacy_location and version_locations both name {legacy_location}. "
                    "Keep native Alembic revisions in their own folder, e.g. "
                    f"version_locations = {legacy_location}/versions"
                )
        return self

    def legacy_files(self) -> list[LegacyFile]:
        """Return the legacy chain in order, raising on misnamed files (scanned once)."""
        cached = self.__dict__.get("_legacy_files")
        if cached is None:
            found = loader.scan(self.legacy_location, self.legacy_ignore)
            found.raise_for_problems()
            cached = self.__dict__["_legacy_files"] = found.files
        return cached

    def _load_revisions(self) -> Iterator[Script]:
        files = self.legacy_files()
        by_stem: dict[str, LegacyFile] = {}
        previous: str | None = None
        for legacy in files:
            by_stem[legacy.stem] = legacy
            yield LegacyScript(legacy, previous)
            previous = legacy.stem
        legacy_head = previous
        for script in super()._load_revisions():
            _check_native(script, by_stem, files, legacy_head)
            yield script


def _check_native(
    script: Script,
    by_stem: dict[str, LegacyFile],
    files: list[LegacyFile],
    legacy_head: str | None,
) -> None:
    if script.revision in by_stem:
        clash = by_stem[script.revision]
        raise ChainError(
            f"Revision id {script.revision!r} is used twice: by the native revision "
            f"{script.path} and by the legacy file {clash.path}. Give the native "
            "revision another id (or, if it is a converted copy of the legacy file, "
            "delete the legacy file).",
            paths=(script.path, str(clash.path)),
        )
    if legacy_head is None:
        return
    downs = script._versioned_down_revisions
    if not downs:
        raise ChainError(
            f"Native revision {script.path} has down_revision = None, but the legacy "
            f"chain ends at {by_stem[legacy_head].path}; two histories cannot both "
            f"start at the base. Set down_revision = {legacy_head!r} in {script.path}.",
            paths=(script.path, str(by_stem[legacy_head].path)),
        )
    for down in downs:
        if down in by_stem and down != legacy_head:
            later = [f.filename for f in files if f.stem > down]
            raise ChainError(
                f"Native revision {script.path} follows the legacy file "
                f"{by_stem[down].path}, but later legacy files exist "
                f"({', '.join(later[:5])}{', ...' if len(later) > 5 else ''}). Legacy "
                "files must all come before the first native revision: set "
                f"down_revision = {legacy_head!r} in {script.path}, or turn the later "
                "legacy files into native revisions.",
                paths=(script.path, str(by_stem[down].path)),
            )


def wrap_if_configured(base: ScriptDirectory, config) -> ScriptDirectory:
    """Return the bridge's script directory if *config* sets ``legacy_location``, else *base*."""
    options = settings.BridgeSettings.from_config(config)
    if options.legacy_location is None:
        return base
    return LegacyScriptDirectory.from_script_directory(
        base, options.legacy_location, options.legacy_ignore
    )
