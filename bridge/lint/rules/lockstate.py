"""What a migration did before a statement, as the lock rules need it (`LockContext`).

Tables and indexes it created (not busy tables), the constraints it added and
validated (a validated ``CHECK (col IS NOT NULL)`` proves ``col``; a NOT VALID
one must be validated in another transaction), which transaction each statement
runs in, and whether a ``SET lock_timeout`` ran. Plus the small readers of
pglast nodes the rules share.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_POSTGRES_VERSION = 16


@dataclass
class LockContext:
    """What the migration did before a statement: tables created (lower-case), the server version."""

    postgres_version: int = DEFAULT_POSTGRES_VERSION
    created_tables: set[str] = field(default_factory=set)
    created_indexes: set[str] = field(default_factory=set)
    # (table, column) with a validated CHECK (column IS NOT NULL): SET NOT NULL needs no scan (12+)
    validated_columns: set[tuple[str, str]] = field(default_factory=set)
    not_null_checks: dict[tuple[str, str], str] = field(default_factory=dict)  # (table, constraint) -> column
    not_valid: dict[tuple[str, str], int] = field(default_factory=dict)  # (table, constraint) -> its transaction
    added: set[tuple[str, str]] = field(default_factory=set)  # (table, constraint) this migration added
    # existing table -> the transaction whose ALTER TABLE / CREATE INDEX locked it (held until it ends)
    locked: dict[str, int] = field(default_factory=dict)
    transaction: int = 0  # which transaction the next statement runs in (`begin_statement`)
    lock_timeout: bool = False  # a `SET lock_timeout` to a non-zero value ran before
    _autocommitted: bool = False

    def begin_statement(self, autocommit: bool) -> None:
        """Move to the transaction the next statement runs in.

        Under the bridge every statement of a migration shares its one transaction
        (a legacy ``engine.begin()`` block is a SAVEPOINT in it), except an AUTOCOMMIT
        statement (an AUTOCOMMIT connection, Alembic's ``autocommit_block()``): the
        work before it is committed, it runs alone, and a new transaction follows.
        """
        if autocommit or self._autocommitted:
            self.transaction += 1
        self._autocommitted = autocommit

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
        elif kind == "IndexStmt":
            if node.idxname:
                self.created_indexes.add(node.idxname.lower())
            if not node.concurrent and self.existing(node.relation):
                self.locked[node.relation.relname.lower()] = self.transaction  # SHARE: writes wait
        elif kind == "AlterTableStmt":
            table = getattr(node.relation, "relname", "").lower()
            self._record_alter(table, node.cmds or ())
            weak = {"AT_ValidateConstraint", "AT_SetStatistics", "AT_SetOptions", "AT_ResetOptions"}
            if self.existing(node.relation) and any(c.subtype.name not in weak for c in node.cmds or ()):
                self.locked[table] = self.transaction
        elif kind == "VariableSetStmt" and (node.name or "").lower() == "lock_timeout":
            self.lock_timeout = _set_value(node) not in ("0", "", None)

    def _record_alter(self, table: str, cmds) -> None:
        for cmd in cmds:
            subtype = cmd.subtype.name
            if subtype == "AT_AddConstraint" and cmd.def_ is not None and cmd.def_.conname:
                self.record_constraint(
                    table,
                    cmd.def_.conname,
                    _not_null_column(cmd.def_.raw_expr) if contype(cmd.def_) == "check" else None,
                    not_valid=bool(cmd.def_.skip_validation),
                )
            elif subtype == "AT_ValidateConstraint" and cmd.name:
                self.record_validate(table, cmd.name)

    def record_constraint(self, table: str, name: str, not_null_column: str | None, not_valid: bool) -> None:
        """Remember a constraint added to *table* (``not_null_column``: it is CHECK (column IS NOT NULL))."""
        key = (table.lower(), name.lower())
        self.added.add(key)
        if not_valid:
            self.not_valid[key] = self.transaction
        if not_null_column is not None:
            self.not_null_checks[key] = not_null_column.lower()
            if not not_valid:
                self.validated_columns.add((key[0], not_null_column.lower()))

    def record_validate(self, table: str, name: str) -> None:
        """Remember ``VALIDATE CONSTRAINT name`` on *table*.

        A constraint this file did not add was added by an earlier migration (the
        recommended split): it may be the CHECK (col IS NOT NULL) a SET NOT NULL
        relies on, so the table's columns are trusted, as Squawk does.
        """
        key = (table.lower(), name.lower())
        if key in self.not_null_checks:
            self.validated_columns.add((key[0], self.not_null_checks[key]))
        elif key not in self.added:
            self.validated_columns.add((key[0], "*"))

    def validated_in_same_transaction(self, table: str, name: str) -> bool:
        """Return whether ``VALIDATE CONSTRAINT name`` would share the transaction of its ADD ... NOT VALID."""
        return self.not_valid.get((table.lower(), name.lower())) == self.transaction

    def holds_lock(self, relation) -> bool:
        """Return whether this transaction altered or indexed *relation* earlier: its lock is still held."""
        name = getattr(relation, "relname", None)
        return name is not None and self.locked.get(name.lower()) == self.transaction

    def not_null_proven(self, table: str, column: str) -> bool:
        """Return whether SET NOT NULL on *column* needs no scan (a validated CHECK covers it, 12+)."""
        table = table.lower()
        proven = (table, column.lower()) in self.validated_columns or (table, "*") in self.validated_columns
        return self.postgres_version >= 12 and proven


def is_concurrent(node) -> bool:
    """Return whether *node* is a CONCURRENTLY statement (it cannot run in a transaction block)."""
    kind = type(node).__name__
    if kind in ("IndexStmt", "DropStmt"):
        return bool(getattr(node, "concurrent", False))
    if kind == "ReindexStmt":
        return option_on(node.params, "concurrently")
    return False


def option_on(options, name: str) -> bool:
    """Return whether a parenthesised option list turns *name* on (``(FULL)``, ``(FULL true)``, not ``(FULL false)``)."""
    for option in options or ():
        if getattr(option, "defname", "") == name:
            arg = getattr(option, "arg", None)
            value = getattr(arg, "sval", None) or getattr(arg, "boolval", None) or getattr(arg, "ival", None)
            return arg is None or str(value).lower() in ("true", "on", "1", "yes")
    return False


def _set_value(node) -> str | None:
    args = node.args or ()
    if not args:
        return None
    val = getattr(args[0], "val", None)
    value = getattr(val, "sval", None) if getattr(val, "sval", None) is not None else getattr(val, "ival", None)
    return None if value is None else str(value).strip()


def contype(constraint) -> str:
    return object_kind(constraint.contype).removeprefix("constr_")


def _not_null_column(expr) -> str | None:
    """Return the column of a ``CHECK (column IS NOT NULL)`` expression, else None."""
    if type(expr).__name__ != "NullTest" or expr.nulltesttype.name != "IS_NOT_NULL":
        return None
    fields = getattr(expr.arg, "fields", None) or ()
    return getattr(fields[-1], "sval", None) if fields else None


def object_kind(object_type) -> str:
    return getattr(object_type, "name", str(object_type)).removeprefix("OBJECT_").lower()


def last_name(names) -> str | None:
    if isinstance(names, tuple) and names:
        return getattr(names[-1], "sval", None)
    return getattr(names, "sval", None)
