"""Which lint rules run where: ``[tool.alembic-bridge.lint]`` in pyproject.toml, and rule selectors.

::

    [tool.alembic-bridge.lint]
    select = ["ALL"]                 # codes or prefixes, e.g. ["LB1", "LB401"]
    ignore = ["LB403"]
    per-file-ignores = { "20240101_*.py" = ["LB401"] }
"""

from __future__ import annotations

import fnmatch
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from .rules.catalog import RULES

PYPROJECT_TABLE = "tool.alembic-bridge.lint"
ALL = "ALL"
_SETTING_KEYS = {"select", "ignore", "per-file-ignores", "per_file_ignores"}


@dataclass(frozen=True)
class LintSettings:
    """Which rules run where: selectors, ignores and per-file ignores (globs)."""

    select: tuple[str, ...] = (ALL,)
    ignore: tuple[str, ...] = ()
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    root: Path | None = None  # per-file-ignores globs are relative to this folder

    def with_options(self, select: Sequence[str] | None, ignore: Sequence[str] | None) -> LintSettings:
        """Return these settings with command-line --select (replaces) and --ignore (adds)."""
        return LintSettings(
            select=tuple(normalize_selectors(select, "--select")) if select else self.select,
            ignore=self.ignore + tuple(normalize_selectors(ignore or (), "--ignore")),
            per_file_ignores=self.per_file_ignores,
            root=self.root,
        )

    def enabled(self, code: str, path: str | Path | None = None) -> bool:
        """Return whether *code* is reported (for *path*, if given)."""
        ignore = self.ignore
        if path is not None and self.per_file_ignores:
            ignore = ignore + self._file_ignores(Path(path))
        chosen = _specificity(code, self.select)
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
                    f"{where}: {part!r} matches no lint rule. Use a code or a prefix of one "
                    f"({known}), or ALL."
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
        raise ConfigError(
            f"{where} has unknown key(s) {', '.join(unknown)}; the keys are select, ignore "
            "and per-file-ignores."
        )

    def codes(key: str, value) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: {key} must be a list of rule codes, e.g. [\"LB403\"].")
        return tuple(normalize_selectors(value, f"{key} in {where}"))

    per_file = table.get("per-file-ignores", table.get("per_file_ignores", {}))
    if not isinstance(per_file, dict):
        raise ConfigError(f"{where}: per-file-ignores must map file globs to lists of codes.")
    return LintSettings(
        select=codes("select", table["select"]) if "select" in table else (ALL,),
        ignore=codes("ignore", table.get("ignore", [])),
        per_file_ignores=tuple(
            (pattern, codes(f"per-file-ignores[{pattern!r}]", value)) for pattern, value in per_file.items()
        ),
        root=pyproject.resolve().parent,
    )


def find_pyproject(config_path: str | None) -> Path | None:
    """Return the pyproject.toml that holds lint settings (next to --config, else in the cwd)."""
    if config_path:
        config = Path(config_path)
        candidate = config if config.suffix == ".toml" else config.parent / "pyproject.toml"
    else:
        candidate = Path("pyproject.toml")
    return candidate if candidate.is_file() else None


def nearest_pyproject(path: Path) -> Path | None:
    """Return the pyproject.toml in *path* or its closest parent that has one."""
    for folder in (path.resolve(), *path.resolve().parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None
