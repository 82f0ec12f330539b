"""Which database to use, how to connect to it, and how to name it safely in logs.

URL precedence, highest first:

1. ``--url`` (``alembic-bridge``; `bridge.context.RunRequest.url` in the Python API);
2. ``DATABASE_URL`` (environment, or ``.env``);
3. the legacy ``DB_USER``, ``DB_PASSWORD``, ``DB_HOST``, ``DB_PORT``, ``DB_NAME``
   (environment, or ``.env``): if any is set, the others take the legacy
   defaults, exactly as the legacy files' ``__main__`` block builds its URL;
4. ``sqlalchemy.url`` in the configuration;
5. ``embedded_postgres`` in the configuration: an embedded server, started on
   demand. Nothing falls back to it unless the configuration asks for it.

A variable set in the real environment wins over the same one in a ``.env``
file; the ``.env`` next to the configuration file wins over the one in the
working directory (`bridge.environment` says which files). ``.env`` files are *read* (`read_environment`), never loaded
into ``os.environ``: the library must not change the environment of the
application that calls it. Each value remembers where it came from, so every
message can say "DATABASE_URL from /app/.env".

Every URL shown anywhere goes through `bridge.masking` (`mask_url`,
`mask_text`); every URL resolved here, a `DatabaseTarget`'s, has its password
remembered there, so that no text shows it, whatever put it there.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

from .context import request_of
from .environment import (  # noqa: F401 - the .env functions are still importable from here
    ENVIRONMENT,
    Environment,
    dotenv_files,
    dotenv_paths,
    export_dotenv,
    read_environment,
)
from .errors import ConfigError, ConnectionFailed
from .masking import mask_text, mask_url, parse_url, remember_url
from .settings import BridgeSettings, config_dir  # noqa: F401 - config_dir: importable from here

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
PERCENT_CODES = "(@ as %40, : as %3A, / as %2F, % as %25, # as %23, space as %20)"
PERCENT_ENCODE = f"special characters in the password must be percent-encoded {PERCENT_CODES}"


@dataclass(frozen=True)
class DatabaseTarget:
    """A resolved database: a URL, or an embedded server directory, and where it came from.

    *source* is the setting (``--url``, ``DATABASE_URL``, ``DB_* variables``,
    ``sqlalchemy.url``, ``embedded_postgres``); *origin* is where that setting
    was found (``the environment``, a ``.env`` path, a config file path).
    """

    source: str
    url: str | None = field(default=None, repr=False)  # may hold a password
    embedded: Path | None = None
    origin: str | None = None

    def __post_init__(self) -> None:
        remember_url(self.url)

    @property
    def where(self) -> str:
        """Return where the URL came from, e.g. ``DATABASE_URL from /app/.env``."""
        if not self.origin:
            return self.source
        preposition = "in" if self.source in ("sqlalchemy.url", "embedded_postgres") else "from"
        return f"{self.source} {preposition} {self.origin}"

    def describe(self) -> str:
        """Return a one-line description with any password masked."""
        if self.embedded is not None:
            return f"embedded PostgreSQL in {self.embedded} ({self.where})"
        return f"{mask_url(self.url)} ({self.where})"


# -- which database ----------------------------------------------------------------------


def resolve_target(
    sqlalchemy_url: str | None = None,
    embedded: Path | None = None,
    *,
    url: str | None = None,
    environ: Mapping | None = None,
    config_file: str | None = None,
) -> DatabaseTarget:
    """Pick the database by the precedence in this module's docstring.

    *environ* is an `Environment` (default: `read_environment` of the working
    directory) or a plain mapping (then every value counts as coming from the
    environment); *config_file* names the file ``sqlalchemy.url`` and
    ``embedded_postgres`` were read from.
    """
    environ = read_environment() if environ is None else environ
    origin = getattr(environ, "origin", lambda key: ENVIRONMENT)
    config_origin = str(config_file) if config_file else "the Alembic configuration"
    if url:
        return DatabaseTarget("--url", url=url)
    if environ.get("DATABASE_URL"):
        return DatabaseTarget("DATABASE_URL", url=environ["DATABASE_URL"], origin=origin("DATABASE_URL"))
    # Exactly like the legacy __main__ block's os.getenv(name, default): a variable
    # that is set stays as set, even when empty (an empty DB_HOST means "libpq's
    # default", e.g. the Unix socket named by PGHOST).
    legacy = {k: environ[k] for k in LEGACY_DEFAULTS if k in environ}
    if legacy:
        values = {**LEGACY_DEFAULTS, **legacy}
        try:
            port = int(values["DB_PORT"]) if values["DB_PORT"] else None
        except ValueError:
            raise ConfigError(f"DB_PORT={values['DB_PORT']!r} is not a port number.") from None
        built = URL.create(
            "postgresql",
            username=values["DB_USER"],
            password=values["DB_PASSWORD"] or None,
            host=values["DB_HOST"] or None,
            port=port,
            database=values["DB_NAME"],
        )
        origins = sorted({origin(k) for k in legacy}, key=lambda o: (o != ENVIRONMENT, o))
        return DatabaseTarget(
            "DB_* variables",
            url=built.render_as_string(hide_password=False),
            origin=" and ".join(origins),
        )
    if sqlalchemy_url and sqlalchemy_url.strip() and sqlalchemy_url.strip() != PLACEHOLDER_URL:
        return DatabaseTarget("sqlalchemy.url", url=sqlalchemy_url.strip(), origin=config_origin)
    if embedded is not None:
        return DatabaseTarget("embedded_postgres", embedded=embedded, origin=config_origin)

    raise ConfigError(
        "No database configured. Set DATABASE_URL (or the legacy DB_USER, "
        "DB_PASSWORD, DB_HOST, DB_PORT, DB_NAME) in the environment or .env, "
        "or sqlalchemy.url in alembic.ini; or set embedded_postgres = .bridge/postgres "
        "in alembic.ini to use an embedded PostgreSQL."
    )


def sqlalchemy_url_option(config) -> str | None:
    """Return ``sqlalchemy.url`` of an Alembic ``Config``; a bad ``%`` is a clear, masked error."""
    import configparser

    try:
        return config.get_main_option("sqlalchemy.url")
    except configparser.Error:
        section = config.config_ini_section
        raw = config.file_config.get(section, "sqlalchemy.url", raw=True)
        raise ConfigError(
            f"sqlalchemy.url in {Path(config.config_file_name).resolve()} cannot be read: {mask_url(raw)}. "
            "In alembic.ini a % must be written %% (a percent-encoded password too: "
            "p%40ss becomes p%%40ss)."
        ) from None


def target_url(target: DatabaseTarget) -> str:
    """Return a connectable URL for *target*, starting the embedded server if needed."""
    if target.embedded is not None:
        from . import embedded  # deferred: keeps Alembic out of the run.py start pre-check

        return embedded.ensure_running(target.embedded)
    assert target.url is not None
    return target.url


# -- parsing ---------------------------------------------------------------------------------


def normalize_url(url: str | URL, where: str | None = None) -> URL:
    """Return *url* with the driver the bridge installs (psycopg2) made explicit; its password is remembered."""
    remember_url(url)
    parsed = parse_url(url)
    if parsed is None:
        came_from = f" ({where})" if where else ""
        raise ConfigError(
            f"Could not parse the database URL {mask_url(url)}{came_from}. A database URL "
            "looks like postgresql://user:password@host:5432/dbname. Percent-encode special "
            f"characters in the password {PERCENT_CODES}."
        ) from None
    # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3; the bridge ships psycopg2.
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg2")
    return parsed


# -- connecting ----------------------------------------------------------------------------


def connect_error(err: BaseException, target: DatabaseTarget, url: URL | None = None) -> ConnectionFailed:
    """Translate a driver's connection error into one paragraph: URL, its source, reason, what to check."""
    url = url if url is not None else (parse_url(target.url) if target.url else None)
    lines = str(err).strip().splitlines()
    reason = " ".join((lines[0] if lines else type(err).__name__).split()).rstrip(".")
    reason = mask_text(reason)

    return ConnectionFailed(
        f"Cannot connect to {target.describe()}: {reason}. {_what_to_check(reason, target, url)}",
        target=target,
        reason=reason,
    )


def _what_to_check(reason: str, target: DatabaseTarget, url: URL | None) -> str:
    where = target.where
    lowered = reason.lower()
    user = (url.username if url is not None else None) or "USER"
    database = (url.database if url is not None else None) or "DBNAME"
    host = (url.host or url.query.get("host")) if url is not None else None
    if isinstance(host, tuple):
        host = host[0]
    port = url.port if url is not None else None
    create = (
        "createdb"
        + (f" -h {host}" if host else "")
        + (f" -p {port}" if port else "")
        + f' -U {user} {database} (or CREATE DATABASE "{database}"; in psql)'
    )
    if re.search(r'database ".*" does not exist', lowered):
        return f"Create it: {create}, or correct the database name in {where}."
    if "password" in lowered or "authentication failed" in lowered:
        advice = f"Check the user name and password in {where}"
        if target.source != "DB_* variables":
            advice += f"; in a URL, {PERCENT_ENCODE}"
        return advice + "."
    if re.search(r'role ".*" does not exist', lowered):
        return f"Create the role (createuser) or correct the user name in {where}."
    unreachable = (
        "connection refused",
        "no such file or directory",
        "could not translate host name",
        "timeout expired",
        "could not connect",
        "network is unreachable",
        "no route to host",
    )
    if any(phrase in lowered for phrase in unreachable):
        at = f"{host or 'localhost'}:{port or 5432}"
        return (
            f"Is the PostgreSQL server running and accepting connections on {at}? "
            f"Start it, or correct the host and port in {where}."
        )
    return (
        f"Check that the server is running, that the user name and password in {where} "
        f"are right, and that the database exists (create it: {create})."
    )


def create_engine(url: str | URL, *, target: DatabaseTarget | None = None, **kw) -> sa.Engine:
    """Create an engine for the bridge: connection errors become `ConnectionFailed`; SQLite gets savepoints.

    *target* says where the URL came from, for the error message.
    """
    if target is None:
        target = DatabaseTarget(
            "the given URL", url=url if isinstance(url, str) else url.render_as_string(hide_password=False)
        )
    parsed = normalize_url(url, target.where)
    engine = sa.create_engine(parsed, **kw)

    @sa.event.listens_for(engine, "do_connect")
    def _connect(dialect, _record, cargs, cparams):
        # The one place a connection error is translated, for every front end.
        try:
            return dialect.connect(*cargs, **cparams)
        except dialect.loaded_dbapi.Error as err:
            raise connect_error(err, target, parsed) from None

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


# -- from an Alembic configuration ----------------------------------------------------------


def target_for(config, settings: BridgeSettings | None = None) -> DatabaseTarget:
    """Return the database an Alembic ``Config`` names (see the precedence above); reads ``.env``, writes nothing."""
    settings = settings or BridgeSettings.from_config(config)
    return resolve_target(
        sqlalchemy_url_option(config),
        settings.embedded_postgres,
        url=request_of(config).url,
        environ=read_environment(files=dotenv_paths(config, settings)),
        config_file=config_file(config),
    )


def config_file(config) -> str | None:
    """Return the absolute path of the file this configuration was read from, if any."""
    name = config.config_file_name or getattr(config, "toml_file_name", None)
    return str(Path(name).resolve()) if name else None


def engine_for(config, settings: BridgeSettings | None = None, *, target: DatabaseTarget | None = None) -> sa.Engine:
    """Create the engine for this configuration, starting an embedded server if it asks for one."""
    target = target or target_for(config, settings)
    log.debug("Using database %s", target.describe())
    schema = request_of(config).schema
    # A tenant schema: every session of the run (the lock's too) resolves unqualified
    # names in it alone, the ledger tables and the legacy migrations' tables alike.
    tenant = {"connect_args": {"options": search_path_option(schema)}} if schema is not None else {}
    return create_engine(target_url(target), target=target, poolclass=NullPool, **tenant)


def search_path_option(schema: str) -> str:
    """Return the libpq ``options`` value that sets ``search_path`` to *schema* alone."""
    quoted = '"' + schema.replace('"', '""') + '"'
    # libpq splits options on spaces and unescapes backslashes.
    return "-c search_path=" + quoted.replace("\\", "\\\\").replace(" ", "\\ ")
