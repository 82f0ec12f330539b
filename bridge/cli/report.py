"""``alembic-bridge report --html FILE``: parses the options, calls `bridge.htmlreport`, writes the file."""

from __future__ import annotations

from pathlib import Path

import click

from .. import htmlreport
from ..fleet import api
from ..fleet.targets import Source
from .options import Context, load_config, pass_context


@click.command("report")
@click.argument("fleet_json", nargs=-1, metavar="[FLEET_JSON]...", type=click.Path(dir_okay=False))
@click.option(
    "--html", "html_file", required=True, metavar="FILE", type=click.Path(dir_okay=False), help="Write the report here."
)
@click.option(
    "--targets", "targets_file", metavar="FILE", type=click.Path(dir_okay=False), help="Live fleet: a targets file."
)
@click.option(
    "--targets-query", "query", metavar="SQL", help="Live fleet: rows (name, url) from the configured database."
)
@click.option("--schemas", metavar="PATTERN", help="Live fleet: the configured database's schemas matching this glob.")
@click.option("--no-fleet", is_flag=True, help="Leave the fleet out even if [alembic] names targets.")
@click.option(
    "--no-database", is_flag=True, help="Leave out the configured database's run log and status (e.g. from JSON files)."
)
@click.option("--log-limit", default=200, show_default=True, type=click.IntRange(min=1), help="Run-log rows to show.")
@click.option("--title", metavar="TEXT", help="The page's title.")
@pass_context
def report_command(
    obj: Context, fleet_json, html_file, targets_file, query, schemas, no_fleet, no_database, log_limit, title
):
    """Write one self-contained HTML page: the fleet, the run log and the database's status.

    FLEET_JSON: `fleet status|plan|upgrade --json` outputs, one per shard of a sharded
    run (`reports/shard-*.json`). Without them the fleet is pre-checked live, if
    --targets, --targets-query, --schemas or [alembic] names targets.
    """
    live = not fleet_json and not no_fleet
    config = load_config(obj) if live or not no_database else None
    targets = None
    if config is not None and live:
        options = api.source_options(config)
        if targets_file or query or schemas or options:
            base = Path(config.config_file_name).resolve().parent if config.config_file_name else None
            source = Source.choose(targets_file=targets_file, query=query, schemas=schemas, options=options, base=base)
            targets = api.load_targets(config, source)
    data = htmlreport.gather(
        config,
        fleet_files=list(fleet_json),
        fleet_targets=targets,
        database=not no_database,
        log_limit=log_limit,
        title=title,
    )
    Path(html_file).write_text(htmlreport.build_html(data), encoding="utf-8")
    if not obj.quiet:
        parts = [f"{len(data.fleet)} fleet target(s)"] if data.fleet is not None else []
        if data.runs is not None:
            parts.append(f"{len(data.runs)} run-log row(s)")
        if data.status is not None:
            parts.append(f"{len(data.status.get('migrations') or [])} migration(s)")
        click.echo(f"Wrote {html_file}: {', '.join(parts) or 'nothing to show'}.")
