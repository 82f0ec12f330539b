"""What pyproject.toml declares: the floors the minimum-versions CI leg tests, the license."""

from __future__ import annotations

import sys
from importlib import metadata

from conftest import REPO
from packaging.requirements import Requirement

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest itself requires tomli below 3.11
    import tomli as tomllib

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
MIN_VERSIONS = REPO / ".ci" / "min-versions.txt"


def declared_requirements() -> list[Requirement]:
    project = PYPROJECT["project"]
    requirements = [Requirement(r) for r in project["dependencies"]]
    for name, extra in project["optional-dependencies"].items():
        if name == "dev":
            continue  # the linters: exact pins, not floors the code must work with
        requirements += [Requirement(r) for r in extra if not r.startswith("alembic-bridge")]
    return requirements


def pinned_versions() -> dict[str, str]:
    pins = {}
    for line in MIN_VERSIONS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            requirement = Requirement(line)
            [spec] = requirement.specifier
            assert spec.operator == "==", f"{MIN_VERSIONS}: {line!r} is not an exact pin"
            pins[requirement.name.lower()] = spec.version
    return pins


def floor(requirement: Requirement) -> str:
    [spec] = [s for s in requirement.specifier if s.operator == ">="]
    return spec.version


def test_every_declared_floor_is_the_version_the_minimum_ci_leg_pins():
    declared = {r.name.lower(): floor(r) for r in declared_requirements()}
    # psycopg[binary] brings psycopg-binary of the same version.
    declared["psycopg-binary"] = declared["psycopg"]
    assert pinned_versions() == declared


def test_the_installed_distribution_carries_the_mit_license():
    assert PYPROJECT["project"]["license"] == "MIT"
    text = (REPO / "LICENSE").read_text()
    assert text.startswith("MIT License\n\nCopyright (c) ")
    assert "alembic-bridge contributors" in text.splitlines()[2]
    assert metadata.metadata("alembic-bridge")["License-Expression"] == "MIT"
