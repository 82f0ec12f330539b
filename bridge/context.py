"""One run's state, typed: what the caller asked for, and what the run knows and collects.

Alembic's command functions (``alembic.command.upgrade`` …) reach env.py with
nothing but the ``Config``; ``config.attributes`` is Alembic's documented way
to hand env.py anything else. The bridge puts exactly one object there, a
`RunRequest` under `REQUEST` (see `request_of` / `requesting`): the database
URL given on the command line, the step callback, the out-of-order flag.

`bridge.env.run_migrations` turns the request and the settings (parsed once,
here) into the `BridgeRun` the rest of the run reads through `current()`:
`bridge.executor` for the name format, the ``--sql`` rendering for what it has
emitted and what it could not render. The run ends with the ``with`` block
that `started` opens; nothing about it outlives the run. What `bridge.ledger`
caches on a caller's connection is removed by `forget_connection` at the same
point.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import Any

from .settings import BridgeSettings

# The one config.attributes key the bridge reads (besides Alembic's own "connection").
REQUEST = "bridge.request"
# Every key the bridge puts in a connection's ``info`` dict starts with this.
CONNECTION_INFO_PREFIX = "bridge."


@dataclass
class Step:
    """One migration a run applies or reverts (or, in a plan, would)."""

    revision: str
    direction: str  # "upgrade" or "downgrade"
    title: str
    kind: str  # "legacy", "native", "legacy, out of order"

    def __str__(self) -> str:
        return f"{self.direction} {self.revision} ({self.kind}): {self.title}"


# The Python API's callbacks (bridge.upgrade / bridge.downgrade), one contract for every caller:
OnStart = Callable[[Step], None]  # before each migration starts
OnStep = Callable[[Step, float], None]  # after each migration committed, with its own time in seconds
OnWait = Callable[[Step, float, list[str]], None]  # while it waits on a lock: seconds waited, who blocks it


@dataclass(frozen=True)
class RunRequest:
    """What the caller of an Alembic command asks of the bridge for the runs it starts."""

    url: str | None = None  # overrides DATABASE_URL, DB_* and sqlalchemy.url (see bridge.database)
    # Whether env.py applies alembic.ini's [loggers]; None (not said): yes for the
    # alembic command, no under the Python API (the calling application owns logging).
    configure_logging: bool | None = None
    out_of_order: bool = False  # also apply legacy files dated before applied ones
    on_step: Callable[[Step], None] | None = None  # after each migration committed
    on_locked: Callable[[], None] | None = None  # once the runner lock is held, before any change
    on_start: OnStart | None = None
    on_wait: OnWait | None = None
    # A tenant schema (bridge.fleet): the search_path of the bridge's connections
    # (bridge.database.engine_for), the version table's schema (bridge.script.settings_for)
    # and the runner lock's key (bridge.lock.lock_key). None: the database as configured.
    schema: str | None = None


def request_of(config) -> RunRequest:
    """Return the request on *config* (the defaults if the caller set none)."""
    request = config.attributes.get(REQUEST)
    return request if isinstance(request, RunRequest) else RunRequest()


def set_request(config, **changes: Any) -> RunRequest:
    """Change fields of *config*'s request for every later command on it; return the new request."""
    request = replace(request_of(config), **changes)
    config.attributes[REQUEST] = request
    return request


@contextlib.contextmanager
def requesting(config, **changes: Any) -> Iterator[RunRequest]:
    """Change fields of *config*'s request for the commands run inside the block only."""
    before = config.attributes.get(REQUEST)
    try:
        yield set_request(config, **changes)
    finally:
        if before is None:
            config.attributes.pop(REQUEST, None)
        else:
            config.attributes[REQUEST] = before


@dataclass
class BridgeRun:
    """The state of one run of env.py: settings read once, and what ``--sql`` collects."""

    settings: BridgeSettings
    request: RunRequest = field(default_factory=RunRequest)
    # --sql: the legacy migrations that read from the database and so cannot be rendered.
    offline_skipped: list[str] = field(default_factory=list)
    # --sql: whether the script already holds CREATE TABLE schema_migrations.
    ledger_rendered: bool = False
    # The run log (bridge.runlog, bridge.steps): this run's id, whether its table is
    # ready, who runs, and the rows of failed attempts waiting for their rollback.
    run_id: str = ""
    log_ready: bool = False
    db_user: str | None = None
    pending_log: list[Any] = field(default_factory=list)
    watcher: Any = None  # bridge.blockers.Watcher, while a run reports who blocks its migrations
    # Steps whose migration ran but whose transaction has not committed yet (bridge.steps):
    # reported to on_step once it commits, logged as failed if the COMMIT fails.
    ran: list[Any] = field(default_factory=list)


_current: ContextVar[BridgeRun | None] = ContextVar("bridge_run", default=None)


@contextlib.contextmanager
def started(settings: BridgeSettings, request: RunRequest) -> Iterator[BridgeRun]:
    """Make a new `BridgeRun` the current one for the block (runs nest, e.g. pytest-alembic's)."""
    run = BridgeRun(settings, request)
    token = _current.set(run)
    try:
        yield run
    finally:
        _current.reset(token)


def current(config=None) -> BridgeRun:
    """Return the current run; outside one (an env.py that does not call the bridge's
    ``run_migrations``), a run made from *config*, or from defaults without one."""
    run = _current.get()
    if run is not None:
        return run
    settings = BridgeSettings.from_config(config) if config is not None else BridgeSettings(None)
    return BridgeRun(settings)


def forget_connection(connection) -> None:
    """Remove every ``bridge.*`` key from *connection*'s ``info`` (a caller's connection outlives the run)."""
    if connection.closed or connection.invalidated:
        return  # its session is gone, and its info with it (reading it would reconnect)
    info = connection.info
    for key in [k for k in info if isinstance(k, str) and k.startswith(CONNECTION_INFO_PREFIX)]:
        del info[key]
