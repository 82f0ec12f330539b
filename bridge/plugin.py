"""Alembic plugin entry point: activate the bridge inside the stock ``alembic`` CLI.

Alembic (>= 1.18) imports every ``alembic.plugins`` entry point when ``alembic``
itself is imported and calls its ``setup(plugin)``. We use that moment to wrap
``ScriptDirectory.from_config``: when the configuration sets ``legacy_location``
it returns the bridge's `LegacyScriptDirectory`; otherwise it returns exactly
what Alembic returned. Every ``alembic.command`` function (and every tool built
on them, such as pytest-alembic) goes through ``from_config``. See
docs/design.md for why this hook and not a custom command.

Alembic 1.18.0 up to 1.20.0 iterate what the entry point loads
(``for mod in entrypoint.load()``); 1.20.1 and later call ``setup`` on it
because it is a module. This module is both: iterating it yields itself, so
every one of those loaders calls ``setup`` exactly once, without a warning.
"""

from __future__ import annotations

import sys
from types import ModuleType

_stock_from_config = None


def setup(plugin=None) -> None:
    """Wrap ``ScriptDirectory.from_config``; calling it twice is harmless."""
    # Imported here, not at the top: importing Alembic imports this module (its plugin
    # loader), so a top-level import would leave this module half-made when someone
    # imports it before Alembic.
    from alembic.script import ScriptDirectory

    global _stock_from_config
    if _stock_from_config is not None:
        return
    _stock_from_config = ScriptDirectory.from_config.__func__  # type: ignore[attr-defined]  # a classmethod

    def from_config(cls, config):
        from .script import wrap_if_configured  # deferred: `import alembic` loads this module, every time

        return wrap_if_configured(_stock_from_config(cls, config), config)

    from_config.__doc__ = _stock_from_config.__doc__
    ScriptDirectory.from_config = classmethod(from_config)  # type: ignore[method-assign,assignment]


class _IterablePluginModule(ModuleType):
    """This module, iterable as the one-module collection Alembic 1.18.0 - 1.20.0 expect."""

    def __iter__(self):
        yield self


sys.modules[__name__].__class__ = _IterablePluginModule
