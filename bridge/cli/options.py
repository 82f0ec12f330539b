"""What every ``alembic-bridge`` command shares: the global options and the configuration they name."""

from __future__ import annotations

import click
from alembic.config import Config

from .. import runner
from ..context import set_request


class Context:
    """Options shared by every command."""

    def __init__(self, config: str | None, url: str | None, verbose: int, quiet: bool):
        self.config_path = config
        self.url = url
        self.verbose = verbose
        self.quiet = quiet


pass_context = click.make_pass_decorator(Context)


def load_config(obj: Context) -> Config:
    """Return the Alembic configuration the global options name (``-c``, ``--url``)."""
    config = runner.load_config(obj.config_path, obj.url)
    # The CLI renders progress itself; keep env.py from re-configuring logging.
    set_request(config, configure_logging=False)
    return config
