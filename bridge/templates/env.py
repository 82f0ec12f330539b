"""Alembic environment for this repository: the bridge does the work."""

from bridge.env import run_migrations

run_migrations()
