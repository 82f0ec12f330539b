"""alembic-bridge: date-named legacy migrations as Alembic revisions.

Kept free of imports at module level: Alembic imports ``bridge.plugin`` (and so
this package) every time ``alembic`` itself is imported.
"""

__version__ = "0.1.0"
