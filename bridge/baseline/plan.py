"""What ``alembic-bridge baseline`` would squash into which file (reads files only)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .. import runner
from ..errors import ConfigError
from ..revision_api import BaselineError
from ..script import LegacyScriptDirectory, replaced_stems


@dataclass
class BaselinePlan:
    """What ``baseline`` would squash into which file."""

    head: str
    replaces: list[str]
    remove: list[Path]
    target: Path
    following: list[str] = field(default_factory=list)


def plan_baseline(config) -> BaselinePlan:
    """Return what ``baseline`` would do; reads files only."""
    script = runner.script_directory(config)
    if not isinstance(script, LegacyScriptDirectory):
        raise ConfigError("legacy_location is not set in the configuration: there is no legacy chain to squash.")
    files = script.legacy_files()
    chain = script.retired_revisions()
    replaces = [stem for rev in chain for stem in replaced_stems(rev)] + [f.stem for f in files]
    if not replaces:
        raise BaselineError("There are no legacy migrations (nor revisions converted from them) to squash.")
    if not files and len(chain) == 1 and len(replaces) > 1:
        raise BaselineError(f"{chain[0].path} is already a baseline and nothing follows it in the legacy chain.")
    location = script.single_version_location("baseline")
    head = replaces[-1]
    remove = [Path(rev.path) for rev in chain] + [f.path for f in files]
    target = location / f"{head}.py"
    if target.exists() and target not in remove:
        raise BaselineError(f"{target} already exists. Move it away first.")
    squashed = {rev.revision for rev in chain} | {f.stem for f in files}
    following = [rev.revision for rev in script.walk_revisions() if rev.revision not in squashed]
    return BaselinePlan(head, replaces, remove, target, list(reversed(following)))
