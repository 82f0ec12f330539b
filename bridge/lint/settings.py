"""Which lint rules run where: ``[tool.alembic-bridge.lint]`` in pyproject.toml, and rule selectors.

::

    [tool.alembic-bridge.lint]
    select = ["ALL"]                 # codes or prefixes, e.g. ["LB1", "LB401"]
    ignore = ["LB403"]
    per-file-ignores = { "20240101_*.py" = ["LB401"] }
    severity = { LB510 = "warning", LB5 = "error" }   # per rule or prefix; the most specific wins
    postgres-version = 16            # the server the lock-danger rules judge for
    lock-rules-since = 2025-01-01    # `check --offline`: lock rules for files dated on or after
    small-table-rows = 10000         # `check` online: a lock danger on a smaller table is a warning
"""

from __future__ import annotations

import datetime
import fnmatch
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import ConfigError
from .rules.catalog import ERROR, RULES, RULES_BY_CODE, WARNING
from .rules.lockstate import DEFAULT_POSTGRES_VERSION
from .rules.rule import RuleOptions

PYPROJECT_TABLE = "tool.alembic-bridge.lint"
ALL = "ALL"
# The keys of the table (README's lint settings table lists each); each may be spelled with _ too.
SETTING_KEYS = (
    "select",
    "ignore",
    "per-file-ignores",
    "severity",
    "postgres-version",
    "lock-rules-since",
    "small-table-rows",
)
_SETTING_KEYS = {spelling for key in SETTING_KEYS for spelling in (key, key.replace("-", "_"))}
DEFAULT_SMALL_TABLE_ROWS = 10_000
OLDEST_POSTGRES = 9
NEWEST_POSTGRES = 99  # a sanity bound: a typo (160 for 16) is refused


@dataclass(frozen=True)
class LintSettings:
    """Which rules run where: selectors, ignores and per-file ignores (globs)."""

    select: tuple[str, ...] = (ALL,)
    ignore: tuple[str, ...] = ()
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    root: Path | None = None  # per-file-ignores globs are relative to this folder
    severity: tuple[tuple[str, str], ...] = ()  # (selector, "error" | "warning")
    postgres_version: int = DEFAULT_POSTGRES_VERSION
    lock_rules_since: datetime.date | None = None
    small_table_rows: int = DEFAULT_SMALL_TABLE_ROWS
    rule_options: RuleOptions = RuleOptions()

    def with_options(self, select: Sequence[str] | None, ignore: Sequence[str] | None) -> LintSettings:
        """Return these settings with command-line --select (replaces) and --ignore (adds)."""
        return replace(
            self,
            select=tuple(normalize_selectors(select, "--select")) if select else self.select,
            ignore=self.ignore + tuple(normalize_selectors(ignore or (), "--ignore")),
        )

    def with_rules(
        self, *, lock_rules: bool = True, lock_timeout_configured: bool | None = None, tenant_schemas: bool = False
    ) -> LintSettings:
        """Return these settings with the lock rules on or off, and whether the configuration sets a lock
        timeout and names tenant schemas."""
        options = RuleOptions(lock_rules, self.postgres_version, lock_timeout_configured, tenant_schemas)
        return replace(self, rule_options=options)

    def with_lock_rules(self, on: bool) -> LintSettings:
        """Return these settings with the lock-danger rules on or off (the rest unchanged)."""
        return replace(self, rule_options=replace(self.rule_options, lock_rules=on))

    def severity_of(self, code: str) -> str:
        """Return *code*'s severity: the most specific `severity` entry, else the rule's own
        (its `Rule.tenant_severity` when the configuration names tenant schemas)."""
        rule = RULES_BY_CODE[code]
        own = rule.tenant_severity if self.rule_options.tenant_schemas and rule.tenant_severity else rule.severity
        best, chosen = -1, own
        for selector, level in self.severity:
            specificity = _specificity(code, (selector,))
            if specificity > best:
                best, chosen = specificity, level
        return chosen

    def enabled(self, code: str, path: str | Path | None = None) -> bool:
        """Return whether *code* is reported (for *path*, if given)."""
        ignore = self.ignore
        if path is not None and self.per_file_ignores:
            ignore = ignore + self._file_ignores(Path(path))
        chosen = _specificity(code, self.select)
        if not RULES_BY_CODE[code].default_enabled and chosen <= 0:
            return False  # an opt-in rule: ALL does not select it, its code or a prefix of it does
        return chosen >= 0 and chosen > _specificity(code, ignore)

    def _file_ignores(self, path: Path) -> tuple[str, ...]:
        candidates = {path.name, path.as_posix()}
        try:
            base = (self.root or Path.cwd()).resolve()
            candidates.add(path.resolve().relative_to(base).as_posix())
        except (ValueError, OSError):
            pass
        codes: tuple[str, ...] = ()
        for pattern, pattern_codes in self.per_file_ignores:
            if any(fnmatch.fnmatch(candidate, pattern) for candidate in candidates):
                codes += pattern_codes
        return codes


def _specificity(code: str, selectors: Iterable[str]) -> int:
    best = -1
    for selector in selectors:
        if selector == ALL:
            best = max(best, 0)
        elif code.startswith(selector):
            best = max(best, len(selector))
    return best


def normalize_selectors(values: Iterable[str], where: str) -> list[str]:
    """Split comma-separated rule selectors, upper-case them, and reject unknown ones."""
    selectors = []
    for value in values:
        for part in re.split(r"[,\s]+", str(value)):
            part = part.strip().upper()
            if not part:
                continue
            if part != ALL and not any(rule.code.startswith(part) for rule in RULES):
                known = ", ".join(rule.code for rule in RULES)
                raise ConfigError(
                    f"{where}: {part!r} matches no lint rule. Use a code or a prefix of one ({known}), or ALL."
                )
            selectors.append(part)
    return selectors


def load_settings(pyproject: Path | str | None) -> LintSettings:
    """Read ``[tool.alembic-bridge.lint]`` from *pyproject* (defaults if absent)."""
    if pyproject is None:
        return LintSettings()
    pyproject = Path(pyproject)
    if not pyproject.is_file():
        return LintSettings()
    text = pyproject.read_text(encoding="utf-8")
    if "alembic-bridge" not in text:
        return LintSettings(root=pyproject.resolve().parent)
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        try:
            # tomli is there only where it is needed (3.10), not in every environment mypy runs in.
            import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]
        except ImportError:
            raise ConfigError(
                f"{pyproject} configures alembic-bridge, but reading TOML on this Python "
                "needs the package tomli: pip install tomli"
            ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{pyproject} is not valid TOML: {err}") from None
    table = data.get("tool", {}).get("alembic-bridge", {}).get("lint", {})
    where = f"[{PYPROJECT_TABLE}] in {pyproject}"
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table.")
    unknown = sorted(set(table) - _SETTING_KEYS)
    if unknown:
        raise ConfigError(f"{where} has unknown key(s) {', '.join(unknown)}; the keys are {', '.join(SETTING_KEYS)}.")

    def codes(key: str, value) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f'{where}: {key} = {value!r} is not a list of rule codes; write e.g. ["LB403"].')
        return tuple(normalize_selectors(value, f"{key} in {where}"))

    per_file = table.get("per-file-ignores", table.get("per_file_ignores", {}))
    if not isinstance(per_file, dict):
        raise ConfigError(
            f"{where}: per-file-ignores = {per_file!r} does not map file globs to lists of codes; "
            'write e.g. { "20240101_*.py" = ["LB401"] }.'
        )
    severity = table.get("severity", {})
    bad = (
        [(k, v) for k, v in severity.items() if v not in (ERROR, WARNING)]
        if isinstance(severity, dict)
        else [("severity", severity)]
    )
    if bad:
        key, value = bad[0]
        raise ConfigError(
            f"{where}: severity {key} = {value!r} is not allowed: severity must map rule codes to "
            f'"error" or "warning", e.g. {{ LB510 = "warning" }}.'
        )
    version = table.get("postgres-version", table.get("postgres_version", DEFAULT_POSTGRES_VERSION))
    if isinstance(version, str) and version.isascii() and version.isdigit():  # "¹⁶" is digits to isdigit()
        version = int(version)
    if not isinstance(version, int) or isinstance(version, bool) or not OLDEST_POSTGRES <= version <= NEWEST_POSTGRES:
        raise ConfigError(
            f"{where}: postgres-version = {version!r} is not a PostgreSQL major version "
            f"({OLDEST_POSTGRES} to {NEWEST_POSTGRES}); write e.g. postgres-version = 16."
        )
    raw_since = since = table.get("lock-rules-since", table.get("lock_rules_since"))
    if isinstance(since, str):
        try:
            since = datetime.date.fromisoformat(since)
        except ValueError:
            since = raw_since
    if isinstance(since, datetime.datetime) or (since is not None and not isinstance(since, datetime.date)):
        raise ConfigError(
            f"{where}: lock-rules-since = {raw_since!r} is not a date; write e.g. lock-rules-since = 2025-01-01."
        )
    small = table.get("small-table-rows", table.get("small_table_rows", DEFAULT_SMALL_TABLE_ROWS))
    if not isinstance(small, int) or isinstance(small, bool) or small < 0:
        raise ConfigError(
            f"{where}: small-table-rows = {small!r} is not a whole number of rows (0 or more); "
            "write e.g. small-table-rows = 10000."
        )
    settings = LintSettings(
        severity=tuple((code, level) for key, level in severity.items() for code in codes("severity", [key])),
        postgres_version=version,
        lock_rules_since=since,
        small_table_rows=small,
        select=codes("select", table["select"]) if "select" in table else (ALL,),
        ignore=codes("ignore", table.get("ignore", [])),
        per_file_ignores=tuple(
            (pattern, codes(f"per-file-ignores[{pattern!r}]", value)) for pattern, value in per_file.items()
        ),
        root=pyproject.resolve().parent,
    )
    return settings.with_rules()


def project_pyproject(config_file: str | Path | None, near: str | Path | None = None) -> Path | None:
    """Return the pyproject.toml that holds the lint settings: the one place `lint` and `check` look.

    With an Alembic configuration, the project's: the pyproject.toml next to
    *config_file* (or *config_file* itself, when it is one). Without one, the
    nearest pyproject.toml at or above *near* (what is being linted), else in
    the working directory.
    """
    if config_file:
        config = Path(config_file)
        candidate = config if config.suffix == ".toml" else config.parent / "pyproject.toml"
        return candidate if candidate.is_file() else None
    start = Path(near or ".").resolve()
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None
