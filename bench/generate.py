"""Write the benchmark projects: N legacy files, N equivalent native revisions.

Two folders under one root, each what its tool expects:

- ``bridge/``  an ``alembic-bridge init``-style project: alembic.ini with
  ``legacy_location = legacy``, the two-line env.py, and N files
  ``legacy/YYYYMMDD_create_bench_NNNNN.py`` in the legacy template's style
  (the minimal legacy runner reads this same folder);
- ``stock/``   a plain Alembic project (no ``legacy_location``) whose
  ``alembic/versions`` holds N chained revisions doing the same DDL with ``op``.

Every migration creates one small table with ``CREATE TABLE IF NOT EXISTS``
and checks that it exists (the legacy template's verification query); the
legacy ones also print and commit as the template does.
"""

from __future__ import annotations

import datetime
import hashlib
from pathlib import Path

FIRST_DATE = datetime.date(2012, 1, 2)
# Several files per day, as in real projects; their order is then the name order.
FILES_PER_DAY = 3

LEGACY_TEMPLATE = '''\
"""
Migration: Create bench_{index:05d}
Date: {iso_date}

Purpose:
    Benchmark migration {index} of {total}: one small table, created idempotently.

Feature: bench
Phase: 1

Changes:
    - CREATE TABLE IF NOT EXISTS bench_{index:05d}

Usage:
    python migrations/{stem}.py --upgrade
    python migrations/{stem}.py --downgrade
"""

# @FEAT:bench @COMP:migration @TYPE:core

import os
import sys

from sqlalchemy import create_engine, text


def upgrade(engine):
    """Apply migration"""
    print("🚀 Starting migration: create bench_{index:05d}")
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            conn.execute(text("""
                CREATE TABLE IF NOT EXISTS bench_{index:05d} (
                    id SERIAL PRIMARY KEY,
                    name VARCHAR(100) NOT NULL,
                    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
                )
            """))

            result = conn.execute(text("SELECT to_regclass('bench_{index:05d}')"))
            if result.scalar() is None:
                raise Exception("Verification failed")

            trans.commit()
            print("✅ Migration completed: bench_{index:05d} created")
        except Exception as e:
            trans.rollback()
            print(f"❌ Migration failed, rolled back: {{e}}")
            raise


def downgrade(engine):
    """Rollback migration"""
    print("⏪ Rolling back migration: create bench_{index:05d}")
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            conn.execute(text("DROP TABLE IF EXISTS bench_{index:05d}"))
            trans.commit()
            print("✅ Rollback completed")
        except Exception as e:
            trans.rollback()
            print(f"❌ Rollback failed: {{e}}")
            raise


if __name__ == "__main__":
    from dotenv import load_dotenv

    load_dotenv()
    url = "postgresql://{{}}:{{}}@{{}}:{{}}/{{}}".format(
        os.getenv("DB_USER", "trader"),
        os.getenv("DB_PASSWORD", "password123"),
        os.getenv("DB_HOST", "localhost"),
        os.getenv("DB_PORT", "5432"),
        os.getenv("DB_NAME", "trading_system"),
    )
    if len(sys.argv) != 2 or sys.argv[1] not in ("--upgrade", "--downgrade"):
        print("Usage: python {stem}.py [--upgrade|--downgrade]")
        sys.exit(1)
    engine = create_engine(url)
    try:
        if sys.argv[1] == "--upgrade":
            upgrade(engine)
        else:
            downgrade(engine)
    except Exception as e:
        print(f"Error: {{e}}")
        sys.exit(1)
    finally:
        engine.dispose()
'''

NATIVE_TEMPLATE = '''\
"""create bench_{index:05d}

Revision ID: {revision}
Revises: {down_revision}
Create Date: {iso_date} 00:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = {revision!r}
down_revision: Union[str, Sequence[str], None] = {down_revision!r}
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.execute("""
        CREATE TABLE IF NOT EXISTS bench_{index:05d} (
            id SERIAL PRIMARY KEY,
            name VARCHAR(100) NOT NULL,
            created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
        )
    """)
    # The legacy file's verification query, so both run the same statements.
    if op.get_bind().execute(sa.text("SELECT to_regclass('bench_{index:05d}')")).scalar() is None:
        raise Exception("Verification failed")


def downgrade() -> None:
    """Downgrade schema."""
    op.execute("DROP TABLE IF EXISTS bench_{index:05d}")
'''

ENV_BRIDGE = '''\
"""Alembic environment: the bridge does the work."""

from bridge.env import run_migrations

run_migrations()
'''

# Alembic's own `generic` template env.py, with one change: one transaction per
# migration, as the bridge runs them. With Alembic's default (one transaction for
# the whole upgrade) 5,000 CREATE TABLEs exhaust a default PostgreSQL's lock table
# ("out of shared memory", max_locks_per_transaction). The no-op run is unaffected.
ENV_STOCK = """\
from logging.config import fileConfig

from sqlalchemy import engine_from_config
from sqlalchemy import pool

from alembic import context

config = context.config

if config.config_file_name is not None:
    fileConfig(config.config_file_name)

target_metadata = None


def run_migrations_offline() -> None:
    url = config.get_main_option("sqlalchemy.url")
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )

    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )

    with connectable.connect() as connection:
        context.configure(
            connection=connection, target_metadata=target_metadata,
            transaction_per_migration=True,
        )

        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
"""

INI = """\
[alembic]
script_location = %(here)s/alembic
{extra}prepend_sys_path = .
path_separator = os

[loggers]
keys = root,sqlalchemy,alembic{bridge_logger_key}

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARNING
handlers = console
qualname =

[logger_sqlalchemy]
level = WARNING
handlers =
qualname = sqlalchemy.engine

[logger_alembic]
level = INFO
handlers =
qualname = alembic
{bridge_logger}
[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %(levelname)-5.5s [%(name)s] %(message)s
datefmt = %H:%M:%S
"""

BRIDGE_LOGGER = """
[logger_bridge]
level = INFO
handlers =
qualname = bridge
"""


def migration_date(index: int) -> datetime.date:
    """Return the date of migration *index* (1-based)."""
    return FIRST_DATE + datetime.timedelta(days=(index - 1) // FILES_PER_DAY)


def legacy_stem(index: int) -> str:
    """Return the file stem of legacy migration *index* (1-based)."""
    return f"{migration_date(index):%Y%m%d}_create_bench_{index:05d}"


def native_revision(index: int) -> str:
    """Return a 12-hex-digit revision id, like ``alembic revision`` makes."""
    return hashlib.sha1(f"bench-{index}".encode()).hexdigest()[:12]


def write_legacy_files(directory: Path, n: int) -> list[Path]:
    """Write N legacy migration files into *directory*; return their paths in order."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(1, n + 1):
        stem = legacy_stem(index)
        path = directory / f"{stem}.py"
        path.write_text(
            LEGACY_TEMPLATE.format(index=index, total=n, iso_date=migration_date(index).isoformat(), stem=stem),
            encoding="utf-8",
        )
        paths.append(path)
    return paths


def write_native_revisions(directory: Path, n: int) -> None:
    """Write N chained native Alembic revisions into *directory*."""
    directory.mkdir(parents=True, exist_ok=True)
    down = None
    for index in range(1, n + 1):
        revision = native_revision(index)
        (directory / f"{revision}_create_bench_{index:05d}.py").write_text(
            NATIVE_TEMPLATE.format(
                index=index,
                revision=revision,
                down_revision=down,
                iso_date=migration_date(index).isoformat(),
            ),
            encoding="utf-8",
        )
        down = revision


def write_bridge_project(root: Path, n: int) -> Path:
    """Write an ``alembic-bridge init``-style project with N legacy files; return its folder."""
    (root / "alembic" / "versions").mkdir(parents=True, exist_ok=True)
    (root / "alembic" / "env.py").write_text(ENV_BRIDGE)
    (root / "alembic.ini").write_text(
        INI.format(
            extra="legacy_location = legacy\nversion_locations = %(here)s/alembic/versions\n",
            bridge_logger_key=",bridge",
            bridge_logger=BRIDGE_LOGGER,
        )
    )
    write_legacy_files(root / "legacy", n)
    return root


def write_stock_project(root: Path, n: int) -> Path:
    """Write a plain Alembic project (no bridge option) with N native revisions."""
    (root / "alembic").mkdir(parents=True, exist_ok=True)
    (root / "alembic" / "env.py").write_text(ENV_STOCK)
    set_stock_url(root, "postgresql://localhost/unset")
    write_native_revisions(root / "alembic" / "versions", n)
    return root


def set_stock_url(root: Path, url: str) -> None:
    """Point the stock project's ``sqlalchemy.url`` (its only database setting) at *url*."""
    # configparser interpolation: a literal % in the URL must be doubled.
    url_line = "sqlalchemy.url = " + url.replace("%", "%%") + "\n"
    (root / "alembic.ini").write_text(INI.format(extra=url_line, bridge_logger_key="", bridge_logger=""))
