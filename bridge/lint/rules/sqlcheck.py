"""What the linter knows about SQL text, from PostgreSQL's own parser (pglast).

Nothing here sees Python: callers hand in the text of one SQL string and get
back its statements, which DDL would fail on a second run, and which objects
they drop with ``IF EXISTS`` (a drop-then-create pair is idempotent). Whether
SQL only reads is `bridge.sqltext.is_read_only`'s answer, the same the engine
proxy gives at run time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ... import sqltext

_CATALOG = re.compile(
    r"\b(?:information_schema|pg_catalog|pg_[a-z_]+|to_reg(?:class|type|proc|procedure|namespace|role|collation|oper|operator))\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Statement:
    """One parsed statement and the offset of its first token in the original text."""

    node: object
    offset: int


@dataclass(frozen=True)
class ParseFailure:
    """PostgreSQL's parser rejected the text."""

    message: str
    offset: int | None


@dataclass(frozen=True)
class Issue:
    """A statement that fails when run a second time, and what would make it safe."""

    message: str
    hint: str
    key: tuple | None = None  # the object created, to match an earlier DROP ... IF EXISTS
    name: str | None = None  # the object an existence check must mention to guard it
    table: str | None = None  # an index's or constraint's table: a check on the table guards it too

    @property
    def subject(self) -> str | None:
        """Return the object's unqualified name, lower-cased, if known."""
        name = self.name or (self.key[-1] if self.key else None)
        return name.rsplit(".", 1)[-1].lower() if name else None


def parse(sql: str, style: str) -> list[Statement] | ParseFailure:
    """Parse *sql*; return its statements, or the parser's complaint."""
    from pglast import parse_sql
    from pglast.parser import ParseError

    text = sqltext.with_positional_params(sql, style)
    try:
        raws = parse_sql(text)
    except ParseError as err:
        message = str(err.args[0]) if err.args else str(err)
        offset = err.args[1] if len(err.args) > 1 and isinstance(err.args[1], int) else None
        return ParseFailure(message, offset)
    statements = []
    for raw in raws:
        start = raw.stmt_location or 0
        statements.append(Statement(raw.stmt, sqltext.skip_noise(text, start)))
    return statements


def reads_catalog(sql: str) -> bool:
    """Return whether *sql* mentions the system catalogs (an existence check)."""
    return _CATALOG.search(sql) is not None


# -- idempotency ----------------------------------------------------------------------


def _last(names) -> str | None:
    """Return the unqualified name from a qualified-name tuple of String nodes."""
    if not names:
        return None
    last = names[-1]
    return getattr(last, "sval", None)


def _rangevar(rv) -> str:
    if rv is None:
        return "?"
    schema = getattr(rv, "schemaname", None)
    return f"{schema}.{rv.relname}" if schema else rv.relname


def _key(kind: str, *names) -> tuple:
    return (kind, *(str(n).lower() for n in names))


def _object_kind(object_type) -> str:
    name = getattr(object_type, "name", str(object_type))
    return name.removeprefix("OBJECT_").lower().replace("_", " ")


def _drop_object_name(obj) -> str | None:
    kind = type(obj).__name__
    if kind == "TypeName":
        return _last(obj.names)
    if kind == "ObjectWithArgs":
        return _last(obj.objname)
    if kind == "String":
        return obj.sval
    if isinstance(obj, tuple):
        return _last(obj)
    return None


def _drop_kind(object_type) -> str:
    kind = _object_kind(object_type)
    return "function" if kind in ("procedure", "routine") else kind


def dropped_if_exists(node) -> list[tuple]:
    """Return the keys of objects *node* drops with IF EXISTS (or drops columns/constraints so)."""
    kind = type(node).__name__
    keys = []
    if kind == "DropStmt" and node.missing_ok:
        for obj in node.objects or ():
            name = _drop_object_name(obj)
            if name:
                keys.append(_key(_drop_kind(node.removeType), name))
    elif kind == "AlterTableStmt":
        table = getattr(node.relation, "relname", "?")
        for cmd in node.cmds or ():
            subtype = cmd.subtype.name
            if subtype == "AT_DropConstraint" and cmd.missing_ok:
                keys.append(_key("constraint", cmd.name))
            elif subtype == "AT_DropColumn" and cmd.missing_ok:
                keys.append(_key("column", table, cmd.name))
    return keys


_TYPE_STATEMENTS = {
    "CreateEnumStmt": ("TYPE", lambda n: _last(n.typeName)),
    "CompositeTypeStmt": ("TYPE", lambda n: n.typevar.relname),
    "CreateRangeStmt": ("TYPE", lambda n: _last(n.typeName)),
    "CreateDomainStmt": ("DOMAIN", lambda n: _last(n.domainname)),
}


def idempotency_issues(node) -> list[Issue]:
    """Return why *node* would fail (or change the schema again) when run a second time."""
    kind = type(node).__name__
    handler = _HANDLERS.get(kind)
    if handler is not None:
        return handler(node)
    if kind in _TYPE_STATEMENTS:
        what, name_of = _TYPE_STATEMENTS[kind]
        name = name_of(node)
        return [
            Issue(
                f"CREATE {what} {name} fails when the {what.lower()} exists "
                "(PostgreSQL has no CREATE TYPE IF NOT EXISTS)",
                f"create it inside a DO $$ ... $$ block that first checks pg_type for '{name}', "
                "or check pg_type in Python and skip",
                _key("type" if what == "TYPE" else "domain", name),
            )
        ]
    if kind.startswith("Drop") and getattr(node, "missing_ok", True) is False:
        what = kind.removeprefix("Drop").removesuffix("Stmt").upper()
        return [Issue(f"DROP {what} has no IF EXISTS", f"write DROP {what} IF EXISTS ...")]
    if kind.startswith("Create") and getattr(node, "if_not_exists", True) is False:
        what = kind.removeprefix("Create").removesuffix("Stmt").upper()
        return [Issue(f"CREATE {what} has no IF NOT EXISTS", f"write CREATE {what} IF NOT EXISTS ...")]
    return []


def _alter_table(node) -> list[Issue]:
    table = _rangevar(node.relation)
    relname = getattr(node.relation, "relname", "?")
    issues = []
    for cmd in node.cmds or ():
        subtype = cmd.subtype.name
        if subtype == "AT_AddColumn" and not cmd.missing_ok:
            column = getattr(cmd.def_, "colname", "?")
            issues.append(
                Issue(
                    f"ALTER TABLE {table} ADD COLUMN {column} has no IF NOT EXISTS",
                    f"write ADD COLUMN IF NOT EXISTS {column} ...",
                    _key("column", relname, column),
                )
            )
        elif subtype == "AT_DropColumn" and not cmd.missing_ok:
            issues.append(
                Issue(
                    f"ALTER TABLE {table} DROP COLUMN {cmd.name} has no IF EXISTS",
                    f"write DROP COLUMN IF EXISTS {cmd.name}",
                    name=cmd.name,
                )
            )
        elif subtype == "AT_AddConstraint":
            constraint = cmd.def_
            name = getattr(constraint, "conname", None)
            what = _object_kind(constraint.contype).removeprefix("constr ").upper() if constraint else ""
            what = {"PRIMARY": "PRIMARY KEY", "FOREIGN": "FOREIGN KEY"}.get(what, what)
            if name:
                issues.append(
                    Issue(
                        f"ALTER TABLE {table} ADD CONSTRAINT {name} fails when the constraint exists "
                        "(PostgreSQL has no ADD CONSTRAINT IF NOT EXISTS)",
                        f"drop it first with ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {name}, "
                        "or check pg_constraint before adding it",
                        _key("constraint", name),
                        table=relname,
                    )
                )
            else:
                issues.append(
                    Issue(
                        f"ALTER TABLE {table} ADD {what} without a constraint name fails or adds a "
                        "duplicate on a second run",
                        "name the constraint, and drop it first with DROP CONSTRAINT IF EXISTS "
                        "(or check pg_constraint before adding it)",
                        table=relname,
                    )
                )
        elif subtype == "AT_DropConstraint" and not cmd.missing_ok:
            issues.append(
                Issue(
                    f"ALTER TABLE {table} DROP CONSTRAINT {cmd.name} has no IF EXISTS",
                    f"write DROP CONSTRAINT IF EXISTS {cmd.name}",
                    name=cmd.name,
                )
            )
    return issues


def _rename(node) -> list[Issue]:
    if node.missing_ok and not getattr(node, "subname", None):
        return []  # ALTER TABLE IF EXISTS old RENAME TO new: a second run finds no `old`
    target = _object_kind(node.renameType).upper()
    old = (
        getattr(node, "subname", None)
        or getattr(getattr(node, "relation", None), "relname", None)
        or _drop_object_name(getattr(node, "object", None))
    )
    return [
        Issue(
            f"RENAME {target} {old or ''} to {node.newname} fails when run again (the old name is gone)".replace(
                "  ", " "
            ),
            "check information_schema / pg_catalog for the old name first and skip when it is already renamed",
            name=old,
        )
    ]


def _simple(what: str, name_of, clause: str, flag: str, kind: str, fix: str):
    def check(node) -> list[Issue]:
        if getattr(node, flag, False):
            return []
        name = name_of(node)
        key = _key(kind, name.rsplit(".", 1)[-1])
        return [Issue(f"{what} {name} has no {clause}", fix.format(name=name), key)]

    return check


def _create_index(node) -> list[Issue]:
    if node.if_not_exists:
        return []
    if not node.idxname:
        return [
            Issue(
                f"CREATE INDEX on {_rangevar(node.relation)} without a name adds another index on every run",
                "name the index and write CREATE INDEX IF NOT EXISTS <name> ...",
                table=getattr(node.relation, "relname", None),
            )
        ]
    return [
        Issue(
            f"CREATE INDEX {node.idxname} has no IF NOT EXISTS",
            f"write CREATE {'UNIQUE ' if node.unique else ''}INDEX IF NOT EXISTS {node.idxname} ...",
            _key("index", node.idxname),
            table=getattr(node.relation, "relname", None),
        )
    ]


def _create_table(node) -> list[Issue]:
    if node.if_not_exists or getattr(node.relation, "relpersistence", "p") == "t":
        return []
    name = _rangevar(node.relation)
    return [
        Issue(
            f"CREATE TABLE {name} has no IF NOT EXISTS",
            f"write CREATE TABLE IF NOT EXISTS {name} (...)",
            _key("table", node.relation.relname),
        )
    ]


def _create_table_as(node) -> list[Issue]:
    if node.if_not_exists or getattr(node, "is_select_into", False):
        return []
    rel = node.into.rel
    what = "MATERIALIZED VIEW" if _object_kind(node.objtype) == "matview" else "TABLE"
    return [
        Issue(
            f"CREATE {what} {_rangevar(rel)} has no IF NOT EXISTS",
            f"write CREATE {what} IF NOT EXISTS {_rangevar(rel)} AS ...",
            _key("matview" if what != "TABLE" else "table", rel.relname),
        )
    ]


def _create_function(node) -> list[Issue]:
    if node.replace:
        return []
    what = "PROCEDURE" if node.is_procedure else "FUNCTION"
    name = _last(node.funcname)
    return [
        Issue(
            f"CREATE {what} {name} fails when it exists",
            f"write CREATE OR REPLACE {what} {name}(...)",
            _key("function", name),
        )
    ]


def _create_trigger(node) -> list[Issue]:
    if node.replace:
        return []
    table = _rangevar(node.relation)
    return [
        Issue(
            f"CREATE TRIGGER {node.trigname} fails when the trigger exists",
            f"run DROP TRIGGER IF EXISTS {node.trigname} ON {table} first "
            "(or CREATE OR REPLACE TRIGGER on PostgreSQL 14+)",
            _key("trigger", node.trigname),
            table=getattr(node.relation, "relname", None),
        )
    ]


def _create_view(node) -> list[Issue]:
    if node.replace:
        return []
    name = _rangevar(node.view)
    return [
        Issue(
            f"CREATE VIEW {name} fails when the view exists",
            f"write CREATE OR REPLACE VIEW {name} AS ...",
            _key("view", node.view.relname),
        )
    ]


def _create_policy(node) -> list[Issue]:
    table = _rangevar(node.table)
    return [
        Issue(
            f"CREATE POLICY {node.policy_name} fails when the policy exists "
            "(PostgreSQL has no CREATE POLICY IF NOT EXISTS)",
            f"run DROP POLICY IF EXISTS {node.policy_name} ON {table} first",
            _key("policy", node.policy_name),
            table=getattr(node.table, "relname", None),
        )
    ]


def _create_role(node) -> list[Issue]:
    return [
        Issue(
            f"CREATE ROLE {node.role} fails when the role exists",
            "check pg_roles first (roles are cluster-wide: usually not a migration's job)",
            _key("role", node.role),
        )
    ]


def _create_rule(node) -> list[Issue]:
    if node.replace:
        return []
    return [
        Issue(
            f"CREATE RULE {node.rulename} fails when the rule exists",
            f"write CREATE OR REPLACE RULE {node.rulename} ...",
            _key("rule", node.rulename),
        )
    ]


def _alter_enum(node) -> list[Issue]:
    name = _last(node.typeName)
    if getattr(node, "oldVal", None):
        return [
            Issue(
                f"ALTER TYPE {name} RENAME VALUE '{node.oldVal}' fails when run again",
                f"check pg_enum for the old value of {name} first",
                name=node.oldVal,
            )
        ]
    if node.newVal and not node.skipIfNewValExists:
        return [
            Issue(
                f"ALTER TYPE {name} ADD VALUE '{node.newVal}' has no IF NOT EXISTS",
                f"write ALTER TYPE {name} ADD VALUE IF NOT EXISTS '{node.newVal}'",
                name=node.newVal,
            )
        ]
    return []


def _drop(node) -> list[Issue]:
    if node.missing_ok:
        return []
    what = _object_kind(node.removeType).upper()
    objects = [n for n in (_drop_object_name(obj) for obj in node.objects or ()) if n]
    names = ", ".join(objects) or "?"
    first = objects[0] if objects else None
    return [Issue(f"DROP {what} {names} has no IF EXISTS", f"write DROP {what} IF EXISTS {names}", name=first)]


_HANDLERS = {
    "AlterTableStmt": _alter_table,
    "RenameStmt": _rename,
    "CreateStmt": _create_table,
    "IndexStmt": _create_index,
    "CreateTableAsStmt": _create_table_as,
    "CreateSeqStmt": _simple(
        "CREATE SEQUENCE",
        lambda n: _rangevar(n.sequence),
        "IF NOT EXISTS",
        "if_not_exists",
        "sequence",
        "write CREATE SEQUENCE IF NOT EXISTS {name}",
    ),
    "CreateSchemaStmt": _simple(
        "CREATE SCHEMA",
        lambda n: n.schemaname,
        "IF NOT EXISTS",
        "if_not_exists",
        "schema",
        "write CREATE SCHEMA IF NOT EXISTS {name}",
    ),
    "CreateExtensionStmt": _simple(
        "CREATE EXTENSION",
        lambda n: n.extname,
        "IF NOT EXISTS",
        "if_not_exists",
        "extension",
        "write CREATE EXTENSION IF NOT EXISTS {name}",
    ),
    "CreateFunctionStmt": _create_function,
    "CreateTrigStmt": _create_trigger,
    "ViewStmt": _create_view,
    "CreatePolicyStmt": _create_policy,
    "CreateRoleStmt": _create_role,
    "RuleStmt": _create_rule,
    "AlterEnumStmt": _alter_enum,
    "DropStmt": _drop,
}
