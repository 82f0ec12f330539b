"""Rules for code the bridge refuses at run time, and for SQLAlchemy 1.x / sqlalchemy-migrate idioms.

The checks are in `bridge.lint.rules.compat`; the rest of the catalog is in
`bridge.lint.rules.catalog` (which collects every rule).
"""

from __future__ import annotations

from .rule import ERROR, WARNING, Rule
from .rule import upgrade_example as _upgrade

_ADD = 'conn.execute(text("ALTER TABLE open_orders ADD COLUMN IF NOT EXISTS error_message TEXT"))'

RUNTIME_RULES: tuple[Rule, ...] = (
    Rule(
        code="LB105",
        name="system-exit",
        severity=ERROR,
        summary="`sys.exit()`, `exit()` or `quit()` inside `upgrade`/`downgrade`",
        hint="raise an exception that says what went wrong; keep sys.exit() in the `__main__` block",
        explanation=(
            "Run by hand, `sys.exit(1)` ends the script. Run by a migration tool, it raises "
            "`SystemExit` in the middle of the run: a tool that lets it through ends the whole "
            "process as if it had succeeded, or with the migration half-applied. The bridge "
            "refuses it: the migration fails and is rolled back, with a message naming the "
            'file. Raise an exception that says why instead (`raise RuntimeError("...")`); '
            '`sys.exit()` belongs in the file\'s `if __name__ == "__main__":` block only.'
        ),
        bad=_upgrade(
            "with engine.begin() as conn:\n"
            "    if conn.execute(text(\"SELECT to_regclass('open_orders')\")).scalar() is None:\n"
            "        sys.exit(1)\n"
            f"    {_ADD}",
            header="import sys\n\nfrom sqlalchemy import text\n",
        ),
        good=_upgrade(
            "with engine.begin() as conn:\n"
            "    if conn.execute(text(\"SELECT to_regclass('open_orders')\")).scalar() is None:\n"
            '        raise RuntimeError("open_orders does not exist: run the earlier migrations first")\n'
            f"    {_ADD}",
            header="import sys\n\nfrom sqlalchemy import text\n",
        ),
    ),
    Rule(
        code="LB106",
        name="engine-parameter-name",
        severity=WARNING,
        summary="The parameter of `upgrade`/`downgrade` is an engine under another name",
        hint="rename it: `def upgrade(engine):`",
        explanation=(
            "sqlalchemy-migrate called `upgrade(migrate_engine)`, and other projects write "
            "`db_engine`. Such files run: the runner passes the engine positionally. The "
            "manual's signature is `upgrade(engine)`, so this is a style warning, not an error "
            "(a parameter named `conn` or `connection` is LB104: that name is how the psycopg2 "
            "habits creep in)."
        ),
        bad=_upgrade(f"with migrate_engine.begin() as conn:\n    {_ADD}", signature="def upgrade(migrate_engine):"),
        good=_upgrade(f"with engine.begin() as conn:\n    {_ADD}"),
    ),
    Rule(
        code="LB206",
        name="sqlalchemy-migrate-import",
        severity=ERROR,
        summary="The file imports sqlalchemy-migrate (`import migrate`)",
        hint="port the file: replace migrate's changeset calls (`table.create_column(...)`, "
        "`column.alter(...)`) with SQL in `conn.execute(text(...))`",
        explanation=(
            "sqlalchemy-migrate is unmaintained and cannot be imported with SQLAlchemy 2.x, so "
            "the file fails before `upgrade` runs. Its changeset API (`create_column`, "
            "`drop_column`, `alter`, `migrate.changeset.constraint`) has to be rewritten as "
            "SQL through the engine, or as the equivalent Alembic operations in a native "
            "revision."
        ),
        bad=_upgrade(
            "meta = MetaData()\n"
            'orders = Table("open_orders", meta, autoload_with=engine)\n'
            'orders.create_column(Column("error_message", Text))',
            header="from migrate import *\nfrom sqlalchemy import Column, MetaData, Table, Text, text\n",
        ),
        good=_upgrade(f"with engine.begin() as conn:\n    {_ADD}"),
    ),
    Rule(
        code="LB207",
        name="bound-metadata",
        severity=ERROR,
        summary="`MetaData(bind=...)` or `metadata.bind = ...`: bound metadata was removed in SQLAlchemy 2.x",
        hint="drop the bind; pass the engine where it is used: `Table(..., autoload_with=engine)`, "
        "`meta.create_all(engine)`",
        explanation=(
            "SQLAlchemy 2.x removed bound metadata: `MetaData(bind=engine)` raises `TypeError` "
            "and `metadata.bind = engine` has no effect (the attribute is gone), so "
            "`meta.create_all()`, `table.create()` and reflection without an engine fail. "
            "Pass the engine (or a connection) to each call that needs one."
        ),
        bad=_upgrade(
            "meta = MetaData(bind=engine)\n"
            'Table("order_notes", meta, Column("id", Integer, primary_key=True))\n'
            "meta.create_all(checkfirst=True)",
            header="from sqlalchemy import Column, Integer, MetaData, Table, text\n",
        ),
        good=_upgrade(
            "meta = MetaData()\n"
            'Table("order_notes", meta, Column("id", Integer, primary_key=True))\n'
            "meta.create_all(engine, checkfirst=True)",
            header="from sqlalchemy import Column, Integer, MetaData, Table, text\n",
        ),
    ),
    Rule(
        code="LB208",
        name="autoload-true",
        severity=ERROR,
        summary="`Table(..., autoload=True)`: removed in SQLAlchemy 2.x",
        hint="reflect with the engine: `Table(name, meta, autoload_with=engine)`",
        explanation=(
            "`autoload=True` relied on bound metadata; SQLAlchemy 2.x removed both and raises "
            "`TypeError` on the keyword. `autoload_with=engine` reflects the table through "
            "the engine the runner passes."
        ),
        bad=_upgrade(
            "meta = MetaData()\n"
            'orders = Table("open_orders", meta, autoload=True)\n'
            "with engine.begin() as conn:\n"
            "    conn.execute(orders.update().values(error_message=None))",
            header="from sqlalchemy import MetaData, Table, text\n",
        ),
        good=_upgrade(
            "meta = MetaData()\n"
            'orders = Table("open_orders", meta, autoload_with=engine)\n'
            "with engine.begin() as conn:\n"
            "    conn.execute(orders.update().values(error_message=None))",
            header="from sqlalchemy import MetaData, Table, text\n",
        ),
    ),
    Rule(
        code="LB209",
        name="positional-parameters",
        severity=ERROR,
        summary="`execute(sql, a, b)` or `%s` placeholders: SQLAlchemy 1.x positional parameters",
        hint='name the parameters: `conn.execute(text("... = :value"), {"value": value})`',
        explanation=(
            'SQLAlchemy 1.x accepted `conn.execute("... %s", a, b)`: a plain string with the '
            "driver's placeholders and the values as further arguments. SQLAlchemy 2.x takes "
            "one executable and one mapping (or a list of mappings), so the call raises "
            "before anything reaches the database. Write `text()` with `:name` parameters and "
            "pass a dict; for the driver's own placeholders use `conn.exec_driver_sql(sql, (a, b))`."
        ),
        bad=_upgrade(
            "with engine.begin() as conn:\n"
            '    conn.execute("UPDATE open_orders SET error_message = %s WHERE status = %s", "unknown", "REJECTED")'
        ),
        good=_upgrade(
            "with engine.begin() as conn:\n"
            "    conn.execute(\n"
            '        text("UPDATE open_orders SET error_message = :reason WHERE status = :status"),\n'
            '        {"reason": "unknown", "status": "REJECTED"},\n'
            "    )"
        ),
    ),
    Rule(
        code="LB305",
        name="raw-transaction-control",
        severity=ERROR,
        summary="`COMMIT`, `ROLLBACK`, `BEGIN` or `END` sent as SQL text",
        hint="use the transaction objects: `trans = conn.begin()` ... `trans.commit()` / `trans.rollback()`, "
        "or `with engine.begin() as conn:`",
        explanation=(
            "A raw `COMMIT` ends the transaction behind SQLAlchemy's back: the connection "
            "still believes it is in one, and a later `trans.commit()` commits nothing or "
            "fails. The bridge runs each migration inside Alembic's transaction and maps a "
            "raw `COMMIT`/`ROLLBACK`/`BEGIN` onto it where it can, but refuses it inside a "
            "nested transaction, in a string run with parameters, after another raw `COMMIT` "
            "(`AND CHAIN`), and always for `PREPARE TRANSACTION` / `COMMIT PREPARED`. Use the "
            "transaction objects; they mean the same thing everywhere."
        ),
        bad=_upgrade(f'with engine.begin() as conn:\n    {_ADD}\n    conn.execute(text("COMMIT"))'),
        good=_upgrade(f"with engine.begin() as conn:\n    {_ADD}"),
    ),
)
