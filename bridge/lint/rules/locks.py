"""Which statements lock a busy table for too long, read from PostgreSQL's own parse tree (pglast).

Nothing here sees Python: `dangers` takes one parsed statement and what the
file has done before it (`LockContext`: the tables it created, the server
version) and returns the lock dangers, Squawk's list and strong_migrations':
the lock each statement takes, and the rewrite that does not take it. Whether
a statement runs on an AUTOCOMMIT connection, in ``downgrade``, or with a lock
timeout is the caller's question (`bridge.lint.rules.lockcheck`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_POSTGRES_VERSION = 16
# Functions whose value differs per row: a DEFAULT calling one rewrites the table on any version.
VOLATILE_FUNCTIONS = frozenset(
    {
        "random",
        "gen_random_uuid",
        "uuid_generate_v1",
        "uuid_generate_v1mc",
        "uuid_generate_v4",
        "clock_timestamp",
        "timeofday",
        "nextval",
        "txid_current",
        "setseed",
    }
)
SERIAL_TYPES = frozenset({"serial", "bigserial", "smallserial", "serial4", "serial8", "serial2"})
ACCESS_EXCLUSIVE = 8


@dataclass(frozen=True)
class Danger:
    """One statement that takes a lock, or rewrites a table, that blocks the application."""

    code: str
    message: str
    hint: str


@dataclass
class LockContext:
    """What the migration did before a statement: tables created (lower-case), the server version."""

    postgres_version: int = DEFAULT_POSTGRES_VERSION
    created_tables: set[str] = field(default_factory=set)
    created_indexes: set[str] = field(default_factory=set)
    validated_tables: set[str] = field(default_factory=set)  # a CHECK validated: SET NOT NULL needs no scan (12+)

    def existing(self, relation) -> str | None:
        """Return the table's name if it existed before this migration (it did not create it)."""
        name = getattr(relation, "relname", None)
        if name is None or name.lower() in self.created_tables:
            return None
        return name

    def record(self, node) -> None:
        """Remember the tables and indexes *node* creates."""
        kind = type(node).__name__
        if kind == "CreateStmt" and node.relation is not None:
            self.created_tables.add(node.relation.relname.lower())
        elif kind == "CreateTableAsStmt":
            self.created_tables.add(node.into.rel.relname.lower())
        elif kind == "IndexStmt" and node.idxname:
            self.created_indexes.add(node.idxname.lower())
        elif kind == "AlterTableStmt" and any(c.subtype.name == "AT_ValidateConstraint" for c in node.cmds or ()):
            self.validated_tables.add(getattr(node.relation, "relname", "").lower())


def is_concurrent(node) -> bool:
    """Return whether *node* is a CONCURRENTLY statement (it cannot run in a transaction block)."""
    kind = type(node).__name__
    if kind in ("IndexStmt", "DropStmt"):
        return bool(getattr(node, "concurrent", False))
    if kind == "ReindexStmt":
        return any(getattr(p, "defname", "") == "concurrently" for p in node.params or ())
    return False


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
    if kind == "DropStmt" and _object(node.removeType) == "table":
        names = [_last(obj) for obj in node.objects or ()]
        return next((n for n in names if n and n.lower() not in context.created_tables), None)
    return None


def dangers(node, context: LockContext) -> list[Danger]:
    """Return the lock dangers of one statement, given what the migration did before it."""
    kind = type(node).__name__
    check = _CHECKS.get(kind)
    return check(node, context) if check is not None else []


def _object(object_type) -> str:
    return getattr(object_type, "name", str(object_type)).removeprefix("OBJECT_").lower()


def _last(names) -> str | None:
    if isinstance(names, tuple) and names:
        return getattr(names[-1], "sval", None)
    return getattr(names, "sval", None)


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
    what = _object(node.removeType)
    names = [n for n in (_last(obj) for obj in node.objects or ()) if n]
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
    if is_concurrent(node):
        return []
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
        elif subtype == "AT_SetNotNull":
            if context.postgres_version < 12 or table.lower() not in context.validated_tables:
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
    kind = _object(constraint.contype).removeprefix("constr_")
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
    if kind in ("foreign", "check") and not constraint.skip_validation:
        what = "FOREIGN KEY" if kind == "foreign" else "CHECK"
        lock = "SHARE ROW EXCLUSIVE locks on both tables" if kind == "foreign" else "an ACCESS EXCLUSIVE lock"
        return [
            Danger(
                "LB504",
                f"ALTER TABLE {table} ADD {what} without NOT VALID scans the whole table under {lock}",
                f"ADD CONSTRAINT {name} ... NOT VALID, then in a separate transaction "
                f"ALTER TABLE {table} VALIDATE CONSTRAINT {name} (which takes a weaker lock)",
            )
        ]
    return []


def _set_not_null(table: str, column: str, context: LockContext) -> Danger:
    if context.postgres_version >= 12:
        hint = (
            f"ADD CONSTRAINT {column}_not_null CHECK ({column} IS NOT NULL) NOT VALID; VALIDATE "
            f"CONSTRAINT {column}_not_null; then SET NOT NULL (no scan: PostgreSQL 12+ uses the "
            "validated check) and drop the check"
        )
    else:
        hint = (
            f"on PostgreSQL {context.postgres_version}, keep a validated CHECK ({column} IS NOT NULL) "
            "instead (ADD ... NOT VALID, then VALIDATE); SET NOT NULL always scans before 12"
        )
    return Danger(
        "LB505",
        f"ALTER TABLE {table} ALTER COLUMN {column} SET NOT NULL scans the whole table under an ACCESS EXCLUSIVE lock",
        hint,
    )


def _add_column(table: str, column, context: LockContext) -> list[Danger]:
    name = getattr(column, "colname", "?")
    constraints = list(getattr(column, "constraints", None) or ())
    kinds = {_object(c.contype).removeprefix("constr_") for c in constraints}
    default = next((c.raw_expr for c in constraints if _object(c.contype) == "constr_default"), None)
    type_name = _last(getattr(column.typeName, "names", ())) or ""
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
    elif default is not None and (context.postgres_version < 11 or _volatile(default)):
        why = (
            "a volatile default"
            if _volatile(default)
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
                f"add the column plain, then ADD CONSTRAINT ... FOREIGN KEY ({name}) ... NOT VALID and "
                "VALIDATE CONSTRAINT in a separate statement",
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
    if "notnull" in kinds and default is None and "identity" not in kinds and type_name.lower() not in SERIAL_TYPES:
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
    return any(_object(c.contype) == "constr_generated" for c in constraints)


def _volatile(expr) -> bool:
    """Return whether a DEFAULT expression calls a volatile function (so every row differs)."""
    stack = [expr]
    while stack:
        node = stack.pop()
        if type(node).__name__ == "FuncCall" and (_last(node.funcname) or "").lower() in VOLATILE_FUNCTIONS:
            return True
        if isinstance(node, tuple):
            stack.extend(node)
        elif hasattr(node, "__slots__"):
            stack.extend(
                v
                for v in (getattr(node, s, None) for s in _slots(node))
                if v is not None and not isinstance(v, (str, int, float, bool))
            )
    return False


def _slots(node) -> list[str]:
    slots = getattr(node, "__slots__", ())
    return list(slots.keys() if isinstance(slots, dict) else slots)


def _rename(node, context: LockContext) -> list[Danger]:
    what = _object(node.renameType)
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


def _vacuum(node, context: LockContext) -> list[Danger]:
    if not any(getattr(o, "defname", "") == "full" for o in node.options or ()):
        return []
    return [
        Danger(
            "LB511",
            "VACUUM FULL rewrites the table under an ACCESS EXCLUSIVE lock: reads and writes wait "
            "for the whole rewrite",
            "use plain VACUUM (ANALYZE), or pg_repack / pg_squeeze outside the migration",
        )
    ]


def _cluster(node, context: LockContext) -> list[Danger]:
    target = getattr(node.relation, "relname", None) or "the database"
    return [
        Danger(
            "LB511",
            f"CLUSTER {target} rewrites the table under an ACCESS EXCLUSIVE lock: reads and writes "
            "wait for the whole rewrite",
            "use pg_repack (--order-by) outside the migration",
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


_CHECKS = {
    "IndexStmt": _index,
    "DropStmt": _drop,
    "ReindexStmt": _reindex,
    "AlterTableStmt": _alter_table,
    "RenameStmt": _rename,
    "VacuumStmt": _vacuum,
    "ClusterStmt": _cluster,
    "LockStmt": _lock,
}
