"""The environment and the ``.env`` files: which files, read without changing ``os.environ``.

Which ``.env`` files a configuration reads (`dotenv_paths`), highest precedence first:

- the file the ``dotenv`` option names, if set (relative to the configuration
  file's folder), and no other;
- else the one next to the configuration file, then the one in the legacy
  folder and in each folder above it up to the configuration file's (where
  the legacy runner keeps it: ``web_server/.env`` for ``web_server/migrations``),
  then the one in the working directory.

A variable set in the real environment wins over all of them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path

from .errors import ConfigError
from .settings import BridgeSettings, config_dir

ENVIRONMENT = "the environment"

# Values an entry point (run.py) put into os.environ from a .env file: key -> (value, path).
_exported: dict[str, tuple[str, str]] = {}


class Environment(Mapping):
    """The process environment over the ``.env`` files, read-only, with each value's origin."""

    def __init__(self, values: dict[str, str], origins: dict[str, str]):
        self._values = values
        self._origins = origins

    def __getitem__(self, key: str) -> str:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def origin(self, key: str) -> str:
        """Return where *key* came from: ``the environment`` or a ``.env`` path."""
        return self._origins.get(key, ENVIRONMENT)


def dotenv_files(*directories: Path) -> list[Path]:
    """Return the ``.env`` files to read, in precedence order: *directories*, then the working directory."""
    found: list[Path] = []
    for directory in (*directories, Path.cwd()):
        path = (Path(directory) / ".env").resolve()
        if path not in found and path.is_file():
            found.append(path)
    return found


def dotenv_paths(config, settings: BridgeSettings | None = None) -> list[Path]:
    """Return the ``.env`` files *config* reads, highest precedence first (see above); reads no file."""
    settings = settings or BridgeSettings.from_config(config)
    if settings.dotenv is not None:
        if not settings.dotenv.is_file():
            raise ConfigError(
                f"dotenv = {settings.dotenv}: no such file. Correct the path in the configuration "
                "(relative to its folder), or remove the option to use the .env files found by default."
            )
        return [settings.dotenv.resolve()]
    root = config_dir(config)
    folders = [root]
    if settings.legacy_location is not None:
        legacy = settings.legacy_location.resolve()
        inside = root == legacy or root in legacy.parents
        # Up to the project root, or the legacy folder and its parent if it lies elsewhere.
        above = [legacy, *legacy.parents]
        folders += above[: above.index(root)] if inside else above[:2]
    return dotenv_files(*folders)


def read_environment(*directories: Path, environ: Mapping | None = None, files=None) -> Environment:
    """Return *environ* (default ``os.environ``) over the ``.env`` files; writes nothing.

    The files are *files* (`dotenv_paths`) if given, else `dotenv_files` of *directories*.
    """
    from dotenv import dotenv_values

    environ = os.environ if environ is None else environ
    values: dict[str, str] = {}
    origins: dict[str, str] = {}
    for path in dotenv_files(*directories) if files is None else files:
        try:
            found = dotenv_values(path)
        except UnicodeDecodeError as err:
            raise ConfigError(
                f"Cannot read {path}: it is not UTF-8 text ({err.reason} at byte {err.start}). "
                "Save it as UTF-8 (python-dotenv reads it so)."
            ) from None
        except OSError as err:
            raise ConfigError(
                f"Cannot read {path}: {err.strerror or err}. Make it readable by this user, "
                "or remove it and set the variables in the environment."
            ) from None
        for key, value in found.items():
            if value is not None and key not in values:
                values[key] = value
                origins[key] = str(path)
    for key, value in environ.items():
        values[key] = value
        exported = _exported.get(key)
        origins[key] = exported[1] if exported and exported[0] == value else ENVIRONMENT
    return Environment(values, origins)


def export_dotenv(*directories: Path, files=None) -> None:
    """Put ``.env`` values into this process's environment, for an application entry point only.

    ``python run.py`` does this (as the legacy runner did) so that ``APP_COMMAND``,
    the application it starts and migrations calling ``os.getenv`` see ``.env``.
    A variable already set is kept. The library never calls this.
    """
    environment = read_environment(*directories, files=files)
    for key in environment:
        origin = environment.origin(key)
        if origin != ENVIRONMENT and key not in os.environ:
            os.environ[key] = environment[key]
            _exported[key] = (environment[key], origin)
