"""The bridge's options, read from Alembic's own configuration.

Every option lives in ``[alembic]`` of alembic.ini or ``[tool.alembic]`` of
pyproject.toml, next to Alembic's options, so one file configures both:

    legacy_location     folder of YYYYMMDD_*.py files (turns the bridge on)
    legacy_ignore       file-name globs in that folder that are not migrations
    legacy_name_format  auto | stem | filename: what schema_migrations rows hold
    legacy_table        name of the legacy history table (default schema_migrations)
    legacy_name_column  its column holding the migration names (default migration_name)
    legacy_applied_column  its column holding when each was applied (default applied_at;
                        set: an existing table must have it)
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

The legacy table options are the one place the legacy table's shape is set
(`LegacyTable`): every read and write of it (`bridge.ledger`), the ``run.py
start`` and fleet pre-checks, ``--sql`` scripts and ``init`` take them from here.

The version table options are the one place its name and schema are set: the
bridge passes them to Alembic's ``context.configure()``, and ``status``,
``sync`` and the plans, which never run env.py, read the same table.

Relative paths are resolved against the directory of the configuration file.
Every value is checked when the configuration is read, against `OPTIONS` (what
each option accepts, with bounds: timeouts within PostgreSQL's INT_MAX
milliseconds, the backoff within an hour, booleans strictly true or false); a
bad one is one `ConfigError` naming the option and the value.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from .errors import ConfigError

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
            raise ConfigError(
                f"env.py passes {key}={given!r} to run_migrations(), but the configuration has "
                f"{setting}. alembic-bridge status, sync and the plans do not run env.py, so "
                f"they would read another table than Alembic writes. Set `{key} = {given}` in "
                "the [alembic] section of alembic.ini (or [tool.alembic] of pyproject.toml): "
                "the bridge passes it on to Alembic, and env.py needs no argument for it."
            )


DEFAULT_APPLIED_COLUMN = "applied_at"
# A plain SQL identifier, as PostgreSQL stores it unquoted (and at most its 63 bytes).
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$]{0,62}")


@dataclass(frozen=True)
class LegacyTable:
    """The legacy history table old runners read and write: its name and its two columns.

    ``applied_column`` None means the default, ``applied_at``: the bridge creates the
    table with it, and an existing table need not have it (the bridge never writes it,
    the column's default does). Set, an existing table must have it.
    """

    name: str = "schema_migrations"
    name_column: str = "migration_name"
    applied_column: str | None = None

    @property
    def applied(self) -> str:
        """Return the name of the applied-at column of a table the bridge creates."""
        return self.applied_column or DEFAULT_APPLIED_COLUMN


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
    legacy_table: LegacyTable = LegacyTable()
    migration_lock_timeout: str | None = None
    migration_statement_timeout: str | None = None
    lock_retries: int = 0
    lock_retry_backoff: float = 1.0
    rebuild_invalid_indexes: bool = False
    dotenv: Path | None = None

    @classmethod
    def from_config(cls, config) -> BridgeSettings:
        """Read and check the bridge's options from an Alembic ``Config``: every value, at load.
        A bad value is one `ConfigError` naming the option, the value and what
        it accepts (`OPTIONS`), before anything connects or runs.
        """

        def read(name: str):
            return parse_option(name, _option(config, name))

        def path(name: str) -> Path | None:
            return _path_option(config, name)

        return cls(
            legacy_location=path("legacy_location"),
            legacy_ignore=tuple(split_list(config.get_alembic_option("legacy_ignore"))),
            name_format=read("legacy_name_format"),
            embedded_postgres=path("embedded_postgres"),
            lock_timeout=read("lock_timeout"),
            strict=read("strict"),
            target_metadata=read("target_metadata"),
            version_table=VersionTable(read("version_table"), read("version_table_schema")),
            legacy_table=LegacyTable(read("legacy_table"), read("legacy_name_column"), read("legacy_applied_column")),
            migration_lock_timeout=read("migration_lock_timeout"),
            migration_statement_timeout=read("migration_statement_timeout"),
            lock_retries=read("lock_retries"),
            lock_retry_backoff=read("lock_retry_backoff"),
            rebuild_invalid_indexes=read("rebuild_invalid_indexes"),
            dotenv=path("dotenv"),
        )


# -- checking one value ----------------------------------------------------------------------

# PostgreSQL's lock_timeout and statement_timeout are int milliseconds: INT_MAX at most.
MAX_TIMEOUT_MS = 2**31 - 1
MAX_BACKOFF = 3600.0  # seconds: an hour
MAX_RETRIES = 100
MAX_LOCK_WAIT = MAX_TIMEOUT_MS / 1000  # seconds, the runner lock's wait: the same ceiling
MAX_IDENTIFIER_BYTES = 63  # PostgreSQL's NAMEDATALEN - 1: longer names are cut, silently
_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "min": 60_000.0, "h": 3_600_000.0, "d": 86_400_000.0}
# What PostgreSQL's lock_timeout / statement_timeout accept: milliseconds, or a number and a unit
# (ASCII digits and spaces: Python's \d, \s and float() take any script's, PostgreSQL does not).
_INTERVAL = re.compile(r"([0-9]+(?:\.[0-9]+)?)[ \t\n\r\f\v]*(us|ms|s|min|h|d)?")
_DOTTED = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
_METADATA = re.compile(rf"{_DOTTED}(?::{_DOTTED})?")


def _invalid(name: str, value, where: str, problem: str, fix: str):
    return ConfigError(f"{name} = {value!r}{where} {problem}. {fix}")


def interval(value: str | None, name: str, where: str = "") -> str | None:
    """Check a timeout written as PostgreSQL writes it (``2s``, ``500ms``, ``1min``, ``0`` = none), within INT_MAX ms."""
    if value is None:
        return None
    text = str(value).strip()
    match = _INTERVAL.fullmatch(text)
    if not match or isinstance(value, bool):
        raise _invalid(
            name,
            value,
            where,
            "is not a PostgreSQL timeout",
            "Write a number of milliseconds or a number and a unit: 2s, 500ms, 1min (0 means no timeout).",
        )
    if float(match.group(1)) * _UNITS_MS[match.group(2) or "ms"] > MAX_TIMEOUT_MS:
        raise _invalid(
            name,
            value,
            where,
            f"is more than PostgreSQL accepts ({MAX_TIMEOUT_MS} ms, about 24 days)",
            "Write a shorter timeout, e.g. 30s (0 means no timeout).",
        )
    return text


def interval_seconds(text: str | None) -> float | None:
    """Return the seconds a checked timeout (see `interval`) stands for; None for none (unset or 0)."""
    match = _INTERVAL.fullmatch(text.strip()) if text is not None else None
    if match is None:
        return None
    return float(match.group(1)) * _UNITS_MS[match.group(2) or "ms"] / 1000 or None


def retries(value: str | int | None, name: str, where: str = "") -> int:
    """Check a retry count (a whole number, 0 to `MAX_RETRIES`)."""
    if value is None:
        return 0
    try:
        count = int(str(value).strip())
    except ValueError:
        count = -1
    if count < 0 or isinstance(value, bool):
        raise _invalid(name, value, where, "is not a count", f"Write a whole number, e.g. {name} = 3 (0: no retry).")
    if count > MAX_RETRIES:
        raise _invalid(name, value, where, f"is more than {MAX_RETRIES} retries", f"Write e.g. {name} = 3.")
    return count


def seconds(
    value: str | float | None, name: str, default: float, where: str = "", *, maximum: float = MAX_BACKOFF
) -> float:
    """Check a number of seconds (0 to *maximum*: an hour unless said otherwise)."""
    if value is None:
        return default
    try:
        number = float(str(value).strip())
    except ValueError:
        number = -1.0
    if not 0 <= number < float("inf") or isinstance(value, bool):
        raise _invalid(name, value, where, "is not a number of seconds", f"Write e.g. {name} = 0.5.")
    if number > maximum:
        raise _invalid(name, value, where, f"is more than {maximum:g} seconds", f"Write at most {name} = {maximum:g}.")
    return number


def boolean(value: str | bool | None, name: str, where: str = "", *, default: bool = False) -> bool:
    """Check a true/false option: true, yes, on, 1 or false, no, off, 0 (any case); nothing else."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    answer = BOOLEANS.get(str(value).strip().lower())
    if answer is None:
        raise _invalid(name, value, where, "is neither true nor false", f"Write {name} = true or {name} = false.")
    return answer


def _lock_wait(value: str | None, name: str = "lock_timeout") -> float:
    if value is None:
        return DEFAULT_LOCK_TIMEOUT
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0 <= number <= MAX_LOCK_WAIT:
        raise _invalid(
            name,
            value,
            "",
            "is not a number of seconds" if not 0 <= number < float("inf") else f"is more than {MAX_LOCK_WAIT} seconds",
            "Write the seconds a runner waits for another runner's lock, e.g. lock_timeout = 300.",
        )
    return number


def _name_format(value: str | None, name: str = "legacy_name_format") -> str:
    if value is None:
        return "auto"
    if value not in NAME_FORMATS:
        raise _invalid(
            name,
            value,
            "",
            f"is not one of {', '.join(NAME_FORMATS)}",
            "Use 'stem' for rows like 20251031_add_x, 'filename' for 20251031_add_x.py, or 'auto' to "
            "follow the rows already in schema_migrations.",
        )
    return value


def _identifier(default: str | None):
    def check(value: str | None, name: str) -> str | None:
        if value is None:
            return default
        if len(value.encode("utf-8")) > MAX_IDENTIFIER_BYTES or "\x00" in value:
            raise _invalid(
                name,
                value,
                "",
                f"is not a PostgreSQL name (at most {MAX_IDENTIFIER_BYTES} bytes, no NUL)",
                "PostgreSQL would cut it and the bridge would read another table: write a shorter name.",
            )
        return value

    return check


def _plain_name(default: str | None):
    def check(value: str | None, name: str) -> str | None:
        if value is None:
            return default
        if not _IDENTIFIER.fullmatch(value):
            raise _invalid(
                name,
                value,
                "",
                "is not a plain table or column name",
                "Write the name as it is stored, without quotes or a schema: letters, digits and _ "
                f"(starting with a letter or _), e.g. {name} = {default or DEFAULT_APPLIED_COLUMN}.",
            )
        return value

    return check


def _target_metadata(value: str | None, name: str = "target_metadata") -> str | None:
    if value is not None and not _METADATA.fullmatch(value):
        raise _invalid(
            name,
            value,
            "",
            "is not package.module:attribute",
            "Write e.g. target_metadata = myapp.models:Base.metadata.",
        )
    return value


@dataclass(frozen=True)
class Option:
    """One ``[alembic]`` option the bridge reads: what it accepts, and its check (value, name) -> typed value."""

    accepts: str
    check: Callable[[str | None, str], Any] | None = None  # None: any text (a path, a glob, SQL)


# The fleet's tenant schemas (bridge.fleet.targets reads the pattern); the linter judges LB601 by whether it is set.
FLEET_SCHEMAS_OPTION = "fleet_schemas"

# Every option the bridge reads from [alembic] / [tool.alembic], with what it accepts (the
# README's configuration table says the same). A new option is declared here and read with
# `parse_option`: its bad values are refused at load, with one message shape.
OPTIONS: dict[str, Option] = {
    "legacy_location": Option("a folder (relative to the configuration file)"),
    "legacy_ignore": Option("file-name globs, separated by commas, spaces or newlines"),
    "legacy_name_format": Option("auto, stem or filename", _name_format),
    "embedded_postgres": Option("a folder (relative to the configuration file)"),
    "dotenv": Option("a .env file (relative to the configuration file)"),
    "lock_timeout": Option(f"seconds, 0 to {MAX_LOCK_WAIT}", _lock_wait),
    "migration_lock_timeout": Option(
        f"a PostgreSQL timeout: milliseconds, or a number and us, ms, s, min, h or d; at most {MAX_TIMEOUT_MS} ms",
        interval,
    ),
    "migration_statement_timeout": Option("as migration_lock_timeout", interval),
    "lock_retries": Option(f"a whole number, 0 to {MAX_RETRIES}", retries),
    "lock_retry_backoff": Option(f"seconds, 0 to {MAX_BACKOFF:g}", lambda value, name: seconds(value, name, 1.0)),
    "rebuild_invalid_indexes": Option("true, yes, on, 1 or false, no, off, 0", boolean),
    "strict": Option("true, yes, on, 1 or false, no, off, 0", boolean),
    "target_metadata": Option("package.module:attribute", _target_metadata),
    "version_table": Option(f"a name of at most {MAX_IDENTIFIER_BYTES} bytes", _identifier(VersionTable.name)),
    "version_table_schema": Option(f"a schema name of at most {MAX_IDENTIFIER_BYTES} bytes", _identifier(None)),
    "legacy_table": Option("a plain table name (letters, digits, _), no schema", _plain_name(LegacyTable.name)),
    "legacy_name_column": Option("a plain column name (letters, digits, _)", _plain_name(LegacyTable.name_column)),
    "legacy_applied_column": Option("a plain column name (letters, digits, _)", _plain_name(None)),
    "fleet_targets": Option("a targets file (relative to the configuration file)"),
    "fleet_targets_query": Option("SQL returning rows (name, url)"),
    FLEET_SCHEMAS_OPTION: Option("a glob over schema names, e.g. tenant_*"),
}


def parse_option(name: str, value: str | None):
    """Return option *name*'s checked value (its default when *value* is None); a bad one is a `ConfigError`."""
    check = OPTIONS[name].check
    return check(value, name) if check is not None else value


def tenant_schemas_configured(config) -> bool:
    """Return whether the configuration names tenant schemas (``fleet_schemas`` in [alembic])."""
    return _option(config, FLEET_SCHEMAS_OPTION) is not None


def legacy_location(config) -> Path | None:
    """Return the ``legacy_location`` folder, reading no other option.

    Without it the bridge is off, and options of a plain Alembic project that
    happen to share a bridge option's name (``lock_timeout``, ``strict``, ...)
    are that project's own business: nothing else is read or checked.
    """
    return _path_option(config, "legacy_location")


def _option(config, name: str) -> str | None:
    accepts = OPTIONS[name].accepts if name in OPTIONS else "one value"
    fix = f"Write one value ({accepts})."
    try:
        value = config.get_alembic_option(name)
    except TypeError as err:  # Alembic's pyproject.toml reader, on a list or table of numbers
        raise ConfigError(f"{name} in [tool.alembic] is not one value ({err}). {fix}") from None
    if isinstance(value, (list, tuple, dict)):  # pyproject.toml: taken for unset, it would go unnoticed
        raise _invalid(name, value, "", "is not one value", fix)
    if value is None:
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
