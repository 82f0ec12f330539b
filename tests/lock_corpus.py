"""The lock-rule corpus (tests/lint_corpus/lock_rules.toml) in every form, and its figures.

Each example becomes a legacy file (SQL through ``conn.execute(text(...))``), a
native revision running the same SQL through ``op.execute``, and, where the
example gives them, a native revision of ``op.*`` calls and one of ``batch_op.*``
calls. Transactions are kept as the bridge runs them: the first group of
statements in the migration's transaction, a statement with CONCURRENTLY and
every group after a ``COMMIT;`` on an AUTOCOMMIT connection (legacy) or in
``autocommit_block()`` (native). The same SQL, with ``BEGIN``/``COMMIT`` where
it shares the migration's transaction, is what squawk-cli reads.

    python tests/lock_corpus.py      # both linters' recall and false positives, per form

tests/test_lint_corpus.py holds alembic-bridge to recall >= 97 % and false positives <= 3 %.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pglast
import tomllib

CORPUS = Path(__file__).resolve().parent / "lint_corpus" / "lock_rules.toml"
FORMS = ("legacy", "op.execute", "op", "batch_op")
# Squawk's rules that answer the same question as each alembic-bridge lock rule.
SQUAWK_COUNTERPARTS = {
    "LB501": {"require-concurrent-index-creation", "require-concurrent-index-deletion", "require-concurrent-reindex"},
    "LB502": {"ban-concurrent-index-creation-in-transaction"},
    "LB503": {"disallowed-unique-constraint", "adding-serial-primary-key-field", "constraint-missing-not-valid"},
    "LB504": {"adding-foreign-key-constraint", "constraint-missing-not-valid"},
    "LB505": {"adding-not-nullable-field"},
    "LB506": {"adding-required-field"},
    "LB507": {"adding-field-with-default", "adding-serial-primary-key-field"},
    "LB508": {"changing-column-type"},
    "LB509": {"renaming-column", "renaming-table"},
    "LB510": {"ban-drop-column", "ban-drop-table"},
    "LB511": {"prefer-repack"},
    "LB512": set(),  # Squawk has no LOCK TABLE rule
    "LB513": set(),  # nor one for a backfill in the DDL's transaction
    "LB520": {"require-timeout-settings", "require-lock-timeout"},
}
TIMEOUT_RULES = SQUAWK_COUNTERPARTS["LB520"]
SQUAWK_LOCK_RULES = set().union(*SQUAWK_COUNTERPARTS.values())


@dataclass(frozen=True)
class Example:
    index: int
    bad: bool
    rule: str
    sql: str
    source: str
    op: str | None = None
    batch: dict | None = None
    pg: int = 16
    in_transaction: bool = False

    @property
    def name(self) -> str:
        return f"{'bad' if self.bad else 'good'}_{self.index:02d}_{self.rule}"

    @property
    def timeout(self) -> bool:
        """Whether the files set migration_lock_timeout (every example but LB520's)."""
        return self.rule != "LB520"

    def units(self) -> list[tuple[str, bool]]:
        """Return (statement, autocommit) in order, as the bridge runs them."""
        units = []
        for group_index, group in enumerate(self.sql.split("COMMIT;")):
            for statement in pglast.split(group):
                concurrent = "concurrently" in statement.lower() and "concurrently false" not in statement.lower()
                autocommit = group_index > 0 or (concurrent and not self.in_transaction)
                units.append((statement.strip(), autocommit))
        return units


def load() -> list[Example]:
    data = tomllib.loads(CORPUS.read_text(encoding="utf-8"))
    examples = []
    for kind in ("bad", "good"):
        for index, entry in enumerate(data[kind], 1):
            examples.append(Example(index=index, bad=kind == "bad", **entry))
    return examples


def _blocks(units: list[tuple[str, bool]], transaction: str, autocommit: str, line: str) -> str:
    lines: list[str] = []
    previous = None
    for statement, auto in units:
        if auto != previous or auto:
            lines.append(autocommit if auto else transaction)
            previous = auto
        lines.append("    " + line.format(sql=statement))
    return "\n".join(lines)


def legacy_file(example: Example) -> str:
    body = _blocks(
        example.units(),
        "with engine.begin() as conn:",
        'with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:',
        "conn.execute(text({sql!r}))",
    )
    timeout = 'migration_lock_timeout = "5s"\n' if example.timeout else ""
    return (
        f"from sqlalchemy import text\n\n{timeout}\n\ndef upgrade(engine):\n{textwrap.indent(body, '    ')}\n\n\n"
        "def downgrade(engine):\n    pass\n"
    )


def _native(body: str, example: Example) -> str:
    timeout = 'migration_lock_timeout = "5s"\n' if example.timeout else ""
    return (
        f'"""{example.name}\n\nRevision ID: 3f2a1b9c0d4e\nRevises: 20251118_create_order_events\n"""\n\n'
        "import sqlalchemy as sa\nfrom alembic import op\n\n"
        f'revision = "3f2a1b9c0d4e"\ndown_revision = "20251118_create_order_events"\n{timeout}\n\n'
        f"def upgrade():\n{textwrap.indent(body, '    ')}\n\n\ndef downgrade():\n    pass\n"
    )


def forms(example: Example) -> dict[str, str]:
    """Return the example's files, by form."""
    sql = _blocks(example.units(), "if True:", "with op.get_context().autocommit_block():", "op.execute({sql!r})")
    found = {"legacy": legacy_file(example), "op.execute": _native(sql, example)}
    if example.op:
        found["op"] = _native(example.op, example)
    if example.batch:
        batch = example.batch
        body = "\n".join(
            part
            for part in (
                batch.get("before"),
                f'with op.batch_alter_table("{batch["table"]}") as batch_op:\n'
                + textwrap.indent(batch["body"], "    "),
                batch.get("after"),
            )
            if part
        )
        found["batch_op"] = _native(body, example)
    return found


def squawk_sql(example: Example) -> str:
    """Return the example as the SQL a migration tool would run: BEGIN/COMMIT around its transactions."""
    lines: list[str] = []
    open_transaction = False
    for statement, auto in example.units():
        if not auto and not open_transaction:
            lines.append("BEGIN;")
            open_transaction = True
        if auto and open_transaction:
            lines.append("COMMIT;")
            open_transaction = False
        lines.append(statement.rstrip(";") + ";")
    if open_transaction:
        lines.append("COMMIT;")
    return "\n".join(lines) + "\n"


def bridge_codes(example: Example, form: str, source: str) -> set[str]:
    from bridge.lint import LintSettings, lint_source
    from bridge.lint.rules.catalog import RULES_BY_CODE

    select = ("ALL",) if RULES_BY_CODE[example.rule].default_enabled else ("ALL", example.rule)  # opt-in rules
    settings = LintSettings(postgres_version=example.pg, select=select).with_rules(
        lock_timeout_configured=None if example.timeout else False
    )
    filename = "20251031_corpus.py" if form == "legacy" else "3f2a1b9c0d4e_corpus.py"
    return {v.code for v in lint_source(source, filename, settings) if v.code.startswith("LB5")}


def judged(example: Example, codes: set[str], counterparts: set[str], lock_rules: set[str]) -> bool:
    """Return whether the linter got the example right: a bad one caught, a good one left alone."""
    if example.bad:
        return bool(codes & counterparts)
    return not codes & lock_rules


def bridge_results(examples: list[Example]) -> dict[str, list[tuple[Example, set[str]]]]:
    results: dict[str, list[tuple[Example, set[str]]]] = {form: [] for form in FORMS}
    for example in examples:
        for form, source in forms(example).items():
            results[form].append((example, bridge_codes(example, form, source)))
    return results


def bridge_right(example: Example, codes: set[str]) -> bool:
    lock = {c for c in codes if c != "LB520" or not example.timeout}
    return judged(example, lock, {example.rule}, lock | {example.rule})


def squawk_binary() -> str | None:
    local = Path(sys.executable).parent / "squawk"
    return str(local) if local.exists() else shutil.which("squawk")


def squawk_results(examples: list[Example], binary: str) -> list[tuple[Example, set[str]]]:
    """Run squawk-cli over each example's SQL (at the example's PostgreSQL version); return its rules."""
    found: dict[str, set[str]] = {e.name: set() for e in examples}
    with tempfile.TemporaryDirectory() as tmp:
        by_version: dict[int, list[Path]] = {}
        for example in examples:
            path = Path(tmp) / f"{example.name}.sql"
            path.write_text(squawk_sql(example), encoding="utf-8")
            by_version.setdefault(example.pg, []).append(path)
        for version, paths in by_version.items():
            done = subprocess.run(
                [binary, "--reporter", "json", f"--pg-version={version}.0", *map(str, paths)],
                capture_output=True,
                text=True,
                check=False,
            )
            for violation in json.loads(done.stdout or "[]"):
                found[Path(violation["file"]).stem].add(violation["rule_name"])
    return [(e, found[e.name]) for e in examples]


def with_counterpart(examples: list[Example]) -> list[Example]:
    """Return the examples of the rules Squawk has a counterpart for (not LB512, LB513)."""
    return [e for e in examples if SQUAWK_COUNTERPARTS[e.rule]]


def squawk_right(example: Example, rules: set[str]) -> bool:
    lock_rules = SQUAWK_LOCK_RULES if not example.timeout else SQUAWK_LOCK_RULES - TIMEOUT_RULES
    return judged(example, rules, SQUAWK_COUNTERPARTS[example.rule], lock_rules)


def figures(results: list[tuple[Example, set[str]]], right) -> tuple[int, int, int, int]:
    """Return (bad caught, bad, good flagged, good)."""
    bad = [(e, c) for e, c in results if e.bad]
    good = [(e, c) for e, c in results if not e.bad]
    return (
        sum(right(e, c) for e, c in bad),
        len(bad),
        sum(not right(e, c) for e, c in good),
        len(good),
    )


def _row(label: str, numbers: tuple[int, int, int, int]) -> str:
    caught, bad, flagged, good = numbers
    return (
        f"| {label} | {caught}/{bad} ({100 * caught / bad:.0f} %) | {flagged}/{good} ({100 * flagged / good:.0f} %) |"
    )


def main() -> int:
    examples = load()
    results = bridge_results(examples)
    print("| linter and form | recall on bad examples | false positives on good ones |")
    print("| --- | --- | --- |")
    binary = squawk_binary()
    if binary is None:
        print("| squawk-cli | not installed (`pip install squawk-cli`) | |")
    else:
        version = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.strip()
        print(_row(f"{version} (SQL)", figures(squawk_results(with_counterpart(examples), binary), squawk_right)))
    for form in FORMS:
        print(_row(f"alembic-bridge, {form}", figures(results[form], bridge_right)))
    everything = [pair for form in FORMS for pair in results[form]]
    print(_row("alembic-bridge, every form", figures(everything, bridge_right)))
    misses = Counter(
        (form, e.name, e.source, ",".join(sorted(c)))
        for form in FORMS
        for e, c in results[form]
        if not bridge_right(e, c)
    )
    for (form, name, source, codes), _ in sorted(misses.items()):
        print(f"  wrong: {form} {name} ({source}): {codes or 'nothing'}", file=sys.stderr)
    if binary is not None:
        for e, rules in squawk_results(with_counterpart(examples), binary):
            if not squawk_right(e, rules):
                print(f"  squawk wrong: {e.name} ({e.source}): {sorted(rules) or 'nothing'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
