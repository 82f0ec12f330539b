"""The bridge's options, read from Alembic's own configuration.

Every option lives in ``[alembic]`` of alembic.ini or ``[tool.alembic]`` of
pyproject.toml, next to Alembic's options, so one file configures both:

    legacy_location     folder of YYYYMMDD_*.py files (turns the bridge on)
    legacy_ignore       file-name globs in that folder that are not migrations
    legacy_name_format  auto | stem | filename: what schema_migrations rows hold
    embedded_postgres   folder for an embedded PostgreSQL, used only when no
                        URL is configured anywhere else
    lock_timeout        seconds to wait for another runner's lock (default 300)
    strict              true: rows whose file is gone are errors, not warnings
    target_metadata     module:attribute of the SQLAlchemy MetaData for autogenerate

Relative paths are resolved against the directory of the configuration file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError

NAME_FORMATS = ("auto", "stem", "filename")


@dataclass(frozen=True)
class BridgeSettings:
    """The bridge's view of one Alembic ``Config``."""

    legacy_location: Path | None
    legacy_ignore: tuple[str, ...] = ()
    name_format: str = "auto"
    embedded_postgres: Path | None = None
    lock_timeout: float = 300.0
    strict: bool = False
    target_metadata: str | None = None

    @classmethod
    def from_config(cls, config) -> BridgeSettings:
        """Read and check the bridge's options from an Alembic ``Config``."""

        def option(name: str) -> str | None:
            return _option(config, name)

        def path(name: str) -> Path | None:
            return _path_option(config, name)

        name_format = option("legacy_name_format") or "auto"
        if name_format not in NAME_FORMATS:
            raise ConfigError(
                f"legacy_name_format = {name_format!r} is not one of "
                f"{', '.join(NAME_FORMATS)}. Use 'stem' for rows like "
                "20251031_add_x, 'filename' for 20251031_add_x.py, or 'auto' to "
                "follow the rows already in schema_migrations."
            )
        timeout = option("lock_timeout") or "300"
        try:
            lock_timeout = float(timeout)
        except ValueError:
            raise ConfigError(
                f"lock_timeout = {timeout!r} is not a number of seconds."
            ) from None
        return cls(
            legacy_location=path("legacy_location"),
            legacy_ignore=tuple(split_list(config.get_alembic_option("legacy_ignore"))),
            name_format=name_format,
            embedded_postgres=path("embedded_postgres"),
            lock_timeout=lock_timeout,
            strict=(option("strict") or "false").lower() in ("1", "true", "yes", "on"),
            target_metadata=option("target_metadata"),
        )


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
