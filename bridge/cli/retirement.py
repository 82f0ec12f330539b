"""What the commands that retire legacy files (convert, baseline) both say."""

from __future__ import annotations

import os
from pathlib import Path

OLD_RUNNER_WARNING = (
    "Old runners (`python run.py start` with a MigrationHelper, anything scanning {folder}) "
    "no longer see {what}. On a NEW database an old runner would skip them and build an "
    "incomplete schema (or fail). Existing databases are unaffected: their "
    "schema_migrations rows and alembic_version already name these revisions. Retire old "
    "runners (use `alembic upgrade head`, or `bridge.upgrade()` in run.py) before this "
    "change is deployed."
)


def display_path(path: Path) -> str:
    """Return *path* relative to the working directory when it can be, as the commands print it."""
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)
