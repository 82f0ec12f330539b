"""``alembic-bridge lint``: check legacy migration files without running them (see `bridge.lint`)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import click
from alembic.config import Config
from alembic.util import CommandError

from .. import runner
from ..database import config_file
from ..errors import ConfigError
from ..lint import (
    ERROR,
    RULES_BY_CODE,
    WARNING,
    Violation,
    display_path,
    expand_paths,
    lint_paths,
    load_settings,
    project_pyproject,
    render_docs,
    render_rule,
    report,
    scope,
)
from ..locations import VersionLocations
from ..script import LegacyScriptDirectory
from ..settings import BridgeSettings


def project_config(config_path: str | None) -> Config | None:
    """Return the Alembic configuration `runner.load_config` finds; None when there is none (and none was named)."""
    try:
        return runner.load_config(config_path)
    except ConfigError:
        if config_path:
            raise
        return None


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


def summary(violations: list[Violation]) -> str:
    """Return the closing line: ``All checks passed!`` or the count of errors and warnings."""
    if not violations:
        return "All checks passed!"
    errors = sum(v.severity == ERROR for v in violations)
    warnings = len(violations) - errors
    parts = []
    if errors:
        parts.append(f"{errors} error{'s' if errors != 1 else ''}")
    if warnings:
        codes = sorted({v.code for v in violations if v.severity == WARNING})
        parts.append(f"{warnings} warning{'s' if warnings != 1 else ''} ({', '.join(codes)}: do not fail the run)")
    total = len(violations)
    return f"Found {total} problem{'s' if total != 1 else ''}: {', '.join(parts)}."


def _held_note(held: list[Path], since, diff_base: str | None) -> str:
    """Say how many files got only the checklist (not the lock-danger rules), and how to lint them fully."""
    why = []
    if since is not None:
        why.append(f"dated before lock-rules-since ({since})")
    if diff_base is not None:
        why.append(f"unchanged against {diff_base}")
    reason = " and ".join(why) if why else "no lock-rules-since is set and no --diff given"
    folders = sorted({display_path(path.parent) for path in held})
    n = len(held)
    return (
        f"Note: {n} file{'s' if n != 1 else ''} ({reason}) {'were' if n != 1 else 'was'} held to the checklist "
        f"only, as already-applied history; lint {'them' if n != 1 else 'it'} with the lock-danger rules too: "
        f"alembic-bridge lint {' '.join(folders)}"
    )


def _write_or_check_docs(write: Path | None, check: Path | None) -> None:
    """Write docs/lint-rules.md, or exit 1 when the committed file differs from the rules."""
    text = render_docs()
    if write is not None:
        write.write_text(text, encoding="utf-8")
        return
    path = Path(check or "")
    if (path.read_text(encoding="utf-8") if path.is_file() else "") != text:
        click.echo(f"{path} is out of date: run alembic-bridge lint --write-docs {path}", err=True)
        sys.exit(1)


# `lint` and `check` print their findings in the same formats.
format_option = click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json", "sarif", "github"]),
    default="text",
    show_default=True,
    help="Output format: text, json, sarif (GitHub code scanning), github (annotations).",
)


@click.command("lint")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--select",
    multiple=True,
    metavar="CODES",
    help="Only these rules: codes or prefixes, comma-separated (e.g. LB1,LB401). Replaces the configured selection.",
)
@click.option(
    "--ignore",
    multiple=True,
    metavar="CODES",
    help="Skip these rules: codes or prefixes, comma-separated. Adds to the configured ignores.",
)
@format_option
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.option(
    "--diff",
    "diff_base",
    metavar="BASE",
    help="Without PATH: also hold files changed against git revision BASE to the lock-danger rules.",
)
@click.option("--explain", metavar="CODE", help="Show the documentation of one rule and exit.")
# For the bridge's own contributors: docs/lint-rules.md is generated from the rules.
@click.option(
    "--write-docs",
    type=click.Path(dir_okay=False, path_type=Path),
    hidden=True,
    help="Write the rule documentation to PATH and exit.",
)
@click.option(
    "--check-docs",
    type=click.Path(dir_okay=False, path_type=Path),
    hidden=True,
    help="Exit 1 if PATH differs from the generated rule documentation.",
)
@click.pass_obj
def lint_command(obj, paths, select, ignore, output_format, as_json, diff_base, explain, write_docs, check_docs):
    """Check legacy migration files without running them.

    PATH is a migration file or a folder of them, linted with every rule
    (default: the configured legacy_location, where the lock-danger rules apply
    only to files dated on or after lock-rules-since or changed against --diff
    BASE). Exits 1 if an error-level rule reports anything.
    """
    if write_docs or check_docs:
        if write_docs and check_docs:
            raise click.UsageError("--write-docs and --check-docs cannot be used together.")
        _write_or_check_docs(write_docs, check_docs)
        return
    if explain:
        rule = RULES_BY_CODE.get(explain.upper())
        if rule is None:
            raise click.BadParameter(f"{explain!r} is not a rule code; see docs/lint-rules.md.", param_hint="--explain")
        click.echo(render_rule(rule).rstrip("\n"))
        return
    config_path = getattr(obj, "config_path", None)
    quiet = bool(getattr(obj, "quiet", False))
    config = project_config(config_path)
    try:
        options = BridgeSettings.from_config(config) if config is not None else None
    except ConfigError:
        if not paths:
            raise  # the folder to lint comes from this configuration
        options = None  # files named explicitly are linted even so
    try:
        pyproject = project_pyproject(
            config_file(config) if config is not None else None, near=paths[0] if paths else None
        )
        settings = load_settings(pyproject).with_options(select, ignore)
    except ConfigError as err:
        if select or ignore:
            raise click.UsageError(str(err)) from None
        raise
    # Without a configuration, "no lock timeout" is not judged (None).
    timeout = None if options is None else options.migration_lock_timeout is not None
    settings = settings.with_rules(lock_timeout_configured=timeout)
    legacy_ignore: tuple[str, ...] = ()
    lock_rules_for: Callable[[Path], bool] | None = None  # a path given explicitly: every rule
    held: list[Path] = []  # files linted without the lock-danger rules
    if not paths:
        location, legacy_ignore = configured_legacy_location(config, options)
        natives = scope.native_files(native_locations(config))
        paths = (location, *natives)
        # The whole project: like `check --offline`, lock dangers only in the new files.
        new = scope.lock_rule_files(location, legacy_ignore, natives, settings.lock_rules_since, diff_base)
        lock_rules_for = lambda path: path.resolve() in new  # noqa: E731
        held = [path for path in expand_paths(paths, legacy_ignore) if not lock_rules_for(path)]
    elif diff_base is not None:
        raise click.UsageError("--diff applies to the configured legacy_location; give no PATH with it.")
    violations = lint_paths(paths, settings=settings, legacy_ignore=legacy_ignore, lock_rules_for=lock_rules_for)
    if as_json or output_format == "json":
        click.echo(json.dumps([v.to_dict() for v in violations], indent=2, ensure_ascii=False))
    elif output_format == "sarif":
        click.echo(json.dumps(report.sarif(violations), indent=2, ensure_ascii=False))
    elif output_format == "github":
        for line in report.github_annotations(violations):
            click.echo(line)
    else:
        for violation in violations:
            click.echo(violation.format())
            click.echo(f"    hint: {violation.hint}")
        if not quiet:
            click.echo(summary(violations))
            if held:  # on stderr: stdout keeps ruff's shape, the summary last
                click.echo(_held_note(held, settings.lock_rules_since, diff_base), err=True)
    if any(v.severity == ERROR for v in violations):
        # SystemExit, not ctx.exit(): bridge.cli.main runs click with
        # standalone_mode=False, where a click Exit's code would be returned and lost.
        sys.exit(1)
