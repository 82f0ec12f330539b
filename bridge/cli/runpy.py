"""``python run.py start|restart|stop|status|migrate``: the legacy entry point's front end.

Parses the command line, sets up the console and ``logs/migrations.log``,
calls `bridge.lifecycle`, and turns failures into one line and exit code 1
(``-v`` shows the traceback). A project's ``run.py`` is two lines::

    from bridge.cli.runpy import main       # or the older path, bridge.launcher
    sys.exit(main(sys.argv[1:]))
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from .. import lifecycle
from ..database import dotenv_paths, export_dotenv
from ..masking import mask_log_handlers, mask_text

log = logging.getLogger("bridge.run")

MIGRATION_LOG_FILE = "logs/migrations.log"


def setup_logging(root: Path) -> None:
    """Log to the console and to logs/migrations.log (the legacy manual greps logs/), owner-only."""
    (root / "logs").mkdir(exist_ok=True)
    path = root / MIGRATION_LOG_FILE
    # Create it 0600, and tighten one an older version created 0644: it names the database.
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
    os.chmod(path, 0o600)
    handlers: list[logging.Handler] = [
        logging.StreamHandler(),
        logging.FileHandler(path, encoding="utf-8"),
    ]
    handlers[1].setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    handlers[0].setFormatter(logging.Formatter("%(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=handlers, force=True)
    mask_log_handlers()
    for noisy in ("alembic.runtime.migration",):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: list[str]) -> int:
    """Run one ``run.py`` command; return the exit code."""
    parser = argparse.ArgumentParser(prog="run.py", description="Legacy entry point, on top of alembic-bridge.")
    parser.add_argument("command", choices=["start", "restart", "stop", "status", "migrate"])
    parser.add_argument("-c", "--config", help="alembic.ini to use (default: ./alembic.ini)")
    parser.add_argument("-v", "--verbose", action="store_true", help="show tracebacks")
    args = parser.parse_args(argv)
    try:
        # Nothing pending: decided from the files and one query, without the full run (no env.py, no lock).
        quick = lifecycle.up_to_date(args.config) if args.command == "start" else None
        if quick is not None:
            root, described = quick
            export_dotenv(files=lifecycle.quick_dotenv_files(args.config))
            setup_logging(root)
            lifecycle.start_up_to_date(root, described)
            return 0
        project = lifecycle.Project.load(args.config)
        # run.py is an application entry point: like the legacy runner, it loads
        # .env into its own environment, for APP_COMMAND, the application and
        # migrations that call os.getenv. The library only reads .env.
        export_dotenv(files=dotenv_paths(project.config))
        setup_logging(project.root)
        if args.command in ("stop", "restart"):
            lifecycle.stop(project)
        if args.command in ("start", "restart"):
            lifecycle.start(project)
        elif args.command == "migrate":
            lifecycle.migrate(project)
        elif args.command == "status":
            lifecycle.ensure_database(project)
            lifecycle.show_status(project)
    except Exception as err:  # noqa: BLE001 - the entry point reports, never tracebacks
        if args.verbose:
            import traceback

            print(mask_text(traceback.format_exc()).rstrip("\n"), file=sys.stderr)  # -v: masked like the rest
            return 1
        # Imported only on failure: a start with nothing pending never loads Alembic.
        from alembic.util import CommandError

        if isinstance(err, CommandError):  # BridgeError and Alembic's own errors
            if logging.getLogger().handlers:
                log.error("❌ %s", err)
            else:
                print(f"❌ {err}")
            return 1
        log.error("❌ %s: %s (run with -v for the traceback)", type(err).__name__, mask_text(str(err)))
        return 1
    return 0
