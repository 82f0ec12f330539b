"""The lock-danger rules (LB5xx): statements that succeed and take the site down.

Each rule says which lock the statement takes, why that hurts a live
application, and the rewrite that does not take it (Squawk's and
strong_migrations' advice, for SQL inside legacy files). They are errors by
default; ``severity`` in ``[tool.alembic-bridge.lint]`` downgrades any of them.
The checks are in `bridge.lint.rules.locks` and `bridge.lint.rules.lockcheck`.
"""

from __future__ import annotations

from .rule import ERROR, WARNING, Rule
from .rule import upgrade_example as _upgrade

_AUTOCOMMIT = 'with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:'
_CONSTRAINT_EXISTS = (
    "exists = conn.execute(text(\"SELECT 1 FROM pg_constraint WHERE conname = '{name}'\")).scalar()\nif not exists:\n"
)


def _guarded(name: str, statement: str) -> str:
    """Return an upgrade body adding a constraint only when pg_constraint lacks it."""
    lines = _CONSTRAINT_EXISTS.format(name=name) + f'    conn.execute(text("{statement}"))'
    return "with engine.begin() as conn:\n" + "\n".join("    " + line for line in lines.splitlines())


def _sql(*statements: str, opener: str = "with engine.begin() as conn:") -> str:
    return opener + "\n" + "\n".join(f'    conn.execute(text("{s}"))' for s in statements)


LOCK_RULES: tuple[Rule, ...] = (
    Rule(
        code="LB501",
        name="index-without-concurrently",
        severity=ERROR,
        summary="`CREATE INDEX` / `DROP INDEX` / `REINDEX` without `CONCURRENTLY` on an existing table",
        hint="CREATE INDEX CONCURRENTLY IF NOT EXISTS ... on an AUTOCOMMIT connection",
        explanation=(
            "Lock: `CREATE INDEX` takes a SHARE lock on the table for the whole build, so every "
            "INSERT, UPDATE and DELETE waits, for minutes on a big table; `DROP INDEX` and "
            "`REINDEX` take an ACCESS EXCLUSIVE lock (reads wait too). Rewrite: "
            "`CREATE INDEX CONCURRENTLY IF NOT EXISTS`, `DROP INDEX CONCURRENTLY IF EXISTS`, "
            "`REINDEX ... CONCURRENTLY` (PostgreSQL 12+), each on its own AUTOCOMMIT connection "
            '(`engine.connect().execution_options(isolation_level="AUTOCOMMIT")`), since '
            "CONCURRENTLY cannot run in a transaction (LB502). An interrupted concurrent build "
            "leaves an INVALID index; `IF NOT EXISTS` would keep it, so `alembic-bridge check` "
            "reports INVALID indexes. A table created earlier in the same migration is not "
            "reported: nobody uses it yet."
        ),
        bad=_upgrade(_sql("CREATE INDEX IF NOT EXISTS idx_open_orders_status ON open_orders (status)")),
        good=_upgrade(
            _sql(
                "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_open_orders_status ON open_orders (status)",
                opener=_AUTOCOMMIT,
            )
        ),
    ),
    Rule(
        code="LB502",
        name="concurrently-in-transaction",
        severity=ERROR,
        summary="`CONCURRENTLY` on a connection that is not AUTOCOMMIT",
        hint='run it on its own connection: `with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:`',
        explanation=(
            "PostgreSQL refuses `CREATE INDEX CONCURRENTLY`, `DROP INDEX CONCURRENTLY` and "
            "`REINDEX ... CONCURRENTLY` inside a transaction block (`cannot run inside a "
            "transaction block`), and `engine.begin()` or `conn.begin()` always opens one. "
            "Run the statement on an AUTOCOMMIT connection; the bridge commits the migration's "
            "earlier work first and records it as usual."
        ),
        bad=_upgrade(_sql("CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_open_orders_status ON open_orders (status)")),
        good=_upgrade(
            _sql(
                "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_open_orders_status ON open_orders (status)",
                opener=_AUTOCOMMIT,
            )
        ),
    ),
    Rule(
        code="LB503",
        name="unique-constraint-without-index",
        severity=ERROR,
        summary="`ADD UNIQUE` / `ADD PRIMARY KEY` without `USING INDEX`, or `ADD EXCLUDE`, on an existing table",
        hint="CREATE UNIQUE INDEX CONCURRENTLY first, then ADD CONSTRAINT ... UNIQUE USING INDEX",
        explanation=(
            "Lock: adding a UNIQUE or PRIMARY KEY constraint builds its index while holding an "
            "ACCESS EXCLUSIVE lock on the table: every read and write waits for the whole "
            "build. Rewrite: build the index with `CREATE UNIQUE INDEX CONCURRENTLY` (on an "
            "AUTOCOMMIT connection), then attach it with `ALTER TABLE ... ADD CONSTRAINT name "
            "UNIQUE USING INDEX index_name` (or `PRIMARY KEY USING INDEX`), which only takes "
            "the lock for a moment. An exclusion constraint (`ADD ... EXCLUDE`, "
            "`op.create_exclude_constraint`) builds its index the same way and has no such rewrite "
            "(neither USING INDEX nor NOT VALID): add it while the table is small or idle, with "
            "`# noqa: LB503`."
        ),
        bad=_upgrade(
            _guarded(
                "open_orders_client_order_id_key",
                "ALTER TABLE open_orders ADD CONSTRAINT open_orders_client_order_id_key UNIQUE (client_order_id)",
            )
        ),
        good=_upgrade(
            _sql(
                "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS open_orders_client_order_id_idx ON open_orders (client_order_id)",
                opener=_AUTOCOMMIT,
            )
            + "\n"
            + _guarded(
                "open_orders_client_order_id_key",
                "ALTER TABLE open_orders ADD CONSTRAINT open_orders_client_order_id_key UNIQUE USING INDEX open_orders_client_order_id_idx",
            )
        ),
    ),
    Rule(
        code="LB504",
        name="constraint-without-not-valid",
        severity=ERROR,
        summary="A `FOREIGN KEY` or `CHECK` constraint added without `NOT VALID`",
        hint=(
            "ADD CONSTRAINT ... NOT VALID, then VALIDATE CONSTRAINT in a later migration (or on an "
            "AUTOCOMMIT connection after the ADD committed)"
        ),
        explanation=(
            "Lock: adding a CHECK scans the whole table under an ACCESS EXCLUSIVE lock; a "
            "FOREIGN KEY scans it holding SHARE ROW EXCLUSIVE locks on both tables, so writes "
            "to either wait. Rewrite: `ADD CONSTRAINT ... NOT VALID` (instant: only new rows are "
            "checked), then `ALTER TABLE ... VALIDATE CONSTRAINT ...`, which scans under a "
            "SHARE UPDATE EXCLUSIVE lock that lets reads and writes through. The VALIDATE must "
            "not share the ADD's transaction: the ADD's lock is held until that transaction "
            "ends, so a VALIDATE in it scans under the strong lock after all (reported too). "
            "Under the bridge a migration is one transaction (`engine.begin()` blocks in a "
            "legacy file, and a native revision's `op.*` calls, all share it), so validate in "
            "a later migration, or on an AUTOCOMMIT connection (legacy) or in "
            "`op.get_context().autocommit_block()` (native): the bridge commits the work "
            "before it, ADD included, first."
        ),
        bad=_upgrade(
            _guarded(
                "open_orders_account_id_fkey",
                "ALTER TABLE open_orders ADD CONSTRAINT open_orders_account_id_fkey FOREIGN KEY (account_id) REFERENCES accounts (id)",
            )
        ),
        good=_upgrade(
            _guarded(
                "open_orders_account_id_fkey",
                "ALTER TABLE open_orders ADD CONSTRAINT open_orders_account_id_fkey FOREIGN KEY (account_id) REFERENCES accounts (id) NOT VALID",
            )
            + "\n"
            + _sql("ALTER TABLE open_orders VALIDATE CONSTRAINT open_orders_account_id_fkey", opener=_AUTOCOMMIT)
        ),
    ),
    Rule(
        code="LB505",
        name="set-not-null",
        severity=ERROR,
        summary="`SET NOT NULL` on a column of an existing table",
        hint=(
            "add CHECK (col IS NOT NULL) NOT VALID, VALIDATE it in a later migration (or on an AUTOCOMMIT "
            "connection after the ADD committed), then SET NOT NULL (PostgreSQL 12+)"
        ),
        explanation=(
            "Lock: `ALTER COLUMN ... SET NOT NULL` scans the whole table to prove there is no "
            "NULL, holding an ACCESS EXCLUSIVE lock. Rewrite (PostgreSQL 12+): `ADD CONSTRAINT "
            "c CHECK (col IS NOT NULL) NOT VALID`, `VALIDATE CONSTRAINT c` (weak lock) outside "
            "the ADD's transaction (a later migration, or an AUTOCOMMIT connection after it: see "
            "LB504), then `SET NOT NULL`, which uses the validated check instead of scanning, "
            "and drop the check. Before 12 (`postgres-version` in the settings) SET NOT NULL "
            "always scans: keep the validated CHECK instead. A `SET NOT NULL` after a validated "
            "`CHECK (col IS NOT NULL)` on that same column is not reported; a check on another "
            "column proves nothing."
        ),
        bad=_upgrade(_sql("ALTER TABLE open_orders ALTER COLUMN error_message SET NOT NULL")),
        good=_upgrade(
            _guarded(
                "open_orders_error_message_not_null",
                "ALTER TABLE open_orders ADD CONSTRAINT open_orders_error_message_not_null CHECK (error_message IS NOT NULL) NOT VALID",
            )
            + "\n"
            + _sql("ALTER TABLE open_orders VALIDATE CONSTRAINT open_orders_error_message_not_null", opener=_AUTOCOMMIT)
            + "\n"
            + _sql("ALTER TABLE open_orders ALTER COLUMN error_message SET NOT NULL")
        ),
    ),
    Rule(
        code="LB506",
        name="add-not-null-column-without-default",
        severity=ERROR,
        summary="`ADD COLUMN ... NOT NULL` without a default on an existing table",
        hint="give it a constant DEFAULT, or add it nullable, backfill, then set NOT NULL",
        explanation=(
            "Adding a NOT NULL column without a default fails (`column contains null values`) "
            "as soon as the table has one row: it passes on an empty development database and "
            "fails in production. Rewrite: a constant default (`NOT NULL DEFAULT 0`: no "
            "rewrite on PostgreSQL 11+), or add the column nullable, backfill it in batches, "
            "and set NOT NULL through a validated CHECK (LB505)."
        ),
        bad=_upgrade(_sql("ALTER TABLE open_orders ADD COLUMN IF NOT EXISTS retry_count INTEGER NOT NULL")),
        good=_upgrade(_sql("ALTER TABLE open_orders ADD COLUMN IF NOT EXISTS retry_count INTEGER NOT NULL DEFAULT 0")),
    ),
    Rule(
        code="LB507",
        name="volatile-default",
        severity=ERROR,
        summary="`ADD COLUMN` whose default rewrites the table (volatile, serial, stored generated)",
        hint="add the column without the default, SET DEFAULT afterwards, backfill in batches",
        explanation=(
            "Lock: since PostgreSQL 11 a constant default is stored once and the table is not "
            "touched; a volatile default (`gen_random_uuid()`, `random()`, `clock_timestamp()`, "
            "`nextval()`, a `SERIAL` type) or a stored generated column needs a value per row, "
            "so the whole table is rewritten under an ACCESS EXCLUSIVE lock. Before 11 "
            "(`postgres-version` in the settings) every default rewrites. Rewrite: add the "
            "column with no default, `ALTER COLUMN ... SET DEFAULT ...` (new rows only), and "
            "backfill existing rows in batches."
        ),
        bad=_upgrade(_sql("ALTER TABLE open_orders ADD COLUMN IF NOT EXISTS public_id UUID DEFAULT gen_random_uuid()")),
        good=_upgrade(
            _sql(
                "ALTER TABLE open_orders ADD COLUMN IF NOT EXISTS public_id UUID",
                "ALTER TABLE open_orders ALTER COLUMN public_id SET DEFAULT gen_random_uuid()",
            )
        ),
    ),
    Rule(
        code="LB508",
        name="column-type-change",
        severity=ERROR,
        summary="`ALTER COLUMN ... TYPE` that rewrites the table",
        hint="add a new column, backfill it, switch the code, drop the old one later",
        explanation=(
            "Lock: changing a column's type rewrites the table and rebuilds its indexes under an "
            "ACCESS EXCLUSIVE lock. Only a few changes are free (lifting a `varchar` limit, "
            "`varchar` to `text`), and the linter cannot see the old type: for those, add "
            "`# noqa: LB508`. Rewrite: add a column of the new type, backfill it in batches "
            "(keep it in step with a trigger), move the code over, then drop the old column in "
            "a later migration."
        ),
        bad=_upgrade(_sql("ALTER TABLE open_orders ALTER COLUMN quantity TYPE NUMERIC(30, 10)")),
        good=_upgrade(_sql("ALTER TABLE open_orders ADD COLUMN IF NOT EXISTS quantity_precise NUMERIC(30, 10)")),
    ),
    Rule(
        code="LB509",
        name="rename-column-or-table",
        severity=ERROR,
        summary="Renaming a column or a table",
        hint="add the new name alongside the old, move the code over, drop the old name later",
        explanation=(
            "A rename is instant (a brief ACCESS EXCLUSIVE lock), but the application version "
            "still running during the deploy uses the old name, and each of its queries fails "
            "from the moment the migration commits. Rewrite: expand and contract. Add the new "
            "column (or a view under the new table name), write to both, move the code over, "
            "and drop the old name in a later migration."
        ),
        bad=_upgrade(
            "with engine.begin() as conn:\n"
            "    found = conn.execute(text(\"SELECT 1 FROM information_schema.columns WHERE table_name = 'open_orders' AND column_name = 'error_message'\")).scalar()\n"
            "    if found:\n"
            '        conn.execute(text("ALTER TABLE open_orders RENAME COLUMN error_message TO rejection_reason"))'
        ),
        good=_upgrade(_sql("ALTER TABLE open_orders ADD COLUMN IF NOT EXISTS rejection_reason TEXT")),
    ),
    Rule(
        code="LB510",
        name="drop-column-or-table",
        severity=ERROR,
        summary="Dropping a column or a table in `upgrade`",
        hint="first deploy code that no longer uses it, then drop it in a later migration",
        explanation=(
            "Dropping is quick, but the application version still running during the deploy "
            "selects the column (SQLAlchemy models list every column) or queries the table, "
            "and fails from the moment the migration commits. Rewrite: remove every use from "
            "the code and deploy that first; drop in a later migration and say so with "
            "`# noqa: LB510` on the statement. `downgrade` is not checked: removing what "
            "upgrade added is its job."
        ),
        bad=_upgrade(_sql("ALTER TABLE open_orders DROP COLUMN IF EXISTS legacy_note")),
        good=_upgrade(
            "with engine.begin() as conn:\n"
            "    # release 4.2 stopped reading legacy_note\n"
            '    conn.execute(text("ALTER TABLE open_orders DROP COLUMN IF EXISTS legacy_note"))  # noqa: LB510'
        ),
    ),
    Rule(
        code="LB511",
        name="table-rewrite",
        severity=ERROR,
        summary="`VACUUM FULL` or `CLUSTER` on PostgreSQL 19+: the table is rewritten under an ACCESS EXCLUSIVE lock",
        hint="REPACK (CONCURRENTLY) (PostgreSQL 19+), or plain VACUUM (ANALYZE)",
        explanation=(
            "Lock: `VACUUM FULL` and `CLUSTER` copy the whole table while holding an ACCESS "
            "EXCLUSIVE lock: reads and writes wait for the whole copy. Plain `VACUUM` "
            "(and `ANALYZE`) take a lock that lets both through. Reported only when "
            "`postgres-version` is 19 or later, as Squawk's prefer-repack does: from 19, "
            "`REPACK (CONCURRENTLY) t` (optionally `USING INDEX i`) does the same without the "
            "lock; before it the only alternative is pg_repack or pg_squeeze outside the "
            "migration, which a rule cannot ask of a migration. `VACUUM (FULL false)` is plain VACUUM."
        ),
        bad=_upgrade(_sql("VACUUM FULL open_orders", opener=_AUTOCOMMIT)),
        good=_upgrade(_sql("VACUUM (ANALYZE) open_orders", opener=_AUTOCOMMIT)),
    ),
    Rule(
        code="LB512",
        name="lock-table-access-exclusive",
        severity=ERROR,
        summary="`LOCK TABLE` in `ACCESS EXCLUSIVE` mode (the default mode)",
        hint="take the weakest lock that protects the change, e.g. IN SHARE ROW EXCLUSIVE MODE",
        explanation=(
            "`LOCK TABLE t` without a mode, or `IN ACCESS EXCLUSIVE MODE`, blocks every read "
            "and write on the table until the migration commits. A backfill that must not race "
            "concurrent writers needs at most `SHARE ROW EXCLUSIVE` (reads go on); often "
            "batching the update needs no explicit lock at all."
        ),
        bad=_upgrade(
            _sql(
                "LOCK TABLE open_orders IN ACCESS EXCLUSIVE MODE",
                "UPDATE open_orders SET error_message = 'unknown' WHERE status = 'REJECTED' AND error_message IS NULL",
            )
        ),
        good=_upgrade(
            _sql(
                "LOCK TABLE open_orders IN SHARE ROW EXCLUSIVE MODE",
                "UPDATE open_orders SET error_message = 'unknown' WHERE status = 'REJECTED' AND error_message IS NULL",
            )
        ),
    ),
    Rule(
        code="LB513",
        name="backfill-under-ddl-lock",
        severity=WARNING,
        summary="`UPDATE` / `DELETE` of a table in the transaction that altered or indexed it",
        hint="backfill in a later migration, or on an AUTOCOMMIT connection after the ALTER committed, in batches",
        explanation=(
            "Lock: `ALTER TABLE` takes an ACCESS EXCLUSIVE lock (`CREATE INDEX` a SHARE lock) that "
            "is held until the transaction ends, not until the statement ends. A backfill in the "
            "same transaction (`ADD COLUMN status`, then `UPDATE ... SET status = ...`) keeps the "
            "application waiting for the whole backfill; under the bridge every statement of a "
            "migration shares one transaction, except those on an AUTOCOMMIT connection. "
            "strong_migrations: backfilling data. Under the bridge this holds for the legacy "
            "manual's own batched backfill too: `conn.commit()` between batches releases a "
            "savepoint, not the migration's transaction, so the ALTER's lock stays held. A "
            "warning, and off by default (a small table, or an `UPDATE` of a few rows, is "
            'harmless): select it with `select = ["ALL", "LB513"]`.'
        ),
        bad=_upgrade(
            _sql(
                "ALTER TABLE open_orders ADD COLUMN IF NOT EXISTS error_message TEXT",
                "UPDATE open_orders SET error_message = 'unknown' WHERE status = 'REJECTED' AND error_message IS NULL",
            )
        ),
        good=_upgrade(
            _sql("ALTER TABLE open_orders ADD COLUMN IF NOT EXISTS error_message TEXT")
            + "\n"
            + _sql(
                "UPDATE open_orders SET error_message = 'unknown' WHERE status = 'REJECTED' AND error_message IS NULL",
                opener=_AUTOCOMMIT,
            )
        ),
        default_enabled=False,
    ),
    Rule(
        code="LB520",
        name="no-lock-timeout",
        severity=WARNING,
        summary="A migration that locks existing tables, with no lock timeout configured",
        hint='set migration_lock_timeout in [alembic] of alembic.ini, or `migration_lock_timeout = "5s"` in the file',
        explanation=(
            "Even a brief ACCESS EXCLUSIVE lock (`ALTER TABLE ... ADD COLUMN`) must wait for "
            "every transaction already using the table, and while it waits, every new query on "
            "the table queues behind it: one long report query turns a millisecond migration "
            "into an outage. A lock timeout makes the migration give up instead (the bridge "
            "retries it, see `lock_retries`). Set `migration_lock_timeout` in `[alembic]` of "
            'alembic.ini, or a module-level `migration_lock_timeout = "5s"` in the file. '
            "Reported once per file, and only when the linter found the Alembic configuration."
        ),
        bad=_upgrade(_sql("ALTER TABLE open_orders ADD COLUMN IF NOT EXISTS error_message TEXT")),
        good=_upgrade(
            _sql("ALTER TABLE open_orders ADD COLUMN IF NOT EXISTS error_message TEXT"),
            header='from sqlalchemy import text\n\nmigration_lock_timeout = "5s"\n',
        ),
    ),
)
