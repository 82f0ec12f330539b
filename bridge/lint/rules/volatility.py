"""Does an expression call a volatile function? From a table of PostgreSQL's built-ins (``provolatile``).

The table, bridge/lint/rules/pg_volatility.txt, is generated from a real
server's pg_proc by bench/pg_volatility.py, and read on first use. A call is
non-volatile only when every built-in overload taking that many arguments is
immutable or stable; a function the table does not list (``uuid()``, the
application's own, ``now(123)``) counts as volatile.
"""

from __future__ import annotations

import functools

VOLATILITY_TABLE = "pg_volatility.txt"  # generated from pg_proc by bench/pg_volatility.py


def volatile_expression(expr) -> bool:
    """Return whether a DEFAULT expression calls a volatile function (so every row differs).

    A call counts as volatile unless PostgreSQL's own catalog says every built-in
    overload taking that many arguments is immutable or stable (`volatile_call`).
    """
    stack = [expr]
    while stack:
        node = stack.pop()
        if type(node).__name__ == "FuncCall":
            names = [getattr(n, "sval", "") for n in node.funcname or ()]
            if len(names) > 1 and names[0].lower() != "pg_catalog":
                return True  # a function in the application's schema: not known
            if volatile_call(names[-1] if names else "", len(node.args or ())):
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


def default_is_volatile(sql: str) -> bool:
    """Return whether a DEFAULT expression written as SQL text calls a volatile or unknown function."""
    import pglast

    try:
        (statement,) = pglast.parse_sql(f"SELECT ({sql})")
    except Exception:  # not an expression the linter can read: assume the worst
        return True
    return volatile_expression(getattr(statement.stmt, "targetList", None))


def volatile_call(name: str, arguments: int) -> bool:
    """Return whether calling *name* with that many arguments may be volatile (unknown: yes)."""
    exact, variadic = _non_volatile()
    name = name.lower()
    if f"{name}/{arguments}" in exact:
        return False
    least = variadic.get(name)
    return least is None or arguments < least


@functools.cache
def _non_volatile() -> tuple[frozenset[str], dict[str, int]]:
    from importlib import resources

    text = (resources.files(__package__) / VOLATILITY_TABLE).read_text(encoding="utf-8")
    exact: set[str] = set()
    variadic: dict[str, int] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, count = line.rpartition("/")
            if count.endswith("+"):
                variadic[name] = min(int(count[:-1]), variadic.get(name, 1 << 30))
            else:
                exact.add(line)
    return frozenset(exact), variadic


def _slots(node) -> list[str]:
    slots = getattr(node, "__slots__", ())
    return list(slots.keys() if isinstance(slots, dict) else slots)
