"""Issue 23: `batch_op.*` judged as `op.*`, which statements share a transaction, and LB520's order.

Pure and quick: files are linted from text, never run; except the last tests, which apply
LB504's recommended rewrite (legacy and native) through the bridge and ask pg_locks whether it works.
"""

from __future__ import annotations

import textwrap

import pytest

from bridge.lint import LintSettings, lint_source

NO_TIMEOUT = LintSettings().with_rules(lock_timeout_configured=False)
NATIVE = """\
import sqlalchemy as sa
from alembic import op

revision = "3f2a1b9c0d4e"
down_revision = "20251118_create_order_events"
{timeout}

def upgrade():
{body}


def downgrade():
    pass
"""
LEGACY = """\
from sqlalchemy import text


def upgrade(engine):
{body}


def downgrade(engine):
    pass
"""


def native(body: str, timeout: bool = True) -> str:
    return NATIVE.format(
        timeout='migration_lock_timeout = "5s"\n' if timeout else "",
        body=textwrap.indent(textwrap.dedent(body).strip("\n"), "    "),
    )


def legacy(body: str) -> str:
    return LEGACY.format(body=textwrap.indent(textwrap.dedent(body).strip("\n"), "    "))


def lock_codes(source: str, filename: str = "3f2a1b9c0d4e_x.py", settings: LintSettings | None = None) -> list[str]:
    return [v.code for v in lint_source(source, filename, settings) if v.code.startswith("LB5")]


# -- batch_alter_table: each batch_op.<method> is op.<method> on the batch's table --------------

BATCH_TWINS = [
    ('op.create_index("ix_s", "orders", ["s"])', 'batch_op.create_index("ix_s", ["s"])', ["LB501"]),
    ('op.drop_index("ix_s", table_name="orders")', 'batch_op.drop_index("ix_s")', ["LB501"]),
    (
        'op.add_column("orders", sa.Column("n", sa.Integer(), nullable=False))',
        'batch_op.add_column(sa.Column("n", sa.Integer(), nullable=False))',
        ["LB506"],
    ),
    (
        'op.add_column("orders", sa.Column("u", sa.Uuid(), server_default=sa.text("gen_random_uuid()")))',
        'batch_op.add_column(sa.Column("u", sa.Uuid(), server_default=sa.text("gen_random_uuid()")))',
        ["LB507"],
    ),
    (
        'op.add_column("orders", sa.Column("a", sa.Integer(), sa.ForeignKey("accounts.id")))',
        'batch_op.add_column(sa.Column("a", sa.Integer(), sa.ForeignKey("accounts.id")))',
        ["LB504"],
    ),
    ('op.alter_column("orders", "s", nullable=False)', 'batch_op.alter_column("s", nullable=False)', ["LB505"]),
    ('op.alter_column("orders", "s", type_=sa.Text())', 'batch_op.alter_column("s", type_=sa.Text())', ["LB508"]),
    (
        'op.alter_column("orders", "s", new_column_name="t")',
        'batch_op.alter_column("s", new_column_name="t")',
        ["LB509"],
    ),
    ('op.drop_column("orders", "s")', 'batch_op.drop_column("s")', ["LB510"]),
    (
        'op.create_unique_constraint("uq_s", "orders", ["s"])',
        'batch_op.create_unique_constraint("uq_s", ["s"])',
        ["LB503"],
    ),
    ('op.create_primary_key("pk", "orders", ["id"])', 'batch_op.create_primary_key("pk", ["id"])', ["LB503"]),
    (
        'op.create_foreign_key("fk", "orders", "accounts", ["a"], ["id"])',
        'batch_op.create_foreign_key("fk", "accounts", ["a"], ["id"])',
        ["LB504"],
    ),
    (
        'op.create_check_constraint("ck", "orders", "q > 0")',
        'batch_op.create_check_constraint("ck", "q > 0")',
        ["LB504"],
    ),
    (
        'op.create_check_constraint("ck", "orders", "q > 0", postgresql_not_valid=True)',
        'batch_op.create_check_constraint("ck", "q > 0", postgresql_not_valid=True)',
        [],
    ),
]


@pytest.mark.parametrize(("op_call", "batch_call", "codes"), BATCH_TWINS, ids=[t[0].split("(")[0] for t in BATCH_TWINS])
def test_batch_op_is_judged_as_its_op_twin(op_call, batch_call, codes):
    batch = f'with op.batch_alter_table("orders", schema=None) as batch_op:\n    {batch_call}'
    assert (lock_codes(native(op_call)), lock_codes(native(batch))) == (codes, codes)


def test_batch_op_execute_is_judged_as_op_execute():
    # BatchOperations.execute (batch_execute) runs its SQL like op.execute, in the revision's transaction.
    sql = "LOCK TABLE orders; CREATE INDEX ix_s ON orders (s)"
    batch = f'with op.batch_alter_table("orders") as batch_op:\n    batch_op.execute("{sql}")'
    assert sorted(lock_codes(native(batch))) == sorted(lock_codes(native(f'op.execute("{sql}")'))) == ["LB501", "LB512"]


@pytest.mark.parametrize(
    "body",
    [
        'op.execute("CREATE INDEX ix ON orders (a)")',
        'op.execute("DROP INDEX ix")',
        'op.execute("REINDEX INDEX ix")',
        'op.execute("ALTER TABLE orders ADD CONSTRAINT ck CHECK (a > 0)")',
        'op.execute("ALTER TABLE orders ALTER COLUMN a SET NOT NULL")',
        'op.create_foreign_key("fk", "orders", "accounts", ["a"], ["id"])',
        'op.alter_column("orders", "a", nullable=False)',
    ],
)
def test_a_native_revisions_hints_speak_of_autocommit_block_not_a_legacy_connection(body):
    [finding] = [v for v in lint_source(native(body), "3f2a1b9c0d4e_x.py") if v.code.startswith("LB5")]
    assert "autocommit_block()" in finding.hint and "engine." not in finding.hint, finding.hint
    assert "AUTOCOMMIT connection" not in finding.hint, finding.hint


def test_batch_op_on_a_table_the_revision_created_is_not_a_busy_table():
    body = """
    op.create_table("fresh", sa.Column("id", sa.Integer(), primary_key=True))
    with op.batch_alter_table("fresh") as batch_op:
        batch_op.create_index("ix_fresh", ["id"])
        batch_op.add_column(sa.Column("n", sa.Integer(), nullable=False))
    """
    assert lock_codes(native(body)) == []


def test_batch_op_names_its_line_and_takes_the_lock_timeout_rule():
    body = """
    with op.batch_alter_table("orders") as batch:
        batch.create_index(batch.f("ix_s"), ["s"])
    """
    found = lint_source(native(body, timeout=False), "3f2a1b9c0d4e_x.py", NO_TIMEOUT)
    assert [(v.code, v.line) for v in found] == [("LB501", 10), ("LB520", 10)]


# -- transactions -------------------------------------------------------------------------------


def test_validate_in_the_adds_transaction_is_reported_in_a_legacy_file():
    body = """
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (a) REFERENCES accounts (id) NOT VALID"))
    with engine.begin() as conn:  # a SAVEPOINT in the same migration transaction under the bridge
        conn.execute(text("ALTER TABLE orders VALIDATE CONSTRAINT fk"))
    """
    assert lock_codes(legacy(body), "20251031_x.py") == ["LB504"]


def test_validate_on_an_autocommit_connection_after_the_add_is_not_reported():
    body = """
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (a) REFERENCES accounts (id) NOT VALID"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ALTER TABLE orders VALIDATE CONSTRAINT fk"))
    """
    assert lock_codes(legacy(body), "20251031_x.py") == []


def test_work_after_an_autocommit_statement_is_a_new_transaction():
    # The AUTOCOMMIT statement commits what came before; the ADD after it opens a new transaction.
    body = """
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("CREATE INDEX CONCURRENTLY IF NOT EXISTS ix ON orders (a)"))
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE orders ADD CONSTRAINT ck CHECK (a > 0) NOT VALID"))
        conn.execute(text("ALTER TABLE orders VALIDATE CONSTRAINT ck"))
    """
    assert lock_codes(legacy(body), "20251031_x.py") == ["LB504"]


def test_native_validate_shares_the_revisions_transaction_unless_in_an_autocommit_block():
    add = 'op.create_check_constraint("ck", "orders", "q > 0", postgresql_not_valid=True)\n'
    same = add + 'op.execute("ALTER TABLE orders VALIDATE CONSTRAINT ck")'
    apart = (
        add + 'with op.get_context().autocommit_block():\n    op.execute("ALTER TABLE orders VALIDATE CONSTRAINT ck")'
    )
    in_sql = 'op.execute("ALTER TABLE orders ADD CONSTRAINT ck CHECK (q > 0) NOT VALID; ALTER TABLE orders VALIDATE CONSTRAINT ck")'
    assert [lock_codes(native(b)) for b in (same, apart, in_sql)] == [["LB504"], [], ["LB504"]]


def test_set_not_null_after_a_validated_check_on_that_column_only():
    def body(column: str) -> str:
        return (
            'op.create_check_constraint("nn", "orders", "s IS NOT NULL", postgresql_not_valid=True)\n'
            'with op.get_context().autocommit_block():\n    op.execute("ALTER TABLE orders VALIDATE CONSTRAINT nn")\n'
            f'op.alter_column("orders", "{column}", nullable=False)'
        )

    assert (lock_codes(native(body("s"))), lock_codes(native(body("t")))) == ([], ["LB505"])


# -- LB520: the lock timeout must be set before the statement that locks -------------------------


@pytest.mark.parametrize(
    ("statements", "codes"),
    [
        (["SET lock_timeout = '5s'", "CREATE INDEX CONCURRENTLY IF NOT EXISTS ix ON orders (a)"], []),
        (["CREATE INDEX CONCURRENTLY IF NOT EXISTS ix ON orders (a)", "SET lock_timeout = '5s'"], []),
        (["ALTER TABLE orders ADD COLUMN IF NOT EXISTS n INT", "SET lock_timeout = '5s'"], ["LB520"]),
        (["SET foo.lock_timeout = '5s'", "ALTER TABLE orders ADD COLUMN IF NOT EXISTS n INT"], ["LB520"]),
        (["SET lock_timeout = 0", "ALTER TABLE orders ADD COLUMN IF NOT EXISTS n INT"], ["LB520"]),
        (["SET lock_timeout = '5s'", "ALTER TABLE orders ADD COLUMN IF NOT EXISTS n INT"], []),
        (["COMMENT ON TABLE orders IS 'x'"], ["LB520"]),
        (["REINDEX (CONCURRENTLY) INDEX ix"], []),
    ],
)
def test_lock_timeout_counts_only_when_set_before_the_lock(statements, codes):
    body = "with engine.begin() as conn:\n" + "\n".join(f'    conn.execute(text("{s}"))' for s in statements)
    found = [c for c in lock_codes(legacy(body), "20251031_x.py", NO_TIMEOUT) if c == "LB520"]
    assert found == codes


def test_native_revision_sees_set_lock_timeout_in_op_execute():
    before = 'op.execute("SET lock_timeout = \'5s\'")\nop.add_column("orders", sa.Column("n", sa.Integer()))'
    after = 'op.add_column("orders", sa.Column("n", sa.Integer()))\nop.execute("SET lock_timeout = \'5s\'")'
    assert [lock_codes(native(b, timeout=False), settings=NO_TIMEOUT) for b in (before, after)] == [[], ["LB520"]]


def test_a_backfill_in_the_transaction_that_altered_the_table_holds_its_lock_lb513():
    lb513 = LintSettings(select=("ALL", "LB513"))
    same = """
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE orders ADD COLUMN IF NOT EXISTS s TEXT"))
    with engine.connect() as conn:  # under the bridge, still the migration's transaction
        conn.execute(text("UPDATE orders SET s = 'x' WHERE s IS NULL"))
        conn.commit()
    """
    apart = same.replace(
        "with engine.connect() as conn:  #",
        'with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:  #',
    ).replace("        conn.commit()\n", "")
    assert lock_codes(legacy(same), "20251031_x.py", lb513) == ["LB513"]
    assert lock_codes(legacy(apart), "20251031_x.py", lb513) == []
    assert lock_codes(legacy(same), "20251031_x.py") == []  # off by default


def test_a_lock_danger_names_the_existing_table_it_blocks_for_checks_live_sizes():
    body = """
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS fresh (id bigint)"))
        conn.execute(text("CREATE INDEX IF NOT EXISTS ix_fresh ON fresh (id)"))
        conn.execute(text("CREATE INDEX IF NOT EXISTS ix_orders_s ON orders (s)"))
        conn.execute(text("ALTER TABLE accounts ADD CONSTRAINT ck CHECK (a > 0)"))
    """
    found = lint_source(legacy(body), "20251031_x.py")
    assert [(v.code, v.table) for v in found if v.code.startswith("LB5")] == [
        ("LB501", "orders"),
        ("LB504", "accounts"),
    ]
    native_body = (
        'op.create_index("ix_s", "orders", ["s"])\nop.execute("ALTER TABLE accounts ALTER COLUMN a SET NOT NULL")'
    )
    found = lint_source(native(native_body), "3f2a1b9c0d4e_x.py")
    assert [(v.code, v.table) for v in found] == [("LB501", "orders"), ("LB505", "accounts")]


def test_a_file_of_thousands_of_statements_lints_in_linear_time():
    # Each statement looked back over every earlier statement of its `with` block for an AUTOCOMMIT
    # switch: 4,000 statements took 23 s of CPU, 20,000 over two minutes.
    import time

    body = "with engine.begin() as conn:\n" + "\n".join(
        f'    conn.execute(text("CREATE TABLE IF NOT EXISTS t{i} (id int)"))' for i in range(4000)
    )
    started = time.process_time()
    assert lock_codes(legacy(body), "20251031_x.py") == []
    assert time.process_time() - started < 6


# -- the rewrite LB504's docs recommend works under the bridge (real PostgreSQL) ------------------

PROBE = (
    "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
    "WHERE c.relname = 'accounts' AND l.mode = 'AccessExclusiveLock' AND l.granted"
)
ADD_THEN_VALIDATE = """\
from sqlalchemy import text


def upgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE accounts ADD CONSTRAINT positive CHECK (balance >= 0) NOT VALID"))
    with {opener} as conn:
        held = conn.execute(text("{probe}")).scalar()
        conn.execute(text("INSERT INTO lock_probe VALUES (:held)"), {{"held": held}})
        conn.execute(text("ALTER TABLE accounts VALIDATE CONSTRAINT positive"))


def downgrade(engine):
    pass
"""


@pytest.mark.slow  # migrations applied through the bridge
@pytest.mark.parametrize(
    ("opener", "codes", "held"),
    [
        ('engine.connect().execution_options(isolation_level="AUTOCOMMIT")', [], 0),  # the docs' rewrite
        ("engine.begin()", ["LB504"], 1),  # a savepoint in the ADD's transaction: its lock is still held
    ],
)
def test_validate_on_an_autocommit_connection_runs_after_the_adds_lock_is_released(project, opener, codes, held):
    import sqlalchemy as sa

    import bridge

    source = ADD_THEN_VALIDATE.format(opener=opener, probe=PROBE)
    assert lock_codes(source, "20251002_validate.py") == codes
    project.sql("CREATE TABLE accounts (id INT, balance INT); INSERT INTO accounts VALUES (1, 5)")
    project.sql("CREATE TABLE lock_probe (held INT)")
    project.write("20251002_validate.py", source)
    bridge.upgrade(project.config())
    engine = sa.create_engine(project.url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT held FROM lock_probe").scalars().all() == [held]
        validated = "SELECT convalidated FROM pg_constraint WHERE conname = 'positive'"
        assert conn.exec_driver_sql(validated).scalar() is True
    engine.dispose()


NATIVE_ADD_THEN_VALIDATE = """\
import sqlalchemy as sa
from alembic import op

revision = "n1"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_check_constraint("positive", "accounts", "balance >= 0", postgresql_not_valid=True)
{validate}


def downgrade():
    pass
"""
NATIVE_VALIDATE = """\
    bind = op.get_bind()
    bind.execute(sa.text("INSERT INTO lock_probe SELECT ({probe})"))
    op.execute("ALTER TABLE accounts VALIDATE CONSTRAINT positive")"""


@pytest.mark.slow  # a native revision applied through the bridge
@pytest.mark.parametrize(("autocommit", "codes", "held"), [(True, [], 0), (False, ["LB504"], 1)])
def test_validate_in_autocommit_block_runs_after_the_adds_lock_is_released(project, autocommit, codes, held):
    import sqlalchemy as sa

    import bridge

    validate = NATIVE_VALIDATE.format(probe=PROBE)
    if autocommit:
        validate = "    with op.get_context().autocommit_block():\n" + textwrap.indent(validate, "    ")
    source = NATIVE_ADD_THEN_VALIDATE.format(validate=validate)
    assert lock_codes(source, "n1_validate.py") == codes
    project.sql("CREATE TABLE accounts (id INT, balance INT); INSERT INTO accounts VALUES (1, 5)")
    project.sql("CREATE TABLE lock_probe (held INT)")
    (project.versions / "n1_validate.py").write_text(source)
    bridge.upgrade(project.config())
    engine = sa.create_engine(project.url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT held FROM lock_probe").scalars().all() == [held]
    engine.dispose()
