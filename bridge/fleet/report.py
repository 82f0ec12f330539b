"""One record per target, and the shapes a fleet run reports in: JSON, JUnit XML, a table.

Every record holds the target's URL masked (`bridge.masking.mask_url`) and its
error text masked (`bridge.masking.mask_text`: every remembered password by
value, URLs by shape; masking again changes nothing, so the reason survives):
no report ever shows a password, whatever a driver or a migration put in its message.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

from ..masking import mask_text

# One vocabulary of target states for `fleet status`, `fleet plan`, `fleet upgrade` /
# `downgrade`, their JSON and the HTML report (bridge.htmlreport). Only "migrated" and
# "at-head" count as success for a run, and only when the target ended at its target revision.
AT_HEAD, PENDING, UNREACHABLE = "at-head", "pending", "unreachable"
MIGRATED, FAILED, NOT_RUN = "migrated", "failed", "not-run"
STATES = {
    AT_HEAD: "at head: nothing to run",
    PENDING: "migrations to run (or tables a full run reconciles)",
    MIGRATED: "migrated by this run",
    FAILED: "failed",
    NOT_RUN: "not run: the fleet stopped first",
    UNREACHABLE: "its history could not be read",
}


def kind_of(schema: str | None) -> str:
    """Return what a target is, as every output names it: a tenant schema, or a database."""
    return "tenant schema" if schema is not None else "database"


@dataclass
class Record:
    """One target's result."""

    name: str
    url: str | None  # masked
    schema: str | None
    outcome: str
    from_revisions: list[str] = field(default_factory=list)
    to_revisions: list[str] = field(default_factory=list)
    target: list[str] | None = None  # the revisions it must end at (None: not known)
    applied: int = 0
    seconds: float = 0.0
    error: str | None = None
    # This run's rows of the target's run log (bridge.runlog): each step's outcome, attempts, time.
    steps: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.error is not None:
            self.error = mask_text(self.error)

    @property
    def ok(self) -> bool:
        """Return whether the target ended where it should (a skipped or migrated target)."""
        if self.outcome not in (MIGRATED, AT_HEAD):
            return False
        return self.target is None or sorted(self.to_revisions) == sorted(self.target)

    def as_dict(self) -> dict:
        data = asdict(self)
        data["from"] = data.pop("from_revisions")
        data["to"] = data.pop("to_revisions")
        data["seconds"] = round(self.seconds, 3)
        data["ok"] = self.ok
        data["state"] = self.outcome  # the vocabulary of STATES; "outcome" is kept for existing scripts
        data["kind"] = kind_of(self.schema)
        return data


def exit_code(records: list[Record]) -> int:
    """Return 0 only if every target ended at its target revision."""
    return 0 if records and all(r.ok for r in records) else 1


def summary(records: list[Record]) -> dict[str, int]:
    """Return how many targets ended in each outcome (and how many did not end where they should)."""
    counts = {MIGRATED: 0, AT_HEAD: 0, FAILED: 0, UNREACHABLE: 0, NOT_RUN: 0}
    for record in records:
        counts[record.outcome] = counts.get(record.outcome, 0) + 1
    counts["not-ok"] = sum(1 for r in records if not r.ok)
    return counts


def count_states(states: Iterable[str]) -> dict[str, int]:
    """Return how many targets are in each state: every state of STATES, in its order, then any other."""
    counts = dict.fromkeys(STATES, 0)
    for state in states:
        counts[state] = counts.get(state, 0) + 1
    return counts


def describe_states(states: Iterable[str]) -> str:
    """Return the count of each state present, in the words of STATES (``2 migrated, 1 at-head``)."""
    return ", ".join(f"{n} {state}" for state, n in count_states(states).items() if n) or "none"


def to_json(records: list[Record], **extra) -> str:
    """Return the records as one JSON document: ``{"summary": ..., "targets": [...]}``."""
    return json.dumps({**extra, "summary": summary(records), "targets": [r.as_dict() for r in records]}, indent=2)


# What XML 1.0 cannot hold at all, even escaped: C0 controls but tab, newline and CR; lone surrogates; U+FFFE/F.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(text: str) -> str:
    """Return *text* with every character XML cannot hold written as Python writes it (``\\x07``)."""
    return _NOT_XML.sub(lambda m: repr(m.group(0))[1:-1], text)


def terminal_text(text: str) -> str:
    """Return one line of *text* with every character a terminal would act on (ESC, BEL, C1
    controls, ...) written as Python writes it (``\\x1b``): a target's name or a database error
    must never recolour, move the cursor of, or clear the operator's terminal."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def to_junit(records: list[Record], suite: str = "alembic-bridge fleet") -> str:
    """Return the records as JUnit XML: one test case per target, a failure for each one not at its target.

    ElementTree escapes ``<`` ``&`` and quotes; what XML cannot hold even escaped
    (a control character in a schema's name, say) goes through `xml_text`.
    """
    suite = xml_text(suite)
    failures = sum(1 for r in records if not r.ok and r.outcome != NOT_RUN)
    skipped = sum(1 for r in records if r.outcome == NOT_RUN)
    root = ET.Element("testsuites")
    element = ET.SubElement(
        root,
        "testsuite",
        name=suite,
        tests=str(len(records)),
        failures=str(failures),
        errors="0",
        skipped=str(skipped),
        time=f"{sum(r.seconds for r in records):.3f}",
    )
    for record in records:
        case = ET.SubElement(
            element, "testcase", classname=suite, name=xml_text(record.name), time=f"{record.seconds:.3f}"
        )
        out = ET.SubElement(case, "system-out")
        out.text = xml_text("\n".join([_line(record), *(_step_line(step) for step in record.steps)]))
        if record.outcome == NOT_RUN:
            ET.SubElement(case, "skipped", message=xml_text(record.error or "not run: the fleet stopped first"))
        elif not record.ok:
            failure = ET.SubElement(
                case, "failure", message=xml_text((record.error or "did not reach its target").splitlines()[0])
            )
            failure.text = xml_text(
                record.error
                or f"ended at {', '.join(record.to_revisions) or '<none>'}, expected {', '.join(record.target or []) or '<none>'}"
            )
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


def _line(record: Record) -> str:
    where = record.url or ""
    if record.schema:
        where = f"schema {record.schema}" + (f" of {where}" if where else "")
    return (
        f"{record.name} ({where}): {record.outcome}, {', '.join(record.from_revisions) or '<none>'} -> "
        f"{', '.join(record.to_revisions) or '<none>'}, {record.applied} applied in {record.seconds:.2f}s"
    )


def _step_line(step: dict) -> str:
    attempts = f", {step['attempts']} attempts" if step["attempts"] > 1 else ""
    state = f" [{step['sqlstate']}]" if step.get("sqlstate") else ""
    return f"  {step['outcome']} {step['direction']} {step['revision']} ({step['duration_ms'] / 1000:.2f}s{attempts}){state}"


def table(records: list[Record], full_errors: bool = False) -> list[str]:
    """Return the final table's lines: one row per target, failures with their first error line (all, if *full_errors*)."""
    headers = ("target", "state", "from", "to", "applied", "seconds")
    rows = [
        (
            terminal_text(r.name),
            r.outcome if r.ok or r.outcome in (FAILED, UNREACHABLE, NOT_RUN) else f"{r.outcome} (not at target)",
            _short(r.from_revisions),
            _short(r.to_revisions),
            str(r.applied),
            f"{r.seconds:.2f}",
        )
        for r in records
    ]
    widths = [max([len(h), *(len(row[i]) for row in rows)]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for record, row in zip(records, rows):
        lines.append("  ".join(value.ljust(w) for value, w in zip(row, widths)).rstrip())
        if record.error and record.outcome in (FAILED, UNREACHABLE):
            error = [terminal_text(line) for line in record.error.strip().splitlines()]
            lines.extend(f"    {line}" for line in (error if full_errors else error[:1]))
            if len(error) > 1 and not full_errors:
                lines.append(f"    ({len(error) - 1} more line(s): -v or --json shows them)")
    return lines


def _short(revisions: list[str]) -> str:
    return ", ".join(revisions) if revisions else "-"
