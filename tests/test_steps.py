"""Around each migration (bridge.steps): "applied" means committed; one step wrapper for every file.

Real PostgreSQL: a DEFERRABLE INITIALLY DEFERRED constraint makes a migration
fail at COMMIT, after its body ran.
"""

from __future__ import annotations

import shutil

import pytest
from conftest import REPO, legacy_source

from bridge import runner
from bridge.errors import MigrationError

PARENT = "20251001_parent_child"
ORPHAN = "20251002_orphan"
AFTER = "20251003_after"

DEFERRED_FK = [
    "CREATE TABLE parent (id INT PRIMARY KEY)",
    "CREATE TABLE child (id INT PRIMARY KEY, parent_id INT REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)",
]


def with_orphan(project) -> None:
    project.write(f"{PARENT}.py", legacy_source(DEFERRED_FK, ["DROP TABLE child", "DROP TABLE parent"]))
    # Passes every statement; only the COMMIT checks the deferred foreign key.
    project.write(f"{ORPHAN}.py", legacy_source("INSERT INTO child VALUES (1, 42)", "DELETE FROM child"))
    project.table(AFTER, "after_orphan")


def log_rows(project) -> list[tuple]:
    return [tuple(r) for r in project.sql("SELECT revision, outcome, sqlstate FROM alembic_bridge_log ORDER BY id")]


def test_on_step_fires_after_the_commit_and_a_failed_commit_names_the_migration(project):
    with_orphan(project)
    seen: list[tuple[str, list[str]]] = []

    def on_step(step, seconds):
        # Read from another session: only committed work is visible there.
        seen.append((step.revision, project.rows()))

    with pytest.raises(MigrationError) as caught:
        runner.upgrade(project.config(), on_step=on_step)
    assert seen == [(PARENT, [PARENT])]  # reported once committed, and never the orphan
    message = str(caught.value)
    assert message.startswith(f"{project.legacy / (ORPHAN + '.py')}: ")
    assert "its COMMIT failed" in message and "child_parent_id_fkey" in message
    assert "DEFERRABLE INITIALLY DEFERRED" in message
    assert project.rows() == [PARENT] and project.version() == [PARENT]
    assert log_rows(project) == [(PARENT, "applied", None), (ORPHAN, "failed", "23503")]


NATIVE_ORPHAN = '''"""insert an orphan (native)"""
from alembic import op

revision = "n1_orphan"
down_revision = "20251001_parent_child"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("INSERT INTO child VALUES (1, 42)")


def downgrade():
    op.execute("DELETE FROM child")
'''


def test_a_native_revision_failing_at_commit_is_named_and_logged(project):
    project.write(f"{PARENT}.py", legacy_source(DEFERRED_FK, ["DROP TABLE child", "DROP TABLE parent"]))
    path = project.versions / "n1_orphan.py"
    path.write_text(NATIVE_ORPHAN)
    with pytest.raises(MigrationError) as caught:
        runner.upgrade(project.config())
    assert str(caught.value).startswith(f"{path}: n1_orphan ran, but its COMMIT failed")
    assert project.version() == [PARENT]
    assert log_rows(project)[-1] == ("n1_orphan", "failed", "23503")


@pytest.mark.slow
def test_a_failed_commit_is_a_clean_failure_under_every_front_end(project, tmp_path):
    with_orphan(project)
    stock = project.run("alembic", "upgrade", "head")
    assert stock.returncode != 0
    assert f"FAILED: {project.legacy / (ORPHAN + '.py')}: {ORPHAN} ran, but its COMMIT failed" in stock.output
    assert "Traceback" not in stock.output
    bridge_cli = project.run("alembic-bridge", "upgrade")
    assert bridge_cli.returncode == 1, bridge_cli.output
    assert f"applied {ORPHAN}" not in bridge_cli.output
    assert f"{ORPHAN} ran, but its COMMIT failed" in bridge_cli.output and "Traceback" not in bridge_cli.output
    shutil.copy(REPO / "run.py", project.root / "run.py")
    start = project.run("python", "run.py", "start")
    assert start.returncode != 0, start.output
    assert f"Applied migration {ORPHAN}" not in start.output
    assert f"{ORPHAN} ran, but its COMMIT failed" in start.output and "Traceback" not in start.output
    assert project.rows() == [PARENT]
    assert [r[1] for r in log_rows(project) if r[0] == ORPHAN] == ["failed"] * 3
