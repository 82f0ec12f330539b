"""``alembic-bridge fleet status|upgrade|downgrade``: many databases or tenant schemas at once.

Parses the options, calls `bridge.fleet.api`, and renders: a live progress
line on a terminal (plain lines otherwise), a final table, ``--json`` on
standard output, ``--junit FILE``. Exit code 0 only if every target ended at
its target revision; 130 after Ctrl-C. See docs/fleet.md.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import click

from .. import runner
from ..context import set_request
from ..fleet import api, report
from ..fleet.pool import CONTINUE, STOP, default_parallel
from ..fleet.targets import Source, TargetsError, parse_shard, shard_from_environment
from .options import Context, pass_context, report_owns_stdout

JUNIT_IS_FOR_RUNS = "--junit is for runs: fleet upgrade / downgrade (a JUnit test case per target and its outcome)."


def _target_options(command):
    for option in reversed(
        [
            click.option(
                "--targets",
                "targets_file",
                metavar="FILE",
                type=click.Path(dir_okay=False),
                help="One target a line: URL or `name URL`; # comments; ${VAR} from the environment.",
            ),
            click.option(
                "--targets-query",
                "query",
                metavar="SQL",
                help="A query on the configured database returning rows (name, url).",
            ),
            click.option(
                "--schemas",
                metavar="PATTERN",
                help="Every schema of the configured database matching this glob is a tenant.",
            ),
            click.option("--shard", metavar="I/N", help="Run only shard I of N (0-based; a hash of each name)."),
            click.option(
                "--shards",
                type=click.IntRange(min=1),
                metavar="N",
                help="Run shard JOB_COMPLETION_INDEX of N (a Kubernetes Indexed Job).",
            ),
            click.option("--json", "as_json", is_flag=True, help="Print one JSON record per target on stdout."),
            click.option(
                "--junit",
                metavar="FILE",
                type=click.Path(dir_okay=False),
                help="Write a JUnit XML report: one test case per target.",
            ),
        ]
    ):
        command = option(command)
    return command


def _run_options(command):
    for option in reversed(
        [
            click.option(
                "--parallel",
                type=click.IntRange(min=1),
                default=None,
                metavar="N",
                help=f"Targets at once (default: {default_parallel()} here: CPUs, 2 to 8).",
            ),
            click.option(
                "--canary",
                type=click.IntRange(min=0),
                default=0,
                metavar="N",
                help="Run the first N targets first; if one fails, start no other.",
            ),
            click.option(
                "--on-error",
                type=click.Choice([STOP, CONTINUE]),
                default=STOP,
                show_default=True,
                help="stop: start nothing new after a failure (running targets finish).",
            ),
        ]
    ):
        command = option(command)
    return command


@click.group("fleet")
def fleet_command():
    """Migrate many databases or tenant schemas: pre-check, process pool, canary, report."""


def _setup(obj: Context, targets_file, query, schemas, shard, shards):
    config = runner.load_config(obj.config_path, obj.url)
    set_request(config, configure_logging=False)
    if shard and shards:
        raise TargetsError("Give --shard I/N or --shards N, not both.")
    chosen = parse_shard(shard) if shard else shard_from_environment(shards, os.environ) if shards else None
    base = Path(config.config_file_name).resolve().parent if config.config_file_name else None
    source = Source.choose(
        targets_file=targets_file, query=query, schemas=schemas, options=api.source_options(config), base=base
    )
    return config, api.load_targets(config, source, chosen), chosen


@fleet_command.command("status")
@_target_options
@pass_context
def status(obj: Context, targets_file, query, schemas, shard, shards, as_json, junit):
    """Show where every target is, from the pre-check alone (reads only)."""
    if junit:
        raise click.UsageError(JUNIT_IS_FOR_RUNS)
    with report_owns_stdout(as_json):
        config, found, _ = _setup(obj, targets_file, query, schemas, shard, shards)
        rows = [item.as_dict() for item in api.check(config, found)]
    if as_json:
        click.echo(json.dumps({"targets": rows}, indent=2))
    else:
        names = [report.terminal_text(r["name"]) for r in rows]
        width = max([len(n) for n in names] + [6])
        whys = [(r["reason"] if r["state"] != report.UNREACHABLE else "") or "" for r in rows]
        why_width = max([len(w) for w in whys] + [3])
        click.echo(f"{'target':<{width}}  {'state':<11}  {'why':<{why_width}}  current")
        for row, name, why in zip(rows, names, whys):
            click.echo(f"{name:<{width}}  {row['state']:<11}  {why:<{why_width}}  {', '.join(row['current']) or '-'}")
            _echo_error(obj, row["error"])
        click.echo(f"{len(rows)} target(s): {report.describe_states(r['state'] for r in rows)}.")
    if any(r["error"] for r in rows):
        raise SystemExit(1)


def _echo_error(obj: Context, error: str | None) -> None:
    """Print a target's error: its first line, or with -v all of it (the file list and the fix)."""
    if not error:
        return
    lines = [report.terminal_text(line) for line in error.strip().splitlines()]
    for line in lines if obj.verbose else lines[:1]:
        click.echo(f"    {line}")
    if len(lines) > 1 and not obj.verbose:
        click.echo(f"    ({len(lines) - 1} more line(s): -v or --json shows them)")


@fleet_command.command("plan", context_settings={"ignore_unknown_options": True})
@click.argument("target", default="head")
@click.option("--downgrade", "downgrade_to", is_flag=True, help="Plan a downgrade to TARGET instead.")
@click.option("--out-of-order", is_flag=True, help="Also apply legacy files dated before already-applied ones.")
@_target_options
@pass_context
def plan(obj: Context, target, downgrade_to, out_of_order, targets_file, query, schemas, shard, shards, as_json, junit):
    """Show what each target would run for `fleet upgrade TARGET` (as `upgrade --dry-run` does); reads only."""
    if junit:
        raise click.UsageError(JUNIT_IS_FOR_RUNS)
    direction = "downgrade" if downgrade_to else "upgrade"
    with report_owns_stdout(as_json):
        config, found, _ = _setup(obj, targets_file, query, schemas, shard, shards)
        planned = api.plan(config, found, direction, target, config_url=obj.url, out_of_order=out_of_order)
    if as_json:
        click.echo(
            json.dumps(
                {"direction": direction, "revision": target, "targets": [p.as_dict() for p in planned]}, indent=2
            )
        )
    else:
        for item in planned:
            data = item.as_dict()
            steps = data["steps"]
            click.echo(
                f"{report.terminal_text(item.target.name)}: {item.state}"
                + (f", {len(steps)} migration(s)" if steps else "")
            )
            for change in data["changes"]:
                click.echo(f"  sync   {change}")
            for step in steps:
                click.echo(f"  {step['direction']:<9} {step['revision']}  ({step['kind']}) {step['title']}")
            _echo_error(obj, item.error)
        steps_total = sum(len(p.plan.steps) for p in planned if p.plan)
        described = report.describe_states(p.state for p in planned)
        click.echo(f"{len(planned)} target(s): {described}; {steps_total} migration(s) in all.")
    if any(p.error for p in planned):
        raise SystemExit(1)


@fleet_command.command("upgrade")
@click.argument("target", default="head")
@click.option("--out-of-order", is_flag=True, help="Also apply legacy files dated before already-applied ones.")
@_target_options
@_run_options
@pass_context
def upgrade(obj: Context, target, out_of_order, **options):
    """Upgrade every target to TARGET (default: head); targets already there are skipped."""
    _run(obj, "upgrade", target, out_of_order=out_of_order, **options)


@fleet_command.command("downgrade", context_settings={"ignore_unknown_options": True})
@click.argument("target")
@_target_options
@_run_options
@pass_context
def downgrade(obj: Context, target, **options):
    """Downgrade every target to TARGET (a revision, -N from where each target is, or base)."""
    _run(obj, "downgrade", target, **options)


def _run(
    obj: Context,
    direction,
    revision,
    targets_file,
    query,
    schemas,
    shard,
    shards,
    as_json,
    junit,
    parallel,
    canary,
    on_error,
    out_of_order=False,
):
    machine_readable = bool(as_json or junit)  # migrations' print() must not break the report
    progress = _Progress(obj, quiet=obj.quiet or as_json)
    with report_owns_stdout(machine_readable):
        config, found, chosen = _setup(obj, targets_file, query, schemas, shard, shards)
        if chosen is not None:
            progress.say(f"Shard {chosen[0]}/{chosen[1]}: {len(found)} target(s).")
        records = api.run(
            config,
            found,
            direction,
            revision,
            config_url=obj.url,
            parallel=parallel or default_parallel(),
            canary=canary,
            on_error=on_error,
            out_of_order=out_of_order,
            on_checked=progress.checked,
            on_change=progress.changed,
            stdout_to_stderr=machine_readable,
        )
        progress.end()
    if junit:
        Path(junit).write_text(report.to_junit(records), encoding="utf-8")
    if as_json:
        click.echo(report.to_json(records, direction=direction, revision=revision))
    elif not obj.quiet:
        for line in report.table(records, full_errors=bool(obj.verbose)):
            click.echo(line)
        click.echo(f"{len(records)} target(s): {report.describe_states(r.outcome for r in records)}.")
    if progress.interrupted:
        raise SystemExit(130)
    raise SystemExit(report.exit_code(records))


class _Progress:
    """Renders the pool's progress: one rewritten line on a terminal, a line per target otherwise."""

    def __init__(self, obj: Context, quiet: bool):
        self.quiet = quiet
        self.tty = sys.stderr.isatty() and not quiet
        self.skipped = 0
        self.total = 0
        self.interrupted = False
        self.started = time.monotonic()
        self.drawn = False

    def say(self, message: str) -> None:
        if not self.quiet:
            self._clear()
            click.echo(message, err=True)

    def checked(self, checked) -> None:
        self.total = len(checked)
        self.skipped = sum(1 for c in checked if c.verdict is not None and c.verdict.at_head)
        self.say(
            f"Pre-check: {len(checked)} target(s), {self.skipped} at head"
            f"{', ' + str(sum(1 for c in checked if c.error)) + ' unreachable' if any(c.error for c in checked) else ''}."
        )

    def changed(self, state, record) -> None:
        if state.stopping == "interrupted" and not self.interrupted:
            self.interrupted = True
            self.say("Interrupted: starting no new target; waiting for the running ones to finish.")
        if self.quiet:
            return
        if not self.tty:
            if record is not None:
                line = f"{record.outcome:<8} {report.terminal_text(record.name)}  ({record.applied} applied, {record.seconds:.2f}s)"
                if record.error:
                    line += f": {report.terminal_text(record.error.strip().splitlines()[0])}"
                click.echo(line, err=True)
            return
        failed = sum(1 for r in state.records if r.outcome == report.FAILED)
        done = state.done
        elapsed = time.monotonic() - state.started_at
        eta = f"{elapsed / done * (state.total - done):.0f}s" if done else "?"
        click.echo(
            f"\r\033[K[{done}/{state.total}] done {done - failed}, failed {failed}, skipped {self.skipped}, "
            f"running {len(state.running)}, ETA {eta}",
            err=True,
            nl=False,
        )
        self.drawn = True

    def _clear(self) -> None:
        if self.drawn:
            click.echo("\r\033[K", err=True, nl=False)
            self.drawn = False

    def end(self) -> None:
        if self.drawn:
            click.echo("", err=True)
            self.drawn = False
