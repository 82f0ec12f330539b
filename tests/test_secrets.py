"""No output ever shows a password the bridge knows, and masking never eats the reason.

A table of hostile passwords (``@ : / % # ' " \\ space`` and non-ASCII), each the
password of a real login role on the test server, goes through an upgrade that
fails with the password in its exception text, a connection failure, the fleet
(table, ``--json``, ``--junit``), ``log --json``, the run-log table,
``logs/migrations.log``, the stock ``alembic`` command and ``lint --format
sarif``: no piece of the password is shown, and each output still says why it
failed.
"""

from __future__ import annotations

import json
import shutil
import uuid
import xml.etree.ElementTree as ET
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from conftest import REPO, legacy_source, make_project, url_text

from bridge.errors import BridgeError, ConfigError

PASSWORDS = {
    "url-breaking": "Zq7@x:K/9%w#Q",  # @ : / % #
    "quotes-backslash-space": "Vb'3\"Jx\\Wk Mq",  # ' " \ and a space
    "non-ascii": "Øy8ñ€Ğq日本Tz",
}
REASON = "boom-the-reason"
FAILING = f'''"""
Migration: fails
"""


def upgrade(engine):
    url = engine.url
    raise RuntimeError(
        f"{REASON}: could not use {{url.password}} (as {{url.render_as_string(hide_password=False)}})"
    )


def downgrade(engine):
    pass
'''


def pieces(secret: str) -> set[str]:
    """Every 4-character piece of *secret*, and every 6-character piece of it percent-encoded."""
    encoded = quote(secret, safe="")
    return {secret[i : i + 4] for i in range(len(secret) - 3)} | {encoded[i : i + 6] for i in range(len(encoded) - 5)}


def assert_hidden(secret: str, text: str, where: str) -> None:
    shown = sorted(p for p in pieces(secret) if p in text)
    assert not shown, f"{where} shows {shown!r} of the password:\n{text}"


@pytest.fixture(params=list(PASSWORDS), ids=list(PASSWORDS))
def role(request, pg_admin_url, database_url):
    """A non-superuser login role with a hostile password, owning the test's database."""
    password = PASSWORDS[request.param]
    name = f"r_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(pg_admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE ROLE "{name}" LOGIN PASSWORD %(p)s', {"p": password})
        conn.exec_driver_sql(f'ALTER DATABASE "{database_url.database}" OWNER TO "{name}"')
    url = database_url.set(username=name, password=password)
    try:
        yield name, password, url
    finally:
        db = sa.create_engine(database_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        with db.connect() as conn:
            conn.exec_driver_sql(f'REASSIGN OWNED BY "{name}" TO CURRENT_USER')
            conn.exec_driver_sql(f'DROP OWNED BY "{name}"')
        db.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'ALTER DATABASE "{database_url.database}" OWNER TO CURRENT_USER')
            conn.exec_driver_sql(f'DROP ROLE "{name}"')
        admin.dispose()


def _project(tmp_path, url):
    project = make_project(tmp_path / "project", url)
    project.table("20251001_create_a", "a")
    project.write("20251002_fails.py", FAILING)
    shutil.copy(REPO / "run.py", project.root / "run.py")
    return project


@pytest.mark.slow
def test_a_failing_upgrade_never_shows_the_password_in_any_output(tmp_path, role, database_url):
    _, password, url = role
    project = _project(tmp_path, url)

    bridge = project.run("alembic-bridge", "upgrade")
    assert bridge.returncode == 1
    assert REASON in bridge.output
    assert_hidden(password, bridge.output, "alembic-bridge upgrade")

    verbose = project.run("alembic-bridge", "-v", "upgrade")
    assert verbose.returncode == 1
    assert "Traceback" in verbose.output and REASON in verbose.output
    assert_hidden(password, verbose.output, "alembic-bridge -v upgrade")

    stock = project.run("alembic", "upgrade", "head")
    assert stock.returncode != 0
    assert "FAILED" in stock.output and REASON in stock.output
    assert_hidden(password, stock.output, "alembic upgrade head")

    logged = project.run("alembic-bridge", "log", "--json")
    assert logged.returncode == 0, logged.output
    errors = [row["error"] for row in json.loads(logged.stdout) if row["error"]]
    assert errors and all(REASON in error for error in errors), errors
    assert_hidden(password, logged.output, "alembic-bridge log --json")

    # What is stored is masked before it is written, not only when shown.
    stored = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    with stored.connect() as conn:
        rows = [r[0] for r in conn.exec_driver_sql("SELECT error FROM alembic_bridge_log WHERE error IS NOT NULL")]
    stored.dispose()
    assert rows and all(REASON in row for row in rows)
    assert_hidden(password, "\n".join(rows), "alembic_bridge_log.error")

    migrate = project.run("python", "run.py", "migrate")
    assert migrate.returncode != 0
    verbose_migrate = project.run("python", "run.py", "-v", "migrate")
    assert verbose_migrate.returncode != 0 and "Traceback" in verbose_migrate.output
    assert_hidden(password, verbose_migrate.output, "run.py -v migrate")
    log_file = (project.root / "logs" / "migrations.log").read_text(encoding="utf-8")
    assert REASON in log_file
    assert_hidden(password, migrate.output + log_file, "run.py migrate and logs/migrations.log")


@pytest.mark.slow
def test_a_connection_failure_never_shows_the_password_and_says_why(tmp_path, role):
    _, password, url = role
    missing = url.set(database=f"missing_{uuid.uuid4().hex[:8]}")
    project = _project(tmp_path, missing)
    for argv in (("alembic-bridge", "status"), ("alembic-bridge", "upgrade"), ("alembic", "upgrade", "head")):
        result = project.run(*argv)
        assert result.returncode != 0
        assert "does not exist" in result.output, result.output
        assert_hidden(password, result.output, " ".join(argv))
    given = project.run("alembic-bridge", "--url", url_text(missing), "status", env={"DATABASE_URL": ""})
    assert "does not exist" in given.output and "--url" in given.output, given.output
    assert_hidden(password, given.output, "--url")


@pytest.mark.slow
def test_the_fleet_never_shows_the_password_in_its_table_json_or_junit(tmp_path, role):
    name, password, url = role
    project = _project(tmp_path, None)
    missing = url.set(database="fleet_missing_db")

    def line(target) -> str:  # the URL with ${PW} where its password goes
        return target.set(password="PWHERE").render_as_string(hide_password=False).replace("PWHERE", "${PW}")

    targets = project.root / "targets.txt"
    targets.write_text(f"failing {line(url)}\n{line(missing)}\n", encoding="utf-8")
    env = {"PW": quote(password, safe=""), "DATABASE_URL": url_text(url)}
    junit = project.root / "report.xml"
    as_json = project.run("alembic-bridge", "fleet", "upgrade", "--targets", "targets.txt", "--json", env=env)
    table = project.run(
        "alembic-bridge", "fleet", "upgrade", "--targets", "targets.txt", "--junit", str(junit), env=env
    )
    status = project.run("alembic-bridge", "fleet", "status", "--targets", "targets.txt", "--json", env=env)
    xml = junit.read_text(encoding="utf-8")
    for where, text in (
        ("--json", as_json.output),
        ("table", table.output),
        ("--junit", xml),
        ("status", status.output),
    ):
        assert_hidden(password, text, f"fleet {where}")

    records = {t["name"]: t for t in json.loads(as_json.stdout)["targets"]}
    # Named from the URL: host and database, never the user or the password.
    unnamed = f"{url.host}/{missing.database}" if url.host else missing.database
    assert set(records) == {"failing", unnamed}, records
    assert REASON in records["failing"]["error"]
    assert "does not exist" in records[unnamed]["error"]
    assert REASON in table.output and "does not exist" in table.output
    cases = {case.get("name"): case for case in ET.fromstring(xml).iter("testcase")}
    assert REASON in ET.tostring(cases["failing"], encoding="unicode")
    assert "does not exist" in ET.tostring(cases[unnamed], encoding="unicode")
    checked = {t["name"]: t for t in json.loads(status.stdout)["targets"]}
    assert "does not exist" in checked[unnamed]["error"]


@pytest.mark.slow
def test_lint_sarif_never_shows_the_configured_password(tmp_path, role):
    _, password, url = role
    project = _project(tmp_path, url)
    literal = "'" + password.replace("'", "''") + "'"
    project.write("20251003_role.py", legacy_source(f"SELECT 1 {literal}"))  # the parser quotes the literal
    sarif = project.run("alembic-bridge", "lint", "--format", "sarif")
    messages = [r["message"]["text"] for r in json.loads(sarif.stdout)["runs"][0]["results"]]
    assert any("does not parse" in m for m in messages), messages
    assert_hidden(password, json.dumps(messages, ensure_ascii=False), "lint --format sarif")
    assert_hidden(password, sarif.stdout, "lint --format sarif")
    check = project.run("alembic-bridge", "check", "--offline", "--format", "sarif")
    assert "does not parse" in check.stdout, check.output
    assert_hidden(password, check.output, "check --offline --format sarif")


def test_a_connection_the_caller_hands_over_has_its_password_hidden_too(tmp_path, role, remembered, monkeypatch):
    # Python API / pytest-alembic: the bridge resolves no URL, the caller's engine carries the password.
    from alembic import command
    from alembic.config import Config

    _, password, url = role
    for name in ("DATABASE_URL", "DB_USER", "DB_PASSWORD", "DB_HOST", "DB_PORT", "DB_NAME"):
        monkeypatch.delenv(name, raising=False)
    project = _project(tmp_path, url)
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    config = Config(str(project.root / "alembic.ini"))
    try:
        with engine.connect() as conn:
            config.attributes["connection"] = conn
            with pytest.raises(BridgeError) as err:
                command.upgrade(config, "head")
            stored = (
                conn.exec_driver_sql("SELECT error FROM alembic_bridge_log WHERE error IS NOT NULL").scalars().all()
            )
    finally:
        engine.dispose()
    assert REASON in str(err.value)
    assert_hidden(password, str(err.value), "the error raised to the caller")
    assert stored and all(REASON in row for row in stored)
    assert_hidden(password, "\n".join(stored), "alembic_bridge_log.error")


# -- masking itself (fast) ------------------------------------------------------------------------


@pytest.fixture
def remembered():
    from bridge.masking import forget_all

    forget_all()
    yield
    forget_all()


@pytest.mark.parametrize("password", list(PASSWORDS.values()), ids=list(PASSWORDS))
def test_a_remembered_password_is_hidden_in_every_spelling(remembered, password):
    from bridge.masking import mask_text, remember_url

    remember_url(sa.engine.URL.create("postgresql", username="app", password=password, host="h", database="d"))
    spellings = [password, quote(password, safe=""), repr(password), json.dumps(password)]
    for spelling in spellings:
        text = f"{REASON}: {spelling} was refused"
        assert_hidden(password, mask_text(text), spelling)
        assert REASON in mask_text(text)
    err = ConfigError(f"{REASON}: {password}")
    assert_hidden(password, str(err), "a BridgeError")
    assert str(err).startswith(REASON)


def test_masking_twice_keeps_the_reason(remembered):
    from bridge.masking import mask_text

    message = (
        "Cannot connect to postgresql://app:***@db.example/app (--targets): FATAL: password "
        'authentication failed for user "app". Check the user name and password in --targets; in a URL, '
        "special characters in the password must be percent-encoded (@ as %40, : as %3A, / as %2F)"
    )
    assert mask_text(message) == message
    assert mask_text(mask_text(message)) == message
    from bridge.fleet.report import Record

    assert Record("t", None, None, "failed", error=message).error == message


def test_a_raw_password_in_an_unnamed_fleet_target_is_an_error_not_its_name(tmp_path, remembered):
    from bridge.fleet.targets import TargetsError, read_targets_file

    targets = tmp_path / "targets.txt"
    targets.write_text("postgresql://u:${PW}@host/db\n", encoding="utf-8")
    with pytest.raises(TargetsError) as err:
        read_targets_file(targets, {"PW": "S3cr@tValue"})
    assert f"{targets}:1" in str(err.value) and "cannot be parsed" in str(err.value)
    assert "tValue" not in str(err.value) and "S3cr" not in str(err.value)


def test_a_bad_url_from_targets_query_is_reported_as_coming_from_it(remembered):
    from bridge.fleet import api
    from bridge.fleet.precheck import Expected
    from bridge.fleet.targets import Target

    target = Target("tenant", "postgresql://u:pw@h:notaport/db", origin="--targets-query row 1")
    (checked,) = api.check(None, [target], Expected([], frozenset()))  # type: ignore[arg-type]
    assert checked.error is not None and "(--targets-query row 1)" in checked.error
    assert "--targets)" not in checked.error


def test_hide_secrets_leaves_text_alone_when_nothing_is_remembered(remembered):
    from bridge.masking import hide_secrets

    text = "postgresql://app:password@host/db is the shape; S3cr@t stays"
    assert hide_secrets(text) == text


@pytest.mark.parametrize("password", ["postgres", "password", "Secret"])
def test_a_password_that_is_a_word_is_hidden_as_a_word_not_inside_longer_ones(remembered, password):
    # A dev password like 'postgres' for user 'app' must not turn every postgresql:// into ***ql://.
    from bridge.masking import mask_text, remember_url

    remember_url(f"postgresql://app:{password}@db.example/app")
    message = (
        f"Cannot connect to postgresql://app:{password}@db.example/app (--url): FATAL: password "
        'authentication failed for user "app". Secrets: see postgresql docs'
    )
    masked = mask_text(message)
    assert masked.startswith("Cannot connect to postgresql://app:***@db.example/app"), masked
    assert "see postgresql docs" in masked and "Secrets:" in masked
    assert mask_text(f"it was {password}, or ({password})") == "it was ***, or (***)"


@pytest.mark.parametrize("password", ["Secretpw", "hunterhunter"])
def test_a_password_that_is_a_word_is_hidden_after_an_escape_or_a_percent_encoding(remembered, password):
    # Hidden as a word, it must still be hidden where the character before it is escaped:
    # a URL-encoded URL (%3A before it, ':'), a repr's or JSON's \n or \t, a \xNN or \uNNNN.
    from urllib.parse import quote, quote_plus

    from bridge.masking import mask_text, remember_url

    url = f"postgresql://app:{password}@db.example/app"
    remember_url(url)
    for text in (
        quote(url, safe=""),
        quote_plus(f"host=db.example password={password}"),
        repr(f"line\n{password}"),
        json.dumps(f"tab\t{password}"),
        repr(f"\x1b{password}"),
        json.dumps(f"\u00a0{password}", ensure_ascii=True),
    ):
        assert_hidden(password, mask_text(text), text)
    assert mask_text(quote(url, safe="")).startswith("postgresql%3A")  # still not inside a longer word


def test_a_fleets_passwords_are_each_made_a_word_pattern_once(remembered, monkeypatch):
    # A fleet remembers every target's password: rebuilding every letters-only password's pattern
    # on each new one (past re's cache of 512) took 10 minutes for 3,000 targets.
    from bridge import masking

    made = []
    as_word = masking._as_word
    monkeypatch.setattr(masking, "_as_word", lambda secret: made.append(secret) or as_word(secret))
    passwords = ["".join(chr(ord("a") + (n >> shift) % 26) for shift in range(0, 40, 5)) for n in range(300)]
    for n, password in enumerate(passwords):
        masking.remember_url(f"postgresql://u{n}:{password}@db.example/t{n}")
    assert len(made) == len(set(made)), "a secret's pattern was made again"
    assert masking.mask_text(f"it was {passwords[0]} and {passwords[-1]}") == "it was *** and ***"
