"""``alembic-bridge convert``: legacy files become native Alembic revisions (see `bridge.convert`)."""

from __future__ import annotations

import click

from .. import runner
from ..convert.plan import apply_conversion, plan_conversion
from .retirement import OLD_RUNNER_WARNING, display_path


@click.command("convert")
@click.argument("stem", required=False)
@click.option("--upto", metavar="STEM", help="Convert STEM and every legacy migration before it.")
@click.option("--all", "all_files", is_flag=True, help="Convert every legacy migration.")
@click.option("--dry-run", is_flag=True, help="Print what would be converted and write nothing.")
@click.pass_obj
def convert_command(obj, stem, upto, all_files, dry_run):
    """Rewrite legacy migrations as native Alembic revisions with the same revision ids."""
    if sum(bool(x) for x in (stem, upto, all_files)) != 1:
        raise click.UsageError("Name exactly one of STEM, --upto STEM or --all.")
    config = runner.load_config(obj.config_path, obj.url)
    plan = plan_conversion(config, stem, upto=upto, all_files=all_files)
    echo = (lambda *a, **k: None) if obj.quiet else click.echo
    if plan.brought_along and upto is not None:
        echo(
            f"Converting {plan.requested} also converts the {len(plan.brought_along)} legacy "
            "migration(s) before it: legacy files must all come before native revisions."
        )
    verb = "Would convert" if dry_run else "Converting"
    echo(
        f"{verb} {len(plan.files)} legacy migration(s) into {display_path(plan.version_location)} "
        "(same revision ids; no database needs any change):"
    )
    for item in plan.files:
        echo(f"  {item.legacy.stem}")
        if item.problem or item.converted is None:
            echo(f"      cannot convert: {item.problem}")
            continue
        for function in item.converted.functions:
            echo(f"      {function.describe()}")
    if plan.remaining:
        echo(
            f"{len(plan.remaining)} legacy migration(s) stay legacy, after the converted ones "
            f"(first: {plan.remaining[0].stem})."
        )
    if dry_run:
        if plan.problems:
            apply_conversion(plan)  # raises, naming every file that cannot be converted
        return
    moves = apply_conversion(plan)
    for old, new in moves:
        echo(f"  moved {display_path(old)} -> {display_path(new)}")
    folder = display_path(moves[0][0].parent) if moves else "the legacy folder"
    click.echo(
        "\nWARNING: " + OLD_RUNNER_WARNING.format(folder=folder, what=f"these {len(moves)} migration(s)"),
        err=True,
    )
