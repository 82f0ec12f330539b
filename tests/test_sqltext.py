"""`bridge.sqltext`: the one SQL lexer, and the one answer to "does this SQL only read?".

The engine proxy asks it for every statement a legacy migration executes (work
that only read is not reported as lost); the linter asks it whether a path
left writes uncommitted (LB302). The corpus below pins the answer, and the
last tests check that both callers give it, through the same function.
"""

from __future__ import annotations

import textwrap

import pytest
from sqlalchemy import text

from bridge import proxy, sqltext
from bridge.lint import LintSettings, lint_source
from bridge.sqltext import SqlChunk, blank, is_read_only, skip_noise, split_statements, with_positional_params

READS = [
    "SELECT 1",
    "select count(*) from open_orders where note = 'insert into x; delete'",
    "SELECT * FROM open_orders WHERE id = :id",
    "SELECT 1; SELECT 2;",
    "WITH recent AS (SELECT 1) SELECT * FROM recent",
    'WITH r AS (SELECT "update", "into" FROM t) SELECT * FROM r',
    # The lexer sees UPDATE / DELETE words in a WITH query; the parser decides.
    "WITH locked AS (SELECT * FROM open_orders FOR UPDATE) SELECT COUNT(*) FROM locked",
    "WITH r AS (SELECT t.delete FROM t) SELECT * FROM r",
    "(SELECT 1) UNION (SELECT 2)",
    "EXPLAIN SELECT * FROM open_orders",
    "SHOW search_path",
    "VALUES (1), (2)",
    "TABLE open_orders",
    "SELECT * FROM open_orders FOR UPDATE",
    "-- insert a row? not here\nSELECT 1",
    "/* outer /* nested; DELETE FROM t */ still a comment */ SELECT 1",
    "SELECT $$DELETE FROM t; $$",
    "SELECT $body$ it's; $$ DROP TABLE t $$ $body$",
    "SELECT E'it\\'s; DELETE FROM t'",
    "SET LOCAL lock_timeout = '1s'; SELECT 1",
    "LOCK TABLE open_orders IN SHARE MODE",
]

WRITES = [
    "INSERT INTO open_orders VALUES (1)",
    "WITH src AS (SELECT 1 AS id) INSERT INTO t SELECT id FROM src",
    "WITH gone AS (DELETE FROM t RETURNING *) SELECT * FROM gone",
    "WITH src AS (SELECT 1 AS id) UPDATE t SET a = 1 FROM src",
    "SELECT * INTO open_orders_backup FROM open_orders",
    "EXPLAIN ANALYZE DELETE FROM t",
    "EXPLAIN (ANALYZE, BUFFERS) SELECT 1",  # ANALYZE runs the statement
    "COPY t FROM STDIN",
    "COPY t TO STDOUT",  # reads, but COPY is not known to the classifier: unknown is a write
    "SELECT 'insert'; DELETE FROM t",
    "SELECT 1; DROP TABLE t",
    "DO $$ BEGIN INSERT INTO t VALUES (1); END $$",
    "/* SELECT */ UPDATE t SET a = 1",
    "-- SELECT\nDELETE FROM t",
    "CREATE TABLE t AS SELECT 1",
    "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE",
    "TRUNCATE t",
    "CALL settle_accounts()",
    "",
]

CORPUS = [(sql, True) for sql in READS] + [(sql, False) for sql in WRITES]


@pytest.mark.parametrize("sql", READS)
def test_statements_that_only_read_are_read_only(sql):
    assert is_read_only(sql)


@pytest.mark.parametrize("sql", WRITES)
def test_statements_that_may_write_are_not_read_only(sql):
    assert not is_read_only(sql)


def test_sql_the_parser_rejects_is_a_write_when_the_lexer_cannot_decide():
    assert not is_read_only("WITH x AS (SELECT 1 FOR UPDATE SELECT * FROM x")


def _linter_sees_a_write(sql: str) -> bool:
    source = textwrap.dedent(
        f"""\
        from sqlalchemy import text


        def upgrade(engine):
            with engine.connect() as conn:
                conn.execute(text({sql!r}))


        def downgrade(engine):
            pass
        """
    )
    found = lint_source(source, "20251031_x.py", LintSettings(select=("LB302",)))
    return [v.code for v in found] == ["LB302"]


@pytest.mark.parametrize("sql, reads", [(sql, reads) for sql, reads in CORPUS if sql], ids=repr)
def test_the_engine_proxy_and_the_linter_give_the_same_answer(sql, reads):
    assert (proxy.is_read_only(text(sql)), proxy.is_read_only(sql), not _linter_sees_a_write(sql)) == (
        reads,
        reads,
        reads,
    )


def test_the_engine_proxy_and_the_linter_both_ask_sqltext(monkeypatch):
    asked = []

    def spy(sql):
        asked.append(sql)
        return False

    monkeypatch.setattr(sqltext, "is_read_only", spy)
    proxy.is_read_only(text("SELECT 1"))
    assert _linter_sees_a_write("SHOW search_path")
    assert asked == ["SELECT 1", "SHOW search_path"]


# -- the lexer ----------------------------------------------------------------------------------


def test_blank_hides_comments_literals_identifiers_and_dollar_bodies_keeping_offsets():
    sql = "SELECT 'a;b', \"c;d\", E'e\\'f', $x$ g; $x$ -- h;\n/* i /* j */ k; */ FROM t;"
    blanked = blank(sql)
    assert len(blanked) == len(sql)
    assert blanked.split() == ["SELECT", ",", ",", ",", "FROM", "t;"]
    assert blanked.index("\n") == sql.index("\n")


def test_an_unterminated_literal_runs_to_the_end_of_the_text():
    assert blank("SELECT 'a; DELETE FROM t").split() == ["SELECT"]


def test_a_dollar_sign_inside_an_identifier_or_a_parameter_opens_no_body():
    assert blank("SELECT a$b$ FROM t WHERE x = $1; SELECT $2") == "SELECT a$b$ FROM t WHERE x = $1; SELECT $2"


def test_skip_noise_skips_whitespace_and_comments_nested_ones_included():
    sql = "  -- one\n /* two /* three */ still */\tSELECT 1"
    assert sql[skip_noise(sql) :] == "SELECT 1"
    assert skip_noise("SELECT 1", 0) == 0


def test_with_positional_params_replaces_markers_with_same_length_placeholders():
    assert (
        with_positional_params("a = :a AND b::int = %(b)s AND c = %s", None) == "a = $1 AND b::int = $1    AND c = $1"
    )
    assert with_positional_params("a = :a, b = %s", sqltext.TEXT) == "a = $1, b = %s"
    assert with_positional_params("a = :a, b = %s", sqltext.DRIVER) == "a = :a, b = $1"


# -- statements of a script ---------------------------------------------------------------------

SCRIPT = """\
\\restrict abc'def
SET statement_timeout = 0;
-- a comment; with a semicolon
CREATE FUNCTION f() RETURNS text LANGUAGE sql AS $_$ SELECT 'x;y' $_$;
CREATE FUNCTION g() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END;
CREATE RULE r AS ON INSERT TO t DO ALSO (NOTIFY t; NOTIFY u);
COMMENT ON TABLE t IS E'it\\'s; here';
\\unrestrict abc'def

/* the end */
"""


def test_split_statements_gives_each_statement_with_the_comments_before_it():
    chunks = split_statements(SCRIPT, psql=True)
    assert chunks == [
        SqlChunk("", "\\restrict abc'def\n", meta=True),
        SqlChunk("", "SET statement_timeout = 0;"),
        SqlChunk(
            "\n-- a comment; with a semicolon\n",
            "CREATE FUNCTION f() RETURNS text LANGUAGE sql AS $_$ SELECT 'x;y' $_$;",
        ),
        SqlChunk("\n", "CREATE FUNCTION g() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END;"),
        SqlChunk("\n", "CREATE RULE r AS ON INSERT TO t DO ALSO (NOTIFY t; NOTIFY u);"),
        SqlChunk("\n", "COMMENT ON TABLE t IS E'it\\'s; here';"),
        SqlChunk("\n", "\\unrestrict abc'def\n", meta=True),
        SqlChunk("\n/* the end */\n", ""),
    ]
    assert "".join(c.lead + c.statement for c in chunks) == SCRIPT


def test_without_psql_a_backslash_line_is_not_a_meta_command():
    assert [c.meta for c in split_statements("\\x; SELECT 1")] == [False, False]


def test_split_statements_keeps_a_last_statement_without_a_semicolon():
    assert split_statements("SELECT 1;\nSELECT 2") == [SqlChunk("", "SELECT 1;"), SqlChunk("\n", "SELECT 2")]
    assert split_statements("") == []
