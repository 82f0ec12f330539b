"""``alembic-bridge baseline``: one native revision that builds the legacy chain's schema.

The baseline *replaces* the legacy chain (and any revisions converted from
it) with one revision that **keeps the revision id of the last legacy
migration** and has ``down_revision = None``:

- a database already at that revision (or past it) is, for Alembic, already
  at the baseline: nothing runs and nothing needs stamping;
- an empty database runs only the baseline: it creates the schema and seed
  data that the chain builds (pg_dump of a scratch database upgraded through
  the chain, so it is exactly what the files produce) and writes one
  ``schema_migrations`` row per replaced migration, so old runners see them
  applied;
- a database an old runner migrated (every replaced migration has a row, no
  ``alembic_version``) is adopted: the baseline creates nothing;
- a database part-way through the replaced chain is refused by name: it must
  first be brought to the baseline's revision with the code from before it.

Alembic has no "either this path or that one" join (a merge needs all of its
parents), so a baseline on a separate branch could never stand in for the
chain; reusing the head's id makes the chain and the baseline the same node.
The module declares ``replaces_legacy`` (every replaced stem, in order) so the
bridge knows those ``schema_migrations`` rows are accounted for.

- `bridge.baseline.plan`: what would be squashed into which file (`plan_baseline`);
- `bridge.baseline.build`: the scratch database and the schema it dumps (`build_schema`);
- `bridge.baseline.pgdump`: finding and running pg_dump, `restorable`, `drop_statements`;
- `bridge.baseline.render`: the revision's source (`render_baseline`) and writing it (`write_baseline`);
- `bridge.revision_api`: what a baseline revision calls when it runs.

Baselines written before `bridge.revision_api` existed import `apply_baseline`
and `revert_baseline` from here, so this package re-exports them and stays as
light as that module: the rest loads only when one of its names is asked for.
"""

from __future__ import annotations

import importlib

# Committed baseline revisions do `from bridge.baseline import ...` these: keep them forever.
from ..revision_api import BaselineError, apply_baseline, revert_baseline

_LAZY = {
    "BaselinePlan": "plan",
    "plan_baseline": "plan",
    "build_schema": "build",
    "scratch_database": "build",
    "KEPT_SETTINGS": "pgdump",
    "restorable": "pgdump",
    "drop_statements": "pgdump",
    "find_pg_dump": "pgdump",
    "run_pg_dump": "pgdump",
    "render_baseline": "render",
    "write_baseline": "render",
    "_python_string": "render",
}

__all__ = ["BaselineError", "apply_baseline", "revert_baseline", *(n for n in _LAZY if not n.startswith("_"))]


def __getattr__(name: str):
    submodule = _LAZY.get(name)
    if submodule is None:
        raise AttributeError(f"module 'bridge.baseline' has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{submodule}"), name)
