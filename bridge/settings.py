"""The bridge's options, read from Alembic's own configuration.

Every option lives in ``[alembic]`` of alembic.ini or ``[tool.alembic]`` of
pyproject.toml, next to Alembic's options, so one file configures both:

    legacy_location     folder of YYYYMMDD_*.py files (turns the bridge on)
    legacy_ignore       file-name globs in that folder that are not migrations
    legacy_name_format  auto | stem | filename: what schema_migrations rows hold
    embedded_postgres   folder for an embedded PostgreSQL, used only when no
                        URL is configured anywhere else
    lock_timeout        seconds to wait for another runner's lock (default 300)
    migration_lock_timeout, migration_statement_timeout
                        PostgreSQL intervals ("2s", "500ms") set with SET LOCAL in each
                        migration's transaction (default: unset, the server's own)
    lock_retries        times a migration that hit a lock timeout or a deadlock is
                        rolled back and run again (default 0)
    lock_retry_backoff  seconds before the first retry, doubled each time, with jitter (default 1)
    rebuild_invalid_indexes  true: before CREATE INDEX CONCURRENTLY, drop an INVALID
                        index of that name an interrupted build left (default false)
    strict              true: rows whose file is gone are errors, not warnings
    dotenv              the one .env file to read (default: next to this file, in the
                        legacy folder and the folders above it, in the working directory)
    target_metadata     module:attribute of the SQLAlchemy MetaData for autogenerate
    version_table       name of Alembic's version table (default alembic_version)
    version_table_schema  schema of that table (default: none, the search path)

The version table options are the one place its name and schema are set: the
bridge passes them to Alembic's ``context.configure()``, and ``status``,
``sync`` and the plans, which never run env.py, read the same table.

Relative paths are resolved against the directory of the configuration file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

NAME_FORMATS = ("auto", "stem", "filename")
DEFAULT_LOCK_TIMEOUT = 300.0  # seconds a runner waits for another runner's lock
BOOLEANS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


@dataclass(frozen=True)
class VersionTable:
    """Alembic's version table: its name, and its schema (None: the search path)."""

    name: str = "alembic_version"
    schema: str | None = None
    # version_num's width: legacy file stems are revision ids (Alembic's own is 32).
    NUM_LENGTH: ClassVar[int] = 255

    @property
    def primary_key(self) -> str:
        """The name Alembic gives the table's primary key."""
        return f"{self.name}_pkc"

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name

    def configure_options(self) -> dict:
        """Return the ``context.configure()`` arguments naming this table."""
        return {"version_table": self.name, "version_table_schema": self.schema}

    def check_configure_options(self, options: dict) -> None:
        """Refuse ``version_table`` / ``version_table_schema`` arguments from env.py that differ from ours."""
        for key, ours in self.configure_options().items():
            if key not in options:
                continue
            given = options[key] or None
            if given == (ours or None):
                continue
            setting = f"{key} = {ours}" if ours else f"no {key}"
            from .errors import ConfigError  # deferred: keeps Alembic out of the run.py start pre-check

            raise ConfigError(
                f"env.py passes {key}={given!r} to run_migrations(), but the configuration has "
                f"{setting}. alembic-bridge status, sync and the plans do not run env.py, so "
                f"they would read another table than Alembic writes. Set `{key} = {given}` in "
                "the [alembic] section of alembic.ini (or [tool.alembic] of pyproject.toml): "
                "the bridge passes it on to Alembic, and env.py needs no argument for it."
            )


@dataclass(frozen=True)
class BridgeSettings:
    """The bridge's view of one Alembic ``Config``."""

    legacy_location: Path | None
    legacy_ignore: tuple[str, ...] = ()
    name_format: str = "auto"
    embedded_postgres: Path | None = None
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    strict: bool = False
    target_metadata: str | None = None
    version_table: VersionTable = VersionTable()
    migration_lock_timeout: str | None = None
    migration_statement_timeout: str | None = None
    lock_retries: int = 0
    lock_retry_backoff: float = 1.0
    rebuild_invalid_indexes: bool = False
    dotenv: Path | None = None

    @classmethod
    def from_config(cls, config) -> BridgeSettings:
        """Read and check the bridge's options from an Alembic ``Config``."""

        def option(name: str) -> str | None:
            return _option(config, name)

        def path(name: str) -> Path | None:
            return _path_option(config, name)

        name_format = option("legacy_name_format") or "auto"
        if name_format not in NAME_FORMATS:
            from .errors import ConfigError  # deferred: keeps Alembic out of the run.py start pre-check

            raise ConfigError(
                f"legacy_name_format = {name_format!r} is not one of "
                f"{', '.join(NAME_FORMATS)}. Use 'stem' for rows like "
                "20251031_add_x, 'filename' for 20251031_add_x.py, or 'auto' to "
                "follow the rows already in schema_migrations."
            )
        timeout = option("lock_timeout") or str(DEFAULT_LOCK_TIMEOUT)
        try:
            lock_timeout = float(timeout)
        except ValueError:
            lock_timeout = -1.0
        if not 0 <= lock_timeout < float("inf"):
            from .errors import ConfigError  # deferred: keeps Alembic out of the run.py start pre-check

            raise ConfigError(
                f"lock_timeout = {timeout!r} is not a number of seconds. Write the seconds a "
                "runner waits for another runner's lock, e.g. lock_timeout = 300."
            )
        strict = (option("strict") or "false").lower()
        if strict not in BOOLEANS:
            from .errors import ConfigError  # deferred: keeps Alembic out of the run.py start pre-check

            raise ConfigError(
                f"strict = {option('strict')!r} is neither true nor false. Write strict = true "
                "(rows whose file is gone are errors) or strict = false (they are warnings)."
            )
        rebuild = (option("rebuild_invalid_indexes") or "false").lower()
        if rebuild not in BOOLEANS:
            raise ConfigError(
                f"rebuild_invalid_indexes = {option('rebuild_invalid_indexes')!r} is neither true nor "
                "false. Write rebuild_invalid_indexes = true to drop and rebuild an INVALID index an "
                "interrupted CREATE INDEX CONCURRENTLY left, or false to leave it to you."
            )
        return cls(
            legacy_location=path("legacy_location"),
            legacy_ignore=tuple(split_list(config.get_alembic_option("legacy_ignore"))),
            name_format=name_format,
            embedded_postgres=path("embedded_postgres"),
            lock_timeout=lock_timeout,
            strict=BOOLEANS[strict],
            target_metadata=option("target_metadata"),
            version_table=VersionTable(option("version_table") or VersionTable.name, option("version_table_schema")),
            migration_lock_timeout=interval(option("migration_lock_timeout"), "migration_lock_timeout"),
            migration_statement_timeout=interval(option("migration_statement_timeout"), "migration_statement_timeout"),
            lock_retries=retries(option("lock_retries"), "lock_retries"),
            lock_retry_backoff=seconds(option("lock_retry_backoff"), "lock_retry_backoff", 1.0),
            rebuild_invalid_indexes=BOOLEANS[rebuild],
            dotenv=path("dotenv"),
        )


# What PostgreSQL's lock_timeout / statement_timeout accept: milliseconds, or a number and a unit.
_INTERVAL = re.compile(r"\d+(\.\d+)?\s*(us|ms|s|min|h|d)?")


def interval(value: str | None, name: str, where: str = "") -> str | None:
    """Check a timeout written as PostgreSQL writes it (``2s``, ``500ms``, ``1min``, ``0`` = none)."""
    if value is None:
        return None
    text = str(value).strip()
    if not _INTERVAL.fullmatch(text):
        from .errors import ConfigError  # deferred: keeps Alembic out of the run.py start pre-check

        raise ConfigError(
            f"{name} = {value!r}{where} is not a PostgreSQL timeout. Write a number of milliseconds "
            "or a number and a unit: 2s, 500ms, 1min (0 means no timeout)."
        )
    return text


def retries(value: str | int | None, name: str, where: str = "") -> int:
    """Check a retry count (a whole number, 0 or more)."""
    if value is None:
        return 0
    try:
        count = int(str(value).strip())
    except ValueError:
        count = -1
    if count < 0 or isinstance(value, bool):
        from .errors import ConfigError  # deferred: keeps Alembic out of the run.py start pre-check

        raise ConfigError(
            f"{name} = {value!r}{where} is not a count. Write a whole number, e.g. {name} = 3 (0: no retry)."
        )
    return count


def seconds(value: str | float | None, name: str, default: float, where: str = "") -> float:
    """Check a number of seconds (0 or more)."""
    if value is None:
        return default
    try:
        number = float(str(value).strip())
    except ValueError:
        number = -1.0
    if not 0 <= number < float("inf"):
        from .errors import ConfigError  # deferred: keeps Alembic out of the run.py start pre-check

        raise ConfigError(f"{name} = {value!r}{where} is not a number of seconds. Write e.g. {name} = 0.5.")
    return number


def legacy_location(config) -> Path | None:
    """Return the ``legacy_location`` folder, reading no other option.

    Without it the bridge is off, and options of a plain Alembic project that
    happen to share a bridge option's name (``lock_timeout``, ``strict``, ...)
    are that project's own business: nothing else is read or checked.
    """
    return _path_option(config, "legacy_location")


def _option(config, name: str) -> str | None:
    value = config.get_alembic_option(name)
    if value is None or isinstance(value, (list, tuple, dict)):
        return None
    value = str(value).strip()
    return value or None


def _path_option(config, name: str) -> Path | None:
    value = _option(config, name)
    if value is None:
        return None
    path = Path(value).expanduser()
    return path if path.is_absolute() else config_dir(config) / path


def config_dir(config) -> Path:
    """Return the directory relative paths in *config* are resolved against."""
    name = getattr(config, "config_file_name", None)
    if name:
        return Path(name).resolve().parent
    toml = getattr(config, "toml_file_name", None)
    if toml:
        return Path(toml).resolve().parent
    return Path.cwd()


def split_list(value: str | list | None) -> list[str]:
    """Split an option that lists several values (commas, spaces or newlines)."""
    if not value:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [part for part in re.split(r"[,\s]+", value) if part]
