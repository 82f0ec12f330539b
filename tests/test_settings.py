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
    assert str(err.value) == "strict = 'maybe' is neither true nor false. Write strict = true or strict = false."


@pytest.mark.parametrize("value", ["5min", "-1", "nan", "inf"])
def test_a_lock_timeout_that_is_not_a_number_of_seconds_is_refused(tmp_path, value):
    with pytest.raises(
        ConfigError,
        match=rf"lock_timeout = '{value}' is not a number of seconds\. "
        r"Write the seconds a runner waits for another runner's lock, e\.g\. lock_timeout = 300\.",
    ):
        settings(tmp_path, lock_timeout=value)


def test_lock_timeouts_bound_is_named_exactly_not_rounded(tmp_path):
    from bridge.settings import OPTIONS

    assert settings(tmp_path, lock_timeout="2147483.647").lock_timeout == 2147483.647
    with pytest.raises(ConfigError, match=r"is more than 2147483\.647 seconds"):
        settings(tmp_path, lock_timeout="2147484")
    assert OPTIONS["lock_timeout"].accepts == "seconds, 0 to 2147483.647"


def test_lock_timeout_in_seconds_is_read(tmp_path):
    assert settings(tmp_path, lock_timeout="2.5").lock_timeout == 2.5
    assert settings(tmp_path).lock_timeout == 300.0


# -- every option, every kind of bad value ----------------------------------------------------------

# Each option the bridge checks, with values it must refuse at load. Options that take any text
# (a folder, a glob, SQL) are named in TEXT_OPTIONS: their faults surface where they are used.
BAD_VALUES = {
    "legacy_name_format": ["stems", "AUTO", "file name"],
    "lock_timeout": ["5min", "-1", "nan", "inf", "1e308", "2147484", "true"],
    "migration_lock_timeout": ["2 sec", "-1s", "99999999999999d", "2147483648", "25d", "1e3s", "nan", "\u0663s"],
    "migration_statement_timeout": [
        "forever",
        "9999999999ms",
        "3000h",
        "\uff11\uff10s",
        "\u0665",
        "2\u00a0s",
        "1\u3000min",
    ],
    "lock_retries": ["many", "-1", "1.5", "101", "10000000000", "true"],
    "lock_retry_backoff": ["soon", "-0.5", "1e308", "inf", "nan", "3601", "true"],
    "rebuild_invalid_indexes": ["maybe", "2", "enabled", "ja"],
    "strict": ["maybe", "y", "t", "10"],
    "target_metadata": ["my app:Base.metadata", "models:", ":metadata", "models::x", "a-b:metadata"],
    "version_table": ["v" * 64, "é" * 32],
    "version_table_schema": ["s" * 64],
    "legacy_table": ["public.schema_migrations", '"quoted"', "two words", "1st", "t" * 64],
    "legacy_name_column": ["file-name", "1st", "c" * 64],
    "legacy_applied_column": ["applied at", "a;b"],
}
TEXT_OPTIONS = {
    "dotenv",
    "legacy_location",
    "legacy_ignore",
    "embedded_postgres",
    "fleet_targets",
    "fleet_targets_query",
    "fleet_schemas",
}


def test_every_option_the_bridge_reads_is_either_checked_here_or_takes_any_text():
    from bridge.settings import OPTIONS

    assert set(OPTIONS) == set(BAD_VALUES) | TEXT_OPTIONS
    assert {name for name, option in OPTIONS.items() if option.check is None} == TEXT_OPTIONS


@pytest.mark.parametrize("name, value", [(name, value) for name, values in BAD_VALUES.items() for value in values])
def test_a_bad_option_value_is_one_config_error_naming_the_option_and_the_value(tmp_path, name, value):
    with pytest.raises(ConfigError) as err:
        settings(tmp_path, **{name: value})
    message = str(err.value)
    assert message.startswith(f"{name} = {value!r} "), message
    assert "Write" in message or "Use" in message or "write" in message, message


@pytest.mark.parametrize(
    "name, value, expected",
    [
        ("migration_lock_timeout", "2147483647", "2147483647"),
        ("migration_lock_timeout", "24d", "24d"),
        ("migration_statement_timeout", "1.5s", "1.5s"),
        ("lock_retry_backoff", "3600", 3600.0),
        ("lock_retry_backoff", "0", 0.0),
        ("lock_retries", "100", 100),
        ("lock_timeout", "0", 0.0),
        ("rebuild_invalid_indexes", "ON", True),
        ("target_metadata", "myapp.models:Base.metadata", "myapp.models:Base.metadata"),
        ("target_metadata", "models", "models"),
    ],
)
def test_the_bounds_themselves_are_accepted(tmp_path, name, value, expected):
    from bridge.settings import OPTIONS

    assert OPTIONS[name].check is not None
    assert OPTIONS[name].check(value, name) == expected
    settings(tmp_path, **{name: value})


@pytest.mark.parametrize(
    "value", ["2147483647", "24d", "1.5s", "1 min", "0", "0.5", "500ms", "2h", "1000us", "2\ts", "2\u00a0s"]
)
def test_every_timeout_the_check_accepts_postgresql_accepts_too(engine, value):
    from bridge.settings import interval

    try:
        checked = interval(value, "migration_lock_timeout")
    except ConfigError:
        return  # refused when read, not by PostgreSQL in the middle of a run
    with engine.begin() as conn:
        conn.exec_driver_sql("SELECT set_config('lock_timeout', %(v)s, true)", {"v": checked})


@pytest.mark.parametrize(
    "name, toml",
    [("lock_retries", '["3"]'), ("legacy_location", '["migrations"]'), ("strict", '{a = "1"}'), ("strict", "[1]")],
)
def test_a_list_in_pyproject_for_an_option_of_one_value_is_refused_not_ignored(tmp_path, name, toml):
    pyproject = tmp_path / "pyproject.toml"
    options = {"script_location": '"alembic"', "legacy_location": '"migrations"', name: toml}
    pyproject.write_text("[tool.alembic]\n" + "".join(f"{k} = {v}\n" for k, v in options.items()))
    with pytest.raises(ConfigError) as err:
        BridgeSettings.from_config(Config(toml_file=str(pyproject)))
    assert str(err.value).startswith(name) and "is not one value" in str(err.value), str(err.value)
    assert "Write one value" in str(err.value)


def test_a_per_migration_setting_is_checked_with_the_same_bounds():
    from bridge.settings import BridgeSettings as Settings
    from bridge.steps import Policy

    class Module:
        lock_retry_backoff = 1e308

    with pytest.raises(ConfigError, match=r"lock_retry_backoff = 1e\+308 \(in x.py\) is more than 3600 seconds"):
        Policy.of(Settings(None), Module(), "x.py")  # type: ignore[arg-type]


def test_the_readme_configuration_table_lists_every_option_with_what_it_accepts():
    from pathlib import Path

    from bridge.settings import OPTIONS

    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("## Configuration") :]
    rows = {
        cells[0].strip("| `"): cells
        for cells in (line.split(" | ") for line in table.splitlines() if line.startswith("| `"))
    }
    for name, option in OPTIONS.items():
        assert name in rows, name
        assert rows[name][-1].rstrip(" |") == option.accepts, rows[name]


@pytest.mark.parametrize(
    "toml, named",
    [
        ("postgres-version = 160", "postgres-version = 160"),
        ("postgres-version = 8", "postgres-version = 8"),
        ('postgres-version = "sixteen"', "postgres-version = 'sixteen'"),
        ('postgres-version = "\u00b9\u2076"', "postgres-version = '\u00b9\u2076'"),  # digits to isdigit(), not to int()
        ('lock-rules-since = "last year"', "lock-rules-since = 'last year'"),
        ("lock-rules-since = 2025", "lock-rules-since = 2025"),
        ('severity = { LB510 = "warn" }', "LB510 = 'warn'"),
        ('select = "LB999"', "'LB999'"),
        ("ignore = [1]", "ignore = [1]"),
        ('per-file-ignores = ["x"]', "per-file-ignores = ['x']"),
        ("unknown-key = 1", "unknown-key"),
        ("small-table-rows = -1", "small-table-rows = -1"),
        ('small-table-rows = "many"', "small-table-rows = 'many'"),
    ],
)
def test_every_lint_setting_with_a_bad_value_is_a_config_error_naming_it(tmp_path, toml, named):
    from bridge.lint.settings import load_settings

    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(f"[tool.alembic-bridge.lint]\n{toml}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_settings(pyproject)
    assert named in str(err.value)


def test_an_unknown_lint_key_is_refused_naming_every_key_there_is(tmp_path):
    from bridge.lint.settings import SETTING_KEYS, load_settings

    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text("[tool.alembic-bridge.lint]\nsmall-table-row = 5\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_settings(pyproject)
    for key in SETTING_KEYS:
        assert key in str(err.value), key


def test_the_readme_lists_every_lint_setting_with_what_it_accepts():
    from pathlib import Path

    from bridge.lint.settings import SETTING_KEYS

    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("[tool.alembic-bridge.lint]") :].split("\n\n")[1]
    rows = {line.split(" | ")[0].strip("| `"): line for line in table.splitlines() if line.startswith("| `")}
    assert set(rows) == set(SETTING_KEYS)
    assert all(len(row.split(" | ")) == 3 and row.split(" | ")[2].strip(" |") for row in rows.values()), rows
