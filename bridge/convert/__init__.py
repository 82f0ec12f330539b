"""``alembic-bridge convert``: legacy files become native Alembic revisions with the same id.

A legacy file ``20251031_x.py`` becomes ``<version location>/20251031_x.py``
with ``revision = "20251031_x"`` and ``down_revision`` = the previous stem, so
no database needs any change: ``alembic_version`` and ``schema_migrations``
already name it.

- `bridge.convert.rewrite`: the source rewrite of one file (`convert_source`, pure);
- `bridge.convert.plan`: which files, in which order (`plan_conversion`), and
  writing them (`apply_conversion`);
- `bridge.revision_api`: what a converted revision calls when it runs.

A converted revision keeps its ``schema_migrations`` row (`record_legacy_row`,
`delete_legacy_row`) and skips its body when the row is already there
(`legacy_row_recorded`): an old runner that still has the legacy file then
sees it as applied, a database an old runner migrated is adopted without
re-running anything, and the table reads exactly as before the conversion.
Its module declares ``replaces_legacy = (revision,)`` so the bridge knows the
row is accounted for.

Revisions converted before `bridge.revision_api` existed import those helpers
from here, so this package re-exports them and stays as light as that module:
the rewriter and the planner load only when one of their names is asked for.
"""

from __future__ import annotations

import importlib

# Committed converted revisions do `from bridge.convert import ...` these: keep them forever.
from ..revision_api import (
    REPLACES_ATTRIBUTE,
    delete_legacy_row,
    legacy_row_recorded,
    migration_ledger,
    record_legacy_row,
    run_legacy_code,
)

_LAZY = {
    "convert_source": "rewrite",
    "ConvertedSource": "rewrite",
    "FunctionConversion": "rewrite",
    "CannotConvert": "rewrite",
    "NATIVE": "rewrite",
    "LEGACY_CODE": "rewrite",
    "MISSING": "rewrite",
    "plan_conversion": "plan",
    "apply_conversion": "plan",
    "ConversionPlan": "plan",
    "FileConversion": "plan",
    "ConversionRefused": "plan",
}

__all__ = [
    "REPLACES_ATTRIBUTE",
    "delete_legacy_row",
    "legacy_row_recorded",
    "migration_ledger",
    "record_legacy_row",
    "run_legacy_code",
    *_LAZY,
]


def __getattr__(name: str):
    submodule = _LAZY.get(name)
    if submodule is None:
        raise AttributeError(f"module 'bridge.convert' has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{submodule}"), name)
