"""What every ``alembic-bridge`` command shares: the global options and the configuration they name.

The shared options (`SHARED`) are accepted before the subcommand and after it
(``alembic-bridge status --url ...``): `add_shared_options` gives every
subcommand a copy, and a value given after the subcommand wins.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator

import click
from alembic.config import Config

from .. import runner
from ..context import set_request
from ..masking import mask_log_handlers


class Context:
    """Options shared by every command."""

    def __init__(self, config: str | None, url: str | None, verbose: int, quiet: bool):
        self.config_path = config
        self.url = url
        self.verbose = verbose
        self.quiet = quiet


pass_context = click.make_pass_decorator(Context)

# (parameter declarations, click.Option arguments): the one list of the shared options.
SHARED: list[tuple[tuple[str, ...], dict]] = [
    (
        ("-c", "--config", "config"),
        {"metavar": "FILE", "help": "Alembic config file (default: alembic.ini, else pyproject.toml)."},
    ),
    (("--url",), {"metavar": "URL", "help": "Database URL; overrides DATABASE_URL, DB_* and sqlalchemy.url."}),
    (("-v", "--verbose"), {"count": True, "help": "More output; tracebacks on errors."}),
    (("-q", "--quiet"), {"is_flag": True, "help": "Only errors."}),
]


def shared_options(function):
    """Decorate the top-level group with the shared options."""
    for declarations, kw in reversed(SHARED):
        function = click.option(*declarations, **kw)(function)
    return function


def configure_logging(obj: Context) -> None:
    """Set the log level the shared options ask for (again, if one was given after the subcommand)."""
    level = logging.WARNING if obj.quiet else (logging.DEBUG if obj.verbose > 1 else logging.INFO)
    logging.basicConfig(level=level, format="%(message)s", stream=sys.stderr)
    mask_log_handlers()  # no log line shows a password (bridge.masking)
    logging.getLogger().setLevel(level)
    # The CLI prints its own plan and progress; Alembic's step lines would repeat them.
    logging.getLogger("alembic").setLevel(logging.NOTSET if obj.verbose else logging.WARNING)


def _after_subcommand(ctx: click.Context, param: click.Parameter, value) -> None:
    """Record a shared option given after the subcommand on the group's `Context`."""
    if value in (None, 0, False):
        return
    obj = ctx.find_object(Context)
    if obj is None:
        return
    name = {"config": "config_path"}.get(param.name or "", param.name or "")
    setattr(obj, name, obj.verbose + value if name == "verbose" else value)
    if name in ("verbose", "quiet"):
        configure_logging(obj)


def add_shared_options(command: click.Command) -> None:
    """Give *command* and every subcommand under it the shared options (listed in their --help)."""
    commands = list(command.commands.values()) if isinstance(command, click.Group) else []
    for sub in commands:
        names = {opt for p in sub.params for opt in getattr(p, "opts", [])}
        for declarations, kw in SHARED:
            if not names & set(declarations):
                sub.params.append(
                    click.Option(list(declarations), expose_value=False, callback=_after_subcommand, **kw)
                )
        add_shared_options(sub)


def load_config(obj: Context) -> Config:
    """Return the Alembic configuration the global options name (``-c``, ``--url``)."""
    config = runner.load_config(obj.config_path, obj.url)
    # The CLI renders progress itself; keep env.py from re-configuring logging.
    set_request(config, configure_logging=False)
    return config


@contextlib.contextmanager
def report_owns_stdout(active: bool = True) -> Iterator[None]:
    """While the work runs, send what anything else prints to standard error: a report (JSON, SARIF) owns stdout.

    A migration's print(), a native revision's print() when Alembic imports it, a
    child process they start (file descriptor 1 itself is pointed at stderr); the
    command prints its report after the block.
    """
    if not active:
        yield
        return
    real = sys.stdout
    real.flush()
    saved: tuple[int, int] | None = None  # (stdout's descriptor, a copy of what it was)
    try:
        out, err = real.fileno(), sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # a stream without a descriptor (click's test runner)
        pass
    else:
        saved = (out, os.dup(out))
        os.dup2(err, out)
    sys.stdout = sys.stderr
    try:
        yield
    finally:
        sys.stderr.flush()
        # What was written to the stream itself (sys.__stdout__, a handler holding it) goes to
        # stderr with the rest, before descriptor 1 is stdout again.
        with contextlib.suppress(OSError, ValueError):
            real.flush()
        sys.stdout = real
        if saved is not None:
            os.dup2(saved[1], saved[0])
            os.close(saved[1])
