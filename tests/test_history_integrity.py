"""History integrity under hostile migrations: nothing recorded that did not run, nothing said that did not happen.

Each test drives the real ``alembic`` command against PostgreSQL and checks the
promise: nothing recorded that did not run, no message saying the opposite of
what happened, no traceback.
"""

from __future__ import annotations

import textwrap

import pytest

HEAD = "from sqlalchemy import text\n"


def write(project, name: str, body: str):
    return project.write(name, HEAD + textwrap.dedent(body))


@pytest.mark.slow
def test_set_local_search_path_in_a_migration_does_not_redirect_the_history_writes(project):
    # A real engine ends SET LOCAL with trans.commit(); inside Alembic's transaction the
    # setting outlived the migration, so its ledger row and the alembic_version UPDATE
    # went to the migration's schema: a raw traceback, and the migration never applied.
    project.sql("CREATE SCHEMA app")
    project.table("20250101_a", "a")
    write(
        project,
        "20250102_b.py",
        """
        def upgrade(engine):
            with engine.connect() as conn:
                trans = conn.begin()
                conn.execute(text("SET LOCAL search_path = app"))
                conn.execute(text("CREATE TABLE t1 (id int)"))
                trans.commit()

        def downgrade(engine):
            pass
    """,
    )
    project.table("20250103_c", "c")
    result = project.run("alembic", "upgrade", "head")
    assert result.returncode == 0, result.output
    assert "Traceback" not in result.output
    assert project.rows() == ["20250101_a", "20250102_b", "20250103_c"]
    assert project.version() == ["20250103_c"]
    assert project.sql("SELECT to_regclass('app.t1') IS NOT NULL")[0][0]
    assert project.sql("SELECT to_regclass('app.schema_migrations') IS NULL")[0][0]


@pytest.mark.slow
def test_set_config_of_the_search_path_in_a_migration_does_not_redirect_the_history_writes(project):
    # SELECT set_config(...) is a read to the proxy; the search_path it set for the
    # session reached the ledger row and the alembic_version UPDATE (raw traceback).
    project.sql("CREATE SCHEMA app")
    project.table("20250101_a", "a")
    write(
        project,
        "20250102_b.py",
        """
        def upgrade(engine):
            with engine.begin() as conn:
                conn.execute(text("SELECT set_config('search_path', 'app', false)"))
                conn.execute(text("CREATE TABLE t1 (id int)"))

        def downgrade(engine):
            pass
    """,
    )
    project.table("20250103_c", "c")
    result = project.run("alembic", "upgrade", "head")
    assert result.returncode == 0, result.output
    assert project.rows() == ["20250101_a", "20250102_b", "20250103_c"]
    assert project.version() == ["20250103_c"]
    assert project.sql("SELECT to_regclass('app.t1') IS NOT NULL")[0][0]
    assert "c" in project.tables()


@pytest.mark.slow
def test_a_commit_after_an_escape_string_literal_is_still_mapped_onto_the_migrations_transaction(project):
    # E'it\'s' ends at the second quote for PostgreSQL; read as a standard string it
    # swallowed the COMMIT after it, which then committed Alembic's transaction while
    # the message said nothing was applied.
    project.sql("CREATE TABLE t (v text)")
    write(
        project,
        "20250101_a.py",
        r"""
        def upgrade(engine):
            with engine.connect() as conn:
                trans = conn.begin()
                conn.execute(text("INSERT INTO t VALUES ('before')"))
                conn.execute(text("INSERT INTO t VALUES (E'it\\'s'); COMMIT; INSERT INTO t VALUES ('x')"))
                raise Exception("boom")

        def downgrade(engine):
            pass
    """,
    )
    result = project.run("alembic", "upgrade", "head")
    assert result.returncode == 255, result.output
    assert "upgrade() raised Exception: boom" in result.output
    assert "Nothing from this migration was applied or recorded." in result.output
    assert project.sql("SELECT v FROM t") == []
    assert project.rows() == []
    assert project.version() == []


@pytest.mark.slow
def test_a_raw_commit_is_not_written_into_the_sql_script_where_it_would_split_the_migration(project):
    # Online, COMMIT is mapped onto the migration's transaction; the --sql script
    # carried it through, so psql committed the first half of the migration alone.
    write(
        project,
        "20250101_a.py",
        """
        def upgrade(engine):
            with engine.connect() as conn:
                conn.execute(text("CREATE TABLE a (id int)"))
                conn.execute(text("COMMIT"))
                conn.execute(text("CREATE TABLE b (id int); commit work; CREATE TABLE c (id int)"))
                conn.commit()

        def downgrade(engine):
            pass
    """,
    )
    result = project.run("alembic", "upgrade", "head", "--sql")
    assert result.returncode == 0, result.output
    script = result.stdout
    assert ";;" not in script
    statements = [s.strip() for s in script.split(";") if s.strip() and not s.strip().startswith("--")]
    assert [s for s in statements if s.upper().startswith(("COMMIT", "BEGIN"))] == ["BEGIN", "COMMIT"]
    assert "CREATE TABLE a (id int)" in script
    assert "CREATE TABLE b (id int)" in script and "CREATE TABLE c (id int)" in script
    assert script.index("CREATE TABLE c") < script.index("INSERT INTO schema_migrations")


@pytest.mark.slow
def test_a_raw_rollback_cannot_be_rendered_as_sql_and_fails_naming_the_line(project):
    write(
        project,
        "20250101_a.py",
        """
        def upgrade(engine):
            with engine.connect() as conn:
                conn.execute(text("CREATE TABLE a (id int)"))
                conn.execute(text("ROLLBACK"))

        def downgrade(engine):
            pass
    """,
    )
    result = project.run("alembic", "upgrade", "head", "--sql")
    assert result.returncode == 255, result.output
    assert "20250101_a.py:6: `ROLLBACK`" in result.output
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_an_out_of_order_file_reported_applied_stays_applied_when_the_next_one_fails(project):
    # Each out-of-order file ran in a savepoint of the run's first transaction, so the
    # next file's failure rolled back one that had been reported "applied".
    from conftest import legacy_source

    project.table("20250101_a", "a")
    project.table("20250105_e", "e")
    project.run("alembic", "upgrade", "head", check=True)
    project.table("20250102_h1", "h1")
    project.write("20250103_h2.py", legacy_source("SELECT nope"))
    result = project.run("alembic-bridge", "upgrade", "--out-of-order")
    assert result.returncode == 1, result.output
    assert "applied 20250102_h1 (" in result.output
    assert '20250103_h2.py:16: SQL failed: column "nope" does not exist' in result.output
    assert project.rows() == ["20250101_a", "20250105_e", "20250102_h1"]
    assert "h1" in project.tables()
    assert project.version() == ["20250105_e"]
    status = project.run("alembic-bridge", "status", check=True)
    assert "20250103_h2" in status.output
