"""Alembic plugin entry point: activate the bridge inside the stock ``alembic`` CLI.

Alembic (>= 1.18) imports every ``alembic.plugins`` entry point when ``alembic``
itself is imported and calls its ``setup(plugin)``. We use that moment to wrap
``ScriptDirectory.from_config``: when the configuration sets ``legacy_location``
it returns the bridge's `LegacyScriptDirectory`; otherwise it returns exactly
what Alembic returned. Every ``alembic.command`` function (and every tool built
on them, such as pytest-alembic) goes through ``from_config``. See
docs/design.md for why this hook and not a custom command.
"""

from __future__ import annotations

from alembic.script import ScriptDirectory

_stock_from_config = None


def setup(plugin=None) -> None:
    """Wrap ``ScriptDirectory.from_config``; calling it twice is harmless."""
    global _stock_from_config
    if _stock_from_config is not None:
        return
    _stock_from_config = ScriptDirectory.from_config.__func__

    def from_config(cls, config):
        from .script import wrap_if_configured

        return wrap_if_configured(_stock_from_config(cls, config), config)

    from_config.__doc__ = _stock_from_config.__doc__
    ScriptDirectory.from_config = classmethod(from_config)
