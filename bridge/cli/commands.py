"""The ``alembic-bridge`` click commands: thin, over the library.

Each command parses options, calls one public function, and renders its
result. `BridgeError` (and Alembic's ``CommandError``) become a one-line
message and exit code 1 in one place, `main`; ``-v`` shows the traceback.

Exit codes: 0 success; 1 a command failed (bad input, failed migration,
check found problems); 2 usage error (click's own).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import sys
from pathlib import Path

import click

from .. import __version__, checks, runner
from ..ledger import LEGACY_TABLE
from ..lint import ERROR
from ..masking import mask_text
from ..scaffold import detect_legacy_options, init_project, new_migration
from .baseline import baseline_command
from .convert import convert_command
from .fleet import fleet_command
from .lint import echo_machine_readable, format_option, lint_command
from .options import (
    Context,
    add_shared_options,
    configure_logging,
    load_config,
    pass_context,
    report_owns_stdout,
    shared_options,
)
from .progress import OutputGuard, Progress
from .report import report_command

log = logging.getLogger("bridge")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="alembic-bridge")
@shared_options
@click.pass_context
def cli(ctx: click.Context, config, url, verbose, quiet):
    """Run date-named legacy migrations as Alembic revisions.

    The shared options (-c, --url, -v, -q) go before or after the command.
    """
    ctx.obj = Context(config, url, verbose, quiet)
    configure_logging(ctx.obj)


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


@contextlib.contextmanager
def _showing_progress(obj: Context, total: int | None = None):
    """Yield the `Progress` a run reports to; the migrations' own stdout clears its live line."""
    progress = Progress(obj.quiet, total)
    guard = progress.live and sys.stdout.isatty()
    real_stdout = sys.stdout
    if guard:
        sys.stdout = OutputGuard(progress, real_stdout)
    try:
        yield progress
    finally:
        progress.stop()
        if guard:
            sys.stdout = real_stdout


@cli.command()
@click.argument("target", default="head")
@click.option("--dry-run", is_flag=True, help="Print the plan and change nothing.")
@click.option("--out-of-order", is_flag=True, help="Also apply legacy files dated before already-applied ones.")
@pass_context
def upgrade(obj: Context, target, dry_run, out_of_order):
    """Apply migrations up to TARGET (default: head), printing the plan first."""
    config = load_config(obj)
    if dry_run:
        _print_plan(obj, runner.plan_upgrade(config, target, out_of_order=out_of_order), "apply")
        return
    with _showing_progress(obj) as progress:

        def on_plan(plan):
            # Planned under the runner lock: another runner's work is already in it.
            _print_plan(obj, plan, "apply")
            progress.total = len(plan.steps)

        result = runner.upgrade(
            config,
            target,
            out_of_order=out_of_order,
            on_plan=on_plan,
            on_start=progress.on_start,
            on_step=progress.on_step,
            on_wait=progress.on_wait,
        )
    if result.steps or (result.plan is not None and result.plan.steps):
        _echo(obj, f"Applied {len(result.steps)} migration(s) in {result.seconds:.1f}s.")


@cli.command(context_settings={"ignore_unknown_options": True})
@click.argument("target")
@click.option("--dry-run", is_flag=True, help="Print the plan and change nothing.")
@pass_context
def downgrade(obj: Context, target, dry_run):
    """Revert migrations down to TARGET (a revision, -N, or base), printing the plan first."""
    config = load_config(obj)
    plan = runner.plan_downgrade(config, target)
    _print_plan(obj, plan, "revert")
    if dry_run or not plan.steps:
        return
    with _showing_progress(obj, len(plan.steps)) as progress:
        result = runner.downgrade(
            config, target, on_start=progress.on_start, on_step=progress.on_step, on_wait=progress.on_wait
        )
    _echo(obj, f"Reverted {len(result.steps)} migration(s) in {result.seconds:.1f}s.")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@pass_context
def status(obj: Context, as_json):
    """Show every migration's state, the head and what is pending (reads only)."""

    with report_owns_stdout(as_json):
        result = runner.status(load_config(obj))
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
        return
    click.echo(f"Database: {result.database}")
    click.echo(f".env:     {', '.join(result.dotenv_files) or '<none found>'}")
    click.echo(f"Head:     {', '.join(result.script_heads) or '<none>'}")
    click.echo(f"Current:  {', '.join(result.current_heads) or '<none>'}")
    click.echo(f"Pending:  {len(result.pending)}")
    click.echo("")
    width = max((len(m.state) for m in result.migrations), default=7) + 2
    names = max((len(m.revision) for m in result.migrations), default=0)
    for m in result.migrations:
        click.echo(f"  {m.state:<{width}}{m.revision:<{names}}{_migration_details(m)}".rstrip())
    if result.adopted_checksums:
        click.echo("")
        click.echo(
            f"Checksums taken at adoption ({len(result.adopted_checksums)}): the files as they were when the "
            "bridge adopted this database, not when they ran; `check` finds edits made since."
        )
    if result.repair.missing or result.repair.stale_heads:
        click.echo("")
        kinds = ["rows of applied files that are gone"]
        kinds += ["checksums of applied files that have none"] if result.repair.checksums else []
        click.echo(
            f"`alembic-bridge repair --yes` would make {len(result.repair.changes)} change(s): {', '.join(kinds)}:"
        )
        for change in result.repair.changes:
            click.echo(f"  {change}")
    if result.duplicates:
        click.echo("")
        click.echo(
            f"{result.plan.legacy} records {len(result.duplicates)} migration(s) under both names "
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
    for line in result.invalid_indexes:
        click.echo("")
        click.echo(f"Warning: {line}")
    if result.last_run:
        click.echo("")
        click.echo(f"Last run: {_last_run_summary(result.last_run)} (`alembic-bridge log` shows more)")


def _when(value) -> str:
    """Return an aware (or naive UTC) time as UTC text."""
    if value is None:
        return "?"
    if value.tzinfo is not None:
        value = value.astimezone(datetime.timezone.utc)
    return f"{value:%Y-%m-%d %H:%M:%S} UTC"


CHECKSUM_NOTES = {"edited": "EDITED after it was applied", "none": "no checksum (`alembic-bridge repair`)"}


def _migration_details(m) -> str:
    """Return what `status` shows after a migration's name: when, by whom, how long, its checksum."""
    if m.state == "file-missing":
        return "  (its file is gone: `alembic-bridge repair`)"
    parts = []
    if m.applied_at is not None:
        parts.append(_when(m.applied_at))
    if m.applied_by:
        parts.append(f"by {m.applied_by}")
    if m.duration_ms is not None:
        parts.append(f"{m.duration_ms / 1000:.2f}s")
    note = CHECKSUM_NOTES.get(m.checksum or "")
    if note is None and m.checksum_taken in ("adoption", "repair"):
        note = f"checksum taken at {m.checksum_taken}"
    if note:
        parts.append(note)
    return "  " + "  ".join(parts) if parts else ""


def _last_run_summary(rows: list[dict]) -> str:
    outcomes: dict[str, int] = {}
    for row in rows:
        outcomes[row["outcome"]] = outcomes.get(row["outcome"], 0) + 1
    counted = ", ".join(f"{n} {outcome}" for outcome, n in outcomes.items())
    seconds = sum(row["duration_ms"] for row in rows if row["outcome"] != "retried") / 1000
    first = rows[0]
    return (
        f"{_when(first['started_at'])} by {first['db_user'] or '?'}@{first['host']}: {counted}, "
        f"{seconds:.1f}s of migrations"
    )


@cli.command("log")
@click.argument("revision", required=False)
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1), help="Rows to show, newest first.")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
@pass_context
def log_command(obj: Context, revision, limit, as_json):
    """Show the run log: what ran, when, for how long, and why it failed (reads only)."""

    rows = runner.run_log(load_config(obj), limit=limit, revision=revision)
    if as_json:
        click.echo(
            json.dumps(
                [{k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in row.items()} for row in rows], indent=2
            )
        )
        return
    if not rows:
        what = f" for {revision}" if revision else ""
        click.echo(f"No migration runs recorded{what} yet: upgrade and downgrade write the run log.")
        return
    for row in rows:  # newest first, each run's rows together (`bridge.runlog.read`)
        attempts = f", {row['attempts']} attempts" if row["attempts"] > 1 else ""
        line = (
            f"{_when(row['started_at'])}  {row['outcome']:<8} {row['direction']:<9} {row['revision']}  "
            f"({row['duration_ms'] / 1000:.2f}s{attempts}; run {row['run_id'][:8]}, {row['db_user'] or '?'}@{row['host']})"
        )
        click.echo(line)
        if row["error"]:
            state = f"[{row['sqlstate']}] " if row["sqlstate"] else ""
            click.echo(f"    {state}{row['error']}")


@cli.command()
@click.option("--yes", is_flag=True, help="Make the repairs (default: only show them).")
@click.option("--json", "as_json", is_flag=True, help="Print the repairs as JSON.")
@pass_context
def repair(obj: Context, yes, as_json):
    """Show, then with --yes make, the repairs Flyway's repair makes.

    Rows of applied files that no longer exist are removed from schema_migrations and
    the checksums, alembic_version is moved to the last applied file that exists, and
    applied files without a checksum get their current one. Nothing else changes.
    """
    with report_owns_stdout(as_json):
        result = runner.repair(load_config(obj), apply=yes)
    if as_json:
        click.echo(json.dumps({**result.as_dict(), "applied": yes and bool(result.changes)}, indent=2))
        return
    if not result.changes:
        _echo(obj, "Nothing to repair.")
        return
    if yes:
        _echo(obj, f"Repaired ({len(result.changes)} change(s)):")
    else:
        _echo(obj, f"repair would make {len(result.changes)} change(s) (none made yet):")
    for change in result.changes:
        _echo(obj, f"  {change}")
    if not yes:
        _echo(obj, "Run `alembic-bridge repair --yes` to make them.")


@cli.command("sync")
@click.option("--dry-run", is_flag=True, help="Print the changes and make none.")
@pass_context
def sync_command(obj: Context, dry_run):
    """Bring schema_migrations and alembic_version into agreement, printing each change."""
    result = runner.sync_tables(load_config(obj), dry_run=dry_run)
    if dry_run and result.changes:
        _echo(obj, f"sync would make {len(result.changes)} change(s) (--dry-run: none made):")
    for change in result.changes:
        _echo(obj, f"  {change}" if dry_run else change)
    # Which of two rows is the stray one depends on the old runner: sync does not guess.
    for problem in result.duplicate_problems():
        click.echo(problem, err=True)
    if result.duplicates:
        raise SystemExit(1)
    if not result.changes:
        _echo(obj, "The history tables agree; nothing to change.")


@cli.command()
@click.option("--offline", is_flag=True, help="Skip the checks that need the database.")
@click.option(
    "--diff",
    "diff_base",
    metavar="BASE",
    help="Hold legacy files changed against git revision BASE to the lock-danger lint rules too.",
)
@format_option
@pass_context
def check(obj: Context, offline, diff_base, output_format):
    """CI gate: exit 1 on bad names, several heads, holes, missing or edited files, lint errors.

    The lock-danger lint rules apply to migrations not yet applied; with --offline, to
    files dated on or after lock-rules-since ([tool.alembic-bridge.lint]) or changed
    against --diff BASE. Online, each lock danger names its table's size and writes
    (a table under small-table-rows makes it a warning).
    """
    with report_owns_stdout(output_format != "text"):
        found = checks.findings(load_config(obj), database=not offline, diff_base=diff_base)
    if not echo_machine_readable(output_format, found, lambda f: f.as_dict(), checks.sarif, checks.github_annotations):
        for f in found:
            click.echo(str(f) if f.severity == ERROR else f"warning: {f}", err=True)
    if any(f.severity == ERROR for f in found):
        raise SystemExit(1)


@cli.command()
@click.option(
    "--legacy", "legacy", required=True, type=click.Path(file_okay=False), help="The existing legacy migrations folder."
)
@click.option(
    "--directory", default="alembic", show_default=True, help="Folder for env.py, script.py.mako and versions/."
)
@pass_context
def init(obj: Context, legacy, directory):
    """Onboard an existing project: write alembic.ini, env.py and script.py.mako."""
    root = Path.cwd()
    # The options an existing schema_migrations of another shape needs: only for a new alembic.ini.
    options = {} if (root / "alembic.ini").exists() else detect_legacy_options(root, obj.url)
    for name, value in options.items():
        _echo(obj, f"found {LEGACY_TABLE} without migration_name: writing {name} = {value}")
    for path, written in init_project(root, Path(legacy), Path(directory), options):
        _echo(obj, f"{'wrote ' if written else 'kept  '} {path}{'' if written else ' (exists, left unchanged)'}")


@cli.command()
@click.argument("description")
@click.option("--native", is_flag=True, help="Make an Alembic revision instead of a legacy file.")
@click.option("--date", "date", metavar="YYYYMMDD", help="Date for the file name (default: today).")
@pass_context
def new(obj: Context, description, native, date):
    """Create a new migration: a legacy YYYYMMDD_description.py (default) or a native revision."""
    path = new_migration(load_config(obj), description, native=native, date=date)
    _echo(obj, f"Created {path}")


# The larger commands live in a module each.
cli.add_command(lint_command, "lint")
cli.add_command(convert_command, "convert")
cli.add_command(baseline_command, "baseline")
cli.add_command(fleet_command, "fleet")
cli.add_command(report_command, "report")
add_shared_options(cli)  # after every command is added: each accepts and lists them


def main(argv=None) -> None:
    """Entry point: run the CLI, turning bridge errors into a message and exit code 1."""
    from alembic.util import CommandError

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
            _traceback_and_exit()
        click.echo(f"Error: {mask_text(str(err))}", err=True)  # Alembic's own errors may hold a URL
        sys.exit(1)
    except Exception as err:
        if verbose:
            _traceback_and_exit()
        click.echo(f"Error: {type(err).__name__}: {mask_text(str(err))} (run with -v for the traceback)", err=True)
        sys.exit(1)
    sys.exit(0)


def _traceback_and_exit() -> None:
    """Print the current exception's traceback (``-v``), masked like every other output, and exit 1."""
    import traceback

    click.echo(mask_text(traceback.format_exc()).rstrip("\n"), err=True)
    sys.exit(1)
