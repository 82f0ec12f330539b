"""``alembic-bridge lint``: the legacy manual's checklist as a linter, in the shape of ruff.

Files are read, never imported or run. `lint_paths` lints files and folders
and returns `Violation` objects (selection, per-file ignores and ``# noqa``
applied); `lint_errors` returns only the error-level ones for ``check``.

- `bridge.lint.engine`: which files, the rules over each, selection and noqa applied;
- `bridge.lint.settings`: ``[tool.alembic-bridge.lint]`` in pyproject.toml, rule selectors;
- `bridge.lint.noqa`: ``# noqa`` comments;
- `bridge.lint.docs`: docs/lint-rules.md, generated from the rules;
- `bridge.lint.rules`: the rules themselves (catalog and checks).

The command is `bridge.cli.lint`; regenerate the rule documentation with
``alembic-bridge lint --write-docs docs/lint-rules.md``.
"""

from __future__ import annotations

from .docs import render_docs, render_rule
from .engine import Violation, display_path, expand_paths, lint_errors, lint_paths, lint_source, read_source
from .rules.catalog import ERROR, RULES, RULES_BY_CODE, WARNING, Rule
from .settings import (
    ALL,
    PYPROJECT_TABLE,
    LintSettings,
    load_settings,
    normalize_selectors,
    project_pyproject,
)

__all__ = [
    "ALL",
    "ERROR",
    "PYPROJECT_TABLE",
    "RULES",
    "RULES_BY_CODE",
    "WARNING",
    "LintSettings",
    "Rule",
    "Violation",
    "display_path",
    "expand_paths",
    "lint_errors",
    "lint_paths",
    "lint_source",
    "load_settings",
    "project_pyproject",
    "normalize_selectors",
    "read_source",
    "render_docs",
    "render_rule",
]
