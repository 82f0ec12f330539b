"""The lock-rule corpus (issue 23): recall >= 97 % and false positives <= 3 % in every form.

tests/lint_corpus/lock_rules.toml holds the examples, tests/lock_corpus.py renders them (legacy
files, op.execute, op.*, batch_op.*) and scores both linters. docs/lint-rules.md's table must
show what they measure today.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import lock_corpus  # noqa: E402

from bridge.lint.rules.catalog import RULES  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = lock_corpus.load()
RESULTS = lock_corpus.bridge_results(EXAMPLES)
LOCK_RULES = [r.code for r in RULES if r.code.startswith("LB5")]


def _docs_row(label: str) -> str:
    docs = (REPO / "docs" / "lint-rules.md").read_text(encoding="utf-8")
    match = re.search(rf"^\| {re.escape(label)} \|.*\|$", docs, re.MULTILINE)
    assert match, f"docs/lint-rules.md has no row for {label!r}"
    return match.group(0)


@pytest.mark.parametrize("form", lock_corpus.FORMS)
def test_every_form_reaches_squawks_recall_and_false_positive_rate(form):
    caught, bad, flagged, good = lock_corpus.figures(RESULTS[form], lock_corpus.bridge_right)
    wrong = [e.name for e, codes in RESULTS[form] if not lock_corpus.bridge_right(e, codes)]
    assert (caught / bad >= 0.97, flagged / good <= 0.03) == (True, True), wrong


def test_every_lock_rule_has_bad_and_good_examples_in_the_corpus():
    bad = {e.rule for e in EXAMPLES if e.bad}
    good = {e.rule for e in EXAMPLES if not e.bad}
    assert (sorted(set(LOCK_RULES) - bad), sorted(set(LOCK_RULES) - good)) == ([], [])
    assert {e.rule for e in EXAMPLES} <= set(LOCK_RULES)


def test_batch_and_op_forms_cover_every_rule_alembic_has_an_operation_for():
    with_op = {e.rule for e in EXAMPLES if e.bad and e.op}
    with_batch = {e.rule for e in EXAMPLES if e.bad and e.batch}
    # LB511 (VACUUM FULL / CLUSTER) has no Alembic operation; LB512 (LOCK TABLE) is op.execute and
    # batch_op.execute; a batch's CONCURRENTLY (LB502) fails: its ALTERs run in the revision's transaction.
    assert sorted(set(LOCK_RULES) - with_op) == ["LB511"]
    assert sorted(set(LOCK_RULES) - with_batch) == ["LB511"]


def test_every_rendered_file_is_valid_python_and_lints_as_its_kind():
    import ast

    from bridge.lint.rules.checks import is_native_revision

    for example in EXAMPLES:
        for form, source in lock_corpus.forms(example).items():
            assert is_native_revision(ast.parse(source)) == (form != "legacy"), (example.name, form)


@pytest.mark.parametrize("form", [*lock_corpus.FORMS, "every form"])
def test_docs_table_shows_alembic_bridges_figures(form):
    results = [pair for f in lock_corpus.FORMS for pair in RESULTS[f]] if form == "every form" else RESULTS[form]
    label = f"alembic-bridge, {form}"
    assert _docs_row(label) == lock_corpus._row(label, lock_corpus.figures(results, lock_corpus.bridge_right))


@pytest.mark.slow
def test_docs_table_shows_squawks_figures_on_the_same_sql():
    binary = lock_corpus.squawk_binary()
    if binary is None:
        pytest.skip("squawk-cli is not installed (pip install squawk-cli): Squawk's row cannot be re-measured")
    import subprocess

    version = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    label = f"{version} (SQL)"
    examples = lock_corpus.with_counterpart(EXAMPLES)
    numbers = lock_corpus.figures(lock_corpus.squawk_results(examples, binary), lock_corpus.squawk_right)
    assert _docs_row(label) == lock_corpus._row(label, numbers)
