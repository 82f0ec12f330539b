"""``alembic-bridge convert``: the AST rewrite of legacy idioms, and converted chains on real PostgreSQL."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import textwrap
import uuid

import pytest
import sqlalchemy as sa
from conftest import REPO, legacy_source, url_text

from bridge.convert import rewrite as convert
from bridge.convert.rewrite import LEGACY_CODE, NATIVE, CannotConvert, convert_source

SAMPLES = sorted(p.stem for p in (REPO / "migrations").glob("2*.py"))
KEPT_AS_LEGACY_CODE = {
    "20251015_backfill_order_error_messages": "uses the connection `conn` outside a transaction it commits",
    "20251022_add_trading_indexes": "an optional step: a failure is rolled back and the migration carries on",
}


def converted(source: str, stem: str = "20251001_x", down: str | None = None):
    return convert_source(textwrap.dedent(source), stem=stem, down_revision=down, origin=f"{stem}.py", title="x")


def function(result, name: str) -> str:
    tree = ast.parse(result.text)
    (node,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name]
    return ast.get_source_segment(result.text, node)


def modes(result) -> dict[str, str]:
    return {f.name: f.mode for f in result.functions}


# -- the rewrite, idiom by idiom ---------------------------------------------------------------


def test_the_template_idiom_loses_its_transaction_scaffolding_and_uses_op_execute():
    result = converted(legacy_source("CREATE TABLE IF NOT EXISTS t (id INT)", "DROP TABLE IF EXISTS t"))
    assert modes(result) == {"upgrade": NATIVE, "downgrade": NATIVE}
    assert function(result, "upgrade") == textwrap.dedent('''\
        def upgrade() -> None:
            """Apply migration"""
            if legacy_row_recorded(revision):
                return  # applied before it was converted (e.g. by an old runner)
            record_legacy_row(revision)
            op.execute(text('CREATE TABLE IF NOT EXISTS t (id INT)'))''')
    assert function(result, "downgrade") == textwrap.dedent('''\
        def downgrade() -> None:
            """Rollback migration"""
            delete_legacy_row(revision)
            op.execute(text('DROP TABLE IF EXISTS t'))''')


def test_the_revision_keeps_the_stem_as_id_and_names_the_previous_stem():
    result = converted(legacy_source("SELECT 1"), stem="20251002_y", down="20251001_x")
    tree = ast.parse(result.text)
    values = {
        n.targets[0].id: ast.literal_eval(n.value)
        for n in tree.body
        if isinstance(n, ast.Assign) and isinstance(n.targets[0], ast.Name)
    }
    assert values == {
        "revision": "20251002_y",
        "down_revision": "20251001_x",
        "branch_labels": None,
        "depends_on": None,
        "replaces_legacy": ("20251002_y",),
    }
    doc = ast.get_docstring(tree)
    assert doc.startswith("x\n\nRevision ID: 20251002_y\nRevises: 20251001_x\n")
    assert "Migration: test\nDate: 2025-10-01\nPurpose: test migration" in doc  # the original, kept


def test_a_handler_that_prints_keeps_its_try_but_not_the_rollback():
    result = converted("""
        from sqlalchemy import text

        def upgrade(engine):
            with engine.connect() as conn:
                trans = conn.begin()
                try:
                    conn.execute(text("CREATE TABLE t (id INT)"))
                    trans.commit()
                    print("done")
                except Exception as e:
                    trans.rollback()
                    print(f"failed: {e}")
                    raise
        """)
    assert function(result, "upgrade").splitlines()[4:] == [
        "    try:",
        '        op.execute(text("CREATE TABLE t (id INT)"))',
        '        print("done")',
        "    except Exception as e:",
        '        print(f"failed: {e}")',
        "        raise",
    ]


def test_a_used_result_keeps_the_connection_from_op_get_bind():
    result = converted("""
        from sqlalchemy import text

        def upgrade(engine):
            with engine.connect() as conn:
                trans = conn.begin()
                try:
                    result = conn.execute(text("UPDATE t SET x = 1"))
                    print(result.rowcount)
                    conn.execute(text("INSERT INTO t VALUES (:v)"), {"v": 1})
                    conn.exec_driver_sql("CREATE INDEX i ON t (x)")
                    trans.commit()
                except Exception:
                    trans.rollback()
                    raise
        """)
    assert modes(result)["upgrade"] == NATIVE
    assert function(result, "upgrade").splitlines()[4:] == [
        "    conn = op.get_bind()",
        '    result = conn.execute(text("UPDATE t SET x = 1"))',
        "    print(result.rowcount)",
        '    conn.execute(text("INSERT INTO t VALUES (:v)"), {"v": 1})',
        '    conn.exec_driver_sql("CREATE INDEX i ON t (x)")',
    ]


def test_an_early_return_after_only_reading_stays_native():
    result = converted("""
        from sqlalchemy import text

        def upgrade(engine):
            with engine.connect() as conn:
                trans = conn.begin()
                try:
                    if conn.execute(text("SELECT COUNT(*) FROM t")).scalar() > 0:
                        return
                    conn.execute(text("INSERT INTO t VALUES (1)"))
                    trans.commit()
                except Exception:
                    trans.rollback()
                    raise
        """)
    assert modes(result)["upgrade"] == NATIVE
    assert "        return" in function(result, "upgrade")


def test_the_autobegin_shape_with_one_commit_and_a_read_only_guard_becomes_native():
    # real-world-idioms.md #2: 2.0-style autobegin, an early return after a read-only check.
    result = converted("""
        from sqlalchemy import text

        def upgrade(engine):
            with engine.connect() as conn:
                result = conn.execute(text("SELECT COUNT(*) FROM information_schema.columns WHERE column_name = 'x'"))
                if result.scalar() > 0:
                    print("Column already exists, skipping")
                    return
                conn.execute(text("ALTER TABLE t ADD COLUMN x INT"))
                conn.commit()
            print("done")
        """)
    assert modes(result)["upgrade"] == NATIVE
    assert function(result, "upgrade") == textwrap.dedent("""\
        def upgrade() -> None:
            if legacy_row_recorded(revision):
                return  # applied before it was converted (e.g. by an old runner)
            record_legacy_row(revision)
            conn = op.get_bind()
            result = conn.execute(text("SELECT COUNT(*) FROM information_schema.columns WHERE column_name = 'x'"))
            if result.scalar() > 0:
                print("Column already exists, skipping")
                return
            op.execute(text("ALTER TABLE t ADD COLUMN x INT"))
            print("done")""")


@pytest.mark.parametrize("exit_call", ["trans.rollback()", "trans.commit()"])
def test_the_template_s_early_exit_that_ends_an_empty_transaction_stays_native(exit_call):
    # real-world-idioms.md #3 and #4: guard -> `trans.rollback(); return` or `trans.commit(); return`.
    result = converted(f"""
        from sqlalchemy import text

        def upgrade(engine):
            with engine.connect() as conn:
                trans = conn.begin()
                try:
                    if conn.execute(text("SELECT to_regclass('t') IS NOT NULL")).scalar():
                        print("exists")
                        {exit_call}
                        return
                    conn.execute(text("CREATE TABLE t (id INT)"))
                    trans.commit()
                except Exception as e:
                    trans.rollback()
                    raise
        """)
    assert modes(result)["upgrade"] == NATIVE
    body = function(result, "upgrade")
    assert "trans" not in body and 'print("exists")\n        return\n' in body
    assert 'op.execute(text("CREATE TABLE t (id INT)"))' in body


def test_begin_and_commit_without_the_try_statement_become_native():
    result = converted("""
        from sqlalchemy import text

        def upgrade(engine):
            with engine.connect() as conn:
                trans = conn.begin()
                conn.execute(text("CREATE TABLE t (id INT)"))
                trans.commit()
        """)
    assert modes(result)["upgrade"] == NATIVE
    assert function(result, "upgrade").endswith(
        'record_legacy_row(revision)\n    op.execute(text("CREATE TABLE t (id INT)"))'
    )


@pytest.mark.parametrize(
    "body, reason",
    [
        (
            """
            conn.execute(text("INSERT INTO t VALUES (1)"))
            if conn.execute(text("SELECT 1")).scalar():
                conn.rollback()
                return
            conn.commit()
            """,
            "line 9: returns early after writing (line 6)",
        ),
        (
            """
            conn.execute(text("INSERT INTO t VALUES (1)"))
            conn.commit()
            conn.execute(text("INSERT INTO t VALUES (2)"))
            """,
            "line 8: uses the connection `conn` outside a transaction it commits",
        ),
        (
            """
            conn.execute(text("INSERT INTO t VALUES (1)"))
            conn.commit()
            conn.execute(text("INSERT INTO t VALUES (2)"))
            conn.commit()
            """,
            "line 9: commits `conn` more than once",
        ),
    ],
    ids=["rolls-back-a-write-and-returns", "work-after-the-commit", "two-commits"],
)
def test_an_autobegin_shape_that_would_change_meaning_keeps_the_legacy_code(body, reason):
    source = "from sqlalchemy import text\n\n\ndef upgrade(engine):\n    with engine.connect() as conn:\n"
    source += textwrap.indent(textwrap.dedent(body).lstrip("\n"), "        ")
    (up, _) = converted(source).functions
    assert up.mode == LEGACY_CODE and up.reason.startswith(reason), up.reason


def test_an_early_return_after_a_write_keeps_the_legacy_code():
    result = converted("""
        from sqlalchemy import text

        def upgrade(engine):
            with engine.connect() as conn:
                trans = conn.begin()
                try:
                    conn.execute(text("INSERT INTO t VALUES (1)"))
                    if conn.execute(text("SELECT COUNT(*) FROM t")).scalar() > 1:
                        return
                    trans.commit()
                except Exception:
                    trans.rollback()
                    raise
        """)
    (up, _) = result.functions
    assert up.mode == LEGACY_CODE
    assert up.reason == (
        "line 10: returns early after writing (line 8) with the transaction open; the legacy "
        "engine rolls that work back and the bridge reports it"
    )
    assert function(result, "upgrade").splitlines()[1:] == [
        "    if legacy_row_recorded(revision):",
        "        return  # applied before it was converted (e.g. by an old runner)",
        "    # The legacy code below runs unchanged, on Alembic's connection, with the",
        "    # bridge's engine (its transactions are SAVEPOINTs in Alembic's transaction):",
        "    # returns early after writing (line 8) with the transaction open; the legacy engine rolls that work back and the bridge reports it.",
        "    run_legacy_code(legacy_upgrade)",
        "    record_legacy_row(revision)",
    ]
    assert "def legacy_upgrade(engine):" in result.text


@pytest.mark.parametrize(
    "body, reason",
    [
        pytest.param(
            """
        with engine.connect() as conn:
            trans = conn.begin()
            try:
                conn.execute(text("CREATE EXTENSION pg_trgm"))
                trans.commit()
            except Exception:
                trans.rollback()
                print("skipped")
        """,
            "line 10: an optional step: a failure is rolled back and the migration carries on",
            id="optional-step",
        ),
        pytest.param(
            """
        with engine.connect() as conn:
            while True:
                result = conn.execute(text("UPDATE t SET x = 1 WHERE id IN (SELECT id FROM t WHERE x = 0 LIMIT 10)"))
                conn.commit()
                if result.rowcount == 0:
                    break
        """,
            "line 7: uses the connection `conn` outside a transaction it commits (autobegin, conn.commit(), "
            "or after the block)",
            id="batches-committed-one-by-one",
        ),
        pytest.param(
            """
        with engine.connect() as conn:
            trans = conn.begin()
            conn.execute(text("INSERT INTO t VALUES (1)"))
        """,
            "line 6: the transaction is committed nowhere (under the bridge, uncommitted work is rolled back "
            "and reported)",
            id="never-committed",
        ),
        pytest.param(
            """
        with engine.connect() as conn:
            trans = conn.begin()
            try:
                conn.execute(text("INSERT INTO t VALUES (1)"))
            except Exception:
                trans.rollback()
                raise
        """,
            "line 6: the transaction is committed nowhere (under the bridge, uncommitted work is rolled "
            "back and reported)",
            id="commit-missing",
        ),
        pytest.param(
            """
        create_tables(engine)
        """,
            "line 5: uses the engine as `create_tables(engine)`, which has no direct equivalent on "
            "Alembic's connection",
            id="helper-taking-the-engine",
        ),
        pytest.param(
            """
        with engine.connect() as a:
            with engine.connect() as b:
                a.execute(text("SELECT 1"))
        """,
            "line 6: uses the engine as `engine.connect`, which has no direct equivalent on Alembic's connection",
            id="two-connections-at-once",
        ),
        pytest.param(
            """
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.execute(text("CREATE INDEX CONCURRENTLY i ON t (x)"))
        """,
            "line 6: uses the connection `conn` outside a transaction it commits (autobegin, conn.commit(), "
            "or after the block)",
            id="autocommit",
        ),
    ],
)
def test_what_cannot_be_rewritten_faithfully_keeps_the_legacy_code_and_says_why(body, reason):
    source = "from sqlalchemy import text\n\n\ndef upgrade(engine):\n" + textwrap.indent(
        textwrap.dedent(body).lstrip("\n"), "    "
    )
    result = converted(source)
    (up, _) = result.functions
    assert (up.mode, up.reason) == (LEGACY_CODE, reason)
    tree = ast.parse(result.text)
    legacy = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "legacy_upgrade"][0]
    original = [n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef)][0]
    original.name = "legacy_upgrade"
    assert ast.dump(legacy) == ast.dump(original)  # verbatim


def test_engine_begin_blocks_and_conn_begin_blocks_are_flattened():
    result = converted("""
        from sqlalchemy import text

        def upgrade(engine):
            with engine.begin() as conn:
                conn.execute(text("CREATE TABLE a (id INT)"))
            with engine.connect() as conn:
                with conn.begin():
                    conn.execute(text("CREATE TABLE b (id INT)"))
        """)
    assert modes(result)["upgrade"] == NATIVE
    assert function(result, "upgrade").splitlines()[4:] == [
        '    op.execute(text("CREATE TABLE a (id INT)"))',
        '    op.execute(text("CREATE TABLE b (id INT)"))',
    ]


def test_several_connections_one_after_another_share_alembic_s_connection():
    result = converted("""
        from sqlalchemy import text

        def upgrade(engine):
            with engine.connect() as conn:
                trans = conn.begin()
                try:
                    conn.execute(text("CREATE TABLE a (id INT)"))
                    trans.commit()
                except Exception:
                    trans.rollback()
                    raise
            with engine.connect() as conn:
                trans = conn.begin()
                try:
                    if conn.execute(text("SELECT to_regclass('a')")).scalar() is None:
                        raise Exception("step 1 did not commit")
                    trans.commit()
                except Exception:
                    trans.rollback()
                    raise
        """)
    assert function(result, "upgrade").splitlines()[4:] == [
        '    op.execute(text("CREATE TABLE a (id INT)"))',
        "    conn = op.get_bind()",
        """    if conn.execute(text("SELECT to_regclass('a')")).scalar() is None:""",
        '        raise Exception("step 1 did not commit")',
    ]


def test_what_code_reads_off_the_engine_is_read_off_alembic_s_connection():
    result = converted("""
        from sqlalchemy import inspect, text

        def upgrade(engine):
            if engine.dialect.name != "postgresql":
                raise Exception(engine.name)
            print(engine.url.render_as_string(hide_password=True))
            if "x" in [c["name"] for c in inspect(engine).get_columns("t")]:
                return
            with engine.begin() as conn:
                conn.execute(text("ALTER TABLE t ADD COLUMN x INT"))
            engine.dispose()
        """)
    assert function(result, "upgrade").splitlines()[4:] == [
        '    if op.get_bind().dialect.name != "postgresql":',
        "        raise Exception(op.get_bind().dialect.name)",
        "    print(op.get_bind().engine.url.render_as_string(hide_password=True))",
        '    if "x" in [c["name"] for c in inspect(op.get_bind()).get_columns("t")]:',
        "        return",
        '    op.execute(text("ALTER TABLE t ADD COLUMN x INT"))',
    ]


def test_sql_text_comments_and_prints_are_kept_byte_for_byte():
    source = (REPO / "migrations" / "20250408_create_strategies.py").read_text()
    result = converted(source, stem="20250408_create_strategies")
    for line in source.split("if __name__")[0].splitlines():
        stripped = line.strip()
        if stripped.startswith(("#", "print(", "CREATE", "$$", "WHERE", "IF NOT EXISTS", "END IF;")):
            assert any(out.strip() == stripped for out in result.text.splitlines()), line
    before = [n.value for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    after = [
        n.value for n in ast.walk(ast.parse(result.text)) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    ]
    sql = [s for s in before if s.lstrip().startswith(("CREATE", "DO $$"))]
    assert sql and all(s in after for s in sql)


def test_the_main_block_and_the_imports_only_it_used_are_dropped():
    result = converted((REPO / "migrations" / "20250312_create_accounts.py").read_text())
    assert "__main__" not in result.text and "load_dotenv" not in result.text
    assert "import os" not in result.text and "import sys" not in result.text
    assert "from sqlalchemy import text\n" in result.text
    assert "# @FEAT:account-management @COMP:migration @TYPE:core" in result.text


def test_a_file_without_downgrade_gets_one_that_raises():
    result = converted("from sqlalchemy import text\n\n\ndef upgrade(engine):\n    pass\n")
    assert modes(result)["downgrade"] == convert.MISSING
    namespace = {}
    exec(compile(function(result, "downgrade"), "x", "exec"), namespace)
    with pytest.raises(NotImplementedError, match="20251001_x cannot be downgraded: the legacy migration"):
        namespace["downgrade"]()


@pytest.mark.parametrize(
    "source, message",
    [
        (
            "def upgrade(engine):\n    open(__file__)\n",
            "line 2: uses __file__; the converted revision lives in another folder, so paths built from it "
            "would change. Read the file another way first",
        ),
        (
            "def upgrade(engine):\n    op = 1\n",
            "line 2: uses the name `op`, which the converted revision needs for Alembic (rename it first)",
        ),
        ("def downgrade(engine):\n    pass\n", "defines no top-level `def upgrade(engine):`"),
        (
            "def upgrade():\n    pass\n",
            "line 1: upgrade() does not take exactly one engine parameter; the bridge cannot run it either "
            "(see `alembic-bridge lint`)",
        ),
        (
            "def upgrade(engine):\n    pass\n\ndef downgrade(engine):\n    upgrade(engine)\n",
            "line 5: refers to upgrade() by name; a native revision's upgrade() takes no engine, so the call "
            "would break",
        ),
        ("def upgrade(engine)\n    pass\n", "syntax error at line 1: expected ':'"),
    ],
)
def test_files_that_cannot_be_moved_safely_are_refused_with_the_reason(source, message):
    with pytest.raises(CannotConvert) as err:
        converted(source)
    assert str(err.value) == message


def test_every_sample_converts_and_only_the_documented_ones_keep_legacy_code():
    previous = None
    for stem in SAMPLES:
        source = (REPO / "migrations" / f"{stem}.py").read_text()
        result = convert_source(source, stem=stem, down_revision=previous, origin=f"{stem}.py")
        compile(result.text, stem, "exec")
        kept = {f.name: f.reason for f in result.functions if f.mode == LEGACY_CODE}
        if stem in KEPT_AS_LEGACY_CODE:
            assert list(kept) == ["upgrade"] and KEPT_AS_LEGACY_CODE[stem] in kept["upgrade"]
        else:
            assert kept == {}, stem
        previous = stem


CORPUS = REPO / "tests" / "convert_corpus"
# The legacy template's shapes (legacy-system.md, real-world-idioms.md #2-#4) and three that must
# stay legacy code. Before the autobegin / early-exit / begin-without-try rewrites: 2 of 9 native.
CORPUS_KEPT = {
    "20250107_batches": "outside a transaction it commits",
    "20250108_optional_extension": "an optional step",
    "20250109_concurrent_index": "uses the engine as `engine.connect`",
}


def test_the_template_shapes_of_the_corpus_convert_natively_and_only_the_unsafe_ones_stay_legacy_code():
    previous, native = None, []
    for path in sorted(CORPUS.glob("2*.py")):
        result = convert_source(path.read_text(), stem=path.stem, down_revision=previous, origin=path.name)
        compile(result.text, path.name, "exec")
        kept = [f.reason for f in result.functions if f.mode == LEGACY_CODE]
        if path.stem in CORPUS_KEPT:
            assert kept and CORPUS_KEPT[path.stem] in kept[0], (path.stem, kept)
        else:
            assert kept == [], (path.stem, kept)
            native.append(path.stem)
        previous = path.stem
    assert len(native) == 6


# -- on a real database -------------------------------------------------------------------------


@pytest.fixture
def other_database_url(pg_admin_url):
    """A second fresh database for the same test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(pg_admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield pg_admin_url.set(database=name)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def pg_dump(url, *options: str) -> str:
    """Return pg_dump's output for *url*, without the lines that differ between any two runs."""
    from bridge.baseline.pgdump import find_pg_dump

    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            major = int(conn.exec_driver_sql("SHOW server_version_num").scalar()) // 10000
    finally:
        engine.dispose()
    libpq = url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    env = {"PGPASSWORD": url.password} if url.password else {}
    out = subprocess.run(
        [find_pg_dump(major), "--no-owner", *options, libpq],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **env},
    ).stdout
    return "".join(
        line for line in out.splitlines(keepends=True) if not line.startswith(("\\restrict", "\\unrestrict"))
    )


def schema_and_seed(url, *excluded: str) -> tuple[str, str, list[str]]:
    """The schema (without *excluded* tables), the data outside the history tables, and schema_migrations' names."""
    data = pg_dump(
        url,
        "--data-only",
        "--column-inserts",
        "--exclude-table=schema_migrations",
        "--exclude-table=alembic_bridge_checksums",
        "--exclude-table=alembic_bridge_log",
        "--exclude-table=alembic_bridge_log_id_seq",  # one row per step: differs by how a database got there
        "--exclude-table=alembic_version",
    )
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            rows = [r[0] for r in conn.exec_driver_sql("SELECT migration_name FROM schema_migrations ORDER BY id")]
    finally:
        engine.dispose()
    # The run log's id sequence goes with the run log.
    excluded += tuple(f"{t}_id_seq" for t in excluded if t == "alembic_bridge_log")
    return pg_dump(url, "--schema-only", *(f"--exclude-table={t}" for t in excluded)), data, rows


def status(project) -> dict:
    return json.loads(project.run("alembic-bridge", "status", "--json", check=True).stdout)


@pytest.mark.slow
def test_convert_all_then_upgrade_head_on_a_fresh_database_gives_the_unconverted_schema(
    sample_project, other_database_url
):
    sample_project.run("alembic", "upgrade", "head", check=True)
    before = schema_and_seed(sample_project.url)

    result = sample_project.run("alembic-bridge", "convert", "--all", check=True)
    assert sorted(p.stem for p in sample_project.versions.glob("*.py")) == SAMPLES
    assert list(sample_project.legacy.glob("2*.py")) == []
    assert f"Converting {len(SAMPLES)} legacy migration(s) into alembic/versions" in result.stdout

    sample_project.url = other_database_url
    sample_project.run("alembic", "upgrade", "head", check=True)
    assert schema_and_seed(other_database_url) == before
    assert sample_project.version() == [SAMPLES[-1]]


@pytest.mark.slow
def test_a_database_migrated_before_conversion_has_nothing_pending(sample_project):
    sample_project.run("alembic", "upgrade", "head", check=True)
    sample_project.run("alembic-bridge", "convert", "--all", check=True)
    report = status(sample_project)
    assert report["pending_count"] == 0 and report["current"] == [SAMPLES[-1]]
    assert [m["state"] for m in report["migrations"] if m["kind"] == "native"] == ["applied"] * len(SAMPLES)
    again = sample_project.run("alembic", "upgrade", "head", check=True)
    assert "Running upgrade" not in again.stderr
    assert "not in the legacy directory" not in again.stderr
    assert all(m["state"] != "file-missing" for m in report["migrations"])


@pytest.mark.slow
def test_a_database_an_old_runner_migrated_is_adopted_without_running_anything_again(sample_project):
    sample_project.run(
        "python",
        str(REPO / "tests" / "legacy_runner.py"),
        "--url",
        url_text(sample_project.url),
        "--dir",
        str(sample_project.legacy),
        check=True,
    )
    bridge_tables = ("alembic_version", "alembic_bridge_checksums", "alembic_bridge_log")  # the old runner has none
    before = schema_and_seed(sample_project.url, *bridge_tables)
    sample_project.run("alembic-bridge", "convert", "--all", check=True)
    result = sample_project.run("alembic", "upgrade", "head", check=True)
    assert result.stderr.count("schema_migrations already lists it") == len(SAMPLES)
    assert "Starting migration" not in result.stdout  # no body ran
    assert schema_and_seed(sample_project.url, *bridge_tables) == before
    assert sample_project.version() == [SAMPLES[-1]]


@pytest.mark.slow
def test_converted_revisions_keep_schema_migrations_in_step_both_ways(sample_project):
    sample_project.run("alembic-bridge", "convert", "--all", check=True)
    sample_project.run("alembic", "upgrade", "head", check=True)
    assert sample_project.rows() == SAMPLES
    sample_project.run("alembic", "downgrade", "-3", check=True)
    assert sample_project.rows() == SAMPLES[:-3]
    assert "order_events" not in sample_project.tables()
    sample_project.run("alembic", "upgrade", "head", check=True)
    assert sample_project.rows() == SAMPLES and "order_events" in sample_project.tables()


@pytest.mark.slow
def test_legacy_code_kept_in_a_converted_revision_runs_with_legacy_semantics(sample_project):
    sample_project.run("alembic", "upgrade", "20251015_add_error_message_to_open_orders", check=True)
    sample_project.sql(
        "INSERT INTO accounts (name, exchange) VALUES ('a', 'BINANCE');"
        "INSERT INTO strategies (account_id, group_name, name) VALUES (1, 'g', 's');"
        "INSERT INTO open_orders (strategy_id, account_id, symbol, side, quantity, status)"
        " SELECT 1, 1, 'BTCUSDT', 'BUY', 1, 'REJECTED' FROM generate_series(1, 1200)"
    )
    sample_project.run("alembic-bridge", "convert", "--all", check=True)
    result = sample_project.run("alembic", "upgrade", "head", check=True)
    assert "Backfilled 1200 orders so far" in result.stdout  # three batches, conn.commit() each
    assert "Trigram index skipped" in result.stdout  # the optional step rolled back, and carried on
    assert sample_project.sql("SELECT COUNT(*) FROM open_orders WHERE error_message IS NULL") == [(0,)]
    assert sample_project.sql("SELECT to_regclass('idx_open_orders_status') IS NOT NULL") == [(True,)]


AUTOCOMMIT = """\
from sqlalchemy import text


def upgrade(engine):
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_a_id ON a (id)"))


def downgrade(engine):
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("DROP INDEX CONCURRENTLY IF EXISTS ix_a_id"))
"""


@pytest.mark.slow
def test_kept_legacy_code_may_autocommit_and_the_row_is_written_after_its_work(project):
    project.table("20251001_create_a", "a")
    project.write("20251002_concurrent_index.py", AUTOCOMMIT)
    result = project.run("alembic-bridge", "convert", "--all", check=True)
    assert "upgrade: legacy code kept" in result.stdout
    source = (project.versions / "20251002_concurrent_index.py").read_text()
    assert source.index("run_legacy_code(legacy_upgrade)") < source.index("record_legacy_row(revision)")
    project.run("alembic", "upgrade", "head", check=True)
    assert project.sql("SELECT to_regclass('ix_a_id') IS NOT NULL") == [(True,)]
    assert project.rows() == ["20251001_create_a", "20251002_concurrent_index"]
    project.run("alembic", "downgrade", "-1", check=True)
    assert project.sql("SELECT to_regclass('ix_a_id') IS NULL") == [(True,)]
    assert project.rows() == ["20251001_create_a"]


@pytest.mark.slow
def test_a_converted_statement_only_revision_renders_with_sql(project):
    project.table("20251001_create_a", "a")
    project.run("alembic-bridge", "convert", "--all", check=True)
    sql = project.run("alembic", "upgrade", "head", "--sql", check=True).stdout
    assert "CREATE TABLE IF NOT EXISTS a (id SERIAL PRIMARY KEY);" in sql
    assert "INSERT INTO schema_migrations (migration_name) VALUES ('20251001_create_a');" in sql


@pytest.mark.slow
def test_native_revisions_after_the_legacy_head_keep_following_it(sample_project):
    (sample_project.versions / "n1_note.py").write_text(
        f'"""note"""\nrevision = "n1"\ndown_revision = "{SAMPLES[-1]}"\nbranch_labels = None\n'
        "depends_on = None\n\n\ndef upgrade():\n    pass\n\n\ndef downgrade():\n    pass\n"
    )
    sample_project.run("alembic", "upgrade", "head", check=True)
    sample_project.run("alembic-bridge", "convert", "--all", check=True)
    history = sample_project.run("alembic", "history", check=True).stdout
    assert history.startswith(f"{SAMPLES[-1]} -> n1 (head), note\n")
    assert status(sample_project)["pending_count"] == 0


@pytest.mark.slow
def test_convert_warns_loudly_that_old_runners_no_longer_build_the_schema(sample_project):
    result = sample_project.run("alembic-bridge", "convert", "--all", check=True)
    assert result.stderr.startswith(
        f"\nWARNING: Old runners (`python run.py start` with a MigrationHelper, anything scanning legacy) "
        f"no longer see these {len(SAMPLES)} migration(s). On a NEW database an old runner would skip them"
    )
    assert "Retire old runners" in result.stderr


@pytest.mark.slow
def test_dry_run_prints_each_function_s_conversion_and_writes_nothing(sample_project):
    result = sample_project.run("alembic-bridge", "convert", "--all", "--dry-run", check=True)
    assert "Would convert 12 legacy migration(s)" in result.stdout
    assert (
        "  20251022_add_trading_indexes\n      upgrade: legacy code kept, run through run_legacy_code() (line 61: an optional step"
        in result.stdout
    )
    assert "      downgrade: op.execute()/op.get_bind()" in result.stdout
    assert sorted(p.stem for p in sample_project.legacy.glob("2*.py")) == SAMPLES
    assert list(sample_project.versions.glob("*.py")) == []


@pytest.mark.slow
def test_convert_has_help_and_needs_exactly_one_target(project):
    assert project.run("alembic-bridge", "convert", "--help", check=True).stdout.startswith(
        "Usage: alembic-bridge convert [OPTIONS] [STEM]"
    )
    for args in ([], ["x", "--all"]):
        result = project.run("alembic-bridge", "convert", *args)
        assert (result.returncode, result.stderr.splitlines()[-1]) == (
            2,
            "Error: Name exactly one of STEM, --upto STEM or --all.",
        )


@pytest.mark.parametrize("command", [["convert", "--all"], ["baseline"]])
@pytest.mark.slow
def test_commands_that_write_revisions_need_one_version_location(sample_project, command):
    ini = sample_project.root / "alembic.ini"
    ini.write_text(
        ini.read_text().replace(
            "path_separator = os", "path_separator = space\nversion_locations = %(here)s/alembic/versions %(here)s/more"
        )
    )
    result = sample_project.run("alembic-bridge", *command)
    assert result.returncode == 1, result.output
    assert f"{command[0]} writes into one version location, but 2 are configured" in result.stderr
    assert "Set version_locations to one folder." in result.stderr
    assert "Traceback" not in result.output
    assert len(list(sample_project.legacy.glob("2*.py"))) == len(SAMPLES)  # nothing moved


@pytest.mark.slow
def test_a_stem_that_is_not_first_is_refused_with_the_upto_form(sample_project):
    result = sample_project.run("alembic-bridge", "convert", "20250520_create_open_orders")
    assert result.returncode == 1
    assert result.stderr == (
        "Error: 20250520_create_open_orders is not the first legacy migration: 2 come before it "
        "(20250312_create_accounts ... 20250408_create_strategies). Legacy files must all come before "
        "native revisions, so only a prefix of the chain can be converted. Convert them too with "
        "`alembic-bridge convert --upto 20250520_create_open_orders`.\n"
    )
    assert list(sample_project.versions.glob("*.py")) == []


@pytest.mark.slow
def test_a_file_that_cannot_be_converted_stops_the_conversion_and_is_named(project):
    project.table("20251001_create_a", "a")
    project.write("20251002_read_sql.py", "def upgrade(engine):\n    open(__file__)\n")
    project.table("20251003_create_c", "c")
    result = project.run("alembic-bridge", "convert", "--all")
    assert result.returncode == 1
    assert result.stderr == (
        "Error: 1 legacy migration(s) cannot be converted; nothing was written:\n"
        f"  {project.legacy / '20251002_read_sql.py'}: line 2: uses __file__; the converted revision "
        "lives in another folder, so paths built from it would change. Read the file another way first\n"
        "Convert the files before it with `alembic-bridge convert --upto 20251001_create_a`, or fix the "
        "file(s) and run again.\n"
    )
    assert list(project.versions.glob("*.py")) == [] and len(list(project.legacy.glob("*.py"))) == 3


@pytest.mark.slow
def test_convert_upto_converts_the_prefix_says_so_and_the_chain_stays_one_line(sample_project, other_database_url):
    sample_project.run("alembic", "upgrade", "20250617_create_trade_history", check=True)
    result = sample_project.run("alembic-bridge", "convert", "--upto", "20250722", check=True)
    assert result.stdout.startswith(
        "Converting 20250722_create_exchange_credentials also converts the 4 legacy migration(s) before it: "
        "legacy files must all come before native revisions.\n"
    )
    history = sample_project.run("alembic", "history", check=True).stdout
    assert "20250722_create_exchange_credentials -> 20250903_add_updated_at_triggers" in history
    assert "<base> -> 20250312_create_accounts" in history
    assert sample_project.run("alembic", "heads", check=True).stdout.strip() == f"{SAMPLES[-1]} (head)"

    # A database that was part-way through the chain before the conversion.
    assert status(sample_project)["pending_count"] == len(SAMPLES) - 4
    sample_project.run("alembic", "upgrade", "head", check=True)
    assert sample_project.rows() == SAMPLES

    # A fresh one: converted revisions first, then the legacy files.
    reference = schema_and_seed(sample_project.url)
    sample_project.url = other_database_url
    sample_project.run("alembic", "upgrade", "head", check=True)
    assert schema_and_seed(other_database_url)[:2] == reference[:2]

    # The rest can follow later.
    sample_project.run("alembic-bridge", "convert", "--all", check=True)
    assert status(sample_project)["pending_count"] == 0


@pytest.mark.slow
def test_after_a_partial_conversion_new_legacy_files_still_follow_the_legacy_chain(sample_project):
    sample_project.run("alembic-bridge", "convert", "--upto", "20250722", check=True)
    listed = status(sample_project)["migrations"]
    assert [m["revision"] for m in listed] == SAMPLES  # chain order: converted ones first
    assert [m["kind"] for m in listed] == ["native"] * 5 + ["legacy"] * (len(SAMPLES) - 5)
    created = sample_project.run("alembic-bridge", "new", "late legacy file", "--date", "20991231", check=True)
    assert "20991231_late_legacy_file.py" in created.stdout
    assert sample_project.run("alembic", "heads", check=True).stdout.strip() == "20991231_late_legacy_file (head)"
    sample_project.run("alembic", "upgrade", "head", check=True)
    assert sample_project.rows() == [*SAMPLES, "20991231_late_legacy_file"]


@pytest.mark.slow
def test_after_converting_everything_a_new_legacy_file_must_still_sort_last(sample_project):
    sample_project.run("alembic-bridge", "convert", "--all", check=True)
    last_date, last_description = SAMPLES[-1].split("_", 1)
    for description, date in (("early file", "20250101"), (last_description.replace("_", " "), last_date)):
        refused = sample_project.run("alembic-bridge", "new", description, "--date", date)
        assert refused.returncode == 1 and "would sort before" in refused.stderr, refused.output
    assert list(sample_project.legacy.glob("2*.py")) == []
    sample_project.run("alembic-bridge", "new", "late file", "--date", "20991231", check=True)
    sample_project.run("alembic", "upgrade", "head", check=True)
    assert sample_project.rows() == [*SAMPLES, "20991231_late_file"]


@pytest.mark.slow
def test_rows_of_converted_revisions_are_not_reported_as_missing_files(sample_project):
    sample_project.run("alembic", "upgrade", "head", check=True)
    sample_project.run("alembic-bridge", "convert", "--all", check=True)
    (sample_project.root / "alembic.ini").write_text(
        (sample_project.root / "alembic.ini")
        .read_text()
        .replace("path_separator = os", "path_separator = os\nstrict = true")
    )
    sample_project.run("alembic", "upgrade", "head", check=True)
    sample_project.run("alembic-bridge", "check", check=True)


@pytest.mark.slow
def test_the_converted_corpus_builds_the_same_schema_and_reverts_to_nothing(project, other_database_url):
    import shutil

    for path in sorted(CORPUS.glob("2*.py")):
        shutil.copy(path, project.legacy / path.name)
    project.run("alembic", "upgrade", "head", check=True)
    before = schema_and_seed(project.url)
    project.run("alembic-bridge", "convert", "--all", check=True)
    project.url = other_database_url
    project.run("alembic", "upgrade", "head", check=True)
    assert schema_and_seed(other_database_url) == before
    project.run("alembic", "downgrade", "base", check=True)
    assert set(project.tables()) <= {
        "schema_migrations",
        "alembic_version",
        "alembic_bridge_checksums",
        "alembic_bridge_log",
    }
