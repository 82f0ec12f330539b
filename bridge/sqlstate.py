"""PostgreSQL's SQLSTATE codes the bridge acts on, how to read one off any error, and its message.

One place for both: the executor's messages (`bridge.executor`), the retries
(`bridge.steps`) and the ledger's own insert errors (`bridge.ledger`) all ask
`of` for the code, through psycopg2's ``pgcode`` or psycopg 3's ``sqlstate``,
following an exception's causes to the database error behind it.
"""

from __future__ import annotations

from sqlalchemy import exc

LOCK_NOT_AVAILABLE = "55P03"  # lock_timeout, NOWAIT
DEADLOCK_DETECTED = "40P01"
SERIALIZATION_FAILURE = "40001"
QUERY_CANCELED = "57014"  # statement_timeout, pg_cancel_backend()
NOT_NULL_VIOLATION = "23502"
STRING_TOO_LONG = "22001"
IN_FAILED_SQL_TRANSACTION = "25P02"  # "current transaction is aborted": an earlier error was caught


def of(err: BaseException | None) -> str | None:
    """Return the SQLSTATE of the database error *err* is or was caused by, if any."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, exc.DBAPIError) and err.orig is not None:
            orig = err.orig
            return getattr(orig, "pgcode", None) or getattr(orig, "sqlstate", None)  # psycopg2, psycopg
        err = err.__cause__ or err.__context__
    return None


def words(err: BaseException) -> str:
    """Return the database's message behind *err* (the driver's, else *err*'s own), on one line."""
    orig = getattr(err, "orig", None)
    return " ".join(str(orig if orig is not None else err).split())
