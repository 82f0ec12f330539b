"""Turn a directory of date-named legacy migration files into an ordered chain.

The loader never touches a database and never imports a migration file: the
chain is read from file names alone, exactly as the legacy runner orders them
(a plain sort by file name), so building it for thousands of files costs one
directory listing.
"""

from __future__ import annotations

import ast
import datetime
import fnmatch
import functools
import hashlib
import io
import os
import re
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

from .errors import BadMigrationName, ConfigError

MIGRATION_NAME = re.compile(r"^(?P<date>\d{8})_(?P<description>[A-Za-z0-9_]+)\.py$")


def is_legacy_stem(name: str) -> bool:
    """Return whether *name* has the shape of a legacy file's stem (``YYYYMMDD_description``)."""
    return MIGRATION_NAME.match(f"{name}.py") is not None


# Files that live beside legacy migrations by convention and are never migrations.
ALWAYS_IGNORED = ("__init__.py", "env.py", "conftest.py")


@dataclass(frozen=True)
class LegacyFile:
    """One legacy migration file: its revision id is its file stem."""

    path: Path
    stem: str
    date: datetime.date
    description: str

    @property
    def filename(self) -> str:
        return self.path.name

    @functools.cached_property
    def location(self) -> str:
        """The absolute path the file is imported under (so its code objects name it)."""
        # abspath, not Path.resolve(): no system call per path component.
        return os.path.abspath(self.path)

    def sha256(self) -> str:
        """Return the SHA-256 of the file's bytes."""
        # Every upgrade hashes every applied file: plain fd reads cost about half
        # of Path.read_bytes() (no buffered file object, no fstat).
        digest = hashlib.sha256()
        fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        try:
            while chunk := os.read(fd, 65536):
                digest.update(chunk)
        finally:
            os.close(fd)
        return digest.hexdigest()

    def docstring(self) -> str:
        """Return the module docstring, read without importing the file."""
        return read_docstring(self.path)

    def title(self) -> str:
        """Return a one-line message: the docstring's first line, else the description."""
        for line in self.docstring().splitlines():
            line = line.strip()
            if line:
                # The legacy template opens with "Migration: {description}".
                if line.lower().startswith("migration:"):
                    line = line.split(":", 1)[1].strip()
                if line:
                    return line
        return self.description.replace("_", " ")


@dataclass
class LegacyScan:
    """What one directory holds: the chain, and the files that look wrong."""

    directory: Path
    files: list[LegacyFile] = field(default_factory=list)
    problems: list[tuple[Path, str]] = field(default_factory=list)

    def raise_for_problems(self) -> None:
        """Raise `BadMigrationName` if any file looks like a migration but is misnamed."""
        if self.problems:
            raise BadMigrationName(self.problems)


def parse_name(filename: str) -> tuple[datetime.date, str] | str:
    """Return (date, description) for a valid name, or the reason it is not one."""
    m = MIGRATION_NAME.match(filename)
    if m is None:
        if MIGRATION_NAME.match(filename[:-3] + ".py") and filename[-3:] != ".py":
            return "the extension must be lower-case .py (the legacy runner only runs *.py files)"
        if re.match(r"^\d{4}-\d{2}-\d{2}", filename):
            return "the date has dashes; write it as YYYYMMDD"
        if re.match(r"^\d{8}(?!_)", filename):
            return "the date must be followed by '_'"
        if re.match(r"^\d{8}_", filename):
            return "the description may contain only letters, digits and '_' (it becomes the Alembic revision id)"
        if re.match(r"^\d", filename):
            return "the name must start with an 8-digit date YYYYMMDD"
        return "the name does not start with a date YYYYMMDD"
    raw = m.group("date")
    try:
        date = datetime.date(int(raw[:4]), int(raw[4:6]), int(raw[6:]))
    except ValueError:
        return f"{raw} is not a real date (YYYYMMDD)"
    return date, m.group("description")


def scan(directory: Path | str, ignore: tuple[str, ...] = ()) -> LegacyScan:
    """Read the legacy chain from the file names in *directory*, in legacy order."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ConfigError(
            f"legacy_location {directory} does not exist or is not a directory. "
            "Set 'legacy_location' in alembic.ini (or [tool.alembic] in "
            "pyproject.toml) to the folder holding the YYYYMMDD_*.py files."
        )
    result = LegacyScan(directory)
    # The legacy runner sorts by file name; so do we (codepoint order, like sorted()).
    for name, dangling in sorted(_py_files(directory)):
        if name in ALWAYS_IGNORED or any(fnmatch.fnmatch(name, pat) for pat in ignore):
            continue
        path = directory / name
        parsed = parse_name(name)
        if dangling:
            if isinstance(parsed, tuple) or name[0].isdigit():
                target = os.readlink(path)
                result.problems.append(
                    (path, f"a symbolic link to {target}, which does not exist; restore the target or remove the link")
                )
        elif isinstance(parsed, tuple):
            date, description = parsed
            result.files.append(LegacyFile(path, name[:-3], date, description))
        elif name[0].isdigit() or _defines_upgrade(path):
            result.problems.append((path, parsed))
    return result


def _py_files(directory: Path):
    """Yield (name, dangling) for each file named *.py (any case) and each broken link so named."""
    with os.scandir(directory) as entries:
        for entry in entries:
            # Case-insensitive: a misnamed 20251031_x.PY must be reported, not skipped.
            if entry.name[-3:].lower() != ".py":
                continue
            if entry.is_file():
                yield entry.name, False
            elif entry.is_symlink() and not os.path.exists(entry.path):
                yield entry.name, True


def _defines_upgrade(path: Path) -> bool:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return re.search(r"^def upgrade\s*\(", text, re.MULTILINE) is not None


# The source text of a string literal that opens a module (after blank lines and
# comments). Matching it costs a tenth of starting the tokenizer, and Alembic asks
# for the docstring of every migration it runs or lists. (Compiled on first use, by
# `re`'s cache: a no-op upgrade never needs it.)
_LEADING_STRING = (
    rb"(?:[ \t]*(?:#[^\r\n]*)?\r?\n)*[ \t]*"
    rb"((?:[rRuUbB]|[bB][rR]|[rR][bB])?"
    rb'(?:"""[^"\\]*(?:(?:\\.|"(?!""))[^"\\]*)*"""'
    rb"|'''[^'\\]*(?:(?:\\.|'(?!''))[^'\\]*)*'''"
    rb'|"[^"\\\r\n]*(?:\\.[^"\\\r\n]*)*"'
    rb"|'[^'\\\r\n]*(?:\\.[^'\\\r\n]*)*'))"
)
# A BOM or an encoding declaration (PEP 263, first two lines): leave those to tokenize.
_DECLARED_ENCODING = rb"\A(?:\xef\xbb\xbf|[^\n]*coding[:=]|[^\n]*\n[^\n]*coding[:=])"


def read_docstring(path: Path) -> str:
    """Return a file's module docstring by reading tokens up to the first statement."""
    try:
        source = path.read_bytes()
    except OSError:
        return ""
    match = re.match(_LEADING_STRING, source, re.DOTALL)
    if match is not None and not re.match(_DECLARED_ENCODING, source):
        try:
            # The tokenizer decodes every line up to the literal's last one: so do we.
            line_end = source.find(b"\n", match.end())
            source[: None if line_end < 0 else line_end].decode("utf-8")
            value = ast.literal_eval(match.group(1).decode("utf-8"))
            return value.decode() if isinstance(value, bytes) else str(value)
        except Exception:
            pass  # let the tokenizer decide, exactly as before
    return docstring_by_tokens(source)


def docstring_by_tokens(source: bytes) -> str:
    """Return the module docstring of *source* as Python's tokenizer reads it (the reference)."""
    try:
        tokens = tokenize.tokenize(io.BytesIO(source).readline)
        for tok in tokens:
            if tok.type in (
                tokenize.ENCODING,
                tokenize.COMMENT,
                tokenize.NL,
                tokenize.NEWLINE,
                tokenize.INDENT,
                tokenize.DEDENT,
            ):
                continue
            if tok.type == tokenize.STRING:
                value = ast.literal_eval(tok.string)
                return value.decode() if isinstance(value, bytes) else str(value)
            return ""
    except (tokenize.TokenError, SyntaxError, ValueError):
        return ""
    return ""
