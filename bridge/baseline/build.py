"""Building the baseline's schema: a scratch database upgraded through the chain, then pg_dump."""

from __future__ import annotations

import contextlib
import io
import logging
import uuid

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from ..context import set_request
from ..database import create_engine as bridge_engine
from ..database import engine_for
from ..ledger import LOG_TABLE, history_tables
from ..revision_api import BaselineError
from ..settings import BridgeSettings
from .pgdump import drop_statements, find_pg_dump, restorable, run_pg_dump


def _scratch_config(config, url: str):
    scratch = Config(
        config.config_file_name,
        toml_file=getattr(config, "toml_file_name", None),
        ini_section=config.config_ini_section,
    )
    set_request(scratch, url=url, configure_logging=False)
    return scratch


@contextlib.contextmanager
def scratch_database(config, scratch_url: str | None = None):
    """Yield the URL of an empty database: the one given, or a new one on the configured server."""
    if scratch_url:
        engine = bridge_engine(scratch_url, poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn:
                tables = sa.inspect(conn).get_table_names()
        finally:
            engine.dispose()
        if tables:
            raise BaselineError(f"--scratch-url must name an empty database; it has tables ({', '.join(tables[:5])}).")
        yield scratch_url
        return
    engine = engine_for(config)
    try:
        url = engine.url
        if engine.dialect.name != "postgresql":
            raise BaselineError("baseline needs PostgreSQL (it uses pg_dump).")
        name = f"{(url.database or 'bridge')[:30]}_baseline_{uuid.uuid4().hex[:8]}"
        admin = engine.execution_options(isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        except sa.exc.DBAPIError as err:
            raise BaselineError(
                f"Could not create a scratch database on {url.render_as_string(hide_password=True)} "
                f"({str(err.orig).strip()}). Pass --scratch-url with an empty database the "
                "bridge may use."
            ) from err
        try:
            yield url.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        engine.dispose()


def build_schema(config, head: str, *, scratch_url: str | None = None, pg_dump: str | None = None) -> tuple[str, str]:
    """Upgrade a scratch database to *head* and return (create script, drop script) from pg_dump."""
    version_schema = BridgeSettings.from_config(config).version_table.schema
    with scratch_database(config, scratch_url) as url:
        scratch = _scratch_config(config, url)
        if version_schema is not None:
            # Alembic creates the version table, not its schema (the database being
            # baselined has it already).
            engine = bridge_engine(url, poolclass=sa.pool.NullPool)
            try:
                with engine.begin() as conn:  # compiled, so a % in the name is not doubled for pyformat
                    conn.execute(sa.schema.CreateSchema(version_schema, if_not_exists=True))
            finally:
                engine.dispose()
        output = io.StringIO()
        alembic_log = logging.getLogger("alembic")
        level = alembic_log.level
        alembic_log.setLevel(logging.WARNING)
        try:
            # The migrations' own prints and progress describe a throwaway database.
            with contextlib.redirect_stdout(output):
                command.upgrade(scratch, head)
        except Exception as err:
            printed = "\n".join(output.getvalue().splitlines()[-20:])
            raise BaselineError(
                f"Building the schema of {head} on a scratch database failed: {err}"
                + (f"\nThe migrations printed:\n{printed}" if printed else "")
            ) from err
        finally:
            alembic_log.setLevel(level)
        engine = bridge_engine(url, poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn:
                major = int(conn.exec_driver_sql("SHOW server_version_num").scalar_one()) // 10000
                excluded = _excluded_tables(conn, config)
                # A schema holding only the version table is the database's, not the chain's.
                own_schema = (
                    version_schema is not None
                    and not conn.execute(
                        sa.text(
                            "SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
                            "ON n.oid = c.relnamespace WHERE n.nspname = :schema AND c.relname != :table "
                            "AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')"
                        ),
                        {"schema": version_schema, "table": BridgeSettings.from_config(config).version_table.name},
                    ).scalar()
                )
        finally:
            engine.dispose()
        program = find_pg_dump(major, pg_dump)
        options = ["--no-owner", "--column-inserts"]
        for table in excluded:
            options.append(f"--exclude-table={table}")
        if own_schema:
            options.append(f"--exclude-schema={version_schema}")
        create = run_pg_dump(program, url, options)
        clean = run_pg_dump(program, url, options + ["--schema-only", "--clean", "--if-exists"])
    return restorable(create), drop_statements(clean)


def _excluded_tables(conn, config) -> list[str]:
    """The history tables (and the id sequences of schema_migrations and the run log), schema-qualified, for pg_dump."""
    settings = BridgeSettings.from_config(config)
    version_table = str(settings.version_table)
    names = []
    for table in (*history_tables(settings.legacy_table), version_table):
        row = conn.execute(
            sa.text(
                "SELECT n.nspname, c.relname FROM pg_catalog.pg_class c "
                "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.oid = to_regclass(:name)"
            ),
            {"name": table},
        ).first()
        if row is None:
            continue
        qualified = f"{row[0]}.{row[1]}"
        names.append(qualified)
        if table in (settings.legacy_table.name, LOG_TABLE):  # the ones with a SERIAL id
            sequence = conn.execute(
                sa.text("SELECT pg_catalog.pg_get_serial_sequence(:t, 'id')"), {"t": qualified}
            ).scalar()
            if sequence:
                names.append(sequence.replace('"', ""))
    return names
