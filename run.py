#!/usr/bin/env python
"""The legacy entry point, on top of alembic-bridge.

    python run.py start     # database up, pending migrations applied, app started
    python run.py restart   # stop + start
    python run.py stop      # stop the app and the embedded PostgreSQL
    python run.py status    # database, head, pending migrations
    python run.py migrate   # apply pending migrations only

Migrations run through the same code path and lock as `alembic upgrade head`.
The application is the command in APP_COMMAND (environment or .env), if any.
"""

import sys

from bridge.cli.runpy import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
