"""``alembic-bridge baseline``: squash the legacy chain into one revision (see `bridge.baseline`)."""

from __future__ import annotations

import click

from .. import runner
from ..baseline.build import build_schema
from ..baseline.plan import plan_baseline
from ..baseline.render import render_baseline, write_baseline
from ..context import set_request
from .retirement import OLD_RUNNER_WARNING, display_path


@click.command("baseline")
@click.option("-m", "--message", help="The baseline revision's message (its docstring's first line).")
@click.option("--dry-run", is_flag=True, help="Print what would be squashed and change nothing.")
@click.option(
    "--scratch-url",
    metavar="URL",
    help="An empty database to build the schema in (default: a temporary one on the configured server).",
)
@click.option("--pg-dump", "pg_dump", metavar="PATH", help="The pg_dump program to use.")
@click.pass_obj
def baseline_command(obj, message, dry_run, scratch_url, pg_dump):
    """Squash the legacy chain into one native revision that builds its schema.

    Not Flyway's baseline (marking an existing database as migrated): the bridge adopts
    an existing database on its own (`sync`, or the first `upgrade`).
    """
    config = runner.load_config(obj.config_path, obj.url)
    set_request(config, configure_logging=False)
    plan = plan_baseline(config)
    echo = (lambda *a, **k: None) if obj.quiet else click.echo
    verb = "Would squash" if dry_run else "Squashing"
    echo(
        f"{verb} {len(plan.replaces)} legacy migration(s), {plan.replaces[0]} .. {plan.head}, "
        f"into {display_path(plan.target)} (revision {plan.head}, down_revision None)."
    )
    action = "would remove" if dry_run else "remove"
    if len(plan.remove) <= 12 or obj.verbose:
        lines = [f"  {action} {display_path(path)}" for path in plan.remove]
    else:
        lines = [f"  {action} {display_path(path)}" for path in plan.remove[:5]]
        lines.append(f"  ... {len(plan.remove) - 10} more (-v lists them all)")
        lines += [f"  {action} {display_path(path)}" for path in plan.remove[-5:]]
    for line in lines:
        echo(line)
    if plan.following:
        echo(f"  {len(plan.following)} revision(s) after it stay as they are (first: {plan.following[0]}).")
    if dry_run:
        return
    echo(f"Building the schema of {plan.head} on a scratch database...")
    create_sql, drop_sql = build_schema(config, plan.head, scratch_url=scratch_url, pg_dump=pg_dump)
    source = render_baseline(plan, create_sql, drop_sql, message)
    write_baseline(plan, source)
    echo(f"Wrote {display_path(plan.target)}.")
    click.echo(
        "\nWARNING: "
        + OLD_RUNNER_WARNING.format(
            folder=display_path(plan.remove[-1].parent), what=f"the {len(plan.replaces)} squashed migration(s)"
        )
        + f"\nDatabases part-way through the squashed migrations (before {plan.head}) cannot "
        "be upgraded from this code any more: bring them to it first with the code from before "
        "the baseline.",
        err=True,
    )
