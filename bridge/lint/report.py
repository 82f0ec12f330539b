"""Findings in the formats CI systems read: SARIF 2.1.0 (GitHub code scanning) and GitHub annotations.

Each function returns text or data; the command (`bridge.cli.lint`) prints it.
The human format is `Violation.format` plus the hint; JSON is `Violation.to_dict`.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import metadata
from pathlib import PurePath

from .engine import Violation
from .rules.catalog import ERROR, RULES

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
DOCS_URL = "docs/lint-rules.md"


def _version() -> str:
    try:
        return metadata.version("alembic-bridge")
    except metadata.PackageNotFoundError:
        return "0"


# `check`'s findings that are not about a line of a file (heads, holes, drift, ...).
CHECK_RULE = {
    "id": "check",
    "name": "migration-history",
    "shortDescription": {"text": "The migration history has a problem that should stop a merge"},
    "fullDescription": {"text": "Several heads, holes, files edited or missing after they were applied, ..."},
    "help": {"text": "The message says what to do."},
    "defaultConfiguration": {"level": "error"},
}


def sarif(
    violations: list[Violation],
    *,
    properties: Sequence[dict | None] = (),
    others: Sequence[tuple[str, str]] = (),
    tool: str = "alembic-bridge lint",
) -> dict:
    """Return a SARIF 2.1.0 log of *violations*, with every rule described.

    *properties*, aligned with *violations*, adds a result's ``properties`` (e.g.
    a table's size); *others* are (severity, message) findings about no file.
    """
    rules = [
        {
            "id": rule.code,
            "name": rule.name,
            "shortDescription": {"text": rule.summary.replace("`", "")},
            "fullDescription": {"text": rule.explanation.replace("`", "")},
            "help": {"text": f"Fix: {rule.hint}"},
            "helpUri": f"{DOCS_URL}#{rule.code.lower()}-{rule.name}",
            "defaultConfiguration": {"level": "error" if rule.severity == ERROR else "warning"},
        }
        for rule in RULES
    ]
    index = {rule.code: n for n, rule in enumerate(RULES)}
    results = [
        {
            "ruleId": v.code,
            "ruleIndex": index[v.code],
            "level": "error" if v.severity == ERROR else "warning",
            "message": {"text": f"{v.message} (fix: {v.hint})"},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": PurePath(v.path).as_posix()},
                        "region": {
                            "startLine": v.line,
                            "startColumn": max(v.col, 1),
                            "endLine": max(v.end_line, v.line),
                        },
                    }
                }
            ],
        }
        for v in violations
    ]
    for result, extra in zip(results, properties):
        if extra:
            result["properties"] = extra
    if others:
        rules.append(CHECK_RULE)
        results += [
            {
                "ruleId": "check",
                "ruleIndex": len(rules) - 1,
                "level": "error" if severity == ERROR else "warning",
                "message": {"text": message},
            }
            for severity, message in others
        ]
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": tool, "version": _version(), "rules": rules}},
                "results": results,
            }
        ],
    }


def _escape(text: str, *, property_value: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if property_value else text


def github_annotations(violations: list[Violation], others: Sequence[tuple[str, str]] = ()) -> list[str]:
    """Return one GitHub Actions workflow command per finding (``::error file=...::message``).

    *others* are (severity, message) findings about no file: ``::error::message``.
    """
    lines = [f"::{'error' if severity == ERROR else 'warning'}::{_escape(message)}" for severity, message in others]
    for v in violations:
        level = "error" if v.severity == ERROR else "warning"
        properties = ",".join(
            f"{key}={_escape(str(value), property_value=True)}"
            for key, value in (
                ("file", PurePath(v.path).as_posix()),
                ("line", v.line),
                ("endLine", max(v.end_line, v.line)),
                ("col", v.col),
                ("title", f"{v.code} {v.rule.name}"),
            )
        )
        lines.append(f"::{level} {properties}::{_escape(f'{v.code} {v.message} (fix: {v.hint})')}")
    return lines
