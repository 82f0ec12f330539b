"""Which database to use, how to connect to it, and how to name it safely in logs.

URL precedence, highest first:

1. ``DATABASE_URL`` (environment, or ``.env``);
2. the legacy ``DB_USER``, ``DB_PASSWORD``, ``DB_HOST``, ``DB_PORT``, ``DB_NAME``
   (environment, or ``.env``): if any is set, the others take the legacy
   defaults, exactly as the legacy files' ``__main__`` block builds its URL;
3. ``sqlalchemy.url`` in the configuration;
4. ``embedded_postgres`` in the configuration: an embedded server, started on
   demand. Nothing falls back to it unless the configuration asks for it.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from .errors import ConfigError

log = logging.getLogger(__name__)

LEGACY_DEFAULTS = {
    "DB_USER": "trader",
    "DB_PASSWORD": "password123",
    "DB_HOST": "localhost",
    "DB_PORT": "5432",
    "DB_NAME": "trading_system",
}
# Alembic's `alembic init` writes this placeholder; it means "not configured".
PLACEHOLDER_URL = "driver://user:pass@localhost/dbname"


@dataclass(frozen=True)
class DatabaseTarget:
    """A resolved database: a URL, or an embedded server directory, and where it came from."""

    source: str
    url: str | None = None
    embedded: Path | None = None

    def describe(self) -> str:
        """Return a one-line description with any password masked."""
        if self.embedded is not None:
            return f"embedded PostgreSQL in {self.embedded} ({self.source})"
        return f"{mask_url(self.url)} ({self.source})"


def load_dotenv_files(*directories: Path) -> None:
    """Load ``.env`` from each directory (and the working directory) without overriding."""
    from dotenv import load_dotenv

    seen = set()
    for directory in (*directories, Path.cwd()):
        path = (directory / ".env").resolve()
        if path not in seen and path.is_file():
            seen.add(path)
            load_dotenv(path, override=False)


def resolve_target(
    sqlalchemy_url: str | None = None,
    embedded: Path | None = None,
    *,
    url: str | None = None,
    environ=None,
) -> DatabaseTarget:
    """Pick the database by the precedence in this module's docstring."""
    environ = os.environ if environ is None else environ
    if url:
        return DatabaseTarget("--url", url=url)
    if environ.get("DATABASE_URL"):
        return DatabaseTarget("DATABASE_URL", url=environ["DATABASE_URL"])
    # Exactly like the legacy __main__ block's os.getenv(name, default): a variable
    # that is set stays as set, even when empty (an empty DB_HOST means "libpq's
    # default", e.g. the Unix socket named by PGHOST).
    legacy = {k: environ[k] for k in LEGACY_DEFAULTS if k in environ}
    if legacy:
        values = {**LEGACY_DEFAULTS, **legacy}
        try:
            port = int(values["DB_PORT"]) if values["DB_PORT"] else None
        except ValueError:
            raise ConfigError(
                f"DB_PORT={values['DB_PORT']!r} is not a port number."
            ) from None
        built = URL.create(
            "postgresql",
            username=values["DB_USER"],
            password=values["DB_PASSWORD"] or None,
            host=values["DB_HOST"] or None,
            port=port,
            database=values["DB_NAME"],
        )
        return DatabaseTarget(
            "DB_* variables", url=built.render_as_string(hide_password=False)
        )
    if sqlalchemy_url and sqlalchemy_url.strip() and sqlalchemy_url.strip() != PLACEHOLDER_URL:
        return DatabaseTarget("sqlalchemy.url", url=sqlalchemy_url.strip())
    if embedded is not None:
        return DatabaseTarget("embedded_postgres", embedded=embedded)
    raise ConfigError(
        "No database configured. Set DATABASE_URL (or the legacy DB_USER, "
        "DB_PASSWORD, DB_HOST, DB_PORT, DB_NAME) in the environment or .env, "
        "or sqlalchemy.url in alembic.ini; or set embedded_postgres = .bridge/postgres "
        "in alembic.ini to use an embedded PostgreSQL."
    )


def target_url(target: DatabaseTarget) -> str:
    """Return a connectable URL for *target*, starting the embedded server if needed."""
    if target.embedded is not None:
        from .embedded import ensure_running

        return ensure_running(target.embedded)
    assert target.url is not None
    return target.url


def normalize_url(url: str | URL) -> URL:
    """Return *url* with the driver the bridge installs (psycopg2) made explicit."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except Exception as err:
        raise ConfigError(
            f"Could not parse the database URL {mask_url(str(url))}: {err}"
        ) from None
    # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3; the bridge ships psycopg2.
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg2")
    return parsed


def mask_url(url: str | URL | None) -> str:
    """Return *url* as text with its password replaced by ``***``."""
    if url is None:
        return "<none>"
    try:
        parsed = make_url(url) if isinstance(url, str) else url
        return parsed.render_as_string(hide_password=True)
    except Exception:
        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", str(url))


def mask_text(text: str) -> str:
    """Mask the password of every URL inside free *text* (an error message, say)."""
    return re.sub(r"(://[^:/@\s]*:)[^@\s]*@", r"\1***@", text)


def create_engine(url: str | URL, **kw) -> sa.Engine:
    """Create an engine for the bridge; on SQLite, make savepoints work."""
    parsed = normalize_url(url)
    engine = sa.create_engine(parsed, **kw)
    if parsed.get_backend_name() == "sqlite":
        _fix_pysqlite_transactions(engine)
    return engine


def _fix_pysqlite_transactions(engine: sa.Engine) -> None:
    # SQLAlchemy's documented recipe: pysqlite's own transaction handling breaks
    # SAVEPOINT and transactional DDL, so let SQLAlchemy emit BEGIN itself.
    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None

    @sa.event.listens_for(engine, "begin")
    def _begin(conn):
        conn.exec_driver_sql("BEGIN")
