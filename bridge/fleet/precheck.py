"""The cheap "is this database at head?" check: the files, one short connection, no Alembic.

A full ``upgrade head`` on a database that has nothing to do still imports
Alembic, builds the revision map, takes the lock and reconciles the history
tables. When `decide` says *at head*, that full run would change nothing: the
version table holds exactly the script's heads, every legacy file has its
``schema_migrations`` row, every row and checksum names a known file (or a
stem a converted revision replaced), no file's checksum differs and no
migration is recorded twice. Anything else is *not decided here*: the full run
(same code path, same lock) decides, and warns or refuses as it always does.
So the check can only ever skip work that would have been a no-op.

(A version table whose ``version_num`` is narrower than 255 is widened by the
next full run that writes to it, before it writes: skipping a no-op leaves it
as it was.)

``python run.py start`` uses it to decide from the files and one query whether
anything is pending (`single_database_at_head`), and imports no Alembic to do
so unless native revisions exist (`bridge.locations` finds them as Alembic
would): then Alembic's own revision map says where head is. It decides only
what it models: an alembic.ini without ``[tool.alembic]``, the bridge's own
two-line env.py (a custom one may migrate another database, or anything else),
a configured URL (not the embedded server). Anything else is the full run's.
"""

from __future__ import annotations

import configparser
import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from ..database import create_engine, target_for
from ..ledger import LedgerState, read_history, read_history_by_schema
from ..loader import LegacyFile, scan
from ..locations import VersionLocations
from ..settings import BridgeSettings, LegacyTable, VersionTable


@dataclass
class Expected:
    """What a database at head holds, read from the files once per process."""

    files: list[LegacyFile]
    heads: frozenset[str]  # the script's heads: the last legacy file, or the native revisions after it
    version_table: VersionTable = VersionTable()
    retired: frozenset[str] = frozenset()  # legacy stems converted revisions stand for
    legacy_table: LegacyTable = LegacyTable()  # the configured legacy table, read as every other path reads it
    _digests: dict[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_legacy_folder(cls, folder: Path, ignore: tuple[str, ...], settings: BridgeSettings) -> Expected | None:
        """Return what head is for a folder of legacy files alone; None if the folder cannot say."""
        found = scan(folder, ignore)
        if found.problems or not found.files:
            return None  # the full run names the bad files (or there is nothing to be at)
        heads = frozenset({found.files[-1].stem})
        return cls(found.files, heads, settings.version_table, legacy_table=settings.legacy_table)

    @classmethod
    def from_script(cls, script, settings: BridgeSettings) -> Expected:
        """Return what head is for an Alembic script directory (the bridge's, or plain Alembic's)."""
        from .. import reconcile  # deferred: this module imports no Alembic until native revisions need it

        files = reconcile.legacy_chain(script) or []
        return cls(
            files,
            frozenset(script.get_heads()),
            settings.version_table,
            frozenset(reconcile.retired_stems(script)),
            legacy_table=settings.legacy_table,
        )

    @property
    def stems(self) -> dict[str, LegacyFile]:
        return {f.stem: f for f in self.files}

    def digest(self, legacy: LegacyFile) -> str:
        """Return the file's SHA-256, hashed once per process however many targets ask."""
        digest = self._digests.get(legacy.stem)
        if digest is None:
            digest = self._digests[legacy.stem] = legacy.sha256()
        return digest


@dataclass(frozen=True)
class Verdict:
    """One target's pre-check: at head (skip it), or left to the full run, and why."""

    at_head: bool
    current: tuple[str, ...]
    reason: str
    pending: int | None = None  # migrations a run would apply, when the check can count them
    pending_revisions: tuple[str, ...] = ()  # which, when the check can name them


def decide(expected: Expected, state: LedgerState, *, tenant: bool = False) -> Verdict:
    """Return whether a full ``upgrade head`` on a database (a tenant schema) in *state* would change nothing."""
    current = tuple(sorted(state.heads))
    table = expected.legacy_table.name
    stems = expected.stems
    if not state.heads:
        new = "new tenant schema" if tenant else "new database"
        return Verdict(False, current, new if not state.rows else "not yet adopted", len(stems) or None, tuple(stems))
    if set(state.heads) != expected.heads:
        pending = _pending(expected, state)
        return Verdict(False, current, "behind head", None if pending is None else len(pending), pending or ())
    if state.duplicates:
        return Verdict(False, current, f"{table} records a migration twice")
    known = stems.keys() | expected.retired
    gone = sorted((set(state.rows) | set(state.checksums)) - known)
    if gone:
        names = ", ".join(gone[:3]) + (", ..." if len(gone) > 3 else "")
        return Verdict(False, current, f"{table} names files that are gone: {names} (`alembic-bridge repair`)")
    if stems.keys() - set(state.rows):
        holes = _out_of_order(stems, state)
        if holes:
            why = f"out of order: {', '.join(holes)} (`fleet upgrade --out-of-order`)"
            return Verdict(False, current, why, len(holes), holes)
        return Verdict(False, current, f"{table} is missing rows")
    for stem, recorded in state.checksums.items():
        legacy = stems.get(stem)
        if legacy is not None and expected.digest(legacy) != recorded:
            return Verdict(False, current, f"{stem} was edited after it was applied")
    return Verdict(True, current, "at head", 0)


def _out_of_order(stems: dict[str, LegacyFile], state: LedgerState) -> tuple[str, ...]:
    """Return the files with neither row nor checksum dated before one that has either: the full
    run refuses them as out of order (`bridge.reconcile`); a file after the last recorded one is
    only missing its row (the version table at head implies it)."""
    order = list(stems)
    recorded = [i for i, stem in enumerate(order) if stem in state.rows or stem in state.checksums]
    last = max(recorded, default=-1)
    return tuple(stem for stem in order[:last] if stem not in state.rows and stem not in state.checksums)


def _pending(expected: Expected, state: LedgerState) -> tuple[str, ...] | None:
    """Return the legacy files after the database's one head, when the legacy chain is all there is to run."""
    order = [f.stem for f in expected.files]
    positions = [order.index(h) for h in state.heads if h in order]
    if len(positions) == len(state.heads) == 1 and len(expected.heads) == 1 and order[-1] in expected.heads:
        return tuple(order[positions[0] + 1 :])
    return None


# -- reading -----------------------------------------------------------------------------------


def read_state(engine: sa.Engine, expected: Expected) -> LedgerState:
    """Read one database's history tables (as *expected* names them) on one short connection, rolled back."""
    with engine.connect() as connection:
        try:
            version_table = expected.version_table
            return read_history(connection, version_table.name, version_table.schema, expected.legacy_table)
        finally:
            connection.rollback()


def read_schema_states(engine: sa.Engine, schemas: Iterable[str], expected: Expected) -> dict[str, LedgerState]:
    """Read every tenant schema's history tables (as *expected* names them) in two round trips, rolled back."""
    with engine.connect() as connection:
        try:
            return read_history_by_schema(connection, schemas, expected.version_table.name, expected.legacy_table)
        finally:
            connection.rollback()


# -- one database, for `python run.py start` -------------------------------------------------------


class IniConfig:
    """The few parts of an Alembic ``Config`` the settings and the URL resolution read, from an
    alembic.ini alone (configparser, ``%(here)s`` like Alembic), so that no Alembic is imported."""

    config_ini_section = "alembic"
    toml_file_name = None

    def __init__(self, path: Path):
        path = Path(path)
        self.config_file_name = str(path)
        self.attributes: dict = {}
        self.file_config = configparser.ConfigParser({"here": path.absolute().parent.as_posix()})
        self.file_config.read(path, encoding="utf-8")

    def get_main_option(self, name: str, default: str | None = None) -> str | None:
        if self.file_config.has_option(self.config_ini_section, name):
            return self.file_config.get(self.config_ini_section, name)
        return default

    get_alembic_option = get_main_option


def single_database_at_head(config_path: str | Path | None) -> str | None:
    """Return the database's description if it is at head, decided from the files and one query.

    None means "not decided here" (pending work, an embedded server, a
    pyproject.toml configuration, an env.py that is not the bridge's own,
    anything unexpected): the caller then runs the full upgrade, which reports
    whatever is wrong.
    """
    try:
        return _single_database_at_head(Path(config_path or "alembic.ini"))
    except Exception:  # noqa: BLE001 - the full run decides, and names any error properly
        return None


def _single_database_at_head(path: Path) -> str | None:
    config = _modelled_config(path)
    if config is None:
        return None
    settings = BridgeSettings.from_config(config)
    if settings.legacy_location is None:
        return None
    locations = VersionLocations.from_ini(config.file_config, config.config_ini_section)
    if not is_bridge_env(locations.script_dir):
        return None  # a custom env.py may pick another database, or do anything else
    target = target_for(config, settings)
    if target.url is None:
        return None  # an embedded server: lifecycle starts it
    expected = _expected_at(path, settings, locations)
    if expected is None:
        return None
    engine = create_engine(target.url, target=target, poolclass=sa.pool.NullPool)
    try:
        state = read_state(engine, expected)
    finally:
        engine.dispose()
    return target.describe() if decide(expected, state).at_head else None


def _modelled_config(path: Path) -> IniConfig | None:
    """Return the alembic.ini at *path* if this check models it: an ``[alembic]`` section, no ``[tool.alembic]``."""
    if path.suffix != ".ini" or not path.is_file():
        return None
    toml = path.parent / "pyproject.toml"
    if toml.is_file() and "[tool.alembic]" in toml.read_text(encoding="utf-8", errors="replace"):
        return None  # options may come from there: leave it to Alembic's reader
    config = IniConfig(path)
    return config if config.file_config.has_section(config.config_ini_section) else None


def _expected_at(path: Path, settings: BridgeSettings, locations: VersionLocations) -> Expected | None:
    """Return what head is for ``run.py start``; None when the legacy folder cannot say.

    Without native revisions the legacy head is the head, decided without
    Alembic; with them, Alembic's own revision map says (imported then, and only then).
    """
    assert settings.legacy_location is not None  # the caller checked
    if not locations.revision_files():
        return Expected.from_legacy_folder(settings.legacy_location, settings.legacy_ignore, settings)
    from .. import runner  # deferred: only native revisions need Alembic's revision map
    from ..script import settings_for  # deferred, likewise

    alembic_config = runner.load_config(path)
    script = runner.script_directory(alembic_config)
    return Expected.from_script(script, settings_for(script, alembic_config))


def is_bridge_env(script_dir: Path) -> bool:
    """Return whether ``script_dir/env.py`` is the bridge's own (the template's code, comments aside)."""
    try:
        source = (script_dir / "env.py").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    try:
        return _code_of(source) == _code_of(_env_template())
    except SyntaxError:
        return False


@functools.cache
def _env_template() -> str:
    return (Path(__file__).resolve().parent.parent / "templates" / "env.py").read_text(encoding="utf-8")


def _code_of(source: str) -> str:
    """Return *source*'s syntax tree without its module docstring, as text."""
    import ast  # deferred: only the fast path compares env.py files

    tree = ast.parse(source)
    body = tree.body
    if (
        body
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        body = body[1:]
    return ast.dump(ast.Module(body=body, type_ignores=[]))
