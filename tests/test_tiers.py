"""The tiers are kept by the tests' own marks, and the guard in conftest.py holds them."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import BIN, _is_command


def test_the_tier_guard_knows_a_command_from_a_helper():
    assert _is_command([str(BIN / "alembic"), "upgrade", "head"])
    assert _is_command(["alembic-bridge", "status"])
    assert _is_command([sys.executable, "run.py", "start"])
    assert _is_command([sys.executable, "legacy/20250101_a.py", "--downgrade"])
    assert not _is_command([sys.executable, "-c", "import bridge"])
    assert not _is_command(["git", "status"])


def test_a_fast_test_that_starts_a_command_fails_naming_the_mark():
    with pytest.raises(AssertionError, match=r"mark it @pytest.mark.slow"):
        subprocess.run([str(BIN / "alembic"), "--version"], capture_output=True)


@pytest.mark.slow
def test_a_slow_test_may_start_a_command():
    result = subprocess.run([str(BIN / "alembic"), "--version"], capture_output=True, text=True, check=True)
    assert "alembic" in result.stdout.lower()
