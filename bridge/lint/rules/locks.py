"""Which statements lock a busy table for too long, read from PostgreSQL's own parse tree (pglast).

Nothing here sees Python: `dangers` takes one parsed statement and what the
file has done before it (`bridge.lint.rules.lockstate.LockContext`: the tables
it created, its constraints, its transactions, the server version) and returns the lock dangers, Squawk's list and strong_migrations':
the lock each statement takes, and the rewrite that does not take it. Whether
a statement runs on an AUTOCOMMIT connection, in ``downgrade``, or with a lock
timeout is the caller's question (`bridge.lint.rules.lockcheck`).
"""

from __future__ import annotations

from .lockstate import LockContext, is_concurrent, last_name, object_kind, option_on
from .rule import Danger
from .schema import schema_dangers
from .volatility import volatile_expression

SERIAL_TYPES = frozenset({"serial", "bigserial", "smallserial", "serial4", "serial8", "serial2"})
ACCESS_EXCLUSIVE = 8


def locked_table(node, context: LockContext) -> str | None:
    """Return the existing table *node* locks (for the lock-timeout warning), if any."""
    kind = type(node).__name__
    if kind in ("AlterTableStmt", "IndexStmt", "CreateTrigStmt", "RenameStmt", "ClusterStmt"):
        relation = getattr(node, "relation", None)
        if kind == "IndexStmt" and node.concurrent:
            return None
        return context.existing(relation)
    if kind == "LockStmt":
        return next((context.existing(r) for r in node.relations or () if context.existing(r)), None)
    if kind == "DropStmt" and object_kind(node.removeType) in ("table", "index"):
        names = [last_name(obj) for obj in node.objects or ()]
        made = context.created_tables if object_kind(node.removeType) == "table" else context.created_indexes
        return next((n for n in names if n and n.lower() not in made), None)
    if kind == "ReindexStmt" and node.kind.name != "REINDEX_OBJECT_SYSTEM" and not is_concurrent(node):
        return context.existing(node.relation) or getattr(node, "name", None)
    if kind == "VacuumStmt" and option_on(node.options, "full"):
        return next((context.existing(r.relation) for r in node.rels or () if context.existing(r.relation)), None)
    if kind == "CommentStmt" and object_kind(node.objtype) in ("table", "column"):
        names = [getattr(n, "sval", None) for n in (node.object if isinstance(node.object, tuple) else ())]
        table = names[-2] if object_kind(node.objtype) == "column" and len(names) > 1 else names[-1] if names else None
        return table if table and table.lower() not in context.created_tables else None
    return None


def dangers(node, context: LockContext) -> list[Danger]:
    """Return the lock dangers of one statement, given what the migration did before it."""
    kind = type(node).__name__
    check = _CHECKS.get(kind)
    return (check(node, context) if check is not None else []) + schema_dangers(node, context)


def _index(node, context: LockContext) -> list[Danger]:
    table = context.existing(node.relation)
    if node.concurrent or table is None:
        return []
    unique = "UNIQUE " if node.unique else ""
    name = node.idxname or "<name>"
    return [
        Danger(
            "LB501",
            f"CREATE {unique}INDEX on existing table {table} without CONCURRENTLY takes a SHARE lock: "
            "writes to the table wait until the index is built",
            f"CREATE {unique}INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} (...) on an AUTOCOMMIT "
            'connection: `engine.connect().execution_options(isolation_level="AUTOCOMMIT")`',
        )
    ]


def _drop(node, context: LockContext) -> list[Danger]:
    what = object_kind(node.removeType)
    names = [n for n in (last_name(obj) for obj in node.objects or ()) if n]
    if what == "index":
        if node.concurrent or all(n.lower() in context.created_indexes for n in names):
            return []
        shown = ", ".join(names)
        return [
            Danger(
                "LB501",
                f"DROP INDEX {shown} without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on its table: "
                "reads and writes wait",
                f"DROP INDEX CONCURRENTLY IF EXISTS {shown} on an AUTOCOMMIT connection",
            )
        ]
    if what == "table":
        existing = [n for n in names if n.lower() not in context.created_tables]
        if not existing:
            return []
        shown = ", ".join(existing)
        return [
            Danger(
                "LB510",
                f"DROP TABLE {shown}: the application version still running uses it, and every query on "
                "it fails from the moment this commits",
                "first deploy code that no longer uses the table, then drop it in a later migration "
                "(add `# noqa: LB510` to that one)",
            )
        ]
    return []


def _reindex(node, context: LockContext) -> list[Danger]:
    if is_concurrent(node) or node.kind.name == "REINDEX_OBJECT_SYSTEM":
        return []  # REINDEX SYSTEM has no concurrent form: the catalogs, not the application's tables
    target = getattr(node.relation, "relname", None) or getattr(node, "name", "") or ""
    return [
        Danger(
            "LB501",
            f"REINDEX {target} without CONCURRENTLY blocks writes to the table (and reads that use the "
            "index) until it finishes".replace("  ", " "),
            f"REINDEX INDEX CONCURRENTLY {target} (PostgreSQL 12+) on an AUTOCOMMIT connection",
        )
    ]


def _alter_table(node, context: LockContext) -> list[Danger]:
    table = context.existing(node.relation)
    if table is None:
        return []
    found = []
    for cmd in node.cmds or ():
        subtype = cmd.subtype.name
        if subtype == "AT_AddConstraint" and cmd.def_ is not None:
            found += _constraint(table, cmd.def_, context)
        elif subtype == "AT_ValidateConstraint" and cmd.name:
            if context.validated_in_same_transaction(table, cmd.name):
                found.append(validate_in_same_transaction(table, cmd.name))
        elif subtype == "AT_SetNotNull":
            if not context.not_null_proven(table, cmd.name):
                found.append(_set_not_null(table, cmd.name, context))
        elif subtype == "AT_AddColumn":
            found += _add_column(table, cmd.def_, context)
        elif subtype == "AT_AlterColumnType":
            found.append(
                Danger(
                    "LB508",
                    f"ALTER TABLE {table} ALTER COLUMN {cmd.name} TYPE rewrites the table and its indexes "
                    "under an ACCESS EXCLUSIVE lock (unless it only lifts a varchar limit, which the "
                    "linter cannot see)",
                    f"add a new column, backfill it in batches, switch the code over, then drop "
                    f"{cmd.name}; for varchar(n) → text, add `# noqa: LB508`",
                )
            )
        elif subtype == "AT_DropColumn":
            found.append(
                Danger(
                    "LB510",
                    f"ALTER TABLE {table} DROP COLUMN {cmd.name}: the application version still running "
                    "selects it, and those queries fail from the moment this commits",
                    "first deploy code that no longer reads or writes the column (SQLAlchemy: "
                    "remove it from the model), then drop it in a later migration",
                )
            )
    return found


def _constraint(table: str, constraint, context: LockContext) -> list[Danger]:
    kind = object_kind(constraint.contype).removeprefix("constr_")
    name = constraint.conname or "<name>"
    if kind in ("unique", "primary") and not constraint.indexname:
        what = "UNIQUE" if kind == "unique" else "PRIMARY KEY"
        return [
            Danger(
                "LB503",
                f"ALTER TABLE {table} ADD {what} builds its index under an ACCESS EXCLUSIVE lock: "
                "reads and writes wait for the whole build",
                f"CREATE UNIQUE INDEX CONCURRENTLY {name}_idx ON {table} (...), then "
                f"ALTER TABLE {table} ADD CONSTRAINT {name} {what} USING INDEX {name}_idx",
            )
        ]
    if kind == "exclusion":
        return [Danger("LB503", *exclusion_danger(f"ALTER TABLE {table} ADD EXCLUDE"))]
    if kind in ("foreign", "check") and not constraint.skip_validation:
        what = "FOREIGN KEY" if kind == "foreign" else "CHECK"
        lock = "SHARE ROW EXCLUSIVE locks on both tables" if kind == "foreign" else "an ACCESS EXCLUSIVE lock"
        return [
            Danger(
                "LB504",
                f"ALTER TABLE {table} ADD {what} without NOT VALID scans the whole table under {lock}",
                f"ADD CONSTRAINT {name} ... NOT VALID, then ALTER TABLE {table} VALIDATE CONSTRAINT {name} "
                f"{LATER} (it takes a weaker lock)",
            )
        ]
    return []


def exclusion_danger(what: str) -> tuple[str, str]:
    """Return (message, hint) of an exclusion constraint added to an existing table: it has no safe form."""
    return (
        f"{what} builds its index under an ACCESS EXCLUSIVE lock: reads and writes wait for the whole build",
        "an exclusion constraint has no concurrent form (no USING INDEX, no NOT VALID): add it while the "
        "table is small or the application is idle, and say so with `# noqa: LB503`",
    )


LATER = "in a later migration (or on an AUTOCOMMIT connection after the ADD committed)"


def validate_in_same_transaction(table: str, name: str) -> Danger:
    """The danger of ``VALIDATE CONSTRAINT`` sharing a transaction with its ``ADD ... NOT VALID``."""
    return Danger(
        "LB504",
        f"ALTER TABLE {table} VALIDATE CONSTRAINT {name} runs in the same transaction as its ADD ... NOT VALID: "
        "the lock the ADD took is held through the validating scan, so NOT VALID gains nothing",
        f"validate {LATER}; the bridge runs each migration in one transaction",
    )


def set_not_null_hint(column: str, postgres_version: int) -> str:
    """The rewrite of SET NOT NULL that scans nothing under an ACCESS EXCLUSIVE lock."""
    if postgres_version >= 12:
        return (
            f"ADD CONSTRAINT {column}_not_null CHECK ({column} IS NOT NULL) NOT VALID; VALIDATE CONSTRAINT "
            f"{column}_not_null {LATER}; then SET NOT NULL (no scan: PostgreSQL 12+ uses the validated "
            "check) and drop the check"
        )
    return (
        f"on PostgreSQL {postgres_version}, keep a validated CHECK ({column} IS NOT NULL) instead "
        f"(ADD ... NOT VALID, then VALIDATE {LATER}); SET NOT NULL always scans before 12"
    )


def _set_not_null(table: str, column: str, context: LockContext) -> Danger:
    hint = set_not_null_hint(column, context.postgres_version)
    return Danger(
        "LB505",
        f"ALTER TABLE {table} ALTER COLUMN {column} SET NOT NULL scans the whole table under an ACCESS EXCLUSIVE lock",
        hint,
    )


def _add_column(table: str, column, context: LockContext) -> list[Danger]:
    name = getattr(column, "colname", "?")
    constraints = list(getattr(column, "constraints", None) or ())
    kinds = {object_kind(c.contype).removeprefix("constr_") for c in constraints}
    default = next((c.raw_expr for c in constraints if object_kind(c.contype) == "constr_default"), None)
    type_name = last_name(getattr(column.typeName, "names", ())) or ""
    found = []
    if type_name.lower() in SERIAL_TYPES or "generated" in kinds and _stored(constraints):
        what = type_name.upper() if type_name.lower() in SERIAL_TYPES else "GENERATED ... STORED"
        found.append(
            Danger(
                "LB507",
                f"ALTER TABLE {table} ADD COLUMN {name} {what} computes a value per row: it rewrites "
                "the table under an ACCESS EXCLUSIVE lock",
                "add the column without it, backfill in batches, then attach the default or sequence",
            )
        )
    elif default is not None and (context.postgres_version < 11 or volatile_expression(default)):
        why = (
            "a volatile default"
            if volatile_expression(default)
            else f"a default on PostgreSQL {context.postgres_version} (before 11)"
        )
        found.append(
            Danger(
                "LB507",
                f"ALTER TABLE {table} ADD COLUMN {name} with {why} rewrites the table under an ACCESS EXCLUSIVE lock",
                "add the column without a default (or with a constant one on PostgreSQL 11+), "
                "SET DEFAULT afterwards, and backfill existing rows in batches",
            )
        )
    if "foreign" in kinds:
        found.append(
            Danger(
                "LB504",
                f"ALTER TABLE {table} ADD COLUMN {name} REFERENCES ... validates under SHARE ROW EXCLUSIVE "
                "locks on both tables (an inline foreign key cannot be NOT VALID)",
                f"add the column plain, then ADD CONSTRAINT ... FOREIGN KEY ({name}) ... NOT VALID, and "
                f"VALIDATE CONSTRAINT {LATER}",
            )
        )
    if kinds & {"unique", "primary"}:
        found.append(
            Danger(
                "LB503",
                f"ALTER TABLE {table} ADD COLUMN {name} UNIQUE / PRIMARY KEY builds its index under an "
                "ACCESS EXCLUSIVE lock",
                "add the column plain, CREATE UNIQUE INDEX CONCURRENTLY on it, then ADD CONSTRAINT ... "
                "UNIQUE USING INDEX",
            )
        )
    computed = kinds & {"identity", "generated"} or type_name.lower() in SERIAL_TYPES
    if "notnull" in kinds and default is None and not computed:
        found.append(
            Danger(
                "LB506",
                f"ALTER TABLE {table} ADD COLUMN {name} NOT NULL without a default fails as soon as "
                "the table has a row",
                (
                    f"give it a constant default (no rewrite on PostgreSQL {context.postgres_version}), "
                    "or add it nullable, backfill, and set NOT NULL through a validated CHECK"
                )
                if context.postgres_version >= 11
                else "add it nullable, backfill in batches, then add a validated CHECK (... IS NOT NULL)",
            )
        )
    return found


def _stored(constraints) -> bool:
    return any(object_kind(c.contype) == "constr_generated" for c in constraints)


def _rename(node, context: LockContext) -> list[Danger]:
    what = object_kind(node.renameType)
    if what not in ("column", "table"):
        return []
    table = context.existing(node.relation)
    if table is None:
        return []
    old = node.subname if what == "column" else table
    return [
        Danger(
            "LB509",
            f"renaming {what} {old} to {node.newname}: the application version still running uses "
            "the old name, and its queries fail from the moment this commits",
            f"add the new {what} (or a view / generated column under the new name), move the code "
            f"over, and drop the old {what} in a later migration",
        )
    ]


REPACK_VERSION = 19  # REPACK (CONCURRENTLY): before it, pg_repack outside PostgreSQL is the only alternative


def _vacuum(node, context: LockContext) -> list[Danger]:
    if not option_on(node.options, "full") or context.postgres_version < REPACK_VERSION:
        return []
    return [
        Danger(
            "LB511",
            "VACUUM FULL rewrites the table under an ACCESS EXCLUSIVE lock: reads and writes wait "
            "for the whole rewrite",
            "REPACK (CONCURRENTLY) <table> (PostgreSQL 19+), or plain VACUUM (ANALYZE)",
        )
    ]


def _cluster(node, context: LockContext) -> list[Danger]:
    if context.postgres_version < REPACK_VERSION:
        return []
    target = getattr(node.relation, "relname", None) or "the database"
    return [
        Danger(
            "LB511",
            f"CLUSTER {target} rewrites the table under an ACCESS EXCLUSIVE lock: reads and writes "
            "wait for the whole rewrite",
            f"REPACK (CONCURRENTLY) {target} USING INDEX <index> (PostgreSQL 19+)",
        )
    ]


def _lock(node, context: LockContext) -> list[Danger]:
    if node.mode != ACCESS_EXCLUSIVE:
        return []
    tables = ", ".join(r.relname for r in node.relations or ())
    return [
        Danger(
            "LB512",
            f"LOCK TABLE {tables} IN ACCESS EXCLUSIVE MODE blocks every read and write on it until "
            "the migration commits",
            "take the weakest lock that protects the change (e.g. SHARE ROW EXCLUSIVE), or none",
        )
    ]


def _backfill(node, context: LockContext) -> list[Danger]:
    if not context.holds_lock(node.relation):
        return []
    verb = {"UpdateStmt": "UPDATE", "DeleteStmt": "DELETE FROM"}[type(node).__name__]
    table = node.relation.relname
    return [
        Danger(
            "LB513",
            f"{verb} {table} runs in the transaction that altered or indexed {table}: the lock that "
            "statement took is held until the transaction ends, so the application waits for the "
            "whole backfill",
            f"backfill {LATER.replace('the ADD', 'the ALTER')}, in batches",
        )
    ]


_CHECKS = {
    "UpdateStmt": _backfill,
    "DeleteStmt": _backfill,
    "IndexStmt": _index,
    "DropStmt": _drop,
    "ReindexStmt": _reindex,
    "AlterTableStmt": _alter_table,
    "RenameStmt": _rename,
    "VacuumStmt": _vacuum,
    "ClusterStmt": _cluster,
    "LockStmt": _lock,
}
