"""Which database: URL precedence, the legacy DB_* variables, masking."""

import pytest
from sqlalchemy.engine import make_url

from bridge.database import mask_url, normalize_url, resolve_target
from bridge.errors import ConfigError


def test_database_url_wins_over_db_variables_and_sqlalchemy_url():
    env = {"DATABASE_URL": "postgresql://a:pw@h/db", "DB_NAME": "other"}
    target = resolve_target("postgresql://x@y/z", None, environ=env)
    assert (target.source, target.url) == ("DATABASE_URL", "postgresql://a:pw@h/db")


def test_an_explicit_url_wins_over_everything():
    target = resolve_target("postgresql://x@y/z", None, url="sqlite://", environ={"DATABASE_URL": "postgresql://a@h/db"})
    assert (target.source, target.url) == ("--url", "sqlite://")


def test_db_variables_take_the_legacy_defaults_for_the_unset_ones():
    target = resolve_target(None, None, environ={"DB_NAME": "prod"})
    assert target.source == "DB_* variables"
    url = make_url(target.url)
    assert (url.username, url.password, url.host, url.port, url.database) == ("trader", "password123", "localhost", 5432, "prod")


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
