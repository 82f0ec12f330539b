"""The ``alembic-bridge`` command line: thin click commands over the library.

Each command parses options, calls one public function, and renders its
result. `BridgeError` (and Alembic's ``CommandError``) become a one-line
message and exit code 1 in one place, `main`; ``-v`` shows the traceback.

Exit codes: 0 success; 1 a command failed (bad input, failed migration,
check found problems); 2 usage error (click's own).
"""

from __future__ import annotations

import logging
import sys

import click

from . import __version__

log = logging.getLogger("bridge")


class Context:
    """Options shared by every command."""

    def __init__(self, config: str | None, url: str | None, verbose: int, quiet: bool):
        self.config_path = config
        self.url = url
        self.verbose = verbose
        self.quiet = quiet


pass_context = click.make_pass_decorator(Context)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="alembic-bridge")
@click.option("-c", "--config", "config", metavar="FILE", help="Alembic config file (default: alembic.ini, else pyproject.toml).")
@click.option("--url", metavar="URL", help="Database URL; overrides DATABASE_URL, DB_* and sqlalchemy.url.")
@click.option("-v", "--verbose", count=True, help="More output; tracebacks on errors.")
@click.option("-q", "--quiet", is_flag=True, help="Only errors.")
@click.pass_context
def cli(ctx: click.Context, config, url, verbose, quiet):
    """Run date-named legacy migrations as Alembic revisions."""
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    logging.basicConfig(level=level, format="%(message)s", stream=sys.stderr)
    ctx.obj = Context(config, url, verbose, quiet)


def _register_optional_commands() -> None:
    from .lint import lint_command

    cli.add_command(lint_command, "lint")


def main(argv=None) -> None:
    """Entry point: run the CLI, turning bridge errors into a message and exit code 1."""
    from alembic.util import CommandError

    try:
        _register_optional_commands()
    except ImportError:
        pass
    verbose = any(a in ("-v", "--verbose") or a.startswith("-vv") for a in (argv or sys.argv[1:]))
    try:
        cli.main(args=argv, prog_name="alembic-bridge", standalone_mode=False)
    except click.exceptions.Exit as err:
        sys.exit(err.exit_code)
    except click.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except CommandError as err:
        if verbose:
            raise
        click.echo(f"Error: {err}", err=True)
        sys.exit(1)
    sys.exit(0)
