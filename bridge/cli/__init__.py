"""The bridge's front ends: the only code that prints, parses a command line or picks an exit code.

- `bridge.cli.commands`: ``alembic-bridge`` (its larger commands in a module each:
  `bridge.cli.lint`, `bridge.cli.convert`, `bridge.cli.baseline`);
- `bridge.cli.runpy`: ``python run.py start|restart|stop|status|migrate``;
- `bridge.cli.manual`: a legacy file run by hand (``python 2025…_x.py --upgrade``).

This module imports nothing: ``run.py`` and the ``__main__`` helper do not pay for click.
"""

from __future__ import annotations


def main(argv: list[str] | None = None) -> None:
    """Run ``alembic-bridge`` (the console script's entry point; see `bridge.cli.commands.main`)."""
    from .commands import main as run  # deferred: importing this package must stay cheap (above)

    run(argv)
