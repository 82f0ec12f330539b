"""What `alembic-bridge lint` lints in a project: the files, the settings, which files get the lock rules.

`plan` makes every decision the command needs from its arguments and the
project's configuration; `LintPlan.run` lints. The command (`bridge.cli.lint`)
only parses, prints and picks the exit code. `bridge.checks` shares the
settings (`project_settings`) and the scope (`bridge.lint.scope`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from alembic.config import Config
from alembic.util import CommandError

from . import runner
from .database import config_file, target_for
from .errors import ConfigError
from .lint import LintSettings, Violation, expand_paths, lint_paths, load_settings, project_pyproject, scope
from .locations import VersionLocations
from .script import LegacyScriptDirectory
from .settings import BridgeSettings, tenant_schemas_configured


class BadSelection(ConfigError):
    """A --select or --ignore names no rule."""


@dataclass
class LintPlan:
    """What one `lint` run lints, and how."""

    paths: tuple[Path, ...]
    settings: LintSettings
    legacy_ignore: tuple[str, ...] = ()
    lock_rules_for: Callable[[Path], bool] | None = None  # None: every file gets every rule
    held: list[Path] = field(default_factory=list)  # files linted without the lock-danger rules

    def run(self) -> list[Violation]:
        return lint_paths(
            self.paths, settings=self.settings, legacy_ignore=self.legacy_ignore, lock_rules_for=self.lock_rules_for
        )


def plan(
    config_path: str | None,
    paths: Sequence[Path] = (),
    select: Sequence[str] = (),
    ignore: Sequence[str] = (),
    diff_base: str | None = None,
) -> LintPlan:
    """Decide what to lint: *paths* with every rule, or (none given) the whole project.

    *select* / *ignore* are the command line's rule selectors (`BadSelection`
    when one names no rule); *diff_base* goes with no *paths*.

    The whole project is the configured legacy_location and the native
    revisions, where, like ``check --offline``, only the new files (dated on or
    after lock-rules-since, or changed against *diff_base*) get the
    lock-danger rules.
    """
    config = project_config(config_path)
    options = _bridge_options(config, needed=not paths)
    _remember_secrets(config, options)
    settings = project_settings(config, options, near=paths[0] if paths else None, select=select, ignore=ignore)
    if paths:
        return LintPlan(tuple(paths), settings)
    location, legacy_ignore = configured_legacy_location(config, options)
    natives = scope.native_files(native_locations(config))
    new = scope.lock_rule_files(location, legacy_ignore, natives, settings.lock_rules_since, diff_base)
    everything = (location, *natives)
    held = [path for path in expand_paths(everything, legacy_ignore) if path.resolve() not in new]
    return LintPlan(everything, settings, legacy_ignore, lambda path: path.resolve() in new, held)


def _remember_secrets(config: Config | None, options: BridgeSettings | None) -> None:
    """Learn the configured database's password (nothing connects): no finding shows it (SQL quoted by the parser)."""
    if config is None or options is None:
        return
    try:
        target_for(config, options)
    except ConfigError:
        pass  # no database configured: nothing to hide by value


def project_config(config_path: str | None) -> Config | None:
    """Return the Alembic configuration `runner.load_config` finds; None when there is none (and none was named)."""
    try:
        return runner.load_config(config_path)
    except ConfigError:
        if config_path:
            raise
        return None


def project_settings(
    config: Config | None,
    options: BridgeSettings | None,
    *,
    near: Path | None = None,
    select: Sequence[str] = (),
    ignore: Sequence[str] = (),
) -> LintSettings:
    """Return the lint settings of the project: its pyproject.toml, the command line's rules, the lock timeout,
    and whether it names tenant schemas (LB601 is then an error).

    Without a configuration, "no lock timeout" is not judged.
    """
    pyproject = project_pyproject(config_file(config) if config is not None else None, near=near)
    settings = load_settings(pyproject)
    try:
        settings = settings.with_options(select, ignore)
    except ConfigError as err:
        raise BadSelection(str(err)) from None
    timeout = None if options is None else options.migration_lock_timeout is not None
    tenants = config is not None and tenant_schemas_configured(config)
    return settings.with_rules(lock_timeout_configured=timeout, tenant_schemas=tenants)


def _bridge_options(config: Config | None, *, needed: bool) -> BridgeSettings | None:
    """Return the bridge's options; a broken configuration matters only when the files to lint come from it."""
    if config is None:
        return None
    try:
        return BridgeSettings.from_config(config)
    except ConfigError:
        if needed:
            raise
        return None  # files named explicitly are linted even so


def configured_legacy_location(config: Config | None, options: BridgeSettings | None) -> tuple[Path, tuple[str, ...]]:
    """Return legacy_location (and legacy_ignore) from the project's configuration."""
    if config is None or options is None:
        raise ConfigError(
            f"No PATH given, and there is no alembic.ini or pyproject.toml in {Path.cwd()} to "
            "read legacy_location from. Pass the files or folder to lint, e.g. "
            "`alembic-bridge lint migrations/`, or run from the project root."
        )
    if options.legacy_location is None:
        raise ConfigError(
            f"No PATH given, and {config.config_file_name or config.toml_file_name} sets no "
            "legacy_location. Pass the files or folder to lint, e.g. `alembic-bridge lint "
            "migrations/`, or set legacy_location in [alembic] of alembic.ini (or "
            "[tool.alembic] of pyproject.toml)."
        )
    return options.legacy_location, options.legacy_ignore


def native_locations(config: Config | None) -> VersionLocations | None:
    """Return where the configuration's native revisions are (None when it has no bridge directory)."""
    if config is None:
        return None
    try:
        script = runner.script_directory(config)
    except CommandError:
        return None
    return script.native_locations if isinstance(script, LegacyScriptDirectory) else None
