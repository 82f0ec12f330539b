"""Planning and applying a conversion: which legacy files become which native revisions.

Only a *prefix* of the legacy chain can be converted (a native revision can
never come after a legacy one it precedes), so ``--upto STEM`` converts STEM
and every legacy file before it. `plan_conversion` is pure (it reads files);
`apply_conversion` writes every revision, then deletes the legacy files, all
or nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from .. import runner
from ..errors import BridgeError, ConfigError
from ..loader import LegacyFile
from ..script import LegacyScriptDirectory
from .rewrite import CannotConvert, ConvertedSource, convert_source


class ConversionRefused(BridgeError):
    """Some legacy files cannot be converted; nothing was written."""

    def __init__(self, message: str, *, problems: Sequence[tuple[Path, str]] = ()):
        self.problems = list(problems)
        super().__init__(message)


@dataclass
class FileConversion:
    """One legacy file and the native revision it becomes (or why it cannot)."""

    legacy: LegacyFile
    target: Path
    down_revision: str | None
    converted: ConvertedSource | None = None
    problem: str | None = None


@dataclass
class ConversionPlan:
    """What ``convert`` would do: the files converted, in chain order, and what remains legacy."""

    files: list[FileConversion]
    version_location: Path
    remaining: list[LegacyFile] = field(default_factory=list)
    requested: str | None = None

    @property
    def problems(self) -> list[FileConversion]:
        return [f for f in self.files if f.problem]

    @property
    def brought_along(self) -> list[FileConversion]:
        """Files before the requested one that convert because a prefix must."""
        if self.requested is None:
            return []
        return [f for f in self.files if f.legacy.stem != self.requested]


def _resolve(files: list[LegacyFile], name: str) -> LegacyFile:
    raw = Path(name).name
    stem = raw[:-3] if raw.endswith(".py") else raw
    exact = [f for f in files if f.stem == stem]
    if exact:
        return exact[0]
    matches = [f for f in files if f.stem.startswith(stem)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise ConfigError(
            f"{name!r} matches {len(matches)} legacy files ({', '.join(f.stem for f in matches[:5])}); "
            "give more of the name."
        )
    raise ConfigError(f"No legacy migration named {name!r}. `alembic-bridge status` lists them.")


def plan_conversion(
    config, stem: str | None = None, *, upto: str | None = None, all_files: bool = False
) -> ConversionPlan:
    """Return what converting *stem* (alone), everything up to *upto*, or all files would do; pure."""
    if sum(x is not None and x is not False for x in (stem, upto, all_files or None)) != 1:
        raise ConfigError("Name exactly one of STEM, --upto STEM or --all.")
    script = runner.script_directory(config)
    if not isinstance(script, LegacyScriptDirectory):
        raise ConfigError("legacy_location is not set in the configuration: there is nothing to convert.")
    files = script.legacy_files()
    if not files:
        raise ConfigError(f"There are no legacy migrations left in {script.legacy_location}.")
    location = script.single_version_location("convert")
    requested = None
    if all_files:
        count = len(files)
    else:
        target = _resolve(files, cast(str, stem or upto))  # exactly one of them is given (checked above)
        count = files.index(target) + 1
        requested = target.stem
        if stem is not None and count > 1:
            raise ConfigError(
                f"{target.stem} is not the first legacy migration: {count - 1} come before it "
                f"({files[0].stem}{' ... ' + files[count - 2].stem if count > 2 else ''}). "
                "Legacy files must all come before native revisions, so only a prefix of the "
                f"chain can be converted. Convert them too with `alembic-bridge convert --upto {target.stem}`."
            )
    chosen, remaining = files[:count], files[count:]
    chain = script.retired_revisions()
    previous = chain[-1].revision if chain else None
    plan = ConversionPlan([], location, remaining, requested)
    for legacy in chosen:
        target_path = location / f"{legacy.stem}.py"
        item = FileConversion(legacy, target_path, previous)
        if target_path.exists():
            item.problem = f"{target_path} already exists"
        else:
            try:
                item.converted = convert_source(
                    legacy.path.read_text(encoding="utf-8"),
                    stem=legacy.stem,
                    down_revision=previous,
                    origin=legacy.filename,
                    title=legacy.title(),
                )
            except (CannotConvert, UnicodeDecodeError) as why:
                item.problem = str(why)
        plan.files.append(item)
        previous = legacy.stem
    return plan


def apply_conversion(plan: ConversionPlan) -> list[tuple[Path, Path]]:
    """Write every converted revision, then delete the legacy files; all or nothing."""
    if plan.problems:
        lines = [f"{len(plan.problems)} legacy migration(s) cannot be converted; nothing was written:"]
        lines += [f"  {f.legacy.path}: {f.problem}" for f in plan.problems]
        first = plan.problems[0]
        index = plan.files.index(first)
        if index:
            lines.append(
                f"Convert the files before it with `alembic-bridge convert --upto {plan.files[index - 1].legacy.stem}`, "
                "or fix the file(s) and run again."
            )
        else:
            lines.append("Fix the file(s) and run again; they keep working as legacy migrations meanwhile.")
        raise ConversionRefused(
            "\n".join(lines), problems=[(f.legacy.path, f.problem) for f in plan.problems if f.problem]
        )
    plan.version_location.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    try:
        for item in plan.files:
            with open(item.target, "x", encoding="utf-8") as out:
                # No problems: every file was converted.
                out.write(cast(ConvertedSource, item.converted).text)
            written.append(item.target)
    except OSError as err:
        for path in written:
            path.unlink(missing_ok=True)
        raise ConfigError(f"Could not write {err.filename}: {err.strerror}. Nothing was converted.") from err
    moves = []
    for item in plan.files:
        item.legacy.path.unlink()
        moves.append((item.legacy.path, item.target))
    return moves
