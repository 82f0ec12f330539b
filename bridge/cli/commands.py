"""The ``alembic-bridge`` click commands: thin, over the library.

Each command parses options, calls one public function, and renders its
result. `BridgeError` (and Alembic's ``CommandError``) become a one-line
message and exit code 1 in one place, `main`; ``-v`` shows the traceback.

Exit codes: 0 success; 1 a command failed (bad input, failed migration,
check found problems); 2 usage error (click's own).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from .. import __version__, runner
from ..checks import run_checks
from ..context import set_request
from ..database import mask_text
from ..scaffold import init_project, new_migration

log = logging.getLogger("bridge")


class Context:
    """Options shared by every command."""

    def __init__(self, config: str | None, url: str | None, verbose: int, quiet: bool):
        self.config_path = config
        self.url = url
        self.verbose = verbose
        self.quiet = quiet


pass_context = click.make_pass_decorator(Context)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="alembic-bridge")
@click.option("-c", "--config", "config", metavar="FILE", help="Alembic config file (default: alembic.ini, else pyproject.toml).")
@click.option("--url", metavar="URL", help="Database URL; overrides DATABASE_URL, DB_* and sqlalchemy.url.")
@click.option("-v", "--verbose", count=True, help="More output; tracebacks on errors.")
@click.option("-q", "--quiet", is_flag=True, help="Only errors.")
@click.pass_context
def cli(ctx: click.Context, config, url, verbose, quiet):
    """Run date-named legacy migrations as Alembic revisions."""
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    logging.basicConfig(level=level, format="%(message)s", stream=sys.stderr)
    if not verbose:
        # The CLI prints its own plan and progress; Alembic's step lines would repeat them.
        logging.getLogger("alembic").setLevel(logging.WARNING)
    ctx.obj = Context(config, url, verbose, quiet)


def _config(obj: Context):
    config = runner.load_config(obj.config_path, obj.url)
    # The CLI renders progress itself; keep env.py from re-configuring logging.
    set_request(config, configure_logging=False)
    return config


def _echo(obj: Context, message: str = "", **kw) -> None:
    if not obj.quiet:
        click.echo(message, **kw)


def _print_plan(obj: Context, plan, verb: str) -> None:
    for change in plan.changes:
        _echo(obj, f"  sync   {change}")
    if not plan.steps:
        _echo(obj, f"Nothing to {verb}.")
        return
    _echo(obj, f"Plan: {len(plan.steps)} migration(s) to {verb}:")
    for step in plan.steps:
        _echo(obj, f"  {step.direction:<9} {step.revision}  ({step.kind}) {step.title}")


def _progress(obj: Context, total: int | None):
    """Return an on_step callback printing progress; set ``.total`` once the plan is known."""
    tty = sys.stderr.isatty() and not obj.quiet
    count = 0

    def on_step(step, elapsed):
        nonlocal count
        count += 1
        total = max(on_step.total or 0, count)
        verb = "applied" if step.direction == "upgrade" else "reverted"
        if tty:
            click.echo(
                f"\r\033[K[{count}/{total}] {verb} {step.revision}  "
                f"({total - count} left, {elapsed:.1f}s elapsed)",
                err=True,
                nl=count == total,
            )
        elif not obj.quiet:
            click.echo(f"{verb} {step.revision} ({elapsed:.2f}s)", err=True)

    on_step.total = total  # type: ignore[attr-defined]  # set again once the plan is known
    return on_step


@cli.command()
@click.argument("target", default="head")
@click.option("--dry-run", is_flag=True, help="Print the plan and change nothing.")
@click.option("--out-of-order", is_flag=True, help="Also apply legacy files dated before already-applied ones.")
@pass_context
def upgrade(obj: Context, target, dry_run, out_of_order):
    """Apply migrations up to TARGET (default: head), printing the plan first."""
    config = _config(obj)
    if dry_run:
        _print_plan(obj, runner.plan_upgrade(config, target, out_of_order=out_of_order), "apply")
        return
    progress = _progress(obj, None)

    def on_plan(plan):
        # Planned under the runner lock: another runner's work is already in it.
        _print_plan(obj, plan, "apply")
        progress.total = len(plan.steps)

    result = runner.upgrade(config, target, out_of_order=out_of_order, on_step=progress, on_plan=on_plan)
    if result.steps or (result.plan is not None and result.plan.steps):
        _echo(obj, f"Applied {len(result.steps)} migration(s) in {result.seconds:.1f}s.")


@cli.command(context_settings={"ignore_unknown_options": True})
@click.argument("target")
@click.option("--dry-run", is_flag=True, help="Print the plan and change nothing.")
@pass_context
def downgrade(obj: Context, target, dry_run):
    """Revert migrations down to TARGET (a revision, -N, or base), printing the plan first."""
    config = _config(obj)
    plan = runner.plan_downgrade(config, target)
    _print_plan(obj, plan, "revert")
    if dry_run or not plan.steps:
        return
    result = runner.downgrade(config, target, on_step=_progress(obj, len(plan.steps)))
    _echo(obj, f"Reverted {len(result.steps)} migration(s) in {result.seconds:.1f}s.")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@pass_context
def status(obj: Context, as_json):
    """Show every migration's state, the head and what is pending (reads only)."""
    import json

    result = runner.status(_config(obj))
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
        return
    click.echo(f"Database: {result.database}")
    click.echo(f"Head:     {', '.join(result.script_heads) or '<none>'}")
    click.echo(f"Current:  {', '.join(result.current_heads) or '<none>'}")
    click.echo(f"Pending:  {len(result.pending)}")
    click.echo("")
    width = max((len(m.state) for m in result.migrations), default=7) + 2
    for m in result.migrations:
        edited = "  (edited after it was applied)" if m.edited else ""
        click.echo(f"  {m.state:<{width}}{m.revision}{edited}")
    if result.duplicates:
        click.echo("")
        click.echo(
            f"schema_migrations records {len(result.duplicates)} migration(s) under both names "
            "(stem and stem.py): a runner that writes the other name format ran them again:"
        )
        for stem in result.duplicates:
            click.echo(f"  {stem}  ({', '.join(result.duplicate_names(stem))})")
        click.echo("`alembic-bridge check` says how to repair this.")
    if result.plan.changes:
        click.echo("")
        click.echo("The history tables disagree; `alembic-bridge sync` would:")
        for change in result.plan.changes:
            click.echo(f"  {change}")


@cli.command("sync")
@click.option("--dry-run", is_flag=True, help="Print the changes and make none.")
@pass_context
def sync_command(obj: Context, dry_run):
    """Bring schema_migrations and alembic_version into agreement, printing each change."""
    result = runner.sync_tables(_config(obj), dry_run=dry_run)
    prefix = "would " if dry_run else ""
    for change in result.changes:
        _echo(obj, f"{prefix}{change}")
    # Which of two rows is the stray one depends on the old runner: sync does not guess.
    for problem in result.duplicate_problems():
        click.echo(problem, err=True)
    if result.duplicates:
        raise SystemExit(1)
    if not result.changes:
        _echo(obj, "The history tables agree; nothing to change.")


@cli.command()
@click.option("--offline", is_flag=True, help="Skip the checks that need the database.")
@pass_context
def check(obj: Context, offline):
    """CI gate: exit 1 on bad names, several heads, holes, missing or edited files, lint errors."""
    problems = run_checks(_config(obj), database=not offline)
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        raise SystemExit(1)


@cli.command()
@click.option("--legacy", "legacy", required=True, type=click.Path(file_okay=False), help="The existing legacy migrations folder.")
@click.option("--directory", default="alembic", show_default=True, help="Folder for env.py, script.py.mako and versions/.")
@pass_context
def init(obj: Context, legacy, directory):
    """Onboard an existing project: write alembic.ini, env.py and script.py.mako."""
    for path, written in init_project(Path.cwd(), Path(legacy), Path(directory)):
        _echo(obj, f"{'wrote ' if written else 'kept  '} {path}{'' if written else ' (exists, left unchanged)'}")


@cli.command()
@click.argument("description")
@click.option("--native", is_flag=True, help="Make an Alembic revision instead of a legacy file.")
@click.option("--date", "date", metavar="YYYYMMDD", help="Date for the file name (default: today).")
@pass_context
def new(obj: Context, description, native, date):
    """Create a new migration: a legacy YYYYMMDD_description.py (default) or a native revision."""
    path = new_migration(_config(obj), description, native=native, date=date)
    _echo(obj, f"Created {path}")


OPTIONAL_COMMANDS = {
    # command name: (module, attribute); each module owns its command.
    "lint": ("bridge.lint", "lint_command"),
    "convert": ("bridge.convert", "convert_command"),
    "baseline": ("bridge.baseline", "baseline_command"),
    "fleet": ("bridge.cli.fleet", "fleet_command"),
}


def _register_optional_commands() -> None:
    import importlib

    for name, (module_name, attribute) in OPTIONAL_COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name == module_name:  # not written yet / not shipped
                continue
            raise
        cli.add_command(getattr(module, attribute), name)


def main(argv=None) -> None:
    """Entry point: run the CLI, turning bridge errors into a message and exit code 1."""
    from alembic.util import CommandError

    _register_optional_commands()
    args = list(sys.argv[1:] if argv is None else argv)
    verbose = any(a in ("-v", "--verbose") or (a.startswith("-v") and set(a[1:]) == {"v"}) for a in args)
    try:
        cli.main(args=args, prog_name="alembic-bridge", standalone_mode=False)
    except click.exceptions.Exit as err:
        sys.exit(err.exit_code)
    except click.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except CommandError as err:
        if verbose:
            raise
        click.echo(f"Error: {err}", err=True)
        sys.exit(1)
    except Exception as err:
        if verbose:
            raise
        click.echo(f"Error: {type(err).__name__}: {mask_text(str(err))} (run with -v for the traceback)", err=True)
        sys.exit(1)
    sys.exit(0)
