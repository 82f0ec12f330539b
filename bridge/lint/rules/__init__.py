"""The rules behind ``alembic-bridge lint``: the catalog, and the checks that implement it.

`catalog` defines each rule (code, severity, documentation, examples);
`checks` runs them over one file, using `pysource` (the Python side: names and
constant strings), `sqlcheck` (the SQL side, via pglast and `bridge.sqltext`) and `flow` (paths
through a function, for commits and rollbacks).
"""
