"""The bridge's options: read from [alembic], checked with a message that names the fix."""

from __future__ import annotations

import pytest
from alembic.config import Config

from bridge.errors import ConfigError
from bridge.settings import BridgeSettings


def settings(tmp_path, **options):
    ini = tmp_path / "alembic.ini"
    lines = ["[alembic]", "script_location = alembic", "legacy_location = migrations"]
    lines += [f"{name} = {value}" for name, value in options.items()]
    ini.write_text("\n".join(lines) + "\n")
    return BridgeSettings.from_config(Config(str(ini)))


@pytest.mark.parametrize(
    "value, expected", [("true", True), ("Yes", True), ("1", True), ("off", False), ("false", False)]
)
def test_strict_takes_the_usual_booleans(tmp_path, value, expected):
    assert settings(tmp_path, strict=value).strict is expected


def test_strict_that_is_neither_true_nor_false_is_refused_not_taken_as_false(tmp_path):
    with pytest.raises(ConfigError) as err:
        settings(tmp_path, strict="maybe")
    assert str(err.value) == (
        "strict = 'maybe' is neither true nor false. Write strict = true (rows whose file is "
        "gone are errors) or strict = false (they are warnings)."
    )


@pytest.mark.parametrize("value", ["5min", "-1", "nan", "inf"])
def test_a_lock_timeout_that_is_not_a_number_of_seconds_is_refused(tmp_path, value):
    with pytest.raises(
        ConfigError,
        match=rf"lock_timeout = '{value}' is not a number of seconds\. "
        r"Write the seconds a runner waits for another runner's lock, e\.g\. lock_timeout = 300\.",
    ):
        settings(tmp_path, lock_timeout=value)


def test_lock_timeout_in_seconds_is_read(tmp_path):
    assert settings(tmp_path, lock_timeout="2.5").lock_timeout == 2.5
    assert settings(tmp_path).lock_timeout == 300.0
