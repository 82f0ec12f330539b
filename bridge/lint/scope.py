"""Which legacy files `alembic-bridge check` holds to the lock-danger rules.

Years of applied history must not block CI, while every new migration meets
the bar: online, the files not yet applied to the database; offline, the files
dated on or after ``lock-rules-since`` or changed against a git base
(``check --offline --diff BASE``). A path given to ``lint`` gets every rule.
"""

from __future__ import annotations

import datetime
import subprocess
from collections.abc import Iterable
from pathlib import Path

from .. import loader
from ..errors import ConfigError
from ..locations import VersionLocations
from .engine import expand_paths


def dated_on_or_after(files: Iterable[Path], since: datetime.date) -> set[Path]:
    """Return the files whose name's date is *since* or later."""
    chosen = set()
    for path in files:
        parsed = loader.parse_name(path.name)
        if isinstance(parsed, tuple) and parsed[0] >= since:
            chosen.add(path.resolve())
    return chosen


def changed_since(folder: Path, base: str) -> set[Path]:
    """Return the files in *folder* that differ from git revision *base*, untracked ones included."""
    folder = folder.resolve()

    def git(*args: str) -> list[str]:
        try:
            done = subprocess.run(
                ["git", "-C", str(folder), *args], capture_output=True, text=True, check=False, timeout=60
            )
        except (OSError, subprocess.TimeoutExpired) as err:
            raise ConfigError(f"--diff {base}: cannot run git ({err}). Install git, or leave --diff out.") from None
        if done.returncode != 0:
            raise ConfigError(
                f"--diff {base}: git failed in {folder}: {done.stderr.strip() or done.stdout.strip()}. "
                "Name a revision git knows, e.g. --diff origin/main (fetch it first in CI)."
            )
        return [line for line in done.stdout.splitlines() if line]

    top = Path(git("rev-parse", "--show-toplevel")[0])
    changed = git("diff", "--name-only", base, "--", ".")
    untracked = git("ls-files", "--others", "--exclude-standard", "--full-name", "--", ".")
    return {(top / name).resolve() for name in [*changed, *untracked]}


def new_files(
    folder: Path, legacy_ignore: tuple[str, ...], since: datetime.date | None, diff_base: str | None
) -> set[Path]:
    """Return the files of *folder* that count as new offline: dated on or after *since*, or changed against *diff_base*."""
    chosen: set[Path] = set()
    if since is not None:
        chosen |= dated_on_or_after(expand_paths([folder], legacy_ignore), since)
    if diff_base is not None:
        chosen |= changed_since(folder, diff_base)
    return chosen


def lock_rule_files(
    location: Path,
    legacy_ignore: tuple[str, ...],
    natives: Iterable[Path],
    since: datetime.date | None,
    diff_base: str | None,
    pending: Iterable[Path] = (),
) -> set[Path]:
    """Return the files held to the lock-danger rules when a whole project is linted.

    The one decision `lint` (no path given) and `check` share: the *pending*
    files (online: not yet applied to the database), the legacy files dated on
    or after *since*, and, with *diff_base*, every legacy file and native
    revision (of *natives*) changed against that git revision.
    """
    chosen = {path.resolve() for path in pending}
    chosen |= new_files(location, legacy_ignore, since, diff_base)
    if diff_base is not None:
        for folder in {path.parent for path in natives}:
            chosen |= changed_since(folder, diff_base)
    return chosen


def native_files(locations: VersionLocations | None) -> list[Path]:
    """Return the native revisions' source files, wherever Alembic finds them (`bridge.locations`)."""
    if locations is None:
        return []
    return sorted(path for path in locations.revision_files() if path.suffix == ".py")
