"""The fast path and the fleet pre-check against the full run: "nothing to do" must mean the same.

`python run.py start` decides from the files and one query
(`fleet.precheck.single_database_at_head`); the fleet decides per target with
`fleet.precheck.decide`. Both may only say *at head* when the full ``upgrade
head`` would apply nothing, refuse nothing, warn about nothing and write
nothing. The tests here build projects in every form Alembic reads revisions
from and databases in many states, ask both checks, then run the full upgrade
the way ``run.py start`` (no URL given: env.py's choice counts) and a fleet
worker (the target's URL) run it, and compare.

Where the fast path does not model a configuration (an env.py that is not the
bridge's own) it must step aside: never *at head*.
"""

from __future__ import annotations

import importlib
import logging
import py_compile
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import legacy_source, url_text

from bridge import runner
from bridge.context import set_request
from bridge.errors import HoleError
from bridge.fleet import api
from bridge.fleet.precheck import Verdict, single_database_at_head
from bridge.fleet.targets import Target

LEGACY = ("20250101_create_a", "20250102_create_b")
NATIVE = "native_one"
NATIVE_SOURCE = f'''"""a native revision"""
from alembic import op

revision = "{NATIVE}"
down_revision = "{LEGACY[-1]}"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("CREATE TABLE native_t (id int)")


def downgrade():
    op.execute("DROP TABLE native_t")
'''
# What `alembic-bridge convert` makes of LEGACY[0]: same id, standing for the legacy file.
CONVERTED_SOURCE = f'''"""create a (converted)"""
from alembic import op

revision = "{LEGACY[0]}"
down_revision = None
replaces_legacy = "{LEGACY[0]}"


def upgrade():
    op.execute("CREATE TABLE IF NOT EXISTS t_create_a (id int)")


def downgrade():
    op.execute("DROP TABLE IF EXISTS t_create_a")
'''
BRIDGE_ENV = (Path(__file__).resolve().parent.parent / "bridge" / "templates" / "env.py").read_text()


@dataclass
class Layout:
    """Where a project keeps its native revision, and the [alembic] options that say so."""

    options: dict[str, str]
    native_dir: str | None  # relative to the project root; None: no native revision
    native_form: str = "source"  # source | pyc | pycache
    script_dir: str = "alembic"
    converted: bool = False  # the first legacy file converted to a native revision (replaces_legacy)


def _layouts(package: str) -> dict[str, Layout]:
    versions = "alembic/versions"
    return {
        "legacy-only": Layout({"path_separator": "os"}, None),
        "default-versions": Layout({"path_separator": "os"}, versions),
        "recursive": Layout(
            {
                "path_separator": "os",
                "version_locations": "%(here)s/alembic/versions",
                "recursive_version_locations": "true",
            },
            versions + "/2026/q1",
        ),
        "semicolon-several": Layout({"path_separator": ";", "version_locations": "%(here)s/va;%(here)s/vb"}, "vb"),
        "space-several": Layout({"path_separator": "space", "version_locations": "%(here)s/va %(here)s/vb"}, "vb"),
        "newline-several": Layout(
            {"path_separator": "newline", "version_locations": "\n    %(here)s/va\n    %(here)s/vb"}, "vb"
        ),
        "os-several": Layout({"path_separator": "os", "version_locations": "%(here)s/va:%(here)s/vb"}, "vb"),
        "deprecated-separator": Layout(
            {"version_path_separator": ";", "version_locations": "%(here)s/va;%(here)s/vb"}, "vb"
        ),
        "legacy-split": Layout({"version_locations": "%(here)s/va, %(here)s/vb"}, "vb"),
        "pkg-script-location": Layout(
            {"script_location": f"{package}:alembic", "path_separator": ";"},
            f"{package}/alembic/versions",
            script_dir=f"{package}/alembic",
        ),
        "pkg-version-location": Layout(
            {"path_separator": ";", "version_locations": f"{package}:revisions"}, f"{package}/revisions"
        ),
        "sourceless-pyc": Layout({"path_separator": "os", "sourceless": "true"}, versions, "pyc"),
        "sourceless-pycache": Layout({"path_separator": "os", "sourceless": "true"}, versions, "pycache"),
        "converted-first-file": Layout({"path_separator": "os"}, versions, converted=True),
    }


LAYOUTS = list(_layouts("pkg"))


@dataclass
class Case:
    """One project on one database, with the two ways of running it."""

    root: Path
    url: object
    version_table: str = "alembic_version"
    schema: str | None = None
    native_folder: Path | None = None  # where the layout keeps native revisions

    @property
    def ini(self) -> Path:
        return self.root / "alembic.ini"

    def config(self):
        """The configuration a fleet worker runs with: the target's URL (and schema) given."""
        config = runner.load_config(self.ini, url=url_text(self.url))
        set_request(config, configure_logging=False, schema=self.schema)
        return config

    def start_config(self):
        """The configuration `run.py start` runs with: no URL given, as `lifecycle.Project.load`."""
        config = runner.load_config(self.ini)
        set_request(config, configure_logging=False)
        return config

    def sql(self, statement: str) -> list:
        engine = sa.create_engine(self.url, poolclass=sa.pool.NullPool)
        try:
            with engine.begin() as conn:
                if self.schema:
                    conn.exec_driver_sql(f'SET LOCAL search_path TO "{self.schema}"')
                result = conn.exec_driver_sql(statement)
                return result.fetchall() if result.returns_rows else []
        finally:
            engine.dispose()

    def legacy(self, stem: str, table: str | None = None) -> Path:
        path = self.root / "legacy" / f"{stem}.py"
        table = table or f"t_{stem.split('_', 1)[1]}"
        path.write_text(legacy_source(f"CREATE TABLE IF NOT EXISTS {table} (id int)", f"DROP TABLE IF EXISTS {table}"))
        return path


def make_case(root: Path, url, layout_name: str, *, version_table: str | None = None, env_url=None) -> Case:
    """Write a project: two legacy files, the layout's native revision, an alembic.ini naming *url*."""
    package = f"bridgediff_{uuid.uuid4().hex[:10]}"
    layout = _layouts(package)[layout_name]
    root.mkdir(parents=True)
    options = {"script_location": "%(here)s/alembic", "legacy_location": "legacy", "prepend_sys_path": "."}
    options.update(layout.options)
    options["sqlalchemy.url"] = url_text(url).replace("%", "%%")
    if version_table:  # "name" or "schema.name"
        schema, _, name = version_table.rpartition(".")
        options["version_table"] = name
        if schema:
            options["version_table_schema"] = schema
    lines = ["[alembic]"] + [f"{key} = {value}" for key, value in options.items()]
    (root / "alembic.ini").write_text("\n".join(lines) + "\n")
    if layout_name.startswith("pkg-"):
        (root / package).mkdir()
        (root / package / "__init__.py").write_text("")
    script_dir = root / layout.script_dir
    (script_dir / "versions").mkdir(parents=True, exist_ok=True)
    env = BRIDGE_ENV
    if env_url is not None:  # a custom env.py that picks the database itself
        env = (
            "from alembic import context\n"
            f"context.config.set_main_option('sqlalchemy.url', {url_text(env_url).replace('%', '%%')!r})\n" + env
        )
    (script_dir / "env.py").write_text(env)
    for folder in ("va", "vb"):
        if folder in layout.options.get("version_locations", ""):
            (root / folder).mkdir(exist_ok=True)
    (root / "legacy").mkdir()
    case = Case(root, url, version_table or "alembic_version", native_folder=script_dir / "versions")
    if layout.native_dir is not None:
        case.native_folder = root / layout.native_dir
    for stem in LEGACY:
        case.legacy(stem)
    if layout.native_dir is not None:
        folder = root / layout.native_dir
        folder.mkdir(parents=True, exist_ok=True)
        source = folder / f"{NATIVE}.py"
        source.write_text(NATIVE_SOURCE)
        if layout.native_form == "pyc":
            py_compile.compile(str(source), cfile=str(folder / f"{NATIVE}.pyc"), doraise=True)
            source.unlink()
        elif layout.native_form == "pycache":
            py_compile.compile(str(source), cfile=importlib.util.cache_from_source(str(source)), doraise=True)
            source.unlink()
    if layout.converted:
        (root / "legacy" / f"{LEGACY[0]}.py").unlink()
        (root / layout.script_dir / "versions" / f"{LEGACY[0]}.py").write_text(CONVERTED_SOURCE)
    return case


@pytest.fixture
def in_project(monkeypatch):
    """Run from the project folder (Alembic resolves relative locations there), with no URL in the environment."""

    def enter(case: Case) -> Case:
        monkeypatch.chdir(case.root)
        monkeypatch.setattr(sys, "path", list(sys.path))
        importlib.invalidate_caches()
        for key in ("DATABASE_URL", "DB_USER", "DB_PASSWORD", "DB_HOST", "DB_PORT", "DB_NAME"):
            monkeypatch.delenv(key, raising=False)
        return case

    return enter


# -- the oracle -----------------------------------------------------------------------------------


def snapshot(url) -> dict[str, list[str]]:
    """Return every user table's rows, as text: any write shows."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            tables = conn.exec_driver_sql(
                "SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) FROM pg_tables "
                "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1"
            ).scalars()
            found = {}
            for table in list(tables):
                rows = conn.exec_driver_sql(f"SELECT t::text FROM {table} t").scalars()
                # applied_at / run times differ between runs; the set of rows is what counts
                found[table] = sorted(rows)
            return found
    finally:
        engine.dispose()


@dataclass
class FullRun:
    applied: list[str]
    refused: str | None
    warnings: list[str]
    wrote: bool
    out_of_order: list[str] | None = None  # the files it refused as out of order (HoleError)

    @property
    def nothing_to_do(self) -> bool:
        return not self.applied and self.refused is None and not self.warnings and not self.wrote


def full_run(config, url, caplog) -> FullRun:
    """Run ``upgrade head`` in full and say what it did."""
    before = snapshot(url)
    caplog.clear()
    refused = None
    out_of_order = None
    applied: list[str] = []
    with caplog.at_level(logging.WARNING):
        try:
            applied = [step.revision for step in runner.upgrade(config).steps]
        except HoleError as err:
            refused, out_of_order = f"{type(err).__name__}: {err}", list(err.out_of_order)
        except Exception as err:  # noqa: BLE001 - a refusal is an outcome here
            refused = f"{type(err).__name__}: {err}"
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("bridge")]
    return FullRun(applied, refused, warned, snapshot(url) != before, out_of_order)


def fleet_says_at_head(case: Case) -> bool:
    verdict = fleet_verdict(case)
    return verdict is not None and verdict.at_head


def fleet_verdict(case: Case) -> Verdict | None:
    """The fleet pre-check's verdict on *case* (None: the fleet refuses to start, a broken chain)."""
    config = case.config()
    try:
        expected, _ = api.expected_of(config)
    except Exception:  # noqa: BLE001 - the fleet refuses to start (a broken chain): not "at head"
        return None
    target = Target("t", schema=case.schema) if case.schema else Target("t", url_text(case.url))
    [checked] = api.check(config, [target], expected)
    assert checked.error is None, checked.error
    return checked.verdict


# -- the first bullet of issue 21: a pending native revision where only Alembic looked -------------


@pytest.mark.slow  # ~1 s each; the fast tier meets these layouts in FAST below
@pytest.mark.parametrize(
    "layout",
    [
        "recursive",
        "semicolon-several",
        "deprecated-separator",
        "pkg-script-location",
        "sourceless-pyc",
        "sourceless-pycache",
    ],
)
def test_start_never_calls_a_database_up_to_date_while_a_native_revision_is_pending(
    tmp_path, database_url, in_project, caplog, layout
):
    case = in_project(make_case(tmp_path / "p", database_url, layout))
    runner.upgrade(case.config(), LEGACY[-1])
    assert single_database_at_head(case.ini) is None
    assert not fleet_says_at_head(case)
    assert full_run(case.start_config(), database_url, caplog).applied == [NATIVE]
    # ... and once it is applied, the fast path decides (with Alembic's revision map).
    assert single_database_at_head(case.ini) is not None
    assert fleet_says_at_head(case)


@pytest.mark.slow  # two databases
def test_start_steps_aside_when_env_py_picks_the_database(tmp_path, database_url, pg_admin_url, in_project, caplog):
    other = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(pg_admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{other}"')
    other_url = pg_admin_url.set(database=other)
    try:
        case = in_project(make_case(tmp_path / "p", database_url, "legacy-only", env_url=other_url))
        runner.upgrade(case.config())  # the ini's database is at head; env.py's is empty
        assert single_database_at_head(case.ini) is None
        assert full_run(case.start_config(), other_url, caplog).applied == list(LEGACY)
        assert single_database_at_head(case.ini) is None  # still not the bridge's own env.py: never decided here
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{other}" WITH (FORCE)')
        admin.dispose()


# -- the differential: every layout, many database states ------------------------------------------

STATES: dict[str, Callable[[Case], None]] = {}


def state(name: str):
    def register(fn: Callable[[Case], None]) -> Callable[[Case], None]:
        STATES[name] = fn
        return fn

    return register


@state("new database")
def _new(case: Case) -> None:
    pass


@state("at head")
def _at_head(case: Case) -> None:
    runner.upgrade(case.config())


@state("legacy head only")
def _legacy_head(case: Case) -> None:
    runner.upgrade(case.config(), LEGACY[-1])


@state("behind")
def _behind(case: Case) -> None:
    runner.upgrade(case.config(), LEGACY[0])


@state("edited after it was applied")
def _edited(case: Case) -> None:
    runner.upgrade(case.config())
    path = case.root / "legacy" / f"{LEGACY[-1]}.py"
    path.write_text(path.read_text() + "\n# edited\n")


@state("older file added later")
def _out_of_order(case: Case) -> None:
    runner.upgrade(case.config())
    case.legacy("20241231_early")


@state("newer legacy file")
def _newer(case: Case) -> None:
    runner.upgrade(case.config())
    case.legacy("20991231_late")


@state("version ahead")
def _ahead(case: Case) -> None:
    runner.upgrade(case.config())
    case.sql(f"UPDATE {case.version_table} SET version_num = 'zz_unknown_revision'")


@state("version missing")
def _version_missing(case: Case) -> None:
    runner.upgrade(case.config())
    case.sql(f"DELETE FROM {case.version_table}")


@state("row missing")
def _row_missing(case: Case) -> None:
    runner.upgrade(case.config())
    case.sql(f"DELETE FROM schema_migrations WHERE migration_name = '{LEGACY[0]}'")


@state("row for a file that is gone")
def _gone(case: Case) -> None:
    runner.upgrade(case.config())
    case.sql("INSERT INTO schema_migrations (migration_name) VALUES ('20240101_deleted_long_ago')")


@state("two version rows")
def _two_versions(case: Case) -> None:
    runner.upgrade(case.config())
    case.sql(f"INSERT INTO {case.version_table} (version_num) VALUES ('{LEGACY[0]}')")


@state("rows hold file names")
def _file_names(case: Case) -> None:
    runner.upgrade(case.config())
    case.sql("UPDATE schema_migrations SET migration_name = migration_name || '.py'")


@state("checksums missing")
def _no_checksums(case: Case) -> None:
    runner.upgrade(case.config())
    case.sql("DELETE FROM alembic_bridge_checksums")


@state("run log missing")
def _no_run_log(case: Case) -> None:
    runner.upgrade(case.config())
    case.sql("DROP TABLE alembic_bridge_log")


@state("misnamed legacy file")
def _misnamed(case: Case) -> None:
    runner.upgrade(case.config())
    case.legacy("2025_01_03_misnamed")


@state("converted after it was applied")
def _converted_later(case: Case) -> None:
    runner.upgrade(case.config())
    legacy = case.root / "legacy" / f"{LEGACY[0]}.py"
    if legacy.exists():  # `alembic-bridge convert`: the legacy file becomes a native revision
        legacy.unlink()
        assert case.native_folder is not None
        (case.native_folder / f"{LEGACY[0]}.py").write_text(CONVERTED_SOURCE)


@state("target_metadata does not import")
def _bad_metadata(case: Case) -> None:
    runner.upgrade(case.config())
    case.ini.write_text(
        case.ini.read_text().replace("[alembic]\n", "[alembic]\ntarget_metadata = no_such_models:metadata\n")
    )


def check_agreement(case: Case, caplog) -> tuple[bool, bool, FullRun]:
    """Ask the fast path and the pre-check, run the full upgrade; fail on any disagreement."""
    fast = single_database_at_head(case.ini) is not None if case.schema is None else None
    verdict = fleet_verdict(case)
    fleet = verdict is not None and verdict.at_head
    outcome = full_run(case.config(), case.url, caplog)
    assert fleet == outcome.nothing_to_do, f"pre-check says at head={fleet}, the full run: {outcome}"
    if verdict is not None and verdict.reason.startswith("out of order"):
        # The pre-check's reason names files the full run must refuse as out of order, the same ones.
        assert outcome.out_of_order == list(verdict.pending_revisions), f"pre-check: {verdict}, full run: {outcome}"
    if fast is not None:
        assert fast == outcome.nothing_to_do, f"fast path says at head={fast}, the full run: {outcome}"
    return bool(fast), fleet, outcome


def _run_case(tmp_path, url, in_project, caplog, layout, state_name, version_table=None, schema=None):
    case = make_case(tmp_path / "p", url, layout, version_table=version_table)
    case.schema = schema
    schemas = [name for name in (schema, (version_table or "").rpartition(".")[0]) if name]
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        for name in schemas:
            conn.exec_driver_sql(f'CREATE SCHEMA "{name}"')
    engine.dispose()
    in_project(case)
    STATES[state_name](case)
    return check_agreement(case, caplog)


# A handful in the fast tier: each layout family once, the states that matter most.
FAST = [
    ("legacy-only", "row missing", "custom_versions"),
    ("recursive", "legacy head only", None),
    ("pkg-script-location", "legacy head only", None),
    ("sourceless-pycache", "at head", "ledger.custom_versions"),
]


@pytest.mark.parametrize(("layout", "state_name", "version_table"), FAST)
def test_the_checks_agree_with_the_full_run(
    tmp_path, database_url, in_project, caplog, layout, state_name, version_table
):
    _run_case(tmp_path, database_url, in_project, caplog, layout, state_name, version_table)


# Both disagreements this test found are fixed in the full run: a run with nothing to do
# creates no run-log table (runlog.record makes it at the first write), and an upgrade
# does not import target_metadata (env.COMMANDS_WITHOUT_METADATA: only autogenerate
# and `check` compare with it). A state known to disagree would be listed here.
KNOWN: dict[str, pytest.MarkDecorator] = {}


def _state_param(*values: str):
    known = KNOWN.get(values[-1])
    return pytest.param(*values, marks=[known] if known else [])


# Layouts that differ only in how version_locations is split: tests/test_locations.py holds
# bridge.locations to Alembic on those without a database; here a few states each suffice.
SPLIT_ONLY = ("space-several", "newline-several", "os-several", "deprecated-separator", "legacy-split")
SPLIT_STATES = ("at head", "legacy head only", "version missing")


def _product():
    for layout in LAYOUTS:
        for name in STATES:
            if layout not in SPLIT_ONLY or name in SPLIT_STATES:
                yield _state_param(layout, name)


@pytest.mark.slow
@pytest.mark.parametrize(("layout", "state_name"), list(_product()))
def test_the_checks_agree_with_the_full_run_everywhere(tmp_path, database_url, in_project, caplog, layout, state_name):
    # Rotate the version table so that each form meets every layout and many states.
    tables = (None, "custom_versions", "ledger.custom_versions")
    version_table = tables[(LAYOUTS.index(layout) + list(STATES).index(state_name)) % len(tables)]
    _run_case(tmp_path, database_url, in_project, caplog, layout, state_name, version_table)


@pytest.mark.slow
@pytest.mark.parametrize("state_name", [_state_param(name) for name in STATES])
@pytest.mark.parametrize("layout", ["legacy-only", "semicolon-several"])
def test_the_precheck_agrees_with_the_full_run_for_a_tenant_schema(
    tmp_path, database_url, in_project, caplog, layout, state_name
):
    _run_case(tmp_path, database_url, in_project, caplog, layout, state_name, schema="tenant_a")


@pytest.mark.parametrize(
    ("source", "own"),
    [
        (BRIDGE_ENV, True),
        (
            '"""Our migrations."""\n# the bridge does the work\nfrom bridge.env import run_migrations\n\nrun_migrations()\n',
            True,
        ),
        ("from bridge.env import run_migrations\nrun_migrations(version_table='v')\n", False),
        ("import os\n" + BRIDGE_ENV, False),
        (
            "from alembic import context\ncontext.config.set_main_option('sqlalchemy.url', 'x')\n" + BRIDGE_ENV,
            False,
        ),
        ("from bridge.env import run_migrations\nrun_migrations(\n", False),
        (None, False),
    ],
)
def test_only_the_bridge_s_own_env_py_lets_the_fast_path_decide(tmp_path, source, own):
    from bridge.fleet.precheck import is_bridge_env

    if source is not None:
        (tmp_path / "env.py").write_text(source)
    assert is_bridge_env(tmp_path) is own
