"""One file through every rule: its name, its syntax, then each family of code rules.

The families: the legacy checklist (`checks.FileChecker`), runtime refusals
and SQLAlchemy 1.x idioms (`compat`), names pinned to ``public`` (`tenancy`), and the lock dangers (`lockcheck`, only
when `RuleOptions.lock_rules` is on). A native Alembic revision gets only the
lock dangers of its ``op.*`` calls (`native`). The file is never imported or run.
"""

from __future__ import annotations

from pathlib import PurePath

from . import checks
from .checks import Finding
from .compat import check_compat
from .lockcheck import check_locks
from .native import check_native
from .pysource import SourceFile
from .rule import RuleOptions
from .tenancy import check_tenancy


def check_file(source: str, filename: str, options: RuleOptions | None = None) -> list[Finding]:
    """Return every finding in one file (the name, then the code), before selection and noqa."""
    options = options or RuleOptions()
    name = PurePath(filename).name
    try:
        src = SourceFile(source, filename)
    except SyntaxError as err:
        line = err.lineno or 1
        return checks.check_filename(name) + [
            Finding("LB003", line, err.offset or 1, f"file is not valid Python: {err.msg}")
        ]
    except ValueError as err:  # e.g. source with NUL bytes
        return checks.check_filename(name) + [Finding("LB003", 1, 1, f"file is not valid Python: {err}")]
    if checks.is_native_revision(src.tree):
        return check_native(src, options)
    checker = checks.FileChecker(src)
    checker.run()
    check_compat(checker)
    check_tenancy(checker)
    if options.lock_rules:
        check_locks(checker, options)
    return checks.check_filename(name) + checker.findings
