"""``alembic-bridge repair``, checksums at adoption, and what ``status`` says about both (issue 24)."""

from __future__ import annotations

import json

import pytest
from conftest import REPO, url_text

from bridge.ledger import LedgerState
from bridge.loader import scan

STEMS = ["20251001_create_a", "20251002_create_b", "20251003_create_c"]


def add_files(project, stems=STEMS):
    for stem in stems:
        project.table(stem, stem.rsplit("_", 1)[1])


def old_runner(project):
    """Run the reference legacy runner (tests/legacy_runner.py) on the project's database."""
    return project.run(
        "python", str(REPO / "tests" / "legacy_runner.py"), "--url", url_text(project.url), "--dir", str(project.legacy)
    )


def checksums(project) -> dict[str, str | None]:
    """Return {migration: how its checksum was recorded} (None: the bridge ran it)."""
    columns = {
        r[0]
        for r in project.sql(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'alembic_bridge_checksums'"
        )
    }
    origin = "recorded" if "recorded" in columns else "NULL"
    return dict(project.sql(f"SELECT migration_name, {origin} FROM alembic_bridge_checksums"))


@pytest.mark.slow
def test_a_deleted_applied_file_is_named_by_status_planned_and_fixed_by_repair_and_the_old_runner_agrees(project):
    add_files(project)
    project.run("alembic-bridge", "upgrade", check=True)
    (project.legacy / f"{STEMS[2]}.py").unlink()

    # status names it (it used to fail: alembic_version names a file that is gone).
    status = project.run("alembic-bridge", "status", check=True)
    assert "file-missing" in status.stdout and STEMS[2] in status.stdout, status.output
    assert "its file is gone: `alembic-bridge repair`" in status.stdout
    data = json.loads(project.run("alembic-bridge", "status", "--json", check=True).stdout)
    assert [(m["revision"], m["state"]) for m in data["migrations"]] == [
        (STEMS[0], "applied"),
        (STEMS[1], "applied"),
        (STEMS[2], "file-missing"),
    ]
    assert data["in_agreement"] is False
    assert data["repairs"]["remove_rows"] == [STEMS[2]]
    assert (data["repairs"]["version_from"], data["repairs"]["version_to"]) == ([STEMS[2]], STEMS[1])

    # check and the runs point at repair, not at hand-written SQL or a stamp.
    check = project.run("alembic-bridge", "check")
    assert check.returncode == 1 and "alembic-bridge repair --yes" in check.stderr, check.output
    refused = project.run("alembic", "upgrade", "head")
    assert refused.returncode != 0 and "alembic-bridge repair" in refused.output, refused.output
    assert "alembic stamp" not in refused.output
    # Alembic's read-only commands too (`alembic current` said only "Can't locate revision").
    current = project.run("alembic", "current")
    assert current.returncode != 0 and "`alembic-bridge repair`" in current.output, current.output

    # repair shows the plan and changes nothing...
    dry = project.run("alembic-bridge", "repair", check=True)
    assert dry.stdout == (
        "repair would make 2 change(s) (none made yet):\n"
        f"  schema_migrations: delete {STEMS[2]} (its file is gone)\n"
        f"  alembic_version: {STEMS[2]} -> {STEMS[1]} (the last applied file that exists)\n"
        "Run `alembic-bridge repair --yes` to make them.\n"
    )
    plan = json.loads(project.run("alembic-bridge", "repair", "--json", check=True).stdout)
    assert plan["remove_rows"] == [STEMS[2]] and plan["version_to"] == STEMS[1] and plan["applied"] is False
    assert project.rows() == STEMS and project.version() == [STEMS[2]]

    # ... and with --yes makes it, in both tables and the checksums.
    done = project.run("alembic-bridge", "repair", "--yes", check=True)
    assert done.stdout.startswith("Repaired (2 change(s)):\n"), done.output
    assert project.rows() == STEMS[:2] and project.version() == [STEMS[1]]
    assert set(checksums(project)) == set(STEMS[:2])
    assert project.run("alembic-bridge", "repair", check=True).stdout == "Nothing to repair.\n"

    # status and check are clean; the old runner has nothing to run and agrees.
    data = json.loads(project.run("alembic-bridge", "status", "--json", check=True).stdout)
    assert data["in_agreement"] is True and [m["state"] for m in data["migrations"]] == ["applied", "applied"]
    assert project.run("alembic-bridge", "check").returncode == 0
    legacy = old_runner(project)
    assert legacy.returncode == 0 and "Applying migration" not in legacy.output, legacy.output
    assert project.rows() == STEMS[:2] and project.version() == [STEMS[1]]
    # A new file added later runs through either runner as usual.
    add_files(project, ["20251004_create_d"])
    project.run("alembic-bridge", "upgrade", check=True)
    assert project.rows() == [*STEMS[:2], "20251004_create_d"] and project.version() == ["20251004_create_d"]


@pytest.mark.slow
def test_checksums_are_taken_at_adoption_so_check_finds_a_later_edit(project):
    add_files(project, STEMS[:2])
    old_runner(project)
    add_files(project, STEMS[2:])
    project.run("alembic", "upgrade", "head", check=True)  # adopts the two, runs the third
    assert checksums(project) == {STEMS[0]: "adoption", STEMS[1]: "adoption", STEMS[2]: None}

    data = json.loads(project.run("alembic-bridge", "status", "--json", check=True).stdout)
    taken = {m["revision"]: (m["checksum"], m["checksum_taken"]) for m in data["migrations"]}
    assert taken == {STEMS[0]: ("matches", "adoption"), STEMS[1]: ("matches", "adoption"), STEMS[2]: ("matches", "run")}
    text = project.run("alembic-bridge", "status", check=True).stdout
    assert "Checksums taken at adoption (2)" in text and "checksum taken at adoption" in text

    # Following: a file the old runner applies later gets its checksum when the bridge follows.
    project.table("20251004_create_d", "d")
    old_runner(project)
    project.run("alembic-bridge", "sync", check=True)
    assert checksums(project)["20251004_create_d"] == "adoption"

    path = project.legacy / f"{STEMS[0]}.py"
    path.write_text(path.read_text() + "\n# edited after the old runner applied it\n")
    check = project.run("alembic-bridge", "check")
    assert check.returncode == 1 and f"{path}: edited after it was applied" in check.stderr, check.output


@pytest.mark.slow
def test_repair_records_the_checksums_an_older_adoption_did_not(project):
    add_files(project, STEMS[:2])
    old_runner(project)
    project.run("alembic-bridge", "sync", check=True)
    project.sql("DELETE FROM alembic_bridge_checksums")  # adopted by a bridge that took none
    project.sql("ALTER TABLE alembic_bridge_checksums DROP COLUMN recorded")  # ... nor had the column
    status = json.loads(project.run("alembic-bridge", "status", "--json", check=True).stdout)
    assert [m["checksum"] for m in status["migrations"]] == ["none", "none"] and status["in_agreement"] is True

    assert (
        json.loads(project.run("alembic-bridge", "repair", "--json", check=True).stdout)["record_checksums"]
        == STEMS[:2]
    )
    project.run("alembic-bridge", "repair", "--yes", check=True)
    assert checksums(project) == {STEMS[0]: "repair", STEMS[1]: "repair"}
    assert project.rows() == STEMS[:2] and project.version() == [STEMS[1]]
    path = project.legacy / f"{STEMS[1]}.py"
    path.write_text(path.read_text() + "\n# edited\n")
    assert "edited after it was applied" in project.run("alembic-bridge", "check").stderr


def _plan(tmp_path, stems, rows, heads, retired=()):
    """Plan the repairs for legacy files *stems* and the recorded *rows* / version *heads*."""
    from bridge.repairs import plan_files

    for stem in stems:
        (tmp_path / f"{stem}.py").write_text("def upgrade(engine):\n    pass\n")
    files = scan(tmp_path).files
    state = LedgerState({s: s for s in rows}, {}, tuple(heads), True, True)
    return plan_files(files, state, lambda rev: rev in retired, list(retired))


def test_a_deleted_file_in_the_middle_loses_its_row_and_the_version_stays(tmp_path):
    result = _plan(tmp_path, [STEMS[0], STEMS[2]], STEMS, [STEMS[2]])
    assert (result.missing, result.stale_heads, result.new_head) == ([STEMS[1]], (), None)
    assert result.checksums == [STEMS[0], STEMS[2]]  # applied, none recorded
    assert result.changes[0] == f"schema_migrations: delete {STEMS[1]} (its file is gone)"


def test_a_deleted_head_moves_the_version_to_the_last_applied_file_that_exists(tmp_path):
    result = _plan(tmp_path, STEMS[:2], STEMS, [STEMS[2]])
    assert (result.missing, result.stale_heads, result.new_head) == ([STEMS[2]], (STEMS[2],), STEMS[1])
    assert result.after.changes == []  # nothing left for sync
    assert result.as_dict()["version_to"] == STEMS[1]


def test_with_every_applied_file_gone_the_version_row_is_removed(tmp_path):
    result = _plan(tmp_path, [], STEMS[:1], [STEMS[0]])
    assert (result.missing, result.stale_heads, result.new_head) == ([STEMS[0]], (STEMS[0],), None)
    assert result.changes[1] == "alembic_version: 20251001_create_a -> <none> (no applied file exists: row removed)"


def test_rows_of_converted_files_and_a_clean_database_need_no_repair(tmp_path):
    result = _plan(tmp_path, STEMS[1:], STEMS, [STEMS[2]], retired=[STEMS[0]])
    assert result.missing == [] and result.stale_heads == ()


def test_the_python_api_plans_and_makes_the_repair_in_process(project):
    import bridge

    add_files(project, STEMS[:2])
    bridge.upgrade(project.config())
    (project.legacy / f"{STEMS[1]}.py").unlink()
    status = bridge.status(project.config())
    assert [(m.revision, m.state) for m in status.migrations] == [(STEMS[0], "applied"), (STEMS[1], "file-missing")]
    assert not status.in_agreement and status.repair.new_head == STEMS[0]
    planned = bridge.repair(project.config())
    assert isinstance(planned, bridge.RepairPlan) and project.version() == [STEMS[1]]  # planning changes nothing
    done = bridge.repair(project.config(), apply=True)
    assert (done.missing, done.stale_heads, done.new_head) == ([STEMS[1]], (STEMS[1],), STEMS[0])
    assert project.rows() == STEMS[:1] and project.version() == [STEMS[0]]
    assert bridge.status(project.config()).in_agreement
    assert bridge.repair(project.config(), apply=True).changes == []


@pytest.mark.slow
def test_status_heads_the_repairs_with_every_kind_it_lists(project):
    add_files(project)
    old_runner(project)  # never adopted: no checksums
    (project.legacy / f"{STEMS[2]}.py").unlink()
    text = project.run("alembic-bridge", "status", check=True).stdout
    block = next(b for b in text.split("\n\n") if "repair --yes" in b).splitlines()
    assert block == [
        "`alembic-bridge repair --yes` would make 3 change(s): rows of applied files that are gone, "
        "checksums of applied files that have none:",
        f"  schema_migrations: delete {STEMS[2]} (its file is gone)",
        f"  alembic_bridge_checksums: record {STEMS[0]} (applied, no checksum yet)",
        f"  alembic_bridge_checksums: record {STEMS[1]} (applied, no checksum yet)",
    ], text
