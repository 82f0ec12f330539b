"""Scenario tests: the stock ``alembic`` command over legacy files, in subprocesses."""

from __future__ import annotations

import re

import pytest
from conftest import legacy_source, native_source

LONG = "20251015_add_exchange_order_id_and_client_tag_to_open_orders"


def three_files(project):
    project.table("20251001_create_accounts", "accounts")
    project.table("20251010_add_orders", "orders")
    project.write(
        f"{LONG}.py",
        legacy_source(
            "ALTER TABLE orders ADD COLUMN IF NOT EXISTS exchange_order_id TEXT",
            "ALTER TABLE orders DROP COLUMN IF EXISTS exchange_order_id",
            title="add exchange order id",
        ),
    )
    return ["20251001_create_accounts", "20251010_add_orders", LONG]


@pytest.mark.slow
def test_upgrade_head_applies_every_file_and_records_both_tables(project):
    stems = three_files(project)
    result = project.run("alembic", "upgrade", "head", check=True)
    for stem in stems:
        assert f"-> {stem}" in result.output
    assert project.rows() == stems
    assert project.version() == [LONG]
    assert project.tables() == [
        "accounts",
        "alembic_bridge_checksums",
        "alembic_bridge_log",
        "alembic_version",
        "orders",
        "schema_migrations",
    ]


@pytest.mark.slow
def test_a_second_upgrade_does_nothing(project):
    stems = three_files(project)
    project.run("alembic", "upgrade", "head", check=True)
    before = project.sql("SELECT id, migration_name, applied_at FROM schema_migrations ORDER BY id")
    again = project.run("alembic", "upgrade", "head", check=True)
    assert "Running upgrade" not in again.stderr
    assert project.sql("SELECT id, migration_name, applied_at FROM schema_migrations ORDER BY id") == before
    assert project.rows() == stems


@pytest.mark.slow
def test_downgrade_base_removes_every_row_and_object(project):
    three_files(project)
    project.run("alembic", "upgrade", "head", check=True)
    project.run("alembic", "downgrade", "base", check=True)
    assert project.rows() == []
    assert project.version() == []
    assert "accounts" not in project.tables() and "orders" not in project.tables()


@pytest.mark.slow
def test_one_step_down_removes_only_that_row(project):
    stems = three_files(project)
    project.run("alembic", "upgrade", "head", check=True)
    project.run("alembic", "downgrade", "-1", check=True)
    assert project.rows() == stems[:2]
    assert project.version() == [stems[1]]
    cols = project.sql("SELECT column_name FROM information_schema.columns WHERE table_name='orders'")
    assert ("exchange_order_id",) not in cols


@pytest.mark.slow
def test_history_heads_current_and_show_display_the_legacy_revisions(project):
    stems = three_files(project)
    history = project.run("alembic", "history", check=True).stdout
    assert f"<base> -> {stems[0]}, create accounts" in history
    assert f"{stems[1]} -> {LONG} (head), add exchange order id" in history
    assert project.run("alembic", "heads", check=True).stdout.strip() == f"{LONG} (head)"
    project.run("alembic", "upgrade", stems[1], check=True)
    assert project.run("alembic", "current", check=True).stdout.strip() == stems[1]
    show = project.run("alembic", "show", stems[0], check=True).stdout
    assert f"Rev: {stems[0]}" in show and "Migration: create accounts" in show
    assert str(project.legacy / f"{stems[0]}.py") in show


@pytest.mark.slow
def test_a_unique_prefix_names_a_revision(project):
    stems = three_files(project)
    project.run("alembic", "upgrade", "20251001", check=True)
    assert project.rows() == stems[:1]
    ambiguous = project.run("alembic", "show", "202510")
    assert ambiguous.returncode != 0
    assert (
        "Can't locate revision identified by '202510'" in ambiguous.output
    )  # Alembic's wording for an ambiguous prefix


@pytest.mark.slow
def test_files_sharing_a_date_run_in_file_name_order(project):
    project.table("20251015_b_second", "b_second")
    project.table("20251015_a_first", "a_first")
    project.table("20251014_z_zeroth", "z_zeroth")
    project.run("alembic", "upgrade", "head", check=True)
    assert project.rows() == ["20251014_z_zeroth", "20251015_a_first", "20251015_b_second"]


@pytest.mark.slow
def test_building_the_chain_imports_no_legacy_file(project):
    project.write("20251001_explodes_on_import.py", "raise SystemExit('imported!')\n")
    project.table("20251002_fine", "fine")
    history = project.run("alembic", "history", check=True)
    assert "imported!" not in history.stdout + history.stderr
    assert "20251001_explodes_on_import -> 20251002_fine (head)" in history.stdout


@pytest.mark.slow
def test_version_table_is_wide_enough_and_an_existing_narrow_one_is_widened(project):
    three_files(project)
    project.sql(
        "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
    )
    result = project.run("alembic", "upgrade", "head", check=True)
    assert "Widening alembic_version.version_num from VARCHAR(32) to VARCHAR(255)" in result.output
    length = project.sql(
        "SELECT character_maximum_length FROM information_schema.columns "
        "WHERE table_name='alembic_version' AND column_name='version_num'"
    )
    assert length == [(255,)]
    assert project.version() == [LONG]


@pytest.mark.slow
def test_rows_follow_the_stem_dot_py_format_already_in_the_table(project):
    project.table("20251001_a", "a")
    project.table("20251002_b", "b")
    project.sql(
        "CREATE TABLE schema_migrations (id SERIAL PRIMARY KEY, migration_name VARCHAR(255) UNIQUE NOT NULL, "
        "applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)"
    )
    project.sql("CREATE TABLE a (id SERIAL PRIMARY KEY)")
    project.sql("INSERT INTO schema_migrations (migration_name) VALUES ('20251001_a.py')")
    project.run("alembic", "upgrade", "head", check=True)
    assert project.rows() == ["20251001_a.py", "20251002_b.py"]
    project.run("alembic", "downgrade", "base", check=True)
    assert project.rows() == []


# -- errors: each names the file and the fix; nothing is applied or recorded ------------

BROKEN = {
    "no_parameter": (
        "from sqlalchemy import text\n\ndef upgrade():\n    pass\n\ndef downgrade():\n    pass\n",
        r"20251002_broken.py:3: `def upgrade\(\)` cannot take the engine the runner passes .*Write `def upgrade\(engine\):`",
    ),
    "psycopg2_style": (
        "def upgrade(conn):\n    cursor = conn.cursor()\n    cursor.execute('CREATE TABLE t (id int)')\n    conn.commit()\n",
        r"20251002_broken.py:2: upgrade\(\) uses its argument like a psycopg2 connection \(\.cursor\(\)\)",
    ),
    "no_upgrade": (
        "from sqlalchemy import text\n\ndef downgrade(engine):\n    pass\n",
        r"20251002_broken.py: defines no upgrade\(\) function.*`def upgrade\(engine\):`",
    ),
    "syntax_error": (
        "def upgrade(engine)\n    pass\n",
        r"20251002_broken.py:1: syntax error: expected ':'",
    ),
    "import_error": (
        "import no_such_module_xyz\n\ndef upgrade(engine):\n    pass\n",
        r"20251002_broken.py:1: importing the file failed: ModuleNotFoundError: No module named 'no_such_module_xyz'",
    ),
    "execute_without_text": (
        "def upgrade(engine):\n    with engine.connect() as conn:\n        conn.execute('CREATE TABLE t (id int)')\n        conn.commit()\n",
        r"20251002_broken.py:3: conn.execute\(\) was given a plain string. SQLAlchemy 2.x needs text\(\)",
    ),
    "sql_error": (
        "from sqlalchemy import text\n\ndef upgrade(engine):\n    with engine.connect() as conn:\n"
        "        trans = conn.begin()\n        conn.execute(text('CREATE TABLE t (id int)'))\n"
        "        conn.execute(text('ALTER TABLE no_such_table ADD COLUMN x int'))\n        trans.commit()\n",
        r"20251002_broken.py:7: SQL failed: relation \"no_such_table\" does not exist\n"
        r"  statement: ALTER TABLE no_such_table ADD COLUMN x int",
    ),
    "forgotten_commit": (
        "from sqlalchemy import text\n\ndef upgrade(engine):\n    with engine.connect() as conn:\n"
        "        trans = conn.begin()\n        conn.execute(text('CREATE TABLE t (id int)'))\n",
        r"20251002_broken.py:6: upgrade\(\) executed work it never committed.*Add `trans.commit\(\)`",
    ),
    "raises_after_commit": (
        "from sqlalchemy import text\n\ndef upgrade(engine):\n    with engine.connect() as conn:\n"
        "        trans = conn.begin()\n        conn.execute(text('CREATE TABLE t (id int)'))\n"
        "        trans.commit()\n        raise Exception('Verification failed')\n",
        r"20251002_broken.py:8: upgrade\(\) raised Exception: Verification failed",
    ),
    "used_after_close": (
        "from sqlalchemy import text\n\ndef upgrade(engine):\n    with engine.connect() as conn:\n"
        "        pass\n    conn.execute(text('CREATE TABLE t (id int)'))\n",
        r"20251002_broken.py:6: This Connection is closed: a connection was used after its",
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_migration_fails_cleanly_naming_the_file_and_applies_nothing(project, case):
    source, expected = BROKEN[case]
    project.table("20251001_ok", "ok")
    project.write("20251002_broken.py", source)
    result = project.run("alembic", "upgrade", "head")
    assert result.returncode != 0
    assert "Traceback" not in result.output
    assert re.search(expected, result.output, re.DOTALL), result.output
    assert "Nothing from this migration was applied or recorded." in result.output
    # The migration before it committed; the broken one left nothing behind.
    assert project.rows() == ["20251001_ok"]
    assert project.version() == ["20251001_ok"]
    assert "t" not in project.tables()


@pytest.mark.slow
def test_a_misnamed_migration_is_reported_never_skipped(project):
    project.table("20251001_ok", "ok")
    for name in ("2025-10-31_x.py", "20251031-x.py", "20251399_x.py", "add_things.py"):
        project.write(name, legacy_source("SELECT 1"))
    project.write("helpers.py", "VALUE = 1\n")
    result = project.run("alembic", "upgrade", "head")
    assert result.returncode != 0
    assert "4 file(s) in the legacy migrations directory look like migrations but would never run" in result.output
    assert "2025-10-31_x.py: the date has dashes; write it as YYYYMMDD" in result.output
    assert "20251031-x.py: the date must be followed by '_'" in result.output
    assert "20251399_x.py: 20251399 is not a real date (YYYYMMDD)" in result.output
    assert "add_things.py: the name does not start with a date YYYYMMDD" in result.output
    assert "helpers.py" not in result.output
    assert project.rows() == []


@pytest.mark.slow
def test_legacy_ignore_excludes_files_that_are_not_migrations(tmp_path, database_url):
    from conftest import make_project

    project = make_project(tmp_path / "p", database_url, extra_ini="legacy_ignore = 2025-*.py")
    project.table("20251001_ok", "ok")
    project.write("2025-10-31_notes.py", legacy_source("SELECT 1"))
    project.run("alembic", "upgrade", "head", check=True)
    assert project.rows() == ["20251001_ok"]


# -- native revisions after the legacy chain ----------------------------------------


@pytest.mark.slow
def test_a_new_native_revision_follows_the_legacy_head(project):
    stems = three_files(project)
    project.run("alembic", "revision", "-m", "add notes", "--rev-id", "a1b2c3", check=True)
    (path,) = project.versions.glob("a1b2c3_*.py")
    assert f"down_revision: Union[str, Sequence[str], None] = {LONG!r}" in path.read_text()
    path.write_text(
        path.read_text()
        .replace(
            '    """Upgrade schema."""\n    pass',
            '    """Upgrade schema."""\n    op.create_table("notes", sa.Column("id", sa.Integer, primary_key=True))',
        )
        .replace('    """Downgrade schema."""\n    pass', '    """Downgrade schema."""\n    op.drop_table("notes")')
    )
    project.run("alembic", "upgrade", "head", check=True)
    assert project.version() == ["a1b2c3"]
    assert project.rows() == stems  # native revisions get no legacy row
    assert "notes" in project.tables()
    assert project.run("alembic", "heads", check=True).stdout.strip() == "a1b2c3 (head)"
    project.run("alembic", "downgrade", "base", check=True)
    assert project.rows() == [] and "notes" not in project.tables()


@pytest.mark.slow
def test_a_native_revision_starting_at_base_is_refused_naming_both_files(project):
    three_files(project)
    (project.versions / "n1_native.py").write_text(native_source("n1", None))
    result = project.run("alembic", "history")
    assert result.returncode != 0
    assert (
        f"n1_native.py has down_revision = None, but the legacy chain ends at {project.legacy / (LONG + '.py')}"
        in result.output
    )
    assert f"Set down_revision = {LONG!r}" in result.output


@pytest.mark.slow
def test_a_native_revision_id_clashing_with_a_legacy_stem_is_refused(project):
    stems = three_files(project)
    (project.versions / "clash.py").write_text(native_source(stems[1], LONG))
    result = project.run("alembic", "heads")
    assert result.returncode != 0
    assert f"Revision id {stems[1]!r} is used twice" in result.output
    assert "clash.py" in result.output and f"{stems[1]}.py" in result.output


@pytest.mark.slow
def test_a_native_revision_branching_off_mid_chain_is_refused(project):
    stems = three_files(project)
    (project.versions / "n1_native.py").write_text(native_source("n1", stems[0]))
    result = project.run("alembic", "heads")
    assert result.returncode != 0
    assert (
        f"follows the legacy file {project.legacy / (stems[0] + '.py')}, but later legacy files exist" in result.output
    )


@pytest.mark.slow
def test_without_legacy_location_alembic_behaves_as_before(tmp_path, database_url):
    from conftest import make_project

    project = make_project(tmp_path / "p", database_url)
    ini = project.root / "alembic.ini"
    ini.write_text(ini.read_text().replace("legacy_location = legacy\n", ""))
    (project.versions / "n1_native.py").write_text(native_source("n1", None))
    project.table("20251001_ignored", "ignored")
    project.run("alembic", "upgrade", "head", check=True)
    assert project.version() == ["n1"]
    assert "ignored" not in project.tables()


AUTOCOMMIT = """\
from sqlalchemy import text


def upgrade(engine):
    with engine.connect() as conn:
        trans = conn.begin()
        conn.execute(text("CREATE TABLE IF NOT EXISTS big (id int, v int)"))
        trans.commit()
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction block.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_big_v ON big (v)"))


def downgrade(engine):
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("DROP INDEX CONCURRENTLY IF EXISTS ix_big_v"))
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS big"))
"""


@pytest.mark.slow
def test_an_autocommit_connection_runs_create_index_concurrently(project):
    project.table("20251001_first", "first")
    project.write("20251002_concurrent_index.py", AUTOCOMMIT)
    project.table("20251003_after", "after")
    project.run("alembic", "upgrade", "head", check=True)
    assert project.rows() == ["20251001_first", "20251002_concurrent_index", "20251003_after"]
    assert project.sql("SELECT indexname FROM pg_indexes WHERE tablename = 'big'") == [("ix_big_v",)]
    project.run("alembic", "downgrade", "20251001_first", check=True)
    assert project.rows() == ["20251001_first"] and "big" not in project.tables()


NATIVE_NOTES = """revision = {rev!r}
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


# -- `alembic upgrade head` at the legacy head skips the revision map, nothing else ----


@pytest.mark.slow
def test_a_native_revision_added_after_everything_was_applied_still_runs(project):
    project.table("20251001_create_a", "a")
    project.table("20251002_create_b", "b")
    project.run("alembic", "upgrade", "head", check=True)
    assert project.run("alembic", "upgrade", "head", check=True).output.count("Running upgrade") == 0
    (project.versions / "n1_notes.py").write_text(NATIVE_NOTES.format(rev="n1", down="20251002_create_b"))
    result = project.run("alembic", "upgrade", "head", check=True)
    assert "Running upgrade 20251002_create_b -> n1" in result.output
    assert project.version() == ["n1"]


@pytest.mark.slow
def test_a_native_revision_in_the_wrong_place_is_refused_even_at_the_legacy_head(project):
    project.table("20251001_create_a", "a")
    project.table("20251002_create_b", "b")
    project.run("alembic", "upgrade", "head", check=True)
    (project.versions / "n1_notes.py").write_text(NATIVE_NOTES.format(rev="n1", down="20251001_create_a"))
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
