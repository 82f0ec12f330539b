"""Which databases or tenant schemas a fleet run covers, and which of them are this shard's.

A target list comes from exactly one of:

- a file (``--targets FILE``, option ``fleet_targets``): one target a line,
  ``URL`` or ``name URL``, ``#`` comments, ``${VAR}`` taken from the
  environment (and the project's ``.env``) so the file needs no password;
- a query (``--targets-query SQL``, option ``fleet_targets_query``) on the
  configured database, returning rows ``(name, url)``: a tenant registry;
- a glob over the configured database's schemas (``--schemas PATTERN``,
  option ``fleet_schemas``): each matching schema is a tenant with its own
  history tables (see `bridge.context.RunRequest.schema`).

Names are unique: they key the report, and `shard_of` hashes them so that a
target keeps its shard when others are added.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from ..errors import ConfigError
from ..masking import mask_text, mask_url, parse_url, remember_url
from ..settings import FLEET_SCHEMAS_OPTION
from .report import kind_of

OPTIONS = {"targets": "fleet_targets", "query": "fleet_targets_query", "schemas": FLEET_SCHEMAS_OPTION}

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_NAME = re.compile(r"^[A-Za-z0-9_.:@/-]+$")


class TargetsError(ConfigError):
    """A target list is unreadable or names a target twice; the message names the file and line."""


@dataclass(frozen=True)
class Target:
    """One database (a URL) or one tenant schema of the configured database (``url`` None)."""

    name: str
    url: str | None = field(default=None, repr=False)  # may hold a password: show `masked_url`
    schema: str | None = None
    origin: str = "--targets"  # where it was listed ("FILE:LINE", "--targets-query row N"), for messages

    def __post_init__(self) -> None:
        remember_url(self.url)  # no output shows its password, whatever a driver puts in a message

    @property
    def masked_url(self) -> str | None:
        return mask_url(self.url) if self.url is not None else None

    def identity(self) -> dict:
        """Return what names the target in every JSON output: name, kind, masked URL, schema."""
        return {
            "name": self.name,
            "kind": kind_of(self.schema),
            "url": self.masked_url,
            "schema": self.schema,
        }

    def describe(self) -> str:
        """Return the target as a report names it: never a password."""
        if self.schema is not None:
            return f"schema {self.schema}" + (f" of {self.masked_url}" if self.url else "")
        return self.masked_url or self.name


@dataclass(frozen=True)
class Source:
    """Where the target list comes from: exactly one of a file, a query, a schema glob."""

    targets_file: Path | None = None
    query: str | None = None
    schemas: str | None = None
    option: str | None = None  # the [alembic] option it was set by, when no flag gave it

    @property
    def kind(self) -> str:
        return "schemas" if self.schemas else "query" if self.query else "targets"

    @property
    def label(self) -> str:
        """What gave the list, as messages name it: ``--targets-query``, or ``fleet_targets_query``."""
        return self.option or f"--{_flag(self.kind)}"

    @classmethod
    def choose(
        cls, *, targets_file=None, query=None, schemas=None, options: Mapping | None = None, base: Path | None = None
    ) -> Source:
        """Return the one source given on the command line, else the one set in *options* ([alembic])."""
        given = {k: v for k, v in (("targets", targets_file), ("query", query), ("schemas", schemas)) if v}
        if len(given) > 1:
            raise TargetsError(
                f"Give one target list, not {' and '.join('--' + _flag(k) for k in given)}: "
                "--targets FILE, --targets-query SQL or --schemas PATTERN."
            )
        if not given and options:
            given = {k: options[v] for k, v in OPTIONS.items() if options.get(v)}
            if len(given) > 1:
                raise TargetsError(
                    f"The configuration sets {' and '.join(OPTIONS[k] for k in given)}: set only one of "
                    f"{', '.join(OPTIONS.values())} in [alembic] (or pass one on the command line)."
                )
        if not given:
            raise TargetsError(
                "No targets: pass --targets FILE (one URL or `name URL` a line), --targets-query SQL "
                "(rows of name, url) or --schemas PATTERN (e.g. 'tenant_*'), or set one of "
                f"{', '.join(OPTIONS.values())} in the [alembic] section of alembic.ini."
            )
        ((kind, value),) = given.items()
        option = None if (targets_file or query or schemas) else OPTIONS[kind]
        if kind == "targets":
            path = Path(value).expanduser()
            if base is not None and not path.is_absolute() and option:
                path = base / path  # an option is relative to the configuration file
            return cls(targets_file=path, option=option)
        return cls(query=value, option=option) if kind == "query" else cls(schemas=value, option=option)


def _flag(kind: str) -> str:
    return {"targets": "targets", "query": "targets-query", "schemas": "schemas"}[kind]


# -- a targets file --------------------------------------------------------------------------


def read_targets_file(path: Path, environ: Mapping[str, str], given_as: str = "--targets") -> list[Target]:
    """Parse a targets file: ``URL`` or ``name URL`` a line, ``#`` comments, ``${VAR}`` from *environ*."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TargetsError(f"Targets file {path} does not exist. Pass an existing file to {given_as}.") from None
    except (OSError, UnicodeDecodeError) as err:
        raise TargetsError(f"Cannot read targets file {path}: {err}. Make it a readable UTF-8 text file.") from None
    targets = []
    for number, raw in enumerate(text.splitlines(), 1):
        # A '#' in a password must be percent-encoded (%23), as in any URL: it starts a comment.
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        where = f"{path}:{number}"
        parts = line.split()
        if len(parts) > 2:
            raise TargetsError(
                f"{where}: expected `URL` or `name URL`, found {len(parts)} fields. Write one target a "
                "line; percent-encode spaces in a URL (%20)."
            )
        name, url = (None, parts[0]) if len(parts) == 1 else parts
        url = _expand(url, environ, where)
        if "://" not in url:
            raise TargetsError(
                f"{where}: {mask_url(url)} is not a database URL. Write postgresql://user:${{PASSWORD}}@host/db "
                "(or `name URL`)."
            )
        if name is None:
            name = _name_from_url(url, where)
        elif not _NAME.match(name):
            raise TargetsError(f"{where}: the name {name!r} may hold only letters, digits and _ . : @ / -.")
        targets.append((where, Target(name, url, origin=where)))
    return _unique(targets, str(path))


def _expand(text: str, environ: Mapping[str, str], where: str) -> str:
    def value(match: re.Match) -> str:
        name = match.group(1)
        if name not in environ:
            raise TargetsError(
                f"{where}: ${{{name}}} is not set. Export {name} (or put it in .env) before running the fleet."
            )
        return environ[name]

    return _VARIABLE.sub(value, text)


def _name_from_url(url: str, where: str) -> str:
    """Return ``host/database`` of *url*: checked first, so that no part of a password becomes the name."""
    parsed = parse_url(url)
    if parsed is None:
        raise TargetsError(
            f"{where}: {mask_url(url)} cannot be parsed as a database URL. It looks like "
            "postgresql://user:password@host:5432/dbname; percent-encode special characters in the password."
        ) from None
    if not parsed.database:
        raise TargetsError(f"{where}: {mask_url(url)} names no database; write `name URL` to name the target.")
    return parsed.database if not parsed.host else f"{parsed.host}/{parsed.database}"


def _unique(found: list[tuple[str, Target]], source: str) -> list[Target]:
    seen: dict[str, str] = {}
    for where, target in found:
        if target.name in seen:
            raise TargetsError(
                f"{where}: the target {target.name!r} is already named at {seen[target.name]}. Give each target "
                "a unique name (`name URL`): names key the report and pick the shard."
            )
        seen[target.name] = where
    if not found:
        raise TargetsError(f"{source} lists no target. Add one URL or `name URL` a line.")
    return [target for _, target in found]


# -- a query, a schema glob ------------------------------------------------------------------


def query_targets(connection: sa.Connection, sql: str, given_as: str = "--targets-query") -> list[Target]:
    """Run *sql* (the tenant registry) and return its rows ``(name, url)`` as targets."""
    try:
        # As written, to the server: every ':' escaped, so a ':x' in a literal is no bind parameter.
        rows = connection.execute(sa.text(sql.replace(":", "\\:"))).fetchall()
    except sa.exc.StatementError as err:
        reason = " ".join(str(err.orig).split()) if err.orig is not None else str(err)
        raise TargetsError(
            f"{given_as} failed on the configured database: {mask_text(reason)}. It must be a "
            "SELECT returning two columns, name and url."
        ) from None
    found = []
    for number, row in enumerate(rows, 1):
        if len(row) != 2 or not all(isinstance(v, str) and v for v in row):
            raise TargetsError(
                f"{given_as} row {number} has {len(row)} column(s) {_shape(row)}; expected two non-empty "
                "text columns, name and url (SELECT name, url FROM tenants)."
            )
        name, url = row
        where = f"{given_as} row {number}"
        found.append((where, Target(name, url, origin=where)))
    return _unique(found, given_as)


def _shape(row) -> str:
    return "(" + ", ".join(type(v).__name__ for v in row) + ")"


_SCHEMAS = (
    "SELECT nspname FROM pg_catalog.pg_namespace WHERE nspname NOT LIKE 'pg\\_%' "
    "AND nspname <> 'information_schema' ORDER BY nspname"
)


def schema_targets(connection: sa.Connection, pattern: str, given_as: str = "--schemas") -> list[Target]:
    """Return one target per schema of the connected database whose name matches the glob *pattern*."""
    names = [name for (name,) in connection.execute(sa.text(_SCHEMAS)) if fnmatch.fnmatchcase(name, pattern)]
    if not names:
        raise TargetsError(
            f"No schema of the configured database matches {given_as} {pattern!r}. List them with "
            "`\\dn` in psql; the pattern is a glob (tenant_*), matched case-sensitively."
        )
    return [Target(name, schema=name) for name in names]


# -- shards ----------------------------------------------------------------------------------


def shard_of(name: str, shards: int) -> int:
    """Return the shard (0 .. shards-1) of the target *name*: a hash of the name, not its position."""
    digest = hashlib.sha256(name.encode()).digest()
    return int.from_bytes(digest[:8], "big") % shards


def parse_shard(text: str) -> tuple[int, int]:
    """Parse ``I/N`` (0 <= I < N) as given to --shard."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not match or not 0 <= int(match.group(1)) < int(match.group(2)):
        raise TargetsError(
            f"--shard {text!r} is not I/N with 0 <= I < N (e.g. --shard 0/4 ... --shard 3/4; shard indexes "
            "start at 0, like a Kubernetes JOB_COMPLETION_INDEX)."
        )
    return int(match.group(1)), int(match.group(2))


def shard_from_environment(shards: int, environ: Mapping[str, str]) -> tuple[int, int]:
    """Return (I, N) for --shards N, I from ``JOB_COMPLETION_INDEX`` (a Kubernetes Indexed Job)."""
    raw = environ.get("JOB_COMPLETION_INDEX")
    if raw is None:
        raise TargetsError(
            "--shards needs JOB_COMPLETION_INDEX in the environment (Kubernetes sets it in an Indexed Job). "
            "Outside one, pass --shard I/N."
        )
    return parse_shard(f"{raw}/{shards}")


def select_shard(targets: list[Target], index: int, shards: int) -> list[Target]:
    """Return the targets of shard *index* of *shards*, in list order."""
    return [t for t in targets if shard_of(t.name, shards) == index]
