"""The first errors a new user meets: no server, a wrong password, a missing database.

``alembic``, ``alembic-bridge`` and ``python run.py`` print the same one-paragraph
message: the masked URL, where it came from, the server's reason and what to
check. Stock Alembic prints it as a ``CommandError`` (``FAILED: ...``, exit
255); ours exit 1; none prints a traceback.
"""

from __future__ import annotations

import shutil
import socket

import pytest
from conftest import REPO, make_project, password_checked_role, url_text

PASSWORD = "Pw-4711secret"


def free_port() -> int:
    """A TCP port on 127.0.0.1 with nothing listening on it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def project(tmp_path, database_url):
    proj = make_project(tmp_path / "project", None)
    proj.table("20251001_create_a", "a")
    shutil.copy(REPO / "run.py", proj.root / "run.py")
    return proj


# front end: (argv, exit code, prefix of the message line)
FRONT_ENDS = {
    "alembic": (["alembic", "upgrade", "head"], 255, "FAILED: "),
    "alembic-bridge upgrade": (["alembic-bridge", "upgrade"], 1, "Error: "),
    "alembic-bridge status": (["alembic-bridge", "status"], 1, "Error: "),
    "run.py": (["python", "run.py", "start"], 1, "❌ "),
}


def message_of(project, front_end: str, *, env=None, extra=()) -> str:
    """Run *front_end*; check its exit code and that it prints no traceback; return the message."""
    argv, code, prefix = FRONT_ENDS[front_end]
    argv = [argv[0], *extra, *argv[1:]]
    result = project.run(*argv, env=env)
    assert result.returncode == code, f"{front_end} exited {result.returncode}:\n{result.output}"
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.startswith(prefix)]
    assert len(lines) == 1, f"{front_end} printed {lines!r}:\n{result.output}"
    message = lines[0][len(prefix) :]
    assert PASSWORD not in result.output
    if front_end == "run.py":
        assert f"ERROR ❌ {message}" in (project.root / "logs" / "migrations.log").read_text()
    return message


def refused(shown: str, where: str, port: int) -> str:
    return (
        f'Cannot connect to {shown} ({where}): connection to server at "127.0.0.1", port {port} '
        f"failed: Connection refused. Is the PostgreSQL server running and accepting connections "
        f"on 127.0.0.1:{port}? Start it, or correct the host and port in {where}."
    )


@pytest.mark.slow
@pytest.mark.parametrize("front_end", FRONT_ENDS)
def test_a_stopped_server_names_the_url_its_source_the_reason_and_what_to_check(project, front_end):
    port = free_port()
    url = f"postgresql://app:{PASSWORD}@127.0.0.1:{port}/shop"
    message = message_of(project, front_end, env={"DATABASE_URL": url})
    assert message == refused(f"postgresql://app:***@127.0.0.1:{port}/shop", "DATABASE_URL from the environment", port)


SOURCES = [
    (source, front_end)
    for source in ("DATABASE_URL in .env", "DB_* in .env", "sqlalchemy.url")
    for front_end in ("alembic", "alembic-bridge status", "run.py")
] + [("--url", "alembic-bridge status")]  # the option only alembic-bridge has


@pytest.mark.slow
@pytest.mark.parametrize("source, front_end", SOURCES)
def test_the_message_says_where_the_url_came_from(project, front_end, source):
    port = free_port()
    url = f"postgresql://app:{PASSWORD}@127.0.0.1:{port}/shop"
    dotenv = project.root / ".env"
    extra = ()
    if source == "DATABASE_URL in .env":
        dotenv.write_text(f"DATABASE_URL={url}\n")
        where = f"DATABASE_URL from {dotenv}"
    elif source == "DB_* in .env":
        dotenv.write_text(f"DB_USER=app\nDB_PASSWORD={PASSWORD}\nDB_HOST=127.0.0.1\nDB_PORT={port}\nDB_NAME=shop\n")
        where = f"DB_* variables from {dotenv}"
    elif source == "sqlalchemy.url":
        ini = project.root / "alembic.ini"
        ini.write_text(ini.read_text().replace("[alembic]\n", f"[alembic]\nsqlalchemy.url = {url}\n", 1))
        where = f"sqlalchemy.url in {ini}"
    else:
        extra = ("--url", url)
        where = "--url"
    message = message_of(project, front_end, extra=extra)
    assert message == refused(f"postgresql://app:***@127.0.0.1:{port}/shop", where, port)


@pytest.mark.slow
@pytest.mark.parametrize("front_end", FRONT_ENDS)
def test_a_missing_database_says_how_to_create_it(project, database_url, front_end):
    missing = database_url.set(database="no_such_db_4711")
    message = message_of(project, front_end, env={"DATABASE_URL": url_text(missing)})
    shown = missing.set(drivername=database_url.drivername).render_as_string(hide_password=True)
    head = f"Cannot connect to {shown} (DATABASE_URL from the environment): "
    assert message.startswith(head), message
    assert 'FATAL: database "no_such_db_4711" does not exist. ' in message
    host = database_url.host or database_url.query.get("host")
    port = f" -p {database_url.port}" if database_url.port else ""
    assert message.endswith(
        f"Create it: createdb -h {host}{port} -U {database_url.username} no_such_db_4711 "
        '(or CREATE DATABASE "no_such_db_4711"; in psql), or correct the database name in '
        "DATABASE_URL from the environment."
    ), message


@pytest.fixture
def password_role(pg_admin_url):
    """A role that must log in with a password (the embedded test server trusts everyone else)."""
    with password_checked_role(pg_admin_url, "right-Pw-1") as role:
        yield role


@pytest.mark.slow
@pytest.mark.parametrize("front_end", FRONT_ENDS)
def test_a_wrong_password_says_to_check_the_password(project, database_url, password_role, front_end):
    wrong = database_url.set(drivername="postgresql", username=password_role, password=PASSWORD)
    message = message_of(project, front_end, env={"DATABASE_URL": url_text(wrong)})
    shown = wrong.render_as_string(hide_password=True)
    assert message.startswith(f"Cannot connect to {shown} (DATABASE_URL from the environment): ")
    assert f'FATAL: password authentication failed for user "{password_role}". ' in message
    assert message.endswith(
        "Check the user name and password in DATABASE_URL from the environment; in a URL, "
        "special characters in the password must be percent-encoded (@ as %40, : as %3A, "
        "/ as %2F, % as %25, # as %23, space as %20)."
    ), message


@pytest.mark.slow
def test_all_three_front_ends_print_the_same_message(project):
    port = free_port()
    env = {"DATABASE_URL": f"postgresql://app:{PASSWORD}@127.0.0.1:{port}/shop"}
    messages = {name: message_of(project, name, env=env) for name in FRONT_ENDS}
    assert len(set(messages.values())) == 1, messages


@pytest.mark.slow
def test_verbose_shows_the_traceback_but_still_no_password(project):
    port = free_port()
    env = {"DATABASE_URL": f"postgresql://app:{PASSWORD}@127.0.0.1:{port}/shop"}
    for argv in (["alembic-bridge", "-v", "upgrade"], ["python", "run.py", "-v", "start"]):
        result = project.run(*argv, env=env)
        assert result.returncode == 1
        assert "Traceback" in result.stderr and "ConnectionFailed: Cannot connect to" in result.stderr
        assert PASSWORD not in result.output
