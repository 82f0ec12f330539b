"""The Alembic ``ScriptDirectory`` adapter: legacy files as revisions.

This is the only module that speaks Alembic's ``ScriptDirectory`` / ``Script``
language. Legacy files become `LegacyScript` objects chained by file name
(revision id = file stem, ``down_revision`` = the previous file); ordinary
Alembic revisions in ``version_locations`` follow the legacy head.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator
from pathlib import Path

from alembic.script import Script, ScriptDirectory
from alembic.util import to_tuple

from . import loader, settings
from .context import Step, request_of
from .errors import ChainError, ConfigError
from .internals import ScriptDirectoryHooks
from .loader import LegacyFile
from .locations import VersionLocations
from .settings import BridgeSettings, VersionTable


class LegacyModule:
    """Stands in for a legacy file's module until a migration actually runs.

    Alembic reads ``down_revision`` and ``upgrade``/``downgrade`` from a
    revision's module; reading them here imports nothing. The real file is
    imported only when the migration runs: by `bridge.steps`, which hands it to
    `bridge.executor.run_legacy` instead of calling ``upgrade()``/``downgrade()``
    here; without the bridge's env.py, by the executor when Alembic calls them.
    """

    branch_labels = None
    depends_on = None

    def __init__(self, legacy: LegacyFile, down_revision: str | None):
        self.legacy = legacy
        self.down_revision = down_revision
        self.__file__ = str(legacy.path)

    @property
    def __doc__(self):  # type: ignore[override]  # Alembic reads a module's docstring; ours is read from the file
        return self.legacy.docstring()

    def upgrade(self, **kw) -> None:
        # deferred: `alembic history` and friends never load the runtime (proxy, ledger)
        from .executor import run_legacy

        run_legacy(self.legacy, "upgrade")

    def downgrade(self, **kw) -> None:
        from .executor import run_legacy  # deferred, as in upgrade

        run_legacy(self.legacy, "downgrade")


class LegacyScript(Script):
    """A revision backed by a legacy ``YYYYMMDD_description.py`` file."""

    def __init__(self, legacy: LegacyFile, down_revision: str | None):
        self.legacy = legacy
        super().__init__(LegacyModule(legacy, down_revision), legacy.stem, legacy.path)  # type: ignore[arg-type]  # quacks like a module

    @functools.cached_property
    def doc(self) -> str:
        # Read once: Alembic formats it more than once per migration it runs.
        return self.legacy.title()

    @property
    def longdoc(self) -> str:
        return self.legacy.docstring().strip() or self.legacy.title()


def kind_of(revision: Script) -> str:
    """Return what kind of migration *revision* is: "legacy" (a legacy file) or "native"."""
    return "legacy" if isinstance(revision, LegacyScript) else "native"


def step_for(revision: Script, direction: str) -> Step:
    """Describe *revision*, applied or reverted (*direction*), as the bridge's `Step`."""
    return Step(revision.revision, direction, revision.doc, kind_of(revision))


def out_of_order_step(legacy: LegacyFile) -> Step:
    """Describe a legacy file applied out of order (before applied revisions) as a `Step`."""
    return Step(legacy.stem, "upgrade", legacy.title(), "legacy, out of order")


class LegacyScriptDirectory(ScriptDirectoryHooks):
    """A ``ScriptDirectory`` whose revisions start with the legacy chain.

    Invariant: the history is one line with a single base. Native revisions
    that stand for legacy files (``replaces_legacy``, written by ``alembic-bridge
    convert`` and ``baseline``) come first, from the base; then the legacy files
    in file-name order; then every other native revision, after the legacy head.
    """

    legacy_location: Path
    legacy_ignore: tuple[str, ...]
    settings: BridgeSettings | None = None  # as parsed from the config it was built from

    @classmethod
    def from_script_directory(
        cls,
        base: ScriptDirectory,
        legacy_location: Path,
        legacy_ignore: tuple[str, ...],
        options: BridgeSettings | None = None,
    ) -> LegacyScriptDirectory:
        """Build the bridge's directory with the options of one Alembic built from the same config."""
        self = cls(
            base.dir,
            file_template=base.file_template,
            truncate_slug_length=base.truncate_slug_length,
            version_locations=base.version_locations,
            sourceless=base.sourceless,
            output_encoding=base.output_encoding,
            timezone=base.timezone,
            hooks=base.hooks,
            recursive_version_locations=base.recursive_version_locations,
            messaging_opts=base.messaging_opts,
        )
        self.legacy_location = legacy_location
        self.legacy_ignore = legacy_ignore
        self.settings = options
        for version_path in self.version_location_paths():
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

    @functools.cached_property
    def native_locations(self) -> VersionLocations:
        """Return where (and how) Alembic reads this directory's native revisions."""
        return VersionLocations.of_script_directory(self)

    def version_location_paths(self) -> list[Path]:
        """Return the folders of native revisions, absolute (Alembic's default: versions/)."""
        return list(self.native_locations.paths)

    def upgrade_revisions(self, destination: str, current_rev):
        # `alembic upgrade head` on an up-to-date database is what every application
        # start runs. With no native revisions, the history is the linear legacy
        # chain, so a database at its last file has nothing to do, and building the
        # revision map (one Script per file, thousands of them) would be most of the
        # run's cost. Anything else goes through Alembic.
        if destination in ("head", "heads") and self._at_legacy_head(current_rev):
            return []
        return super().upgrade_revisions(destination, current_rev)

    def as_revision_number(self, id_):
        # env.py asks for the destination on every run (`bridge.env.moves_versions`),
        # and resolving "head" builds the revision map. With no native revisions the
        # history is the linear legacy chain: its head is the last file (none without
        # files, as Alembic answers), and building the map could not fail. Anything
        # else goes through Alembic.
        if id_ in ("head", "heads") and not self._may_have_native_revisions():
            files = self.legacy_files()
            if not files:
                return None
            return (files[-1].stem,) if id_ == "heads" else files[-1].stem
        return super().as_revision_number(id_)

    def _at_legacy_head(self, current_rev) -> bool:
        heads = (current_rev,) if isinstance(current_rev, str) else tuple(current_rev or ())
        files = self.legacy_files()
        if not files or heads != (files[-1].stem,):
            return False
        return not self._may_have_native_revisions()

    def single_version_location(self, command: str) -> Path:
        """Return the one version location *command* writes revisions into.

        Raises `ConfigError` naming the fix when several are configured.
        """
        locations = self.version_location_paths()
        if len(locations) != 1:
            raise ConfigError(
                f"{command} writes into one version location, but {len(locations)} are configured "
                f"({', '.join(map(str, locations))}). Set version_locations to one folder."
            )
        return locations[0]

    def _may_have_native_revisions(self) -> bool:
        return bool(self.native_locations.revision_files())

    def retired_revisions(self) -> list[Script]:
        """Return the native revisions standing for legacy files (``replaces_legacy``), base first."""
        if "_retired_chain" not in self.__dict__:
            if not self._may_have_native_revisions():
                return []  # without building the revision map (the fast path above)
            _ = self.revision_map.heads  # loading the revisions computes the chain
        return list(self.__dict__.get("_retired_chain", ()))

    def retired_stems(self) -> list[str]:
        """Return, in chain order, the legacy stems that native revisions now stand for."""
        return [stem for script in self.retired_revisions() for stem in replaced_stems(script)]

    def load_revisions(self) -> Iterator[Script]:
        files = self.legacy_files()
        natives = list(super().load_revisions())
        retired = self.__dict__["_retired_chain"] = _retired_chain(natives, files)
        retired_ids = {script.revision for script in retired}
        by_stem: dict[str, LegacyFile] = {}
        # The first legacy file follows the last converted (or baseline) revision.
        previous: str | None = retired[-1].revision if retired else None
        for legacy in files:
            by_stem[legacy.stem] = legacy
            yield LegacyScript(legacy, previous)
            previous = legacy.stem
        legacy_head = files[-1].stem if files else None
        for script in natives:
            _check_native(script, by_stem, files, legacy_head, retired_ids)
            yield script


def replaced_stems(script: Script) -> tuple[str, ...]:
    """Return the legacy stems a native revision declares it stands for (``replaces_legacy``)."""
    value = getattr(script.module, "replaces_legacy", None) or ()
    return (value,) if isinstance(value, str) else tuple(value)


def _retired_chain(natives: list[Script], files: list[LegacyFile]) -> list[Script]:
    """Return the revisions standing for legacy files, base first; they must precede the files."""
    retired = [script for script in natives if replaced_stems(script)]
    if not retired:
        return []
    for script in retired:
        if replaced_stems(script)[-1] != script.revision:
            raise ChainError(
                f"{script.path} declares replaces_legacy = {replaced_stems(script)!r}, which must "
                f"end with its own revision id {script.revision!r}.",
                paths=(script.path,),
            )
    children: dict[object, list[Script]] = {}
    for script in retired:
        downs = to_tuple(script.down_revision, default=())
        children.setdefault(downs[0] if len(downs) == 1 else downs or None, []).append(script)
    chain: list[Script] = []
    current = children.get(None, [])
    while len(current) == 1:
        chain.append(current[0])
        current = children.get(current[0].revision, [])
    if len(chain) != len(retired):
        stray = [script.path for script in retired if script not in chain]
        raise ChainError(
            "The revisions written by `alembic-bridge convert` / `baseline` must form one "
            f"line from the base; these do not: {', '.join(stray)}. Restore their "
            "down_revision values.",
            paths=tuple(stray),
        )
    last = max(stem for script in chain for stem in replaced_stems(script))
    early = [f for f in files if f.stem <= last]
    if early:
        owner = {stem: script for script in chain for stem in replaced_stems(script)}
        lines = [
            f"  {f.path}: already replaced by {owner[f.stem].path}; delete the legacy copy"
            if f.stem in owner
            else f"  {f.path}: sorts before {last}; rename it to a later date"
            for f in early
        ]
        raise ChainError(
            "Legacy files must come after the revisions converted from (or squashed out of) "
            "the legacy chain:\n" + "\n".join(lines),
            paths=tuple(str(f.path) for f in early),
        )
    return chain


def _check_native(
    script: Script,
    by_stem: dict[str, LegacyFile],
    files: list[LegacyFile],
    legacy_head: str | None,
    retired_ids: frozenset[str] | set[str] = frozenset(),
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
    if legacy_head is None or script.revision in retired_ids:
        return
    downs = to_tuple(script.down_revision, default=())
    if not downs:
        raise ChainError(
            f"Native revision {script.path} has down_revision = None, but the legacy "
            f"chain ends at {by_stem[legacy_head].path}; two histories cannot both "
            f"start at the base. Set down_revision = {legacy_head!r} in {script.path}.",
            paths=(script.path, str(by_stem[legacy_head].path)),
        )
    for down in downs:
        if down in retired_ids:
            raise ChainError(
                f"Native revision {script.path} follows {down}, but legacy files come after "
                f"it (up to {by_stem[legacy_head].path}). Set down_revision = {legacy_head!r} "
                f"in {script.path}.",
                paths=(script.path,),
            )
        if down in by_stem and down != legacy_head:
            later = [f.filename for f in files if f.stem > down]
            # Editing down_revision is safe only where the native revision never ran:
            # a database that applied it would have to record files it never ran.
            raise ChainError(
                f"Native revision {script.path} follows the legacy file "
                f"{by_stem[down].path}, but later legacy files exist "
                f"({', '.join(later[:5])}{', ...' if len(later) > 5 else ''}). Legacy "
                "files must all come before the first native revision. Databases that "
                f"applied {script.revision} never ran them: move them out of the legacy "
                "folder and write their changes as a native revision after the head "
                "(`alembic revision -m ...`), so every database runs them next. Only if no "
                f"database has applied {script.revision} yet, set down_revision = "
                f"{legacy_head!r} in {script.path} instead.",
                paths=(script.path, str(by_stem[down].path)),
            )


def wrap_if_configured(base: ScriptDirectory, config) -> ScriptDirectory:
    """Return the bridge's script directory if *config* sets ``legacy_location``, else *base*."""
    if settings.legacy_location(config) is None:
        return base  # bridge off: no other option is read, so none can fail
    options = settings.BridgeSettings.from_config(config)
    assert options.legacy_location is not None  # checked just above
    return LegacyScriptDirectory.from_script_directory(base, options.legacy_location, options.legacy_ignore, options)


def settings_for(script: ScriptDirectory, config) -> BridgeSettings:
    """Return the bridge's settings for *config*: those *script* was built with, parsed once.

    A run for a tenant schema (`bridge.context.RunRequest.schema`) keeps its version
    table in that schema: each tenant has its own.
    """
    if isinstance(script, LegacyScriptDirectory) and script.settings is not None:
        found = script.settings
    else:
        found = BridgeSettings.from_config(config)
    schema = request_of(config).schema
    if schema is None:
        return found
    return dataclasses.replace(found, version_table=VersionTable(found.version_table.name, schema))
