"""The bridge's errors: one base class, a few subclasses that carry data.

``BridgeError`` subclasses Alembic's ``CommandError`` on purpose: the stock
``alembic`` command line prints a ``CommandError`` as ``FAILED: <message>`` and
exits 255 (``sys.exit(-1)``) without a traceback (unless ``--raiseerr``), so a
bridge error reads the same under ``alembic`` as under ``alembic-bridge``
(which exits 1).
"""

from __future__ import annotations

from pathlib import Path

from alembic.util import CommandError

LEGACY_PATTERN = "{YYYYMMDD}_{description}.py"


class BridgeError(CommandError):
    """Base class of every error the bridge reports to a user."""


class BadMigrationName(BridgeError):
    """A file in the legacy directory looks like a migration but is not named like one."""

    def __init__(self, problems: list[tuple[Path, str]]):
        self.problems = problems
        lines = [
            f"{len(problems)} file(s) in the legacy migrations directory look like "
            f"migrations but would never run (expected {LEGACY_PATTERN}, e.g. "
            "20251031_add_error_message.py):"
        ]
        lines += [f"  {path}: {why}" for path, why in problems]
        lines.append(
            "Rename each file to the pattern, or list it in the 'legacy_ignore' option if it is not a migration."
        )
        super().__init__("\n".join(lines))


class ChainError(BridgeError):
    """Native revisions and legacy files do not form one chain."""

    def __init__(self, message: str, *, paths: tuple[str, ...] = ()):
        self.paths = paths
        super().__init__(message)


class ConfigError(BridgeError):
    """The configuration is missing something or names something that does not exist."""


class ConnectionFailed(BridgeError):
    """The database server could not be reached, or refused the connection.

    The message is one paragraph: the masked URL, where it came from, the
    server's reason and what to check (see `bridge.database.connect_error`).
    """

    def __init__(self, message: str, *, target=None, reason: str = ""):
        self.target = target
        self.reason = reason
        super().__init__(message)


class MigrationError(BridgeError):
    """A legacy migration could not be run; nothing of it was applied or recorded."""

    def __init__(self, path: Path | str, message: str, *, line: int | None = None):
        self.path = Path(path)
        self.line = line
        where = f"{self.path}:{line}" if line else str(self.path)
        super().__init__(f"{where}: {message}")


class UncommittedWork(MigrationError):
    """A legacy migration executed writes it never committed."""


class OfflineNotSupported(MigrationError):
    """A legacy migration cannot be rendered as SQL (``--sql``)."""


class HoleError(BridgeError):
    """Legacy files are applied out of chain order."""

    def __init__(self, message: str, *, out_of_order: list[str]):
        self.out_of_order = out_of_order
        super().__init__(message)


class LockTimeout(BridgeError):
    """Another runner held the migration lock for longer than the configured wait."""


class LockLost(BridgeError):
    """The session holding the migration lock ended during a run; the run stopped before *next_revision*."""

    def __init__(self, message: str, *, next_revision: str | None = None):
        self.next_revision = next_revision
        super().__init__(message)


class LedgerMismatch(BridgeError):
    """The history tables disagree with the files in a way the bridge will not guess about."""
