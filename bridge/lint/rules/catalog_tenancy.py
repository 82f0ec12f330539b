"""The tenant-safety rule's text (LB601); the check is in `bridge.lint.rules.tenancy`."""

from __future__ import annotations

from .rule import ERROR, WARNING, Rule
from .rule import upgrade_example as _upgrade

PINNED_TO_PUBLIC = "LB601"

TENANT_RULES: tuple[Rule, ...] = (
    Rule(
        code=PINNED_TO_PUBLIC,
        name="schema-pinned-to-public",
        severity=WARNING,
        tenant_severity=ERROR,
        summary="An existence check or a table name pinned to the `public` schema",
        hint=(
            "write it schema-neutral: `table_schema = current_schema()` (or `schemaname`, `nspname`), "
            "`to_regclass('x')`, and unqualified names (`CREATE TABLE x`, not `public.x`)"
        ),
        explanation=(
            "A migration that checks `table_schema = 'public'`, `to_regclass('public.x')` or "
            "`schemaname = 'public'`, or names `public.x` (quoted or not) in its DDL, or sets "
            "`search_path` to `public`, only ever looks at the "
            "`public` schema. Run for a tenant schema (`alembic-bridge fleet --schemas`, where "
            "the bridge sets `search_path` to the tenant alone), the check finds the table in "
            "`public` (or does not find it in the tenant), returns early, and the migration is "
            "recorded as applied in the tenant without creating anything there: the next file "
            "then fails. Compare with `current_schema()` and leave names unqualified, so the "
            "statement means the schema the run is for, and the same file works for `public` "
            "and for every tenant. Severity: a warning, an error when the configuration names "
            "tenant schemas (`fleet_schemas` in `[alembic]`). A schema the migration really "
            "means (`pg_catalog`, an extension's schema) is not `public` and is not reported."
        ),
        bad=_upgrade(
            "with engine.begin() as conn:\n"
            "    found = conn.execute(text(\n"
            '        "SELECT COUNT(*) FROM information_schema.columns "\n'
            "        \"WHERE table_schema = 'public' AND table_name = 'open_orders' AND column_name = 'error_message'\"\n"
            "    )).scalar()\n"
            "    if found:\n"
            "        return\n"
            '    conn.execute(text("ALTER TABLE public.open_orders ADD COLUMN IF NOT EXISTS error_message TEXT"))'
        ),
        good=_upgrade(
            "with engine.begin() as conn:\n"
            "    found = conn.execute(text(\n"
            '        "SELECT COUNT(*) FROM information_schema.columns "\n'
            "        \"WHERE table_schema = current_schema() AND table_name = 'open_orders' AND column_name = 'error_message'\"\n"
            "    )).scalar()\n"
            "    if found:\n"
            "        return\n"
            '    conn.execute(text("ALTER TABLE open_orders ADD COLUMN IF NOT EXISTS error_message TEXT"))'
        ),
    ),
)
