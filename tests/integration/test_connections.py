"""Connections are read from Secrets Manager (moto), validated, and updated in place."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from apicall.core.connections import load_connection, update_connection
from apicall.core.errors import ConfigError, ConnectionNotFound
from apicall.core.models import BearerAuth, OAuth2AuthorizationCode
from apicall.core.workspaces import scoped

CRM = {
    "base_url": "https://api.example.com/v2",
    "auth": {"type": "bearer", "token": "tok-crm-9f3a"},
    "headers": {"X-Organization-ID": "org123"},
}

AUTH_CODE = {
    "base_url": "https://api.example.com",
    "auth": {
        "type": "oauth2_authorization_code",
        "authorize_url": "https://auth.example.com/authorize",
        "token_url": "https://auth.example.com/token",
        "client_id": "app",
        "client_secret": "app-secret-77",
        "refresh_token": "refresh-one",
    },
    "retry": {"attempts": 2},
}


def _stored(aws: boto3.Session, name: str) -> dict[str, Any]:
    secret = aws.client("secretsmanager").get_secret_value(SecretId=f"apicall/connections/{name}")
    return json.loads(secret["SecretString"])


def test_load_connection_validates_the_secret_into_a_connection(put_connection) -> None:
    put_connection("crm", CRM)

    connection = load_connection("crm")

    assert connection.base_url == "https://api.example.com/v2"
    assert isinstance(connection.auth, BearerAuth)
    assert connection.auth.token == "tok-crm-9f3a"
    assert connection.headers == {"X-Organization-ID": "org123"}


def test_load_connection_uses_the_prefix_from_the_environment(aws, monkeypatch) -> None:
    monkeypatch.setenv("CONNECTIONS_PREFIX", "team-a/")
    aws.client("secretsmanager").create_secret(Name="team-a/crm", SecretString=json.dumps(CRM))

    assert load_connection("crm").base_url == "https://api.example.com/v2"


def test_nested_connection_names_are_allowed(put_connection) -> None:
    put_connection("default/team/crm-eu_1.v2", CRM)

    assert load_connection("team/crm-eu_1.v2").base_url == CRM["base_url"]


def test_a_nested_name_is_not_read_from_the_place_before_workspaces(put_connection) -> None:
    # `apicall/connections/team/crm` is where workspace `team` keeps its connection `crm`: the
    # default workspace's connection "team/crm" must not reach it.
    put_connection("team/crm", CRM)

    with pytest.raises(ConnectionNotFound):
        load_connection("team/crm")
    assert load_connection(scoped("team", "crm")).base_url == CRM["base_url"]


def test_a_flat_name_of_the_default_workspace_is_read_where_it_was_before_workspaces(
    put_connection,
) -> None:
    put_connection("crm", CRM)

    assert load_connection("crm").base_url == CRM["base_url"]
    assert load_connection(scoped("default", "crm")).base_url == CRM["base_url"]
    with pytest.raises(ConnectionNotFound):
        load_connection(scoped("other", "crm"))


def test_the_workspace_place_wins_over_the_place_before_workspaces(put_connection) -> None:
    put_connection("crm", CRM)
    put_connection("default/crm", {**CRM, "base_url": "https://new.example.com"})

    assert load_connection("crm").base_url == "https://new.example.com"


def test_same_named_connections_of_two_workspaces_are_two_secrets(put_connection) -> None:
    put_connection("blue/crm", {**CRM, "base_url": "https://blue.example.com"})
    put_connection("green/crm", {**CRM, "base_url": "https://green.example.com"})

    assert load_connection(scoped("blue", "crm")).base_url == "https://blue.example.com"
    assert load_connection(scoped("green", "crm")).base_url == "https://green.example.com"
    with pytest.raises(ConnectionNotFound) as caught:
        load_connection("crm")
    assert caught.value.message == "connection 'crm' does not exist"


def test_missing_secret_is_connection_not_found_naming_the_connection(aws) -> None:
    with pytest.raises(ConnectionNotFound) as caught:
        load_connection("nowhere")

    assert "'nowhere'" in caught.value.message
    assert caught.value.field == "connection"


def test_secret_that_is_not_json_is_a_config_error_without_its_content(put_connection, aws):
    aws.client("secretsmanager").create_secret(
        Name="apicall/connections/broken", SecretString="token=hunter2-not-json"
    )

    with pytest.raises(ConfigError) as caught:
        load_connection("broken")

    assert not isinstance(caught.value, ConnectionNotFound)
    assert "'broken'" in caught.value.message
    assert "hunter2" not in caught.value.message


def test_secret_holding_a_json_array_is_a_config_error(put_connection) -> None:
    put_connection("array", [1, 2])  # type: ignore[arg-type]

    with pytest.raises(ConfigError, match="not a JSON object"):
        load_connection("array")


@pytest.mark.parametrize(
    ("connection", "field", "problem"),
    [
        ({"auth": {"type": "bearer"}}, "connection.auth.token", "Field required"),
        ({"auth": {"type": "kerberos"}}, "connection.auth", "does not match any of the expected"),
        ({"timeout_s": -1}, "connection.timeout_s", "greater than 0"),
        ({"base_url": "ftp://files"}, "connection.base_url", "absolute http(s) URL"),
        ({"retries": {"attempts": 3}}, "connection.retries", "Extra inputs are not permitted"),
        ({"retry": {"attempts": 99}}, "connection.retry.attempts", "less than or equal to 10"),
    ],
)
def test_invalid_connection_is_a_config_error_naming_the_field(
    put_connection, connection: dict[str, Any], field: str, problem: str
) -> None:
    put_connection("bad", connection)

    with pytest.raises(ConfigError) as caught:
        load_connection("bad")

    assert caught.value.field == field
    assert f"{field}: " in caught.value.message
    assert problem in caught.value.message
    assert "connection 'bad'" in caught.value.message


def test_validation_error_never_quotes_a_secret_value(put_connection) -> None:
    put_connection("leaky", {"auth": {"type": "basic", "username": "u", "password": 12345678}})

    with pytest.raises(ConfigError) as caught:
        load_connection("leaky")

    assert caught.value.field == "connection.auth.password"
    assert "12345678" not in caught.value.message


@pytest.mark.parametrize(
    "name",
    ["", "../other", "a/../b", "/abs", "trailing/", "a//b", "white space", "semi;colon", "x" * 257],
)
def test_invalid_connection_names_are_refused_before_any_lookup(aws, name: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_connection(name)

    assert caught.value.field == "connection"
    assert not isinstance(caught.value, ConnectionNotFound)


def test_update_connection_merges_nested_changes_and_keeps_the_rest(aws, put_connection) -> None:
    put_connection("crm-oauth", AUTH_CODE)

    updated = update_connection("crm-oauth", {"auth": {"refresh_token": "refresh-two"}})

    assert isinstance(updated.auth, OAuth2AuthorizationCode)
    assert updated.auth.refresh_token == "refresh-two"
    stored = _stored(aws, "crm-oauth")
    assert stored["auth"] == {**AUTH_CODE["auth"], "refresh_token": "refresh-two"}
    assert stored["retry"] == {"attempts": 2}
    assert stored["base_url"] == AUTH_CODE["base_url"]


def test_update_connection_keeps_the_secrets_own_spelling(aws, put_connection) -> None:
    put_connection(
        "keyed", {"auth": {"type": "api_key", "name": "X-Key", "value": "k-1", "in": "header"}}
    )

    update_connection("keyed", {"auth": {"value": "k-2"}})

    assert _stored(aws, "keyed")["auth"] == {
        "type": "api_key",
        "name": "X-Key",
        "value": "k-2",
        "in": "header",
    }


def test_load_after_update_sees_the_new_value_despite_the_cache(aws, put_connection) -> None:
    put_connection("crm-oauth", AUTH_CODE)
    assert load_connection("crm-oauth").auth.refresh_token == "refresh-one"  # type: ignore[union-attr]

    update_connection("crm-oauth", {"auth": {"refresh_token": "refresh-two"}})

    assert load_connection("crm-oauth").auth.refresh_token == "refresh-two"  # type: ignore[union-attr]


def test_update_connection_reads_fresh_so_it_never_writes_back_a_stale_copy(aws, put_connection):
    put_connection("crm", CRM)
    load_connection("crm")  # cached in this container
    # Another container changes the headers meanwhile.
    aws.client("secretsmanager").put_secret_value(
        SecretId="apicall/connections/crm",
        SecretString=json.dumps({**CRM, "headers": {"X-Organization-ID": "org456"}}),
    )

    update_connection("crm", {"auth": {"token": "tok-new"}})

    stored = _stored(aws, "crm")
    assert stored["headers"] == {"X-Organization-ID": "org456"}
    assert stored["auth"]["token"] == "tok-new"


def test_invalid_update_is_refused_and_nothing_is_written(aws, put_connection) -> None:
    put_connection("crm", CRM)

    with pytest.raises(ConfigError) as caught:
        update_connection("crm", {"timeout_s": 0})

    assert caught.value.field == "connection.timeout_s"
    assert _stored(aws, "crm") == CRM


def test_update_of_a_missing_connection_is_connection_not_found(aws) -> None:
    with pytest.raises(ConnectionNotFound):
        update_connection("ghost", {"auth": {"refresh_token": "x"}})
