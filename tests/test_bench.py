"""The benchmark script, and the fast paths it led to.

The smoke test runs ``bench/run.py`` end to end on 20 migrations against the
test server and checks that it prints its tables and ratios; it asserts no
timing (docs/benchmarks.md has the numbers). The other tests pin down that
each shortcut taken for speed behaves exactly like the code it replaced.
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import json
import subprocess
import sys
import types

import pytest
import sqlalchemy as sa
from conftest import REPO, url_text

NATIVE = """revision = {rev!r}
down_revision = {down!r}
branch_labels = None
depends_on = None

from alembic import op
import sqlalchemy as sa


def upgrade():
    op.create_table("notes", sa.Column("id", sa.Integer, primary_key=True))


def downgrade():
    op.drop_table("notes")
"""


def _bench_databases(url) -> set[str]:
    admin = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with admin.connect() as conn:
            query = sa.text("SELECT datname FROM pg_database WHERE datname LIKE :pattern")
            return set(conn.execute(query, {"pattern": "bench%"}).scalars())
    finally:
        admin.dispose()


@pytest.mark.slow
def test_the_bench_runs_on_twenty_migrations_and_prints_every_ratio(pg_admin_url, tmp_path):
    before = _bench_databases(pg_admin_url)
    report = tmp_path / "bench.json"
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "run.py"),
            "--n",
            "20",
            "--repeat",
            "1",
            "--url",
            url_text(pg_admin_url),
            "--json",
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for line in (
        "N=20    no-op bridge / stock Alembic",
        "N=20    no-op bridge / legacy runner",
        "N=20    apply bridge / legacy runner",
        "N=20    no-op bridge / floor",
        "floor: import alembic, sqlalchemy + 1 query",
    ):
        assert line in result.stdout
    data = json.loads(report.read_text())
    assert set(data["n"]["20"]["noop"]) == {"bridge", "stock", "legacy", "floor"}
    assert set(data["n"]["20"]["apply"]) == {"bridge", "stock", "legacy"}
    assert all(run["max_rss_mb"] > 0 for run in data["n"]["20"]["noop"].values())
    assert _bench_databases(pg_admin_url) == before  # it drops what it created


def _bench_module(monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))  # bench/run.py adds bench/ to it
    spec = importlib.util.spec_from_file_location("bench_run", REPO / "bench" / "run.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_run", module)  # its dataclasses look it up
    spec.loader.exec_module(module)
    return module


def test_callgrind_counts_become_per_migration_figures_and_ratios(tmp_path, capsys, monkeypatch):
    # valgrind itself is too slow for the suite (about 90 s at N = 5); this checks the
    # arithmetic and the parsing, on counts in callgrind's own output format.
    run = _bench_module(monkeypatch)
    out = tmp_path / "callgrind.out"
    out.write_text("# callgrind format\nversion: 1\nevents: Ir\nsummary: 4497832760\n")
    assert run.callgrind_total(out) == 4_497_832_760
    (tmp_path / "empty.out").write_text("events: Ir\n")
    with pytest.raises(run.RunFailed, match="no instruction total"):
        run.callgrind_total(tmp_path / "empty.out")
    counts = {
        ("apply", "bridge"): 4_000e6,
        ("noop", "bridge"): 1_000e6,
        ("apply", "stock"): 3_000e6,
        ("noop", "stock"): 1_500e6,
        ("apply", "legacy"): 2_000e6,
        ("noop", "legacy"): 500e6,
    }
    bench = types.SimpleNamespace(n=1000, instructions=counts)
    info = dict(cpus=2, cpu="x", python="3", postgresql="18", alembic="1", sqlalchemy="2")
    data = run.report_instructions([bench], info)
    ratios = data["ratios"]
    assert ratios["per migration bridge / legacy @ N=1000"] == pytest.approx(3.0 / 1.5)
    assert ratios["per migration bridge / stock @ N=1000"] == pytest.approx(3.0 / 1.5)
    assert ratios["apply bridge / legacy runner @ N=1000"] == pytest.approx(2.0)
    assert ratios["no-op bridge / stock Alembic @ N=1000"] == pytest.approx(1 / 1.5)
    printed = capsys.readouterr().out
    assert "per migration: (apply - no-op) / N   1000 |     3.00M     1.50M     1.50M" in printed


# -- read_docstring: the regular-expression path agrees with the tokenizer -----------


@pytest.mark.parametrize(
    "source",
    [
        b'"""\nMigration: Add x\nDate: 2025-10-31\n"""\nimport os\n',
        b"'''single quotes'''\n",
        b'"one line"\n',
        b'# comment\n\n  """after a comment"""\n',
        b'r"""raw \\n kept"""',
        b'b"""bytes"""',
        b'f"""not a docstring"""',
        b'"""a \\""" b"""',
        b'""""quoted" first"""',
        b'"""\xc3\xa9t\xc3\xa9"""',
        b'"""latin \xe9"""',
        b'\xef\xbb\xbf"""bom"""',
        b'# -*- coding: latin-1 -*-\n"""caf\xe9"""',
        b'"""unterminated',
        b'import os\n"""late"""',
        b"",
        b'"""a""" "b"',
        b'"""crlf\r\nline"""\r\n',
        b'#c\r"""lone cr"""',
        b'"\\N{EM DASH}"',
    ],
)
def test_a_docstring_is_read_exactly_as_the_tokenizer_reads_it(tmp_path, source):
    from bridge.loader import docstring_by_tokens, read_docstring

    path = tmp_path / "20251031_x.py"
    path.write_bytes(source)
    assert read_docstring(path) == docstring_by_tokens(source)


# -- the signature check: the code-object shortcut never accepts what inspect refuses --


def _wrapped(inner):
    @functools.wraps(inner)
    def wrapper(*args, **kwargs):
        return inner(*args, **kwargs)

    return wrapper


def _no_args():
    pass


def _two(conn, cursor):
    pass


SIGNATURES = [
    lambda engine: None,
    lambda engine, extra=1: None,
    lambda *args: None,
    lambda engine=None: None,
    lambda engine, *, flag=False: None,
    lambda: None,
    lambda conn, cursor: None,
    lambda engine, *, required: None,
    lambda **kw: None,
    lambda *, engine=None: None,
    _wrapped(_no_args),
    _wrapped(_two),
    _wrapped(lambda engine: None),
    print,
]


@pytest.mark.parametrize("fn", SIGNATURES)
def test_the_signature_shortcut_agrees_with_inspect(fn):
    from bridge.executor import _takes_one_positional

    try:
        inspect.signature(fn).bind(object())
        binds = True
    except TypeError:
        binds = False
    except ValueError:
        binds = None  # no signature: the call decides
    if _takes_one_positional(fn):
        assert binds is True


def test_a_decorated_upgrade_without_the_engine_parameter_gets_the_signature_message(tmp_path):
    from bridge.errors import MigrationError
    from bridge.executor import migration_function
    from bridge.loader import LegacyFile

    legacy = LegacyFile(tmp_path / "20251031_x.py", "20251031_x", None, "x")
    module = types.SimpleNamespace(upgrade=_wrapped(_no_args))
    with pytest.raises(MigrationError, match=r"`def upgrade\(\)` cannot take the engine"):
        migration_function(legacy, module, "upgrade")


# -- the ledger's one-statement record on PostgreSQL ---------------------------------


def test_recording_a_migration_twice_keeps_one_row_and_the_latest_checksum(engine):
    from bridge.context import forget_connection
    from bridge.ledger import Ledger

    with engine.begin() as conn:
        ledger = Ledger(conn, "stem")
        ledger.record_applied("20251031_x", "a" * 64)
        ledger.record_applied("20251031_x", "b" * 64)
        ledger.record_applied("20251101_y")
        forget_connection(conn)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT migration_name FROM schema_migrations ORDER BY id").scalars().all()
        sums = conn.exec_driver_sql("SELECT migration_name, sha256 FROM alembic_bridge_checksums").all()
    assert rows == ["20251031_x", "20251101_y"]
    assert sums == [("20251031_x", "b" * 64)]


def test_a_row_in_the_other_name_format_is_not_duplicated(engine):
    from bridge.ledger import Ledger

    with engine.begin() as conn:
        Ledger(conn).ensure_tables()
        conn.exec_driver_sql("INSERT INTO schema_migrations (migration_name) VALUES ('20251031_x.py')")
    with engine.begin() as conn:
        Ledger(conn, "stem").record_applied("20251031_x", "c" * 64)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT migration_name FROM schema_migrations").scalars().all()
    assert rows == ["20251031_x.py"]


def test_history_tables_created_by_a_rolled_back_migration_are_created_again(engine):
    from bridge.ledger import Ledger

    with engine.connect() as conn:
        with conn.begin() as trans:
            Ledger(conn, "stem").record_applied("20251031_x", "a" * 64)
            trans.rollback()  # the migration failed: its tables and rows are gone
        with conn.begin():
            Ledger(conn, "stem").record_applied("20251031_x", "a" * 64)
        rows = conn.exec_driver_sql("SELECT migration_name FROM schema_migrations").scalars().all()
    assert rows == ["20251031_x"]


# -- `alembic upgrade head` at the legacy head skips the revision map, nothing else ----


@pytest.mark.slow
def test_a_native_revision_added_after_everything_was_applied_still_runs(project):
    project.table("20251001_create_a", "a")
    project.table("20251002_create_b", "b")
    project.run("alembic", "upgrade", "head", check=True)
    assert project.run("alembic", "upgrade", "head", check=True).output.count("Running upgrade") == 0
    (project.versions / "n1_notes.py").write_text(NATIVE.format(rev="n1", down="20251002_create_b"))
    result = project.run("alembic", "upgrade", "head", check=True)
    assert "Running upgrade 20251002_create_b -> n1" in result.output
    assert project.version() == ["n1"]


@pytest.mark.slow
def test_a_native_revision_in_the_wrong_place_is_refused_even_at_the_legacy_head(project):
    project.table("20251001_create_a", "a")
    project.table("20251002_create_b", "b")
    project.run("alembic", "upgrade", "head", check=True)
    (project.versions / "n1_notes.py").write_text(NATIVE.format(rev="n1", down="20251001_create_a"))
    result = project.run("alembic", "upgrade", "head")
    assert result.returncode != 0
    assert "later legacy files exist" in result.output


@pytest.mark.slow
def test_a_misnamed_file_added_after_everything_was_applied_stops_the_upgrade(project):
    project.table("20251001_create_a", "a")
    project.run("alembic", "upgrade", "head", check=True)
    project.table("2025-10-02_create_b", "b")
    result = project.run("alembic", "upgrade", "head")
    assert result.returncode != 0
    assert "2025-10-02_create_b.py" in result.output
