"""Run one legacy file by hand through the bridge: the ``__main__`` helper's front end.

A legacy file may end with::

    if __name__ == "__main__":
        from bridge.manual import run_file
        run_file(__file__)

Then ``python migrations/20251031_x.py --upgrade`` applies that migration
through Alembic (lock, per-migration transaction, both history tables), and
``--downgrade`` reverts it, but only when that keeps the chain in order: the
file must be the next pending one (upgrade) or the current head (downgrade),
as the plan made under the runner lock says (another runner may move the
database until then).
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import ConfigError

USAGE = "Usage: python {name} --upgrade | --downgrade"


def find_config(start: Path) -> Path:
    """Return the nearest alembic.ini at or above *start*."""
    for folder in [start, *start.parents]:
        candidate = folder / "alembic.ini"
        if candidate.is_file():
            return candidate
    raise ConfigError(
        f"No alembic.ini found in {start} or any folder above it. Run "
        "`alembic-bridge init --legacy <folder>` in the project first."
    )


def run_file(path: str, argv: list[str] | None = None) -> None:
    """Apply (``--upgrade``) or revert (``--downgrade``) the migration in *path*; exit like the template."""
    from alembic.util import CommandError  # deferred: a usage error needs no Alembic

    argv = sys.argv[1:] if argv is None else argv
    path_obj = Path(path).resolve()
    if len(argv) != 1 or argv[0] not in ("--upgrade", "--downgrade"):
        print(USAGE.format(name=Path(path).name))
        sys.exit(1)
    try:
        _run(path_obj, argv[0][2:])
    except CommandError as err:
        print(f"❌ {err}")
        sys.exit(1)


def _run(path: Path, direction: str) -> None:
    from .. import runner  # deferred: Alembic loads only once the arguments are checked
    from ..database import dotenv_paths, export_dotenv  # deferred with it

    config_path = find_config(path.parent)
    # Run by hand, a file is its own entry point: like the legacy __main__ block's
    # load_dotenv(), .env reaches the migration's os.getenv calls.
    config = runner.load_config(config_path)
    export_dotenv(files=dotenv_paths(config))
    stem = path.stem
    status = runner.status(config)
    states = {m.revision: m for m in status.migrations}
    if stem not in states or states[stem].kind != "legacy":
        raise ConfigError(f"{path} is not a legacy migration of the project configured in {config_path}.")
    # What "this file" means is decided under the runner lock (on the plan made there):
    # another runner may apply or revert migrations until it is held.
    if direction == "upgrade":
        if states[stem].state == "applied":
            print(f"⏭️  {stem} is already applied; nothing to do.")
            return
        ran = runner.upgrade(config, stem, on_plan=lambda plan: _only_this_file(stem, direction, plan))
        if not ran.steps:
            print(f"⏭️  {stem} is already applied; nothing to do.")
            return
        print(f"✅ {stem} applied and recorded.")
    else:
        below = runner.script_directory(config).get_revision(stem).down_revision  # one: a legacy file never merges
        runner.downgrade(
            config,
            below if isinstance(below, str) else "base",
            on_plan=lambda plan: _only_this_file(stem, direction, plan),
        )
        print(f"✅ {stem} reverted.")


def _only_this_file(stem: str, direction: str, plan) -> None:
    """Refuse a run that would apply or revert more than the file *stem* (called under the lock)."""
    others = [step.revision for step in plan.steps if step.revision != stem]
    if direction == "upgrade":
        if others:
            raise ConfigError(
                f"earlier migrations are pending ({', '.join(others)}); run "
                f"`alembic upgrade {stem}` to apply them in order, or `alembic upgrade head`."
            )
        return
    if not plan.steps:
        raise ConfigError(f"{stem} is not applied; there is nothing to revert.")
    if others:
        raise ConfigError(
            f"{stem} is not the current head ({', '.join(others)}); "
            f"reverting it alone would break the chain. Use `alembic downgrade <revision>` "
            "to revert everything after it too."
        )
