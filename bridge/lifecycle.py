"""What ``python run.py start|restart|stop|status|migrate`` does (the front end is `bridge.cli.runpy`).

``start`` makes sure the database is up (the configured server, or the
embedded one the configuration asks for), applies what is pending through the
same code path and lock as ``alembic upgrade head``, then starts the
application named by ``APP_COMMAND`` (environment or ``.env``) in the
background, or reports that the database is ready. The application never
starts when migrating failed. Every applied migration is logged to the console
and to ``logs/migrations.log``.
"""

from __future__ import annotations

import logging
import os
import shlex
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from . import database
from .context import set_request
from .environment import dotenv_paths
from .errors import ConfigError
from .fleet.precheck import IniConfig, single_database_at_head
from .settings import BridgeSettings, config_dir

if TYPE_CHECKING:
    from alembic.config import Config

# `start` with nothing pending decides from the files and one query (`up_to_date`) and
# imports no Alembic unless native revisions exist: the runner (and so Alembic) is
# imported where it is used.

log = logging.getLogger("bridge.run")

APP_PID_FILE = ".bridge/app.pid"
APP_LOG_FILE = "logs/app.log"


@dataclass
class Project:
    """The project ``run.py`` manages: its folder and Alembic configuration."""

    root: Path
    config: Config

    @classmethod
    def load(cls, config_path: str | Path | None = None) -> Project:
        from . import runner  # deferred: see the note on the imports

        config = runner.load_config(config_path)
        set_request(config, configure_logging=False)
        return cls(config_dir(config), config)

    @property
    def settings(self) -> BridgeSettings:
        return BridgeSettings.from_config(self.config)


def ensure_database(project: Project) -> str:
    """Start the embedded server if that is the target; check the database answers."""
    target = database.target_for(project.config)
    url = database.target_url(target)
    # A connection error becomes ConnectionFailed in database.create_engine, as everywhere.
    engine = database.create_engine(url, target=target, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    finally:
        engine.dispose()
    return target.describe()


def migrate(project: Project) -> int:
    """Apply pending migrations; log each one; return how many ran."""
    described = ensure_database(project)
    log.info("Database: %s", described)

    def on_start(step):
        log.info("Applying migration %s (%s)...", step.revision, step.title)

    def on_step(step, seconds):
        log.info("Applied migration %s (%s) [%.2fs]", step.revision, step.title, seconds)

    def on_wait(step, waited, blocking):
        log.warning("Migration %s has waited %.0fs for a lock held by: %s", step.revision, waited, "; ".join(blocking))

    from . import runner  # deferred: see the note on the imports

    # One run, under the lock: reconcile logs its own changes, the callbacks each migration.
    result = runner.upgrade(project.config, on_start=on_start, on_step=on_step, on_wait=on_wait)
    if not result.steps:
        log.info("No pending migrations; the database is up to date.")
    else:
        log.info("Applied %d migration(s) in %.1fs.", len(result.steps), result.seconds)
    return len(result.steps)


def app_command() -> list[str] | None:
    """Return the application command from APP_COMMAND, if one is configured."""
    value = os.environ.get("APP_COMMAND", "").strip()
    return shlex.split(value) if value else None


def up_to_date(config_path: str | Path | None) -> tuple[Path, str] | None:
    """Return (project folder, database) if nothing is pending, decided without the full run; else None.

    The decision is `bridge.fleet.precheck`'s: the files (Alembic's revision map
    only when native revisions exist) and one query. None
    (pending work, or anything it cannot decide) means: run `start` in full.
    """
    described = single_database_at_head(config_path)
    if described is None:
        return None
    return Path(config_path or "alembic.ini").resolve().parent, described


def quick_dotenv_files(config_path: str | Path | None) -> list[Path]:
    """Return the ``.env`` files of the configuration `up_to_date` read (`bridge.environment.dotenv_paths`), without Alembic."""
    return dotenv_paths(IniConfig(Path(config_path or "alembic.ini").resolve()))


def start_up_to_date(root: Path, described: str) -> None:
    """`start` for a database `up_to_date` found at head: log as `migrate` would, start the application."""
    log.info("Database: %s", described)
    log.info("No pending migrations; the database is up to date.")
    start_application(root)


def start(project: Project) -> None:
    """Database up, migrations applied, then the application (if configured)."""
    migrate(project)
    start_application(project.root)


def start_application(root: Path) -> None:
    """Start the application named by APP_COMMAND in the background (if configured and not running)."""
    command = app_command()
    if command is None:
        log.info("Database is ready (no APP_COMMAND configured, so no application to start).")
        return
    pid_file = root / APP_PID_FILE
    if _running_pid(pid_file):
        log.info("Application already running (pid %s).", _running_pid(pid_file))
        return
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    (root / "logs").mkdir(exist_ok=True)
    with open(root / APP_LOG_FILE, "ab") as out:
        proc = subprocess.Popen(command, cwd=root, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    time.sleep(0.5)
    if proc.poll() is not None:
        raise ConfigError(
            f"The application ({' '.join(command)}) exited at once with status {proc.returncode}; see {APP_LOG_FILE}."
        )
    pid_file.write_text(str(proc.pid))
    log.info("Started application (pid %s): %s; output in %s", proc.pid, " ".join(command), APP_LOG_FILE)


def stop(project: Project) -> None:
    """Stop what ``start`` started: the application, then the embedded server."""
    pid_file = project.root / APP_PID_FILE
    pid = _running_pid(pid_file)
    if pid:
        os.killpg(pid, signal.SIGTERM)
        for _ in range(50):
            if not _alive(pid):
                break
            time.sleep(0.1)
        else:
            os.killpg(pid, signal.SIGKILL)
        log.info("Stopped application (pid %s).", pid)
    pid_file.unlink(missing_ok=True)
    embedded = project.settings.embedded_postgres
    if embedded is not None:
        from . import embedded as embedded_server  # deferred: see the note on the imports

        if embedded_server.stop(embedded):
            log.info("Stopped embedded PostgreSQL in %s.", embedded)
            return
    if not pid:
        log.info("Nothing was running.")


def show_status(project: Project) -> None:
    """Log the database, the head and the pending migrations."""
    from . import runner  # deferred: see the note on the imports

    result = runner.status(project.config)
    log.info("Database: %s", result.database)
    log.info("Head:     %s", ", ".join(result.script_heads) or "<none>")
    log.info("Current:  %s", ", ".join(result.current_heads) or "<none>")
    log.info("Pending:  %d", len(result.pending))
    for m in result.pending:
        log.info("  %s  %s", m.state, m.revision)
    pid = _running_pid(project.root / APP_PID_FILE)
    log.info("Application: %s", f"running (pid {pid})" if pid else "not running")


def _running_pid(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a zombie child counts as gone
        waited, _ = os.waitpid(pid, os.WNOHANG)
        return waited == 0
    except ChildProcessError:
        return True
