"""``alembic-bridge report --html``: one self-contained HTML page built from data (one concept).

Three sections, each from the data the rest of the bridge already produces:

- the fleet: one cell per target, coloured by its state (the vocabulary of
  `bridge.fleet.report.STATES`), with the counts and each target's pending
  migrations; from ``fleet status|plan|upgrade --json`` documents (one per shard
  of a sharded run, merged by `fleet_rows_from_json`) or from a live pre-check
  (`bridge.fleet.api.Checked.as_dict`);
- the run log: a timeline of runs (`bridge.runner.run_log`), one bar per
  migration as long as it took, failures and retries marked;
- one database's status (`bridge.runner.Status.as_dict`).

`build_html` only renders: it reads nothing and writes nothing. Every value is
escaped (`html.escape`); no data is put inside the script, which reads the
page's own elements, so a target named ``<script>`` is text, never code. The
page loads nothing from the network: CSS, JavaScript and SVG are inline.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

from . import runner
from .database import mask_text
from .errors import BridgeError
from .fleet import api
from .fleet.report import AT_HEAD, FAILED, MIGRATED, NOT_RUN, PENDING, STATES, UNREACHABLE, count_states, kind_of

COLOURS = {
    AT_HEAD: "#2e7d32",
    PENDING: "#ef6c00",
    MIGRATED: "#1565c0",
    FAILED: "#c62828",
    NOT_RUN: "#757575",
    UNREACHABLE: "#6a1b9a",
}
STEP_COLOURS = {"applied": "#2e7d32", "reverted": "#1565c0", "failed": "#c62828", "retried": "#ef6c00"}
PENDING_SHOWN = 8  # a cell lists this many pending migrations, then "and N more"


class ReportInputError(BridgeError):
    """A fleet JSON document the report cannot read; the message names the file and what it expected."""


@dataclass
class ReportData:
    """What one report shows; a section that is None is left out."""

    title: str = "alembic-bridge report"
    generated_at: datetime.datetime = field(default_factory=lambda: datetime.datetime.now(datetime.timezone.utc))
    fleet: list[dict] | None = None  # one row per target (see `fleet_rows_from_json`)
    fleet_sources: list[str] = field(default_factory=list)  # where the rows came from: files, or the live source
    status: dict | None = None  # runner.Status.as_dict()
    runs: list[dict] | None = None  # run-log rows (runner.run_log), any order


# -- the fleet's rows ---------------------------------------------------------------------------


def fleet_rows_from_json(documents: list[tuple[str, str]]) -> list[dict]:
    """Merge ``fleet status|plan|upgrade --json`` documents (*name*, *text*) into one row per target.

    Shards list disjoint targets; a target named again (a retried shard's file,
    given after the first) replaces its earlier row, keeping the first position.
    """
    rows: dict[str, dict] = {}
    for name, text in documents:
        try:
            data = json.loads(text)
            targets = data["targets"]
            if not isinstance(targets, list):
                raise TypeError("'targets' is not a list")
            found = [_fleet_row(t) for t in targets]
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise ReportInputError(
                f"{name}: not a fleet JSON document ({type(err).__name__}: {err}). Expected "
                '{"targets": [...]} as `alembic-bridge fleet status --json` (or plan, upgrade) writes it.'
            ) from err
        for row in found:
            rows[row["name"]] = row
    return list(rows.values())


def _fleet_row(target: dict) -> dict:
    state = target.get("state") or target.get("outcome")
    reason = target.get("reason")
    if state not in STATES:
        # `fleet status --json` before one vocabulary: "at head", or the reason as the state.
        state, reason = (AT_HEAD, "at head") if state == "at head" else (PENDING, reason or state)
    steps = target.get("steps") or []
    planned = [s["revision"] for s in steps if "outcome" not in s]  # fleet plan's steps (run-log rows have outcomes)
    return {
        "name": str(target["name"]),
        "kind": target.get("kind") or kind_of(target.get("schema") or None),  # files written before "kind"
        "url": mask_text(str(target["url"])) if target.get("url") else None,
        "state": state,
        "reason": reason,
        "current": list(target.get("current") or target.get("to") or []),
        "pending_revisions": list(target.get("pending_revisions") or planned),
        "pending": target.get("pending"),
        "applied": target.get("applied"),
        "seconds": target.get("seconds"),
        "error": mask_text(str(target["error"])) if target.get("error") else None,
    }


def gather(
    config,
    *,
    fleet_files: Sequence[str | Path] = (),
    fleet_targets: list | None = None,
    database: bool = True,
    log_limit: int = 200,
    title: str | None = None,
) -> ReportData:
    """Return the report's data: the fleet from *fleet_files* or a live pre-check of *fleet_targets*,
    the configured database's run log and status unless *database* is False; reads only."""
    data = ReportData(title=title or ReportData.title)
    if fleet_files:
        documents = []
        for path in fleet_files:
            try:
                documents.append((str(path), Path(path).read_text(encoding="utf-8")))
            except OSError as err:
                raise ReportInputError(f"{path}: cannot read it ({err.strerror or err}).") from err
        data.fleet = fleet_rows_from_json(documents)
        data.fleet_sources = [str(p) for p in fleet_files]
    elif fleet_targets is not None:
        data.fleet = [checked.as_dict() for checked in api.check(config, fleet_targets)]
        data.fleet_sources = ["a live pre-check of every target"]
    if database:
        data.runs = runner.run_log(config, limit=log_limit)
        data.status = runner.status(config).as_dict()
    return data


# -- rendering --------------------------------------------------------------------------------


def build_html(data: ReportData) -> str:
    """Return the report as one HTML document (no network: styles, script and pictures inline)."""
    sections = []
    if data.fleet is not None:
        sections.append(_fleet_section(data.fleet, data.fleet_sources))
    if data.runs is not None:
        sections.append(_runs_section(data.runs))
    if data.status is not None:
        sections.append(_status_section(data.status))
    when = f"{data.generated_at:%Y-%m-%d %H:%M:%S %Z}".strip()
    return (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        f"script-src '{_SCRIPT_HASH}'; img-src data:\">"
        f"<title>{_e(data.title)}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>{_e(data.title)}</h1><p class=muted>Generated {_e(when)} by alembic-bridge.</p></header>"
        + "".join(sections)
        + f"<script>{_JS}</script></body></html>\n"
    )


def _e(value) -> str:
    return escape("" if value is None else str(value), quote=True)


def _chip(state: str, count: int) -> str:
    colour = COLOURS.get(state, "#757575")
    return (
        f'<button class=chip data-filter="{_e(state)}" style="--c:{colour}" title="{_e(STATES.get(state, state))}">'
        f"<b>{count}</b> {_e(state)}</button>"
    )


def _fleet_section(rows: list[dict], sources: list[str]) -> str:
    counts = count_states(row["state"] for row in rows)
    chips = "".join(_chip(state, n) for state, n in counts.items() if n)
    cells = "".join(_fleet_cell(row) for row in rows)
    source = f"<p class=muted>From {_e(', '.join(sources))}.</p>" if sources else ""
    return (
        f"<section id=fleet><h2>Fleet: {len(rows)} target(s)</h2>{source}"
        f'<div class=counts><button class="chip all" data-filter="">all</button>{chips}'
        '<input id=fleet-search type=search placeholder="filter by name" aria-label="filter by name">'
        "<span id=fleet-shown class=muted></span></div>"
        f"<div class=grid id=fleet-grid>{cells or '<p>No targets.</p>'}</div></section>"
    )


def _fleet_cell(row: dict) -> str:
    state = row["state"]
    pending = row.get("pending_revisions") or []
    shown = "".join(f"<li>{_e(p)}</li>" for p in pending[:PENDING_SHOWN])
    if len(pending) > PENDING_SHOWN:
        shown += f"<li class=muted>and {len(pending) - PENDING_SHOWN} more</li>"
    count = row.get("pending")
    heading = f"{len(pending) or count} pending" if pending or count else ""
    details = f"<details><summary>{_e(heading)}</summary><ol>{shown}</ol></details>" if shown else _e(heading)
    error = row.get("error")
    error_html = f'<p class=error title="{_e(error)}">{_e(error.strip().splitlines()[0])}</p>' if error else ""
    facts = [row.get("reason") if row.get("reason") not in (None, state, "at head") else None]
    if row.get("applied"):
        facts.append(f"{row['applied']} applied in {row.get('seconds') or 0:.2f}s")
    current = ", ".join(row.get("current") or []) or "no version"
    return (
        f'<div class=cell data-state="{_e(state)}" data-name="{_e(row["name"])}" style="--c:{COLOURS.get(state, "#757575")}"'
        f' title="{_e(row.get("url") or row.get("kind"))}">'
        f"<div class=name>{_e(row['name'])}</div>"
        f"<div class=state>{_e(state)}{' · tenant schema' if row.get('kind') == 'tenant schema' else ''}</div>"
        f"<div class=muted>{_e(current)}</div>"
        + "".join(f"<div>{_e(f)}</div>" for f in facts if f)
        + f"<div class=pending>{details}</div>{error_html}</div>"
    )


def _runs(rows: list[dict]) -> list[list[dict]]:
    """Group run-log rows by run, each run's rows in the order written, runs oldest first."""
    by_run: dict[str, list[dict]] = {}
    for row in sorted(rows, key=lambda r: (r.get("id") or 0, str(r.get("started_at")))):
        by_run.setdefault(str(row["run_id"]), []).append(row)
    return sorted(by_run.values(), key=lambda run: str(run[0].get("started_at")))


def _when(value) -> str:
    if value is None:
        return "?"
    if isinstance(value, str):
        return value
    return f"{value:%Y-%m-%d %H:%M:%S}" + (f" {value:%Z}" if value.tzinfo else " UTC")


def _runs_section(rows: list[dict]) -> str:
    runs = _runs(rows)
    if not runs:
        return "<section id=runs><h2>Run log</h2><p>No runs recorded yet: upgrade and downgrade write the run log.</p></section>"
    longest = max(sum(max(r["duration_ms"], 0) for r in run) for run in runs) or 1
    width, label, height = 900, 250, 26
    svg = [
        f'<svg id=timeline xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height * len(runs) + 24}" '
        f'viewBox="0 0 {width} {height * len(runs) + 24}" role=img aria-label="Runs and their migrations">'
    ]
    table = []
    for i, run in enumerate(runs):
        y = i * height
        first = run[0]
        failed = any(r["outcome"] == "failed" for r in run)
        who = f"{first.get('db_user') or '?'}@{first.get('host') or '?'}, run {str(first['run_id'])[:8]}"
        svg.append(
            f'<text x="0" y="{y + 17}" class="{"failed" if failed else ""}">{_e(_when(first.get("started_at")))}'
            f"<title>{_e(who)}</title></text>"
        )
        x = float(label)
        for r in run:
            w = max(3.0, (width - label - 10) * max(r["duration_ms"], 0) / longest)
            colour = STEP_COLOURS.get(r["outcome"], "#757575")
            tip = f"{r['outcome']} {r['direction']} {r['revision']}: {r['duration_ms'] / 1000:.2f}s"
            if r.get("attempts", 1) > 1:
                tip += f", {r['attempts']} attempts"
            if r.get("error"):
                tip += f"\n{r['error']}"
            svg.append(
                f'<rect class="step {_e(r["outcome"])}" x="{x:.1f}" y="{y + 4}" width="{w:.1f}" height="{height - 8}" '
                f'fill="{colour}"><title>{_e(tip)}</title></rect>'
            )
            if r["outcome"] in ("failed", "retried"):
                mark = "\u2715" if r["outcome"] == "failed" else "\u21bb"
                svg.append(f'<text class=mark x="{x + w / 2:.1f}" y="{y + 18}" text-anchor=middle>{mark}</text>')
            x += w + 1
            state = f" [{r['sqlstate']}]" if r.get("sqlstate") else ""
            table.append(
                f'<tr class="{_e(r["outcome"])}"><td>{_e(_when(r.get("started_at")))}</td><td>{_e(r["outcome"])}</td>'
                f"<td>{_e(r['direction'])}</td><td>{_e(r['revision'])}</td><td>{r['duration_ms'] / 1000:.2f}s</td>"
                f"<td>{_e(r.get('attempts'))}</td><td>{_e(str(r['run_id'])[:8])}</td>"
                f"<td class=error>{_e((state + ' ' + r['error']).strip() if r.get('error') else '')}</td></tr>"
            )
    legend = "".join(
        f'<rect x="{label + j * 110}" y="{height * len(runs) + 8}" width="12" height="12" fill="{c}"/>'
        f'<text x="{label + j * 110 + 16}" y="{height * len(runs) + 19}">{_e(o)}</text>'
        for j, (o, c) in enumerate(STEP_COLOURS.items())
    )
    svg.append(legend + "</svg>")
    return (
        f"<section id=runs><h2>Run log: {len(runs)} run(s), {len(rows)} step(s)</h2>"
        "<p class=muted>One row per run, oldest first; each bar is one migration, as long as it took "
        "(\u2715 failed, \u21bb retried). Hover for details.</p>"
        + "".join(svg)
        + "<details><summary>Every step</summary><table><tr><th>started</th><th>outcome</th><th>direction</th>"
        "<th>revision</th><th>took</th><th>attempts</th><th>run</th><th>error</th></tr>"
        + "".join(reversed(table))
        + "</table></details></section>"
    )


def _status_section(status: dict) -> str:
    migrations = status.get("migrations") or []
    hidden = {"path"} | ({"edited"} if any("checksum" in m for m in migrations) else set())  # checksum says it
    columns = [c for c in dict.fromkeys(k for m in migrations for k in m) if c not in hidden]
    head = status.get("head")
    facts = [
        ("Database", status.get("database")),
        ("Head", ", ".join(head) if isinstance(head, list) else head),
        ("Current", ", ".join(status.get("current") or []) or "<none>"),
        ("Pending", status.get("pending_count")),
        ("Tables agree", "yes" if status.get("in_agreement") else "no: `alembic-bridge sync` would fix them"),
    ]
    rows = "".join(
        f'<tr class="{_e(m.get("state"))}">'
        + "".join(f"<td{' class=when' if c == 'applied_at' else ''}>{_status_cell(c, m.get(c))}</td>" for c in columns)
        + "</tr>"
        for m in migrations
    )
    return (
        "<section id=status><h2>Database status</h2><dl>"
        + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts)
        + "</dl><table><tr>"
        + "".join(f"<th>{_e(_HEADINGS.get(c, c.replace('_', ' ')))}</th>" for c in columns)
        + f"</tr>{rows}</table></section>"
    )


_HEADINGS = {"duration_ms": "duration"}


def _status_cell(column: str, value) -> str:
    """Return a status cell: times in UTC as the timeline shows them, durations in seconds."""
    if column == "applied_at" and isinstance(value, str):
        try:
            when = datetime.datetime.fromisoformat(value)
        except ValueError:
            return _e(value)
        return _e(_when(when.astimezone(datetime.timezone.utc) if when.tzinfo else when))
    if column == "duration_ms" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return _e(f"{value / 1000:.2f}s")
    return _cell(value)


def _cell(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, (dict, list)):
        return _e(json.dumps(value, default=str))
    return _e(value)


_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:0 24px 24px;color:#212121;background:#fafafa}
h1{font-size:22px;margin:16px 0 0}h2{font-size:18px;margin:24px 0 8px}.muted{color:#757575}
section{background:#fff;border:1px solid #e0e0e0;border-radius:6px;padding:8px 16px 16px;margin-top:16px}
.counts{display:flex;gap:8px;align-items:center;flex-wrap:wrap;margin-bottom:12px}
.chip{border:2px solid var(--c,#424242);background:#fff;border-radius:14px;padding:2px 10px;cursor:pointer;font:inherit}
.chip.active{background:var(--c,#424242);color:#fff}
#fleet-search{padding:3px 8px;border:1px solid #bdbdbd;border-radius:4px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(190px,1fr));gap:8px}
.cell{border-left:8px solid var(--c);background:#f5f5f5;padding:6px 8px;border-radius:4px;overflow-wrap:anywhere}
.cell .name{font-weight:600}.cell .state{color:var(--c);font-weight:600}.cell ol{margin:2px 0;padding-left:20px}
.cell.hidden{display:none}.error{color:#c62828;white-space:pre-wrap}
.cell .error{display:-webkit-box;-webkit-line-clamp:4;-webkit-box-orient:vertical;overflow:hidden}
svg text{font-size:12px;fill:#424242}svg text.failed{fill:#c62828}svg text.mark{fill:#fff;font-weight:700}
table{border-collapse:collapse;margin-top:8px}td,th{border-bottom:1px solid #eee;padding:2px 8px;text-align:left}
tr.failed td,tr.file-missing td{color:#c62828}tr.pending td,tr.out-of-order td{color:#ef6c00}
td.when{white-space:nowrap}#status table{display:block;overflow-x:auto}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px}dt{font-weight:600}dd{margin:0}
"""

# Reads the page's own elements only: no data is ever put inside this script.
_JS = """
(function () {
  var grid = document.getElementById('fleet-grid');
  if (!grid) return;
  var cells = Array.prototype.slice.call(grid.querySelectorAll('.cell'));
  var chips = Array.prototype.slice.call(document.querySelectorAll('.chip'));
  var search = document.getElementById('fleet-search');
  var shown = document.getElementById('fleet-shown');
  var state = '';
  function apply() {
    var text = search.value.toLowerCase(), n = 0;
    cells.forEach(function (cell) {
      var show = (!state || cell.dataset.state === state) && cell.dataset.name.toLowerCase().indexOf(text) >= 0;
      cell.classList.toggle('hidden', !show);
      if (show) n += 1;
    });
    chips.forEach(function (chip) { chip.classList.toggle('active', chip.dataset.filter === state); });
    shown.textContent = 'showing ' + n + ' of ' + cells.length;
  }
  chips.forEach(function (chip) {
    chip.addEventListener('click', function () { state = chip.dataset.filter; apply(); });
  });
  search.addEventListener('input', apply);
  apply();
})();
"""

# The page runs its own script only: the browser refuses any other, even one that escaping missed.
_SCRIPT_HASH = "sha256-" + base64.b64encode(hashlib.sha256(_JS.encode()).digest()).decode()
