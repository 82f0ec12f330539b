"""The lint rules: code, severity, explanation and examples, in one place.

`docs/lint-rules.md` is rendered from these definitions, and the test suite
lints every example (each ``bad`` must raise its own code, each ``good`` must
be clean), so the documentation cannot drift from what the linter does.
"""

from __future__ import annotations

from .catalog_locks import LOCK_RULES
from .catalog_runtime import RUNTIME_RULES
from .catalog_squawk import SQUAWK_RULES
from .catalog_tenancy import TENANT_RULES
from .rule import ERROR, EXAMPLE_FILENAME, WARNING, Rule
from .rule import TEMPLATE as _TEMPLATE
from .rule import upgrade_example as _upgrade

__all__ = ["ERROR", "EXAMPLE_FILENAME", "RULES", "RULES_BY_CODE", "WARNING", "Rule"]

RULES: tuple[Rule, ...] = (
    Rule(
        code="LB001",
        name="bad-file-name",
        severity=ERROR,
        summary="File name is not `{YYYYMMDD}_{description}.py`",
        hint="rename it to {YYYYMMDD}_{description}.py, e.g. 20251031_add_error_message.py",
        explanation=(
            "The legacy runner only picks up files named `{YYYYMMDD}_{description}.py` and runs "
            "them in file-name order; the bridge uses the name (without `.py`) as the Alembic "
            "revision id. Any other name (dashes in the date, no `_` after it, a description "
            "with `-` or spaces) means the migration never runs, and the bridge refuses the "
            "whole directory rather than skip it silently. The description may contain only "
            "letters, digits and `_`. The reason shown comes from the bridge's own loader."
        ),
        bad=_TEMPLATE,
        good=_TEMPLATE,
        bad_filename="2025-10-31_add-error-message.py",
    ),
    Rule(
        code="LB002",
        name="impossible-date",
        severity=ERROR,
        summary="The date in the file name is not a real calendar date",
        hint="fix the date (YYYYMMDD); it also decides the order in which migrations run",
        explanation=(
            "The eight digits must be a real date. `20251331` has the right shape and sorts "
            "somewhere, but names no day: the bridge cannot date the revision and refuses the "
            "file, and the order it was meant to run in is anyone's guess."
        ),
        bad=_TEMPLATE,
        good=_TEMPLATE,
        bad_filename="20251331_add_error_message.py",
        good_filename="20251231_add_error_message.py",
    ),
    Rule(
        code="LB003",
        name="syntax-error",
        severity=ERROR,
        summary="The file is not valid Python",
        hint="fix the syntax error; `python -m py_compile FILE` shows the same message",
        explanation=(
            "The runner imports every pending file, so a syntax error stops the whole run at "
            "this file. Nothing else in the file can be checked until it parses."
        ),
        bad=_TEMPLATE.replace("def upgrade(engine):", "def upgrade(engine)", 1),
        good=_TEMPLATE,
    ),
    Rule(
        code="LB101",
        name="missing-upgrade",
        severity=ERROR,
        summary="No module-level `upgrade(engine)` function",
        hint="define `def upgrade(engine):` at module level",
        explanation=(
            "`upgrade(engine)` is the one function the runner calls; it is the first item of "
            'the manual\'s "my migration did not run" checklist. A typo in the name or a `def` '
            "indented into a class or an `if` leaves the module without it, and the runner "
            "fails on the file."
        ),
        bad=_TEMPLATE.replace("def upgrade(engine):", "def upgade(engine):", 1),
        good=_TEMPLATE,
    ),
    Rule(
        code="LB102",
        name="missing-downgrade",
        severity=WARNING,
        summary="No module-level `downgrade(engine)` function",
        hint="define `def downgrade(engine):` that undoes upgrade(), or raises if it cannot",
        explanation=(
            "The required shape has a `downgrade(engine)` that undoes `upgrade`. The legacy "
            "runner never calls it, so the file still applies (hence a warning), but "
            "`alembic downgrade` through the bridge cannot step back over the migration. If a "
            "migration truly cannot be undone, define `downgrade` and raise an exception "
            "that says why."
        ),
        bad=_TEMPLATE.split("\n\ndef downgrade", 1)[0] + "\n",
        good=_TEMPLATE,
    ),
    Rule(
        code="LB103",
        name="wrong-arity",
        severity=ERROR,
        summary="`upgrade`/`downgrade` cannot be called as `f(engine)`",
        hint="declare exactly one parameter: `def upgrade(engine):`",
        explanation=(
            "The runner calls `upgrade(engine)` and `downgrade(engine)` with exactly one "
            "positional argument. `def upgrade():` fails with `upgrade() takes 0 positional "
            "arguments but 1 was given`; further parameters without defaults fail the same "
            "way; `async def upgrade` returns a coroutine that nobody awaits, so nothing runs."
        ),
        bad=_upgrade(
            "with engine.begin() as conn:\n"
            '    conn.execute(text("ALTER TABLE open_orders ADD COLUMN IF NOT EXISTS error_message TEXT"))',
            header='from sqlalchemy import create_engine, text\n\nengine = create_engine("postgresql://localhost/trading_system")\n',
            signature="def upgrade():",
        ),
        good=_upgrade(
            "with engine.begin() as conn:\n"
            '    conn.execute(text("ALTER TABLE open_orders ADD COLUMN IF NOT EXISTS error_message TEXT"))',
            header='from sqlalchemy import create_engine, text\n\nengine = create_engine("postgresql://localhost/trading_system")\n',
        ),
    ),
    Rule(
        code="LB104",
        name="parameter-not-engine",
        severity=ERROR,
        summary="The parameter of `upgrade`/`downgrade` is not named `engine`",
        hint="rename it: `def upgrade(engine):`",
        explanation=(
            "The manual makes the signatures exactly `upgrade(engine)` and `downgrade(engine)`. "
            "The runner passes a SQLAlchemy Engine, not a connection; a parameter called "
            "`conn` or `connection` is how the psycopg2 habit (`conn.cursor()`, `conn.commit()`, "
            "`conn.execute(...)`) creeps in, and every one of those fails on an Engine."
        ),
        bad=_upgrade(
            "with conn.begin() as connection:\n"
            '    connection.execute(text("ALTER TABLE open_orders ADD COLUMN IF NOT EXISTS error_message TEXT"))',
            signature="def upgrade(conn):",
        ),
        good=_upgrade(
            "with engine.begin() as connection:\n"
            '    connection.execute(text("ALTER TABLE open_orders ADD COLUMN IF NOT EXISTS error_message TEXT"))',
        ),
    ),
    Rule(
        code="LB201",
        name="psycopg2-import",
        severity=ERROR,
        summary="The file imports psycopg2 (or psycopg)",
        hint="remove the import: run SQL through the engine you are given, "
        "`with engine.begin() as conn: conn.execute(text(...))`; in `__main__` use `create_engine(url)`",
        explanation=(
            "Migrations use SQLAlchemy, not the driver (rule 1 of the manual). The runner "
            "hands each file an Engine; a file that imports psycopg2 usually opens its own "
            "connection, outside the runner's transaction and lock and with its own "
            "credentials, or expects a DB-API connection it will never get. This includes "
            "imports inside functions and in the `__main__` block."
        ),
        bad=_TEMPLATE.replace("from sqlalchemy import text\n", "import psycopg2\nfrom sqlalchemy import text\n", 1),
        good=_TEMPLATE.replace("from sqlalchemy import text\n", "import sqlalchemy\nfrom sqlalchemy import text\n", 1),
    ),
    Rule(
        code="LB202",
        name="cursor-style",
        severity=ERROR,
        summary="DB-API cursor use (`.cursor()`): the psycopg2 pattern",
        hint='use the engine: `with engine.begin() as conn: conn.execute(text("..."))`',
        explanation=(
            "The psycopg2 pattern `cursor = conn.cursor(); cursor.execute(sql); conn.commit()` "
            "does not fit the Engine the runner passes: an Engine has no `cursor()`, and a "
            "cursor taken from `engine.raw_connection()` bypasses SQLAlchemy's transaction, "
            "which is what lets the bridge run the file inside Alembic's transaction and roll "
            "it back on failure."
        ),
        bad=_upgrade(
            "connection = engine.raw_connection()\n"
            "cursor = connection.cursor()\n"
            'cursor.execute("ALTER TABLE open_orders ADD COLUMN IF NOT EXISTS error_message TEXT")\n'
            "connection.commit()"
        ),
        good=_upgrade(
            "with engine.connect() as connection:\n"
            '    connection.execute(text("ALTER TABLE open_orders ADD COLUMN IF NOT EXISTS error_message TEXT"))\n'
            "    connection.commit()"
        ),
    ),
    Rule(
        code="LB203",
        name="execute-without-text",
        severity=ERROR,
        summary="`execute()` is given a plain string instead of `text()`",
        hint='wrap the SQL in text(): `conn.execute(text("..."))`',
        explanation=(
            "In SQLAlchemy 2.x `Connection.execute()` accepts only executable objects; a plain "
            "string raises `ObjectNotExecutableError: Not an executable object` (rule 3 of the "
            "manual: every SQL string goes through `text()`). `text()` also gives you `:name` "
            "bound parameters. If the SQL must reach the driver unchanged, use "
            '`conn.exec_driver_sql("...")`.'
        ),
        bad=_upgrade(
            "with engine.begin() as conn:\n"
            '    conn.execute("ALTER TABLE open_orders ADD COLUMN IF NOT EXISTS error_message TEXT")'
        ),
        good=_upgrade(
            "with engine.begin() as conn:\n"
            '    conn.execute(text("ALTER TABLE open_orders ADD COLUMN IF NOT EXISTS error_message TEXT"))'
        ),
    ),
    Rule(
        code="LB204",
        name="exec-driver-sql-misuse",
        severity=ERROR,
        summary="`exec_driver_sql()` is given a `text()` construct",
        hint='use `conn.execute(text("..."))`, or pass the plain string to exec_driver_sql()',
        explanation=(
            "`exec_driver_sql()` hands a plain string straight to the driver; a `text()` "
            "construct is not a string, and the driver rejects it. Use `execute(text(...))` "
            'for SQLAlchemy SQL with `:name` parameters, or `exec_driver_sql("...")` with the '
            "driver's own `%(name)s` placeholders."
        ),
        bad=_upgrade(
            "with engine.begin() as conn:\n"
            '    conn.exec_driver_sql(text("ALTER TABLE open_orders ADD COLUMN IF NOT EXISTS error_message TEXT"))'
        ),
        good=_upgrade(
            "with engine.begin() as conn:\n"
            '    conn.exec_driver_sql("ALTER TABLE open_orders ADD COLUMN IF NOT EXISTS error_message TEXT")'
        ),
    ),
    Rule(
        code="LB205",
        name="engine-used-as-connection",
        severity=ERROR,
        summary="The Engine passed to `upgrade`/`downgrade` is used as a connection",
        hint="open a connection first: `with engine.begin() as conn: conn.execute(...)`",
        explanation=(
            "The argument of `upgrade` and `downgrade` is an Engine. SQLAlchemy 2.x removed "
            "`Engine.execute()`, and an Engine never had `exec_driver_sql()`, `commit()`, "
            "`rollback()` or `close()`: each raises `AttributeError`. Open a connection with "
            "`engine.connect()` or `engine.begin()` in a `with` block and call them on it."
        ),
        bad=_upgrade('engine.execute(text("ALTER TABLE open_orders ADD COLUMN IF NOT EXISTS error_message TEXT"))'),
        good=_upgrade(
            "with engine.begin() as conn:\n"
            '    conn.execute(text("ALTER TABLE open_orders ADD COLUMN IF NOT EXISTS error_message TEXT"))'
        ),
    ),
    Rule(
        code="LB301",
        name="connection-outside-with",
        severity=ERROR,
        summary="A connection is opened outside a `with` block",
        hint="write `with engine.connect() as conn:` (or `with engine.begin() as conn:`)",
        explanation=(
            "A connection taken with `conn = engine.connect()` is not closed when an exception "
            "escapes, and code that closes it by hand tends to use it after closing (the "
            "manual's `This Connection is closed`). `with engine.connect() as conn:` closes it "
            "on every path and rolls back unfinished work. `engine.begin()` is a context "
            "manager, not a transaction: it only works in a `with`. (An explicit "
            "`conn.close()` in a `finally` block is accepted.)"
        ),
        bad=_upgrade(
            "conn = engine.connect()\n"
            'conn.execute(text("ALTER TABLE open_orders ADD COLUMN IF NOT EXISTS error_message TEXT"))\n'
            "conn.commit()"
        ),
        good=_upgrade(
            "with engine.connect() as conn:\n"
            '    conn.execute(text("ALTER TABLE open_orders ADD COLUMN IF NOT EXISTS error_message TEXT"))\n'
            "    conn.commit()"
        ),
    ),
    Rule(
        code="LB302",
        name="uncommitted-writes",
        severity=ERROR,
        summary="A path leaves the connection with writes that were never committed",
        hint="commit on every path that wrote: `trans.commit()` / `conn.commit()`, "
        "or use `with engine.begin() as conn:`",
        explanation=(
            "Work on a connection is kept only by `trans.commit()` or `conn.commit()` (or by "
            "leaving a `with engine.begin()` block normally). A path that leaves the "
            "connection's `with` block after a write and before a commit (falling off the "
            "end, or an early `return`) closes the connection, and PostgreSQL silently rolls "
            "the work back while the runner records the migration as applied. An early "
            "`return` after reads only, like the manual's existence check that returns while "
            "`trans` is still open, is fine. SQL the linter cannot read is assumed to write."
        ),
        bad=_upgrade(
            "with engine.connect() as conn:\n"
            '    conn.execute(text("ALTER TABLE open_orders ADD COLUMN IF NOT EXISTS error_message TEXT"))'
        ),
        good=_upgrade(
            "with engine.connect() as conn:\n"
            '    conn.execute(text("ALTER TABLE open_orders ADD COLUMN IF NOT EXISTS error_message TEXT"))\n'
            "    conn.commit()"
        ),
    ),
    Rule(
        code="LB303",
        name="no-rollback-on-error",
        severity=WARNING,
        summary="A transaction from `conn.begin()` is not rolled back when an exception escapes",
        hint="wrap the work in `try:` ... `trans.commit()` / `except Exception: trans.rollback(); raise`",
        explanation=(
            "Rule 5 of the manual: a transaction begun with `trans = conn.begin()` is rolled "
            "back on error, with `trans.rollback()` and `raise` in an `except` block. Without "
            "it, an exception leaves the transaction open until the connection closes. Inside "
            "a `with engine.connect()` block the close still rolls back, which is why this is "
            "a warning, but the manual's template does it explicitly and so should every file."
        ),
        bad=_upgrade(
            "with engine.connect() as conn:\n"
            "    trans = conn.begin()\n"
            '    conn.execute(text("ALTER TABLE open_orders ADD COLUMN IF NOT EXISTS error_message TEXT"))\n'
            "    trans.commit()"
        ),
        good=_upgrade(
            "with engine.connect() as conn:\n"
            "    trans = conn.begin()\n"
            "    try:\n"
            '        conn.execute(text("ALTER TABLE open_orders ADD COLUMN IF NOT EXISTS error_message TEXT"))\n'
            "        trans.commit()\n"
            "    except Exception:\n"
            "        trans.rollback()\n"
            "        raise"
        ),
    ),
    Rule(
        code="LB304",
        name="swallowed-error",
        severity=ERROR,
        summary="An `except` around the migration's SQL does not re-raise",
        hint="re-raise after rolling back: `trans.rollback()` then `raise`",
        explanation=(
            "An `except Exception:` (or bare `except:`) around the migration's SQL that does "
            "not re-raise turns a failed migration into a successful one: the function "
            "returns normally, the runner records the file in `schema_migrations`, and it "
            "never runs again. A handler followed by more SQL in the same function (a "
            "deliberately optional step that rolls back and carries on) is not reported."
        ),
        bad=_upgrade(
            "with engine.connect() as conn:\n"
            "    trans = conn.begin()\n"
            "    try:\n"
            '        conn.execute(text("ALTER TABLE open_orders ADD COLUMN IF NOT EXISTS error_message TEXT"))\n'
            "        trans.commit()\n"
            "    except Exception as e:\n"
            "        trans.rollback()\n"
            '        print(f"Migration failed: {e}")'
        ),
        good=_upgrade(
            "with engine.connect() as conn:\n"
            "    trans = conn.begin()\n"
            "    try:\n"
            '        conn.execute(text("ALTER TABLE open_orders ADD COLUMN IF NOT EXISTS error_message TEXT"))\n'
            "        trans.commit()\n"
            "    except Exception as e:\n"
            "        trans.rollback()\n"
            '        print(f"Migration failed: {e}")\n'
            "        raise"
        ),
    ),
    Rule(
        code="LB401",
        name="non-idempotent-ddl",
        severity=ERROR,
        summary="DDL that fails when run a second time",
        hint="add IF NOT EXISTS / IF EXISTS / OR REPLACE, or guard the statement with an existence check",
        explanation=(
            "Migrations must be idempotent (rule 4 of the manual): a re-run after a half-applied "
            "run, or on a database restored from a backup, must succeed. Write `ADD COLUMN IF "
            "NOT EXISTS`, `CREATE TABLE/INDEX/SEQUENCE/SCHEMA/EXTENSION IF NOT EXISTS`, "
            "`CREATE OR REPLACE FUNCTION/VIEW/TRIGGER` and `DROP ... IF EXISTS`. Statements "
            "with no such clause (`CREATE TYPE`, `ADD CONSTRAINT`, `CREATE POLICY`, `RENAME`) "
            "need a guard: an existence check earlier in the same function (a query on "
            "`information_schema` or `pg_catalog`, `to_regclass()`, `sqlalchemy.inspect()`, or "
            "a helper whose name says `exists`) followed by an `if` or an early `return` (a check on a "
            "table also guards the indexes, constraints, triggers and policies the same block "
            "creates on that table); a "
            "`DROP ... IF EXISTS` of the same object earlier in the function; or a "
            "`DO $$ ... $$` block. The SQL in `text()`, `execute()` and `exec_driver_sql()` is "
            "parsed with PostgreSQL's own parser (pglast); function bodies and `DO` blocks are "
            "not inspected."
        ),
        bad=_upgrade(
            "with engine.begin() as conn:\n"
            '    conn.execute(text("ALTER TABLE open_orders ADD COLUMN error_message TEXT"))'
        ),
        good=_upgrade(
            "with engine.begin() as conn:\n"
            '    conn.execute(text("ALTER TABLE open_orders ADD COLUMN IF NOT EXISTS error_message TEXT"))'
        ),
    ),
    Rule(
        code="LB402",
        name="sql-syntax-error",
        severity=ERROR,
        summary="SQL that PostgreSQL's parser rejects",
        hint="fix the SQL; the message is PostgreSQL's own parser's",
        explanation=(
            "SQL passed to `text()`, `execute()` or `exec_driver_sql()` is parsed with "
            "PostgreSQL's parser (pglast). SQL that does not parse fails at run time, possibly "
            "after earlier statements of the migration have run. Inside `text()`, `:name` is a "
            "bound parameter (write `\\:` for a literal colon); `exec_driver_sql()` takes the "
            "driver's `%(name)s` placeholders instead."
        ),
        bad=_upgrade(
            "with engine.begin() as conn:\n"
            '    conn.execute(text("ALTER TABLE open_orders ADD COLUMN IF NOT EXISTS error_message TEXT,"))'
        ),
        good=_upgrade(
            "with engine.begin() as conn:\n"
            '    conn.execute(text("ALTER TABLE open_orders ADD COLUMN IF NOT EXISTS error_message TEXT"))'
        ),
    ),
    Rule(
        code="LB403",
        name="formatted-sql",
        severity=WARNING,
        summary="SQL built with an f-string, `%` or `.format()` from variables",
        hint='pass values as bound parameters: `text("... = :value"), {"value": value}`',
        explanation=(
            "SQL assembled from variables with an f-string, `%` or `.format()` is open to SQL "
            "injection, and the linter cannot see the statement it produces, so it cannot "
            "check its syntax or idempotency. Pass values as bound parameters. Placeholders "
            "whose values are constants in the same file (a module-level string, or a loop "
            "over a literal list or dict, e.g. `for table in TABLES:`) are expanded and "
            "checked like plain SQL instead of reported."
        ),
        bad=_upgrade(
            'reason = os.environ.get("BACKFILL_REASON", "unknown")\n'
            "with engine.begin() as conn:\n"
            "    conn.execute(text(f\"UPDATE open_orders SET error_message = '{reason}' WHERE error_message IS NULL\"))",
            header="import os\n\nfrom sqlalchemy import text\n",
        ),
        good=_upgrade(
            'reason = os.environ.get("BACKFILL_REASON", "unknown")\n'
            "with engine.begin() as conn:\n"
            '    conn.execute(text("UPDATE open_orders SET error_message = :reason WHERE error_message IS NULL"), {"reason": reason})',
            header="import os\n\nfrom sqlalchemy import text\n",
        ),
    ),
)

RULES = tuple(sorted(RULES + RUNTIME_RULES + LOCK_RULES + SQUAWK_RULES + TENANT_RULES, key=lambda rule: rule.code))
RULES_BY_CODE: dict[str, Rule] = {rule.code: rule for rule in RULES}
