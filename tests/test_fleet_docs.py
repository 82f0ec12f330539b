"""docs/fleet.md's Kubernetes manifests: valid against Kubernetes' schema (offline), and their commands are real."""

from __future__ import annotations

import copy
import fnmatch
import re
import shlex

import pytest
from conftest import REPO

from bridge.cli.commands import cli

kubernetes_validate = pytest.importorskip(
    "kubernetes_validate", reason="kubernetes-validate is not installed (it is in the test extra)"
)
yaml = pytest.importorskip("yaml", reason="PyYAML (a dependency of kubernetes-validate) is not installed")

# backoffLimitPerIndex, which the manifest uses, is in Kubernetes >= 1.29.
KUBERNETES = "1.29.0"


def _manifests() -> list[dict]:
    text = (REPO / "docs" / "fleet.md").read_text()
    return [d for block in re.findall(r"```yaml\n(.*?)```", text, re.S) for d in yaml.safe_load_all(block) if d]


def _commands(kind: str = "Job") -> dict[str, list[str]]:
    found = {}
    for manifest in _manifests():
        if manifest["kind"] == kind:
            [container] = manifest["spec"]["template"]["spec"]["containers"]
            command = container["command"]
            assert command[:2] == ["sh", "-c"], command
            found[manifest["metadata"]["name"]] = shlex.split(command[2])
    return found


def test_every_manifest_in_the_fleet_docs_is_valid_for_kubernetes():
    manifests = _manifests()
    assert [m["kind"] for m in manifests] == ["Job", "PersistentVolumeClaim", "Job"]
    for manifest in manifests:
        assert kubernetes_validate.validate(manifest, KUBERNETES, strict=True)
    # The check can fail: a misspelled field, or one the schema does not have, is refused.
    broken = copy.deepcopy(manifests[0])
    broken["spec"]["paralelism"] = broken["spec"].pop("parallelism")
    with pytest.raises(kubernetes_validate.ValidationError, match="'paralelism' was unexpected"):
        kubernetes_validate.validate(broken, KUBERNETES, strict=True)
    broken = copy.deepcopy(manifests[0])
    broken["spec"]["completions"] = "eight"
    with pytest.raises(kubernetes_validate.ValidationError, match="'eight' is not of type 'integer'"):
        kubernetes_validate.validate(broken, KUBERNETES, strict=True)


def _check_options(argv: list[str]) -> None:
    """Fail unless *argv* (after ``alembic-bridge``) names a real command and only its real options."""
    command = cli
    words = list(argv)
    while words and hasattr(command, "commands") and words[0] in command.commands:
        command = command.commands[words.pop(0)]
    assert not hasattr(command, "commands"), f"no subcommand in {argv}"
    known = {opt for param in command.params for opt in param.opts}
    for word in words:
        if word.startswith("-"):
            assert word in known, f"{word} is not an option of {command.name}"


def test_the_shards_write_the_files_the_report_job_reads():
    commands = _commands()
    upgrade = commands["migrate-fleet-2025-11-04"]
    report = commands["migrate-fleet-2025-11-04-report"]
    assert upgrade[:2] == ["exec", "alembic-bridge"] and report[0] == "alembic-bridge"
    redirect = upgrade.index(">")
    _check_options(upgrade[2:redirect])
    _check_options(report[1:])
    # Each shard's --json goes to a file named by its index; the report reads every one of them.
    written = upgrade[redirect + 1]
    read = [w for w in report if w.endswith(".json")]
    assert read == ["/reports/shard-*.json"]
    assert all(fnmatch.fnmatch(written.replace("$JOB_COMPLETION_INDEX", str(i)), read[0]) for i in range(8))
    assert "--no-database" in report and "--shards" in upgrade and "--json" in upgrade
