"""alembic-bridge: date-named legacy migrations as Alembic revisions.

The public API, for a team's own ``run.py`` or scripts::

    import bridge
    bridge.upgrade()                      # like `alembic upgrade head`
    bridge.upgrade("alembic.ini", "20251031_add_error_message")
    bridge.status().pending               # what would run

Every name in ``__all__`` is documented in docs/api.md and follows semantic
versioning; anything else (``bridge.<module>``) is internal. Nothing is
imported at module level: Alembic imports ``bridge.plugin`` (and so
this package) every time ``alembic`` itself is imported.
"""

__version__ = "0.1.0"

_API = {
    "upgrade": "runner",
    "downgrade": "runner",
    "status": "runner",
    "plan_upgrade": "runner",
    "plan_downgrade": "runner",
    "sync_tables": "runner",
    "run_log": "runner",
    "repair": "runner",
    "load_config": "runner",
    "lock_key": "lock",
    # What those functions return and hand to their callbacks.
    "Status": "runner",
    "MigrationStatus": "runner",
    "RunPlan": "runner",
    "RunResult": "runner",
    "RepairPlan": "repairs",
    "Step": "context",
    # What they raise: every error is a BridgeError (an Alembic CommandError).
    "BridgeError": "errors",
    "ConfigError": "errors",
    "ConnectionFailed": "errors",
    "MigrationError": "errors",
    "HoleError": "errors",
    "LockTimeout": "errors",
    "LedgerMismatch": "errors",
}

__all__ = ["__version__", *_API]


def __getattr__(name):
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'bridge' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"bridge.{module}"), name)
