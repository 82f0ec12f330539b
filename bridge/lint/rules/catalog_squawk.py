"""Squawk's rule families beyond locks (LB701-LB730): dangers, and the column-type style rules.

The checks are in `bridge.lint.rules.schema`. Defaults, following Squawk's
(where every rule is a warning and require-table-schema is opt-in): statements
that break the running application or the data are errors (LB701-LB711, the
lock rules' family: `check` holds only unapplied files to them); the column-type
rules (LB720-LB725), LB707 and LB730 are warnings and off until selected, e.g.
``select = ["ALL", "LB72"]`` in ``[tool.alembic-bridge.lint]``.
"""

from __future__ import annotations

from .rule import ERROR, WARNING, Rule
from .rule import upgrade_example as _upgrade

_AUTOCOMMIT = 'with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:'


def _sql(*statements: str, opener: str = "with engine.begin() as conn:") -> str:
    return opener + "\n" + "\n".join(f'    conn.execute(text("{s}"))' for s in statements)


def _table(*columns: str) -> str:
    return _upgrade(_sql(f"CREATE TABLE IF NOT EXISTS order_notes (note_id bigint PRIMARY KEY, {', '.join(columns)})"))


def _style(code: str, name: str, squawk: str, summary: str, hint: str, why: str, bad: str, good: str) -> Rule:
    return Rule(
        code=code,
        name=name,
        severity=WARNING,
        summary=summary,
        hint=hint,
        explanation=f'{why} Squawk\'s {squawk}. Off by default: select it (`select = ["ALL", "{code}"]`, or `LB72` for every type rule).',
        bad=_table(bad),
        good=_table(good),
        default_enabled=False,
    )


SQUAWK_RULES: tuple[Rule, ...] = (
    Rule(
        code="LB701",
        name="partition-detach-without-concurrently",
        severity=ERROR,
        summary="`DETACH PARTITION` without `CONCURRENTLY`",
        hint="ALTER TABLE ... DETACH PARTITION ... CONCURRENTLY (PostgreSQL 14+) on an AUTOCOMMIT connection",
        explanation=(
            "Lock: `ALTER TABLE parent DETACH PARTITION child` takes an ACCESS EXCLUSIVE lock on the "
            "parent, so reads and writes of every partition wait. From PostgreSQL 14, `DETACH "
            "PARTITION ... CONCURRENTLY` takes SHARE UPDATE EXCLUSIVE; like every CONCURRENTLY "
            "statement it cannot run in a transaction. Squawk's require-concurrent-partition-detach."
        ),
        bad=_upgrade(_sql("ALTER TABLE order_events DETACH PARTITION order_events_2023")),
        good=_upgrade(
            _sql("ALTER TABLE order_events DETACH PARTITION order_events_2023 CONCURRENTLY", opener=_AUTOCOMMIT)
        ),
    ),
    Rule(
        code="LB702",
        name="truncate-cascade",
        severity=ERROR,
        summary="`TRUNCATE ... CASCADE`",
        hint="name every table to empty, without CASCADE",
        explanation=(
            "`TRUNCATE t CASCADE` also empties every table with a foreign key to `t`, and every "
            "table referencing those, under ACCESS EXCLUSIVE locks: a migration meant for one "
            "scratch table can wipe production data it never named. Squawk's ban-truncate-cascade."
        ),
        bad=_upgrade(_sql("TRUNCATE order_imports CASCADE")),
        good=_upgrade(_sql("TRUNCATE order_imports")),
    ),
    Rule(
        code="LB703",
        name="drop-database",
        severity=ERROR,
        summary="`DROP DATABASE` in a migration",
        hint="drop databases by hand, outside migrations",
        explanation=(
            "A migration runs in every environment, production included; dropping a database "
            "there is never what a migration should do. Squawk's ban-drop-database."
        ),
        bad=_upgrade(_sql("DROP DATABASE IF EXISTS reporting_copy", opener=_AUTOCOMMIT)),
        good=_upgrade(_sql("DROP TABLE IF EXISTS reporting_copy_rows") + "  # noqa: LB510"),
    ),
    Rule(
        code="LB704",
        name="drop-not-null",
        severity=ERROR,
        summary="`DROP NOT NULL` on a column the running application reads",
        hint="first deploy code that handles NULL, then drop the constraint",
        explanation=(
            "The application version still running during the deploy assumes the column is "
            "never NULL; the first NULL a new writer stores breaks it (and an old version rolled "
            "back to). Deploy code that copes with NULL first, then drop the constraint and say "
            "so with `# noqa: LB704`. Squawk's ban-drop-not-null."
        ),
        bad=_upgrade(_sql("ALTER TABLE open_orders ALTER COLUMN status DROP NOT NULL")),
        good=_upgrade(
            "with engine.begin() as conn:\n"
            "    # release 4.3 reads a NULL status as 'NEW'\n"
            '    conn.execute(text("ALTER TABLE open_orders ALTER COLUMN status DROP NOT NULL"))  # noqa: LB704'
        ),
    ),
    Rule(
        code="LB705",
        name="duplicate-column-assignment",
        severity=ERROR,
        summary="An `UPDATE` that assigns the same column twice",
        hint="assign each column once",
        explanation=(
            "PostgreSQL refuses `UPDATE t SET a = 1, a = 2` (multiple assignments to same "
            "column), so the migration fails when it reaches it. Squawk's "
            "ban-duplicate-column-assignments."
        ),
        bad=_upgrade(_sql("UPDATE open_orders SET status = 'NEW', status = 'OPEN' WHERE status IS NULL")),
        good=_upgrade(_sql("UPDATE open_orders SET status = 'OPEN' WHERE status IS NULL")),
    ),
    Rule(
        code="LB706",
        name="identifier-too-long",
        severity=ERROR,
        summary="An identifier longer than 63 bytes",
        hint="shorten it to 63 bytes or fewer",
        explanation=(
            "PostgreSQL truncates identifiers to 63 bytes (NAMEDATALEN - 1) with only a NOTICE, so "
            "the object gets a shorter name than the migration wrote: a later `DROP INDEX` or a "
            "query naming it in full does not find it, and two long names may collide. Squawk's "
            "identifier-too-long."
        ),
        bad=_upgrade(
            _sql(
                "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_open_orders_account_id_status_created_at_updated_at_client_order_id "
                "ON open_orders (account_id, status, created_at, updated_at, client_order_id)",
                opener=_AUTOCOMMIT,
            )
        ),
        good=_upgrade(
            _sql(
                "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_open_orders_account_status_times "
                "ON open_orders (account_id, status, created_at, updated_at, client_order_id)",
                opener=_AUTOCOMMIT,
            )
        ),
    ),
    Rule(
        code="LB707",
        name="enum-value-without-ordering",
        severity=WARNING,
        summary="`ALTER TYPE ... ADD VALUE` without `BEFORE` / `AFTER`",
        hint="ADD VALUE 'x' BEFORE 'y' (or AFTER 'y')",
        explanation=(
            "A new enum value sorts after all existing ones, and the enum's order decides "
            "`ORDER BY`, `<` and `>` on the column: say where it belongs. Squawk's "
            "require-enum-value-ordering. A warning, and off by default (appending is what the "
            "legacy manual's own pattern does, and often right): select it with "
            '`select = ["ALL", "LB707"]`.'
        ),
        bad=_upgrade(_sql("ALTER TYPE order_status ADD VALUE IF NOT EXISTS 'PARTIAL'", opener=_AUTOCOMMIT)),
        good=_upgrade(
            _sql("ALTER TYPE order_status ADD VALUE IF NOT EXISTS 'PARTIAL' BEFORE 'FILLED'", opener=_AUTOCOMMIT)
        ),
        default_enabled=False,
    ),
    Rule(
        code="LB708",
        name="domain-with-constraint",
        severity=ERROR,
        summary="`CREATE DOMAIN ... CHECK` or `ALTER DOMAIN ... ADD CONSTRAINT`",
        hint="put the CHECK on the table columns instead (NOT VALID, then VALIDATE)",
        explanation=(
            "Adding a constraint to a domain checks every column of every table that uses the "
            "domain, under locks that block writes, and a domain's constraints cannot be changed "
            "without that scan again; a CHECK on each column can be added NOT VALID and validated "
            "later (LB504). Squawk's ban-create-domain-with-constraint and "
            "ban-alter-domain-with-add-constraint."
        ),
        bad=_upgrade(
            "with engine.begin() as conn:\n"
            "    exists = conn.execute(text(\"SELECT 1 FROM pg_type WHERE typname = 'price'\")).scalar()\n"
            "    if not exists:\n"
            '        conn.execute(text("CREATE DOMAIN price AS numeric CHECK (VALUE > 0)"))'
        ),
        good=_upgrade(
            "with engine.begin() as conn:\n"
            "    exists = conn.execute(text(\"SELECT 1 FROM pg_type WHERE typname = 'price'\")).scalar()\n"
            "    if not exists:\n"
            '        conn.execute(text("CREATE DOMAIN price AS numeric"))'
        ),
    ),
    Rule(
        code="LB709",
        name="drop-breaks-running-code",
        severity=WARNING,
        summary="`DROP CONSTRAINT`, `DROP DEFAULT`, `DROP TYPE` / `VIEW` / `DOMAIN` the running code may use",
        hint="first deploy code that no longer relies on it, then drop it in a later migration",
        explanation=(
            "Like dropping a column (LB510): the application version still running during the "
            "deploy may insert rows relying on a default, read a view, cast to a type, or rely on "
            "a constraint; it fails, or writes rows it should not, from the moment this commits. "
            "Remove the use first, then drop, saying so with `# noqa: LB709`. A warning: most "
            "such drops are deliberate. `DROP CONSTRAINT IF EXISTS` is not reported: it is the "
            "idempotent re-create LB401 asks for (drop, then add it again). Squawk 2.70's "
            "ban-drop-constraint, ban-drop-default, ban-drop-type and ban-drop-view."
        ),
        bad=_upgrade(_sql("ALTER TABLE open_orders ALTER COLUMN status DROP DEFAULT")),
        good=_upgrade(
            "with engine.begin() as conn:\n"
            "    # release 4.3 always sends status\n"
            '    conn.execute(text("ALTER TABLE open_orders ALTER COLUMN status DROP DEFAULT"))  # noqa: LB709'
        ),
    ),
    Rule(
        code="LB710",
        name="set-schema",
        severity=ERROR,
        summary="`ALTER ... SET SCHEMA` on an object the running code uses",
        hint="create it in the new schema alongside, move the code, drop the old one later",
        explanation=(
            "Moving a table (or sequence, view, type) to another schema is a rename as far as "
            "the running application's queries are concerned (LB509): they fail from the moment "
            "this commits. Squawk 2.70's ban-set-schema."
        ),
        bad=_upgrade(_sql("ALTER TABLE open_orders SET SCHEMA trading")),
        good=_upgrade(_sql("CREATE SCHEMA IF NOT EXISTS trading")),
    ),
    Rule(
        code="LB711",
        name="rename-object",
        severity=WARNING,
        summary="Renaming an index, sequence, view, type, constraint or function",
        hint="keep the old name, or rename in a release of its own once nothing names it",
        explanation=(
            "LB509 covers tables and columns; other objects are named too, by the running code "
            "(a view, a function, a type in a cast) or by later migrations and runbooks (an index "
            "or constraint dropped by name). Squawk 2.70's renaming-object (a warning here: most "
            "such renames are safe)."
        ),
        bad=_upgrade(_sql("ALTER INDEX IF EXISTS idx_orders_status RENAME TO idx_open_orders_status")),
        good=_upgrade(_sql("COMMENT ON INDEX idx_orders_status IS 'status lookups'")),
    ),
    _style(
        "LB720",
        "prefer-bigint-over-int",
        "prefer-bigint-over-int",
        "A column of type `integer` (or `serial`)",
        "use bigint",
        "An id or counter in 32 bits runs out at 2,147,483,647, and widening it later is an ALTER "
        "COLUMN TYPE that rewrites the table under an ACCESS EXCLUSIVE lock (LB508).",
        "quantity integer",
        "quantity bigint",
    ),
    _style(
        "LB721",
        "prefer-bigint-over-smallint",
        "prefer-bigint-over-smallint",
        "A column of type `smallint`",
        "use bigint",
        "A smallint runs out at 32,767; widening it later rewrites the table.",
        "priority smallint",
        "priority bigint",
    ),
    _style(
        "LB722",
        "prefer-identity",
        "prefer-identity",
        "A `serial` / `bigserial` column",
        "use bigint GENERATED BY DEFAULT AS IDENTITY",
        "A serial's sequence is a separate object with its own owner and permissions, easy to get "
        "wrong when the table is copied, restored or granted; an identity column is part of the table.",
        "seq bigserial",
        "seq bigint GENERATED BY DEFAULT AS IDENTITY",
    ),
    _style(
        "LB723",
        "prefer-text-field",
        "prefer-text-field",
        "A column of type `varchar(n)`",
        "use text, with a CHECK (char_length(col) <= n) if the limit matters",
        "Raising a varchar limit later is an ALTER COLUMN TYPE; a CHECK constraint can be replaced "
        "NOT VALID without one, and text is no slower.",
        "body varchar(500)",
        "body text",
    ),
    _style(
        "LB724",
        "prefer-timestamptz",
        "prefer-timestamptz",
        "A column of type `timestamp` (without time zone)",
        "use timestamptz",
        "A timestamp without time zone stores no offset: values are read in whatever zone the "
        "session has, and daylight-saving changes make them ambiguous.",
        "noted_at timestamp",
        "noted_at timestamptz",
    ),
    _style(
        "LB725",
        "ban-char-field",
        "ban-char-field",
        "A column of type `char(n)`",
        "use text",
        "char(n) pads every value with spaces to n characters, which leaks into comparisons and "
        "the application, and is never faster than text.",
        "currency char(3)",
        "currency text",
    ),
    Rule(
        code="LB730",
        name="require-table-schema",
        severity=WARNING,
        summary="A table named without its schema",
        hint="name the schema: CREATE TABLE <schema>.<table>",
        explanation=(
            "Without a schema, the table is created or altered wherever `search_path` points when "
            "the migration runs, which may differ between environments (or per tenant). Off by "
            "default, as in Squawk (require-table-schema): select it with "
            '`select = ["ALL", "LB730"]`.'
        ),
        bad=_upgrade(_sql("CREATE TABLE IF NOT EXISTS order_notes (note_id bigint PRIMARY KEY, body text)")),
        good=_upgrade(_sql("CREATE TABLE IF NOT EXISTS trading.order_notes (note_id bigint PRIMARY KEY, body text)")),
        default_enabled=False,
    ),
)
