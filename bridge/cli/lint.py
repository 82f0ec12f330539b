"""``alembic-bridge lint``: check legacy migration files without running them (see `bridge.lint`)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import click

from .. import linting
from ..lint import (
    ERROR,
    RULES_BY_CODE,
    WARNING,
    Violation,
    display_path,
    render_docs,
    render_rule,
    report,
)


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


_SURROGATE = re.compile("[\ud800-\udfff]")


def _utf8_json(data) -> str:
    """Return *data* as JSON that is valid UTF-8: non-ASCII text kept readable, a lone surrogate
    (a file name that is not UTF-8, as os.fsdecode gives it) escaped, never written as its raw byte."""
    text = json.dumps(data, indent=2, ensure_ascii=False)
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)  # only inside JSON strings


def echo_machine_readable(output_format: str, items: list, as_dict, sarif, github) -> bool:
    """Print *items* in a machine-readable *output_format* (json, sarif, github) and return True;
    return False for text, which each command prints its own way.

    *as_dict*, *sarif* and *github* turn one item, and all of them, into each format.
    """
    if output_format == "json":
        click.echo(_utf8_json([as_dict(item) for item in items]))
    elif output_format == "sarif":
        click.echo(_utf8_json(sarif(items)))
    elif output_format == "github":
        for line in github(items):
            click.echo(line)
    else:
        return False
    return True


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
    if paths and diff_base is not None:
        raise click.UsageError("--diff applies to the configured legacy_location; give no PATH with it.")
    try:
        plan = linting.plan(getattr(obj, "config_path", None), paths, select, ignore, diff_base)
    except linting.BadSelection as err:
        raise click.UsageError(str(err)) from None
    violations = plan.run()
    output_format = "json" if as_json else output_format
    if not echo_machine_readable(
        output_format, violations, lambda v: v.to_dict(), report.sarif, report.github_annotations
    ):
        for violation in violations:
            click.echo(violation.format())
            click.echo(f"    hint: {violation.hint}")
        if not getattr(obj, "quiet", False):
            click.echo(summary(violations))
    if plan.held and not getattr(obj, "quiet", False):  # on stderr: stdout keeps its format (ruff's, JSON, SARIF)
        click.echo(_held_note(plan.held, plan.settings.lock_rules_since, diff_base), err=True)
    if any(v.severity == ERROR for v in violations):
        # SystemExit, not ctx.exit(): bridge.cli.main runs click with
        # standalone_mode=False, where a click Exit's code would be returned and lost.
        sys.exit(1)
