"""The baseline revision's source, and writing it in place of the files it replaces."""

from __future__ import annotations

import ast
import datetime
import textwrap
from pathlib import Path

from ..revision_api import REPLACES_ATTRIBUTE, BaselineError
from .plan import BaselinePlan


def _python_string(text: str) -> str:
    """Return a Python literal for *text*: a raw triple-quoted string when that is exact."""
    if "\r" not in text and not text.endswith(("\\", '"')) and '"""' not in text and '\\"' not in text:
        return 'r"""' + text + '"""'
    return "(\n" + "\n".join("    " + repr(line) for line in text.splitlines(keepends=True)) + "\n)"


def render_baseline(plan: BaselinePlan, create_sql: str, drop_sql: str, message: str | None = None) -> str:
    """Return the source of the baseline revision."""
    title = message or f"Baseline: the schema of {plan.head}"
    count = len(plan.replaces)
    stems = "\n".join(f'    "{stem}",' for stem in plan.replaces)
    now = datetime.datetime.now().replace(microsecond=0)
    about = "\n\n".join(
        textwrap.fill(paragraph, 79)
        for paragraph in (
            f"Written by `alembic-bridge baseline`. It squashes {count} legacy migration(s), "
            f"{plan.replaces[0]} .. {plan.head}, into the schema and seed data they build "
            f"(pg_dump of a scratch database upgraded to {plan.head}).",
            f"It keeps the revision id of the last of them, so a database already at (or past) "
            f"{plan.head} runs nothing; an empty database runs only this revision, which also "
            f"records all {count} migrations in schema_migrations so old runners see them as "
            "applied. A database an old runner migrated (every row present, no alembic_version) "
            "is adopted without creating anything; a database part-way through the squashed "
            "migrations is refused.",
        )
    )
    if '"""' in title or "\\" in title:
        raise BaselineError("The message may not contain triple quotes or backslashes.")
    source = f'''"""{title}

Revision ID: {plan.head}
Revises:
Create Date: {now}

{about}
"""

from bridge.revision_api import apply_baseline, revert_baseline

# revision identifiers, used by Alembic.
revision = "{plan.head}"
down_revision = None
branch_labels = None
depends_on = None
# The legacy migrations this baseline replaces, in order: their schema_migrations rows.
{REPLACES_ATTRIBUTE} = (
{stems}
)


def upgrade() -> None:
    """Create the schema of {plan.head} (nothing if an old runner already applied the chain)."""
    apply_baseline(revision, {REPLACES_ATTRIBUTE}, SCHEMA_SQL)


def downgrade() -> None:
    """Drop everything the baseline created and delete the rows of the migrations it replaces."""
    revert_baseline(revision, {REPLACES_ATTRIBUTE}, DROP_SQL)


SCHEMA_SQL = {_python_string(create_sql)}

DROP_SQL = {_python_string(drop_sql)}
'''
    tree = ast.parse(source)
    values = {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Name)
        and node.targets[0].id in ("SCHEMA_SQL", "DROP_SQL")
    }
    if values != {"SCHEMA_SQL": create_sql, "DROP_SQL": drop_sql}:  # pragma: no cover - a quoting bug
        raise BaselineError("internal error: the SQL did not survive quoting; please report it")
    return source


def write_baseline(plan: BaselinePlan, source: str) -> list[Path]:
    """Write the baseline revision, then delete the files it replaces; return the deleted paths."""
    plan.target.parent.mkdir(parents=True, exist_ok=True)
    temporary = plan.target.with_name(f".{plan.target.name}.tmp")
    temporary.write_text(source, encoding="utf-8")
    temporary.replace(plan.target)  # first, so an interruption loses no file
    removed = []
    for path in plan.remove:
        if path != plan.target:
            path.unlink()
        removed.append(path)
    return removed
