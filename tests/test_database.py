"""Which database: URL precedence, the legacy DB_* variables, masking."""

import os
import shutil
import time

import pytest
from conftest import REPO, Project, make_project, url_text
from sqlalchemy.engine import make_url

from bridge.database import normalize_url, resolve_target
from bridge.errors import ConfigError
from bridge.masking import mask_url


def test_database_url_wins_over_db_variables_and_sqlalchemy_url():
    env = {"DATABASE_URL": "postgresql://a:pw@h/db", "DB_NAME": "other"}
    target = resolve_target("postgresql://x@y/z", None, environ=env)
    assert (target.source, target.url) == ("DATABASE_URL", "postgresql://a:pw@h/db")


def test_an_explicit_url_wins_over_everything():
    target = resolve_target(
        "postgresql://x@y/z", None, url="sqlite://", environ={"DATABASE_URL": "postgresql://a@h/db"}
    )
    assert (target.source, target.url) == ("--url", "sqlite://")


def test_db_variables_take_the_legacy_defaults_for_the_unset_ones():
    target = resolve_target(None, None, environ={"DB_NAME": "prod"})
    assert target.source == "DB_* variables"
    url = make_url(target.url)
    assert (url.username, url.password, url.host, url.port, url.database) == (
        "trader",
        "password123",
        "localhost",
        5432,
        "prod",
    )


def test_a_set_but_empty_db_host_means_the_socket_default_like_os_getenv():
    url = make_url(resolve_target(None, None, environ={"DB_HOST": "", "DB_PASSWORD": ""}).url)
    assert url.host is None and url.password is None and url.database == "trading_system"


def test_special_characters_in_a_db_password_are_quoted():
    url = make_url(resolve_target(None, None, environ={"DB_PASSWORD": "p@ss:w/rd"}).url)
    assert url.password == "p@ss:w/rd"


def test_sqlalchemy_url_is_used_when_nothing_else_is_set_and_the_placeholder_is_ignored():
    assert resolve_target("postgresql://x@y/z", None, environ={}).source == "sqlalchemy.url"
    with pytest.raises(ConfigError, match="No database configured"):
        resolve_target("driver://user:pass@localhost/dbname", None, environ={})


def test_the_embedded_server_is_used_only_when_configured(tmp_path):
    target = resolve_target(None, tmp_path / "pg", environ={})
    assert target.embedded == tmp_path / "pg" and target.url is None
    assert "embedded PostgreSQL in" in target.describe()


def test_a_bad_db_port_is_a_clear_error():
    with pytest.raises(ConfigError, match="DB_PORT='abc' is not a port number"):
        resolve_target(None, None, environ={"DB_PORT": "abc"})


def test_passwords_are_masked():
    assert mask_url("postgresql://u:secret@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert "secret" not in mask_url("not a url://u:secret@h")
    assert "secret" not in resolve_target(None, None, environ={"DATABASE_URL": "postgresql://u:secret@h/db"}).describe()


def test_bare_postgresql_urls_use_psycopg2():
    assert normalize_url("postgresql://u@h/db").drivername == "postgresql+psycopg2"
    assert normalize_url("postgresql+psycopg://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("sqlite:///x.db").drivername == "sqlite"


# -- .env: read, never written into os.environ ---------------------------------------------

DB_KEYS = ("DATABASE_URL", "DB_USER", "DB_PASSWORD", "DB_HOST", "DB_PORT", "DB_NAME")


@pytest.fixture
def clean_environ(monkeypatch):
    for key in (*DB_KEYS, "FROM_DOTENV"):
        monkeypatch.delenv(key, raising=False)


@pytest.fixture
def dotenv_project(tmp_path, database_url, clean_environ):
    """A project whose only database setting is DATABASE_URL in its .env."""
    project = make_project(tmp_path / "project", database_url)
    project.table("20251001_create_a", "a")
    (project.root / ".env").write_text(f"DATABASE_URL={url_text(database_url)}\nFROM_DOTENV=yes\n")
    return project


def run_without_url(project, *argv):
    """Run a command whose environment has no DATABASE_URL (the conftest helper always sets one)."""
    return Project(project.root, None).run(*argv, check=True)


def _config(project):
    from alembic.config import Config

    from bridge.context import set_request

    config = Config(str(project.root / "alembic.ini"))
    set_request(config, configure_logging=False)
    return config


def test_the_library_reads_dotenv_but_leaves_os_environ_unchanged(dotenv_project):
    import bridge
    from bridge.database import target_for

    before = dict(os.environ)
    dotenv = dotenv_project.root / ".env"
    target = target_for(_config(dotenv_project))
    assert (target.source, target.where) == ("DATABASE_URL", f"DATABASE_URL from {dotenv}")
    assert bridge.status(_config(dotenv_project)).database.endswith(f"(DATABASE_URL from {dotenv})")
    bridge.upgrade(_config(dotenv_project))
    assert dotenv_project.rows() == ["20251001_create_a"]
    assert dict(os.environ) == before


def test_a_variable_set_in_the_environment_wins_over_dotenv(dotenv_project, monkeypatch):
    from bridge.database import target_for

    monkeypatch.setenv("DATABASE_URL", "postgresql://env@h/from_environment")
    target = target_for(_config(dotenv_project))
    assert (target.url, target.where) == ("postgresql://env@h/from_environment", "DATABASE_URL from the environment")


def test_without_an_environ_argument_the_process_environment_and_the_working_directory_dotenv_count(
    tmp_path, clean_environ, monkeypatch
):
    (tmp_path / ".env").write_text("DB_NAME=from_file\n")
    monkeypatch.chdir(tmp_path)
    assert resolve_target().where == f"DB_* variables from {tmp_path / '.env'}"
    monkeypatch.setenv("DATABASE_URL", "postgresql://env@h/db")
    assert resolve_target().where == "DATABASE_URL from the environment"


def test_db_variables_name_every_place_they_came_from(tmp_path, clean_environ, monkeypatch):
    from bridge.database import read_environment, resolve_target

    (tmp_path / ".env").write_text("DB_PASSWORD=from-file\nDB_NAME=ignored\n")
    monkeypatch.setenv("DB_NAME", "shop")
    target = resolve_target(None, None, environ=read_environment(tmp_path))
    assert target.where == f"DB_* variables from the environment and {tmp_path / '.env'}"
    assert make_url(target.url).database == "shop" and make_url(target.url).password == "from-file"


def test_the_dotenv_next_to_the_config_wins_over_the_one_in_the_working_directory(tmp_path, clean_environ, monkeypatch):
    from bridge.database import read_environment

    (tmp_path / "project").mkdir()
    (tmp_path / "project" / ".env").write_text("DATABASE_URL=postgresql://near@h/db\n")
    (tmp_path / ".env").write_text("DATABASE_URL=postgresql://cwd@h/db\nDB_NAME=x\n")
    monkeypatch.chdir(tmp_path)
    env = read_environment(tmp_path / "project")
    assert env["DATABASE_URL"] == "postgresql://near@h/db" and env["DB_NAME"] == "x"
    assert env.origin("DB_NAME") == str(tmp_path / ".env")


def test_sqlalchemy_url_and_the_embedded_server_name_their_config_file(tmp_path):
    ini = str(tmp_path / "alembic.ini")
    assert resolve_target("postgresql://x@y/z", None, environ={}, config_file=ini).where == f"sqlalchemy.url in {ini}"
    assert resolve_target(None, tmp_path / "pg", environ={}, config_file=ini).describe() == (
        f"embedded PostgreSQL in {tmp_path / 'pg'} (embedded_postgres in {ini})"
    )


@pytest.mark.slow
def test_status_shows_where_the_url_came_from(dotenv_project):
    result = run_without_url(dotenv_project, "alembic-bridge", "status")
    masked = dotenv_project.url.render_as_string(hide_password=True)
    assert f"Database: {masked} (DATABASE_URL from {dotenv_project.root / '.env'})" in result.stdout


@pytest.mark.slow
def test_run_py_still_gives_its_application_the_dotenv_variables(dotenv_project):
    shutil.copy(REPO / "run.py", dotenv_project.root / "run.py")
    app = 'python -c \'import os, time; open("seen", "w").write(os.environ["FROM_DOTENV"]); time.sleep(30)\''
    with (dotenv_project.root / ".env").open("a") as f:
        f.write(f"APP_COMMAND={app}\n")
    try:
        started = run_without_url(dotenv_project, "python", "run.py", "start")
        assert f"(DATABASE_URL from {dotenv_project.root / '.env'})" in started.output
        assert "Started application (pid " in started.output
        for _ in range(50):
            if (dotenv_project.root / "seen").exists():
                break
            time.sleep(0.1)
        assert (dotenv_project.root / "seen").read_text() == "yes"
    finally:
        run_without_url(dotenv_project, "python", "run.py", "stop")


GETENV_MIGRATION = '''\
"""
Migration: table named from the environment
Date: 2025-10-02
"""
import os

from sqlalchemy import text


def upgrade(engine):
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE IF NOT EXISTS t_{os.getenv('FROM_DOTENV')} (id int)"))


def downgrade(engine):
    pass


if __name__ == "__main__":
    from bridge.manual import run_file
    run_file(__file__)
'''


@pytest.mark.parametrize("entry_point", ["run.py", "by hand"])
@pytest.mark.slow
def test_entry_points_still_give_migrations_calling_os_getenv_the_dotenv_values(dotenv_project, entry_point):
    shutil.copy(REPO / "run.py", dotenv_project.root / "run.py")
    if entry_point == "run.py":
        dotenv_project.write("20251002_from_env.py", GETENV_MIGRATION)
        run_without_url(dotenv_project, "python", "run.py", "migrate")
    else:
        run_without_url(dotenv_project, "python", "run.py", "migrate")  # the first file
        path = dotenv_project.write("20251002_from_env.py", GETENV_MIGRATION)
        result = run_without_url(dotenv_project, "python", str(path), "--upgrade")
        assert "✅ 20251002_from_env applied and recorded." in result.stdout
    assert "t_yes" in dotenv_project.tables()


@pytest.mark.slow
@pytest.mark.parametrize(
    "argv, code, prefix",
    [
        (["alembic", "current"], 255, "FAILED: "),
        (["alembic-bridge", "status"], 1, "Error: "),
        (["python", "run.py", "start"], 1, ""),
    ],
)
def test_a_dotenv_that_is_not_utf8_is_named_with_its_fix_not_a_traceback(dotenv_project, argv, code, prefix):
    shutil.copy(REPO / "run.py", dotenv_project.root / "run.py")
    dotenv = dotenv_project.root / ".env"
    dotenv.write_bytes(dotenv.read_bytes() + b"DB_PASSWORD=p\xe4ss\n")  # saved as Latin-1
    result = Project(dotenv_project.root, None).run(*argv)
    assert result.returncode == code, result.output
    assert f"{prefix}Cannot read {dotenv}: it is not UTF-8 text" in result.output
    assert "Save it as UTF-8" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("folder", ["/dev/null/pg", "/proc/no/such/folder"])
def test_an_embedded_postgres_folder_that_cannot_be_made_is_a_config_error_naming_the_option(folder):
    from pathlib import Path

    from bridge import embedded

    with pytest.raises(ConfigError) as err:
        embedded.ensure_running(Path(folder))
    assert str(err.value).startswith(f"embedded_postgres = {folder}: "), str(err.value)
    assert "writable folder" in str(err.value)
