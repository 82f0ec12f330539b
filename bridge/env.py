"""What a project's ``env.py`` calls, so that it stays two lines long::

    from bridge.env import run_migrations
    run_migrations()

`run_migrations` reads the settings and the caller's `bridge.context.RunRequest`
once into the run's `bridge.context.BridgeRun`, picks the database (see
`bridge.database`), honours
``config.attributes["connection"]`` (pytest-alembic, programmatic use),
configures Alembic with one transaction per migration and a version table wide
enough for legacy file names, takes the runner lock, reconciles the history
tables, and runs Alembic's migrations.
"""

from __future__ import annotations

import importlib
import logging

import sqlalchemy as sa

from . import commit, database, reconcile, steps
from . import context as bridge_context
from .context import BridgeRun
from .errors import BridgeError, ConfigError
from .internals import replace_version_table, version_table, work_function, work_function_options
from .ledger import history_tables, read_history
from .lock import offline_lock, offline_unlock, runner_lock
from .masking import mask_log_handlers, remember_url
from .script import settings_for
from .settings import VersionTable
from .shape import pg_relation_scope

log = logging.getLogger(__name__)


def run_migrations(context=None, **configure_options) -> None:
    """Run the current Alembic command's migrations (online or ``--sql``)."""
    if context is None:
        from alembic import context  # the proxy module Alembic fills in while env.py runs
    config = context.config
    request = bridge_context.request_of(config)
    if config.config_file_name and config.file_config.has_section("loggers") and request.configure_logging is not False:
        from logging.config import fileConfig  # deferred: only the stock alembic command needs it

        fileConfig(config.config_file_name, disable_existing_loggers=False)
        mask_log_handlers()
    settings = settings_for(context.script, config)
    # The version table is named in one place, the configuration: status, sync and
    # the plans read it without running env.py.
    settings.version_table.check_configure_options(configure_options)
    needs_metadata = _command(context) not in COMMANDS_WITHOUT_METADATA
    options = {"target_metadata": load_target_metadata(settings.target_metadata) if needs_metadata else None}
    options.update(configure_options)
    options.update(settings.version_table.configure_options())
    options["include_name"] = _without_history_tables(
        options.get("include_name"), history_tables(settings.legacy_table)
    )
    with bridge_context.started(settings, request) as run:
        if context.is_offline_mode():
            _run_offline(context, run, options)
            return
        given = config.attributes.get("connection")
        if isinstance(given, sa.Connection):
            # Handed over inside a transaction, the caller commits (Alembic: "external");
            # outside one, Alembic commits each migration, as it does without the bridge.
            _run_online(context, given, run, options, commit_reads=not given.in_transaction())
            return
        # An Engine handed over (pytest-alembic does this) is used as is, not disposed.
        engine = given if isinstance(given, sa.Engine) else database.engine_for(config, settings)
        try:
            with engine.connect() as connection:
                _run_online(context, connection, run, options, commit_reads=True)
        finally:
            if engine is not given:
                engine.dispose()


def load_target_metadata(spec: str | None):
    """Import ``module:attribute`` (the ``target_metadata`` option) for autogenerate."""
    if not spec:
        return None
    module_name, _, attribute = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
        value = module
        for part in (attribute or "metadata").split("."):
            value = getattr(value, part)
    except (ImportError, AttributeError) as err:
        raise ConfigError(
            f"target_metadata = {spec!r} could not be loaded ({err}). Use the form "
            "package.module:attribute, e.g. myapp.models:Base.metadata, and make "
            "sure the package is importable (prepend_sys_path = . in alembic.ini)."
        ) from err
    return getattr(value, "metadata", value) if not isinstance(value, sa.MetaData) else value


def _without_history_tables(include_name, tables: tuple[str, ...]):
    """Keep autogenerate from proposing to drop the legacy and bridge history tables."""

    def include(name, type_, parent_names):
        if type_ == "table" and name in tables:
            return False
        return include_name(name, type_, parent_names) if include_name else True

    return include


def _run_offline(context, run: BridgeRun, options) -> None:
    target = database.target_for(context.config, run.settings)
    # Offline mode needs only a dialect: never start a server for it.
    url = target.url or "postgresql://"
    work = work_function(context)
    if work is not None:  # each migration's SET LOCAL timeouts go into the script
        options.update(work_function_options(steps.guard(work, run)))
    context.configure(
        url=database.normalize_url(url, target.where),
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        transaction_per_migration=True,
        **options,
    )
    migration_context = context.get_context()
    _widen_version_table(migration_context, alter_existing=False)
    locking = migration_context.dialect.name == "postgresql" and moves_versions(context)
    if locking:
        migration_context.impl.static_output(offline_lock(run.settings))
    with context.begin_transaction():
        context.run_migrations()
    if locking:
        migration_context.impl.static_output(offline_unlock(run.settings))
    skipped = run.offline_skipped
    if skipped:
        raise BridgeError(
            f"{len(skipped)} legacy migration(s) cannot be rendered as SQL: they read "
            "from the database, so their statements depend on what they find there:\n  "
            + "\n  ".join(skipped)
            + "\nRender only a statement-only range (alembic upgrade FROM:TO --sql), run "
            "these online, or convert them (`alembic-bridge convert`) and rewrite the "
            "reads as plain op.execute() calls. The script above is incomplete."
        )


def _run_online(context, connection, run: BridgeRun, options, commit_reads: bool) -> None:
    # A connection or engine the caller handed over carries a password the bridge resolved from no URL.
    remember_url(connection.engine.url)
    script = context.script
    settings = run.settings
    mutating = moves_versions(context)
    stamp = mutating and is_stamp(context)
    options.setdefault("transaction_per_migration", True)
    callbacks = list(options.pop("on_version_apply", None) or [])
    callbacks.append(reconcile.after_version_apply(script, settings))
    with runner_lock(connection, settings, enabled=mutating) as lock:
        try:
            if run.request.on_locked is not None:
                run.request.on_locked()  # e.g. print the plan: only now can no other runner change it
            work = work_function(context)
            if work is not None:
                work = steps.guard(work, run)
                if lock is not None:
                    work = lock.guard_steps(work)
                options.update(work_function_options(work))
            # A stamp states where the database is; the stamp hook then makes
            # schema_migrations follow it, so there is nothing to reconcile first (and
            # `stamp --purge` must work on the tables reconcile refuses).
            if mutating:
                reconcile.require_version_schema(connection, settings.version_table)
            if mutating and not stamp:
                reconcile.reconcile(
                    connection,
                    script,
                    settings,
                    apply_out_of_order=_out_of_order(connection, run, commit_reads)
                    if run.request.out_of_order
                    else None,
                )
            if mutating and not stamp:
                steps.begin_run(connection, run)
            if commit_reads and connection.in_transaction():
                # Alembic treats a connection already in a transaction as "external"
                # and then never commits per migration: end the one our reads began.
                connection.commit()
            context.configure(connection=connection, on_version_apply=callbacks, **options)
            _widen_version_table(context.get_context(), alter_existing=mutating)
            try:
                with context.begin_transaction():
                    context.run_migrations()
            except Exception as err:
                unknown = _unknown_version_row(connection, script, settings, err)
                if unknown is not None:
                    raise unknown from err
                failure = commit.ended_badly(run, err, connection)
                if failure is None:
                    raise
                raise failure from err
            else:
                commit.report_committed(run)  # one transaction for the run, or the caller's
            finally:
                steps.end_run(connection, run)  # after a failed migration's rollback
        finally:
            # A connection handed over by the caller outlives this run.
            bridge_context.forget_connection(connection)


def _unknown_version_row(connection, script, settings, err: Exception) -> BridgeError | None:
    """Return the bridge's reason and repair for a version row Alembic cannot locate, or None.

    Upgrades and downgrades reconcile first and name it themselves; a read-only command
    (``alembic current``) meets it in Alembic, whose message says only "Can't locate revision".
    """
    if "Can't locate revision" not in str(err):
        return None
    table = settings.version_table
    try:  # Alembic raised before any SQL failed: the connection still reads
        state = read_history(connection, table.name, table.schema, settings.legacy_table)
        reconcile.plan_for(script, state, str(table), settings.legacy_table.name)
    except reconcile.LedgerMismatch as mismatch:
        return mismatch
    except Exception:  # Alembic's own error is raised then, unchanged
        return None
    return None


def _out_of_order(connection, run: BridgeRun, commit_reads: bool):
    """Return what applies the files `reconcile.reconcile` finds out of order: `steps.run_out_of_order`."""

    def apply(files) -> None:
        if commit_reads and connection.in_transaction():
            connection.commit()  # the reads so far: each file then commits on its own
        steps.begin_run(connection, run)
        if commit_reads and connection.in_transaction():
            connection.commit()
        try:
            steps.run_out_of_order(connection, run, files)
        except BaseException:
            steps.end_run(connection, run)  # the failed file's run-log rows, after its rollback
            raise

    return apply


def moves_versions(context) -> bool:
    """Return whether this run may move the version table (upgrade, downgrade, stamp).

    Alembic's ``upgrade``, ``downgrade`` and ``stamp`` commands, and pytest-alembic's
    own upgrade and downgrade, hand the environment a destination revision;
    ``current``, ``check``, ``revision`` and pytest-alembic's inspections hand it none,
    and `EnvironmentContext.get_revision_argument` then raises KeyError. It returns
    None for ``base``, so the value itself cannot tell.
    """
    try:
        context.get_revision_argument()
    except KeyError:
        return False
    return True


# The commands that never compare the database with target_metadata (it is for
# autogenerate: `revision --autogenerate`, `check`): an upgrade with nothing to do
# must not fail because the application's models do not import. Any other
# command, one this list does not know included, loads it.
COMMANDS_WITHOUT_METADATA = frozenset({"upgrade", "downgrade", "stamp", "current"})


def _command(context) -> str:
    """Return which ``alembic.command`` function runs (its work function's outer name), or ""."""
    qualname = getattr(work_function(context), "__qualname__", "") or ""
    return qualname.split(".", 1)[0] if ".<locals>." in qualname else ""


def is_stamp(context) -> bool:
    """Return whether the running command is ``alembic.command.stamp``.

    No public API says so: this reads the function Alembic hands the environment
    (``stamp.<locals>.do_stamp``; pytest-alembic stamps through ``alembic.command.stamp``
    too). A stamp taken for an upgrade is reconciled first, which refuses, never writes
    wrongly.
    """
    return _command(context) == "stamp"


def _widen_version_table(migration_context, alter_existing: bool) -> None:
    """Make ``alembic_version.version_num`` hold legacy file stems (up to 255 characters)."""
    version = version_table(migration_context)
    column = version.c.version_num
    if getattr(column.type, "length", None) and column.type.length >= VersionTable.NUM_LENGTH:
        return
    wide = sa.Table(
        version.name,
        sa.MetaData(),
        sa.Column("version_num", sa.String(VersionTable.NUM_LENGTH), nullable=False),
        *[
            sa.PrimaryKeyConstraint("version_num", name=c.name)  # type: ignore[arg-type]  # a real name or none
            for c in version.constraints
            if isinstance(c, sa.PrimaryKeyConstraint)
        ],
        schema=version.schema,
    )
    replace_version_table(migration_context, wide)
    if not alter_existing or migration_context.as_sql:
        return
    connection = migration_context.connection
    for col in _version_num_columns(connection, version.name, version.schema):
        length = getattr(col["type"], "length", None)
        if col["name"] == "version_num" and length is not None and length < VersionTable.NUM_LENGTH:
            log.warning(
                "Widening %s.version_num from VARCHAR(%s) to VARCHAR(%s) for legacy revision ids",
                version.name,
                length,
                VersionTable.NUM_LENGTH,
            )
            migration_context.impl.alter_column(
                version.name,
                "version_num",
                type_=sa.String(VersionTable.NUM_LENGTH),
                existing_type=col["type"],
                existing_nullable=False,
                schema=version.schema,
            )


# Like SQLAlchemy's has_table + get_columns on PostgreSQL, in one catalog query:
# the type of version_num in the table-like relation *table* (visible on the
# search_path, or in *schema*). varchar(n) and char(n) store n + 4 as atttypmod.
_PG_VERSION_NUM_TYPE = (
    "SELECT t.typname, a.atttypmod FROM pg_catalog.pg_class c "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid "
    "JOIN pg_catalog.pg_type t ON t.oid = a.atttypid "
    "WHERE c.relname = :table AND c.relkind IN ('r', 'p', 'f', 'v', 'm') AND {scope} "
    "AND a.attname = 'version_num' AND a.attnum > 0 AND NOT a.attisdropped"
)


def _version_num_columns(connection, table: str, schema: str | None) -> list[dict]:
    """Return the version table's columns as ``{"name", "type"}`` (none if it does not exist)."""
    if connection.dialect.name != "postgresql":
        inspector = sa.inspect(connection)
        if not inspector.has_table(table, schema=schema):
            return []
        return inspector.get_columns(table, schema=schema)
    # Every upgrade asks: one catalog query rather than reflecting the table.
    row = connection.execute(
        sa.text(_PG_VERSION_NUM_TYPE.format(scope=pg_relation_scope(schema))),
        {"table": table, "schema": schema},
    ).first()
    if row is None:
        return []
    typname, typmod = row
    type_: sa.types.TypeEngine
    if typname == "varchar":
        type_ = sa.String(typmod - 4) if typmod > 4 else sa.String()
    elif typname == "bpchar":
        type_ = sa.CHAR(typmod - 4) if typmod > 4 else sa.CHAR()
    else:
        type_ = sa.types.NullType()
    return [{"name": "version_num", "type": type_}]
