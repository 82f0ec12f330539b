"""Files the bridge writes for users: ``init`` (onboarding) and ``new`` (a migration)."""

from __future__ import annotations

import datetime
import os
import re
from importlib import resources
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.script import Script

from . import runner
from .database import create_engine, read_environment, resolve_target
from .errors import BridgeError, ConfigError
from .ledger import LEGACY_TABLE
from .loader import parse_name
from .script import LegacyScript, LegacyScriptDirectory
from .settings import LegacyTable
from .shape import guess_name_column, table_columns


def template(name: str) -> str:
    """Return the text of one of the bridge's templates."""
    return resources.files("bridge").joinpath("templates").joinpath(name).read_text(encoding="utf-8")


def detect_legacy_options(root: Path, url: str | None = None) -> dict[str, str]:
    """Return the legacy-table options an existing ``schema_migrations`` needs (``legacy_name_column``).

    Reads the database ``--url``, DATABASE_URL or DB_* (environment or *root*'s .env)
    names; empty when none is configured or reachable, or the table has the default shape.
    """
    try:
        target = resolve_target(url=url, environ=read_environment(root))
    except ConfigError:
        return {}
    if target.url is None:
        return {}  # an embedded server: nothing to start for this
    # init must not hang on a database that is configured but not up: ask briefly (libpq's connect_timeout).
    quick = {"connect_args": {"connect_timeout": 5}} if target.url.startswith("postgres") else {}
    try:
        engine = create_engine(target.url, target=target, poolclass=sa.pool.NullPool, **quick)
        try:
            with engine.connect() as connection:
                columns = table_columns(connection, LEGACY_TABLE)
        finally:
            engine.dispose()
    except (BridgeError, sa.exc.SQLAlchemyError):
        return {}  # init works without a database; the first run reports what is wrong
    if not columns or LegacyTable.name_column in columns:
        return {}
    guess = guess_name_column(columns)
    return {"legacy_name_column": guess} if guess else {}


def _legacy_table_lines(options: dict[str, str]) -> str:
    defaults = {
        "legacy_table": LegacyTable.name,
        "legacy_name_column": LegacyTable.name_column,
        "legacy_applied_column": LegacyTable().applied,
    }
    return "\n".join(
        f"{name} = {options[name]}" if name in options else f"# {name} = {default}"
        for name, default in defaults.items()
    )


def init_project(
    root: Path, legacy: Path, directory: Path, legacy_options: dict[str, str] | None = None
) -> list[tuple[Path, bool]]:
    """Write alembic.ini, env.py, script.py.mako and versions/ under *root*; never overwrite.

    *legacy_options* (see `detect_legacy_options`) are written into alembic.ini.
    Returns (path, written) for each file: written is False for a file that existed.
    """
    legacy_abs = legacy if legacy.is_absolute() else root / legacy
    if not legacy_abs.is_dir():
        raise ConfigError(
            f"--legacy {legacy} is not a folder. Pass the folder that holds the "
            "YYYYMMDD_description.py files, e.g. --legacy web_server/migrations."
        )
    legacy_text = os.path.relpath(legacy_abs, root) if not legacy.is_absolute() else str(legacy)
    directory_text = directory.as_posix()
    target = root / directory
    if target.resolve() == legacy_abs.resolve():
        raise ConfigError(
            f"--directory {directory} is the legacy folder itself; give Alembic's "
            "files their own folder (the default is 'alembic')."
        )
    files = {
        root / "alembic.ini": template("alembic.ini.tmpl").format(
            directory=directory_text,
            legacy=Path(legacy_text).as_posix(),
            legacy_table_options=_legacy_table_lines(legacy_options or {}),
        ),
        target / "env.py": template("env.py"),
        target / "script.py.mako": template("script.py.mako"),
        target / "versions" / ".gitkeep": "",
    }
    results = []
    for path, text in files.items():
        if path.exists():
            results.append((path, False))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        results.append((path, True))
    return results


def slugify(description: str) -> str:
    """Return a file-name description: lowercase ASCII words joined by '_'."""
    slug = "_".join(re.findall(r"[a-z0-9]+", description.lower()))
    return slug[:80].rstrip("_")


def new_migration(config, description: str, *, native: bool = False, date: str | None = None) -> Path:
    """Create a legacy file ``YYYYMMDD_slug.py`` from the template, or a native revision."""
    if native:
        revision = command.revision(config, message=description)
        return Path(revision.path) if isinstance(revision, Script) else Path(".")
    slug = slugify(description)
    if not slug:
        raise ConfigError(
            f"{description!r} has no letters or digits to build a file name from. "
            'Describe the change, e.g. "add error message to open orders".'
        )
    day = date or datetime.date.today().strftime("%Y%m%d")
    parsed = parse_name(f"{day}_{slug}.py")
    if isinstance(parsed, str):
        raise ConfigError(f"{day}_{slug}.py is not a valid migration name: {parsed}.")
    script = runner.script_directory(config)
    if not isinstance(script, LegacyScriptDirectory):
        raise ConfigError(
            "legacy_location is not set in the configuration; use --native for an "
            "Alembic revision, or set legacy_location."
        )
    files = script.legacy_files()
    path = script.legacy_location / f"{day}_{slug}.py"
    if path.exists():
        raise ConfigError(f"{path} already exists. Choose another description.")
    # Converted (and baseline) revisions keep their files' stems and come first.
    taken = [f.filename for f in files] + [f"{stem}.py" for stem in script.retired_stems()]
    later = sorted(name for name in taken if name >= path.name)
    if later:
        raise ConfigError(
            f"{path.name} would sort before {', '.join(later[:3])}, which may already be "
            "applied somewhere, so it would never run there. Pass --date with a later "
            f"date than {later[-1][:8]}."
        )
    # Converted (and baseline) revisions come before the legacy files; only native
    # revisions after the last legacy file would make a new one a branch.
    retired = {r.revision for r in script.retired_revisions()}
    natives = [r for r in script.walk_revisions() if not isinstance(r, LegacyScript) and r.revision not in retired]
    if natives:
        raise ConfigError(
            "Native revisions already follow the legacy chain, so a new legacy file "
            "would branch the history. Use `alembic-bridge new --native`."
        )
    relpath = os.path.relpath(path, Path.cwd())
    path.write_text(
        template("legacy_migration.py.tmpl").format(
            title=description.strip(),
            iso_date=f"{day[:4]}-{day[4:6]}-{day[6:]}",
            relpath=relpath,
            stem=path.stem,
            feature=slug.split("_")[0] if slug else "migration",
        ),
        encoding="utf-8",
    )
    return path
