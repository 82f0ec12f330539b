"""The bridge's errors: one base class, a few subclasses that carry data.

``BridgeError`` subclasses Alembic's ``CommandError`` on purpose: the stock
``alembic`` command line prints a ``CommandError`` as ``FAILED: <message>`` and
exits 255 (``sys.exit(-1)``) without a traceback (unless ``--raiseerr``), so a
bridge error reads the same under ``alembic`` as under ``alembic-bridge``
(which exits 1).

Importing this module does not import Alembic (``import alembic`` costs about
0.3 s, and ``python run.py start``'s pre-check, the settings and the URL
resolution raise these errors without needing Alembic): until
``alembic.util.exc`` is imported, `BridgeError` derives from a stand-in base,
and the moment Alembic's module is loaded (or at once, if it already is) its
base becomes the real ``CommandError``. Every ``except CommandError`` runs in
a process that has imported Alembic, so it always sees a ``CommandError``.
"""

from __future__ import annotations

import importlib.abc
import sys
from pathlib import Path
from typing import TYPE_CHECKING

LEGACY_PATTERN = "{YYYYMMDD}_{description}.py"
_ALEMBIC_ERRORS = "alembic.util.exc"

if TYPE_CHECKING:
    from alembic.util import CommandError as _Base
else:

    class _Base(Exception):
        """Stands in for ``alembic.util.CommandError`` until Alembic is imported (see the module docstring)."""


class BridgeError(_Base):
    """Base class of every error the bridge reports to a user (an ``alembic.util.CommandError``).

    Its message never holds a password the bridge knows (`bridge.masking.hide_secrets`):
    whatever front end prints it, Alembic's ``FAILED:`` line included.
    """

    def __init__(self, *args) -> None:
        from .masking import hide_secrets  # deferred: masking imports SQLAlchemy

        super().__init__(*(hide_secrets(a) if isinstance(a, str) else a for a in args))


def _rebase(module) -> None:
    if BridgeError.__bases__ != (module.CommandError,):
        BridgeError.__bases__ = (module.CommandError,)


class _OnAlembicErrors(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds ``alembic.util.exc`` through the other finders, and rebases `BridgeError` once it is executed."""

    def __init__(self) -> None:
        self.inner: importlib.abc.Loader | None = None

    def find_spec(self, fullname, path, target=None):
        if fullname != _ALEMBIC_ERRORS:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                self.inner, spec.loader = spec.loader, self
                return spec
        return None

    def create_module(self, spec):
        assert self.inner is not None
        return self.inner.create_module(spec)

    def exec_module(self, module) -> None:
        assert self.inner is not None
        self.inner.exec_module(module)
        _rebase(module)
        if self in sys.meta_path:
            sys.meta_path.remove(self)


if _ALEMBIC_ERRORS in sys.modules:
    _rebase(sys.modules[_ALEMBIC_ERRORS])
else:
    sys.meta_path.insert(0, _OnAlembicErrors())


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
        self.message = message  # without the path and line
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
