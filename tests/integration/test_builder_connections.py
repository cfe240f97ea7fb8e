"""The builder's connection routes end to end: API Gateway events into functions/request/api.py,
secrets in moto's Secrets Manager, metadata in CatalogTable, tests against real local servers
(pytest-httpserver, trustme for TLS)."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest
import trustme
from pytest_httpserver import HTTPServer
from werkzeug.wrappers import Request, Response

from apicall.core.catalog import default_catalog_store
from functions.request import api
from local.stack import LocalContext
from tests.support.demo import load_event
from tests.support.servers import client_cert

pytestmark = pytest.mark.usefixtures("tables")

PREFIX = "apicall/connections/"
TOKEN = "crm-bearer-4f1e9a77c2"
OTHER_TOKEN = "team-b-bearer-88d0c1e5"
CLIENT_SECRET = "oauth-client-secret-6b2d"
ACCESS_TOKEN = "issued-access-token-93af0c"
SECOND_KEY = "key-team-b"


def call(
    method: str,
    path: str,
    body: Any = None,
    *,
    query: dict[str, str] | None = None,
    key: str = "key1",
) -> tuple[int, Any]:
    """One request through api.handler, as API Gateway sends it with the API key `key`."""
    event = copy.deepcopy(load_event("api_connections_create.json"))
    event["httpMethod"] = event["requestContext"]["httpMethod"] = method
    event["path"] = path
    event["requestContext"]["path"] = f"/dev{path}"
    event["requestContext"]["identity"]["apiKeyId"] = key
    event["body"] = None if body is None else json.dumps(body)
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in (query or {}).items()} or None
    answer = api.handler(event, LocalContext("ApiFunction", 30))
    text = answer["body"]
    return answer["statusCode"], json.loads(text) if text else None


def bearer_api(server: HTTPServer, token: str = TOKEN) -> str:
    """`server` answers /me with 200 for `Bearer <token>`, 401 otherwise; its base URL."""

    def me(request: Request) -> Response:
        if request.headers.get("Authorization") != f"Bearer {token}":
            return Response('{"error": "unauthorized"}', 401, mimetype="application/json")
        return Response('{"id": "me"}', mimetype="application/json")

    server.expect_request("/me").respond_with_handler(me)
    return server.url_for("").rstrip("/")


def bearer(base_url: str, token: str = TOKEN, **extra: Any) -> dict[str, Any]:
    return {
        "base_url": base_url,
        "auth": {"type": "bearer", "token": token},
        "allow_private_network": True,
        **extra,
    }


@pytest.fixture
def secrets(aws: boto3.Session) -> Any:
    return aws.client("secretsmanager")


def stored(secrets: Any, secret_id: str) -> dict[str, Any]:
    return dict(json.loads(secrets.get_secret_value(SecretId=secret_id)["SecretString"]))


@pytest.fixture
def team_b() -> str:
    """A second API key, mapped to workspace team-b."""
    default_catalog_store().set_api_key_workspace(SECOND_KEY, "team-b")
    return SECOND_KEY


# --- create, read, list, replace, delete -------------------------------------------------------


def test_a_connection_is_created_read_replaced_and_deleted(secrets: Any) -> None:
    body = {
        "name": "crm",
        "display_name": "CRM",
        "description": "customer records",
        "connection": bearer("https://api.example.com/v2", headers={"X-Org": "org1"}),
    }

    status, created = call("POST", "/connections", body)

    assert status == 201, created
    assert created["name"] == "crm" and created["display_name"] == "CRM"
    assert created["connection"] == {
        "base_url": "https://api.example.com/v2",
        "auth": {"type": "bearer", "token": "***"},
        "headers": {"X-Org": "org1"},
        "allow_private_network": True,
    }
    assert created["created_at"] and created["created_at"] == created["updated_at"]
    assert stored(secrets, f"{PREFIX}default/crm")["auth"]["token"] == TOKEN

    status, read = call("GET", "/connections/crm")
    assert (status, read) == (200, created)

    changed = {**read["connection"], "timeout_s": 5}
    status, replaced = call("PUT", "/connections/crm", {"description": None, "connection": changed})
    assert status == 200, replaced
    assert replaced["display_name"] == "CRM" and replaced["description"] is None
    assert replaced["connection"]["timeout_s"] == 5
    assert stored(secrets, f"{PREFIX}default/crm")["auth"]["token"] == TOKEN

    status, answer = call("DELETE", "/connections/crm")
    assert (status, answer) == (204, None)
    assert call("GET", "/connections/crm")[0] == 404
    with pytest.raises(secrets.exceptions.ResourceNotFoundException):
        secrets.get_secret_value(SecretId=f"{PREFIX}default/crm")
    # Deleted at once: the name can be used again straight away.
    assert call("POST", "/connections", body)[0] == 201


def test_a_name_taken_is_a_409(put_connection: Callable[..., str], team_b: str) -> None:
    body = {"name": "crm", "connection": bearer("https://api.example.com")}
    assert call("POST", "/connections", body)[0] == 201

    status, answer = call("POST", "/connections", body)

    assert status == 409, answer
    assert answer["error"] == {
        "kind": "exists",
        "message": "connection 'crm' already exists",
        "fields": ["name"],
    }
    # A connection stored where connections lived before workspaces is the default's.
    put_connection("legacy", bearer("https://api.example.com"))
    status, answer = call("POST", "/connections", {**body, "name": "legacy"})
    assert (status, answer["error"]["fields"]) == (409, ["name"])
    assert call("POST", "/connections", {**body, "name": "legacy"}, key=team_b)[0] == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "crm", "connection": {"auth": {"type": "bearer"}}}, "connection.auth.token"),
        ({"name": "crm", "connection": {"base_url": "ftp://x"}}, "connection.base_url"),
        ({"name": "crm", "connection": {"timeout_s": 0}}, "connection.timeout_s"),
        (
            {"name": "crm", "connection": {"auth": {"type": "basic", "username": "a"}}},
            "connection.auth.password",
        ),
        ({"name": "a/b", "connection": {}}, "name"),
        ({"name": "a#b", "connection": {}}, "name"),
        ({"name": "..", "connection": {}}, "name"),
        ({"name": "test", "connection": {}}, "name"),
        ({"connection": {}}, "name"),
        ({"name": "crm"}, "connection"),
        (
            {"name": "crm", "connection": {"auth": {"type": "bearer", "token": "***"}}},
            "connection.auth.token",
        ),
    ],
)
def test_invalid_input_is_a_422_naming_the_field(body: dict[str, Any], field: str) -> None:
    status, answer = call("POST", "/connections", body)

    assert status == 422, answer
    assert answer["error"]["fields"][0] == field
    assert call("GET", "/connections/crm")[0] == 404


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/connections/nope", None),
        ("PUT", "/connections/nope", {"connection": {}}),
        ("DELETE", "/connections/nope", None),
        ("POST", "/connections/nope/test", {}),
    ],
)
def test_an_unknown_connection_is_a_404_naming_name(
    method: str, path: str, body: dict[str, Any] | None
) -> None:
    status, answer = call(method, path, body)

    assert status == 404, answer
    assert answer["error"] == {
        "kind": "not_found",
        "message": "connection 'nope' does not exist",
        "fields": ["name"],
    }


def test_120_connections_are_listed_to_the_end_one_query_per_page() -> None:
    names = [f"c{n:03d}" for n in range(120)]
    for name in names:
        body = {"name": name, "connection": bearer("https://api.example.com", token=f"t-{name}")}
        assert call("POST", "/connections", body)[0] == 201
    sent: list[str] = []

    def count(model: Any, **_: Any) -> None:
        sent.append(model.name)

    events = default_catalog_store().table.meta.client.meta.events
    events.register("before-call.dynamodb.*", count)
    listed: list[dict[str, Any]] = []
    pages = []
    query: dict[str, str] = {"limit": "50"}
    try:
        while True:
            sent.clear()
            status, page = call("GET", "/connections", query=query)
            assert status == 200, page
            # One Query for the page (the API key's GetItem is the only other call).
            assert sent.count("Query") == 1 and set(sent) <= {"Query", "GetItem"}
            pages.append(len(page["items"]))
            listed.extend(page["items"])
            if page["next"] is None:
                break
            query = {"limit": "50", "next": page["next"]}
    finally:
        events.unregister("before-call.dynamodb.*", count)

    assert pages == [50, 50, 20]
    assert [item["name"] for item in listed] == names
    assert all(item["connection"]["auth"]["token"] == "***" for item in listed)
    assert "t-c0" not in json.dumps(listed)


def test_limit_and_next_are_checked() -> None:
    assert call("GET", "/connections", query={"limit": "0"})[1]["error"]["fields"] == ["limit"]
    assert call("GET", "/connections", query={"limit": "501"})[0] == 422
    status, answer = call("GET", "/connections", query={"next": "bm90LWEtdG9rZW4"})
    assert (status, answer["error"]["fields"]) == (422, ["next"])


# --- credentials are write-only ----------------------------------------------------------------

PASSWORD = "basic-password-1d7e"
HEADER_SECRET = "x-api-key-header-55aa"
COOKIE = "session=cookie-secret-2c9f"
URL_PASSWORD = "url-password-8e3b"
PROXY_PASSWORD = "proxy-password-0f6c"
REFRESH_TOKEN = "refresh-token-7a51"
KEY_PASSWORD = "key-password-4b2d"


@pytest.fixture
def every_secret(tls_ca: trustme.CA) -> tuple[dict[str, Any], list[str]]:
    """A connection holding one credential in every place a connection can: (it, the values)."""
    cert = client_cert(tls_ca, KEY_PASSWORD)
    connection = {
        "base_url": f"https://ada:{URL_PASSWORD}@api.example.com/v2",
        "proxy": f"http://proxy-user:{PROXY_PASSWORD}@proxy.example.com:3128",
        "auth": {
            "type": "oauth2_authorization_code",
            "authorize_url": "https://id.example.com/authorize",
            "token_url": "https://id.example.com/token",
            "client_id": "builder-app",
            "client_secret": CLIENT_SECRET,
            "refresh_token": REFRESH_TOKEN,
        },
        "headers": {"X-Api-Key": HEADER_SECRET, "Cookie": COOKIE, "X-Org": "org1"},
        "query": {"api-version": "2024-01-01"},
        "client_cert": {"cert": cert.cert, "key": cert.key, "password": KEY_PASSWORD},
    }
    values = [CLIENT_SECRET, REFRESH_TOKEN, HEADER_SECRET, COOKIE, URL_PASSWORD, PROXY_PASSWORD]
    return connection, [*values, KEY_PASSWORD, cert.key]


def test_every_read_masks_every_credential_and_a_put_back_keeps_them(
    every_secret: tuple[dict[str, Any], list[str]], secrets: Any
) -> None:
    connection, values = every_secret
    status, created = call("POST", "/connections", {"name": "vault", "connection": connection})
    assert status == 201, created
    before = stored(secrets, f"{PREFIX}default/vault")

    _, read = call("GET", "/connections/vault")
    _, page = call("GET", "/connections")

    shown = read["connection"]
    assert shown["auth"]["client_secret"] == shown["auth"]["refresh_token"] == "***"
    assert shown["auth"]["client_id"] == "builder-app"
    assert shown["headers"] == {"X-Api-Key": "***", "Cookie": "***", "X-Org": "org1"}
    assert shown["base_url"] == "https://ada:***@api.example.com/v2"
    assert shown["proxy"] == "http://proxy-user:***@proxy.example.com:3128"
    assert shown["client_cert"]["key"] == shown["client_cert"]["password"] == "***"
    assert shown["client_cert"]["cert"] == connection["client_cert"]["cert"]
    assert shown["query"] == connection["query"]
    for answer in (created, read, page):
        text = json.dumps(answer)
        assert not [value for value in values if value in text]

    status, replaced = call("PUT", "/connections/vault", {"connection": shown})

    assert status == 200, replaced
    assert stored(secrets, f"{PREFIX}default/vault") == before
    assert replaced["connection"] == shown


def test_a_put_replaces_what_it_sends_and_keeps_only_what_it_masks(secrets: Any) -> None:
    connection = bearer("https://api.example.com", headers={"Authorization": "Basic abc=="})
    call("POST", "/connections", {"name": "crm", "connection": connection})
    _, read = call("GET", "/connections/crm")
    edited = copy.deepcopy(read["connection"])
    edited["auth"]["token"] = "new-token-value"
    del edited["headers"]

    assert call("PUT", "/connections/crm", {"connection": edited})[0] == 200

    assert stored(secrets, f"{PREFIX}default/crm") == {
        "base_url": "https://api.example.com",
        "auth": {"type": "bearer", "token": "new-token-value"},
        "allow_private_network": True,
    }


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"auth": {"type": "api_key", "name": "X-Key", "value": "***"}}, "connection.auth.value"),
        ({"headers": {"Authorization": "***"}}, "connection.headers.Authorization"),
        ({"base_url": "https://bob:***@api.example.com"}, "connection.base_url"),
        ({"client_cert": {"cert": "PEM", "key": "***"}}, "connection.client_cert.key"),
    ],
)
def test_a_mask_with_nothing_stored_behind_it_is_a_422(
    change: dict[str, Any], field: str, secrets: Any
) -> None:
    call("POST", "/connections", {"name": "crm", "connection": bearer("https://api.example.com")})

    status, answer = call(
        "PUT", "/connections/crm", {"connection": {**bearer("https://x.io"), **change}}
    )

    assert status == 422, answer
    assert answer["error"]["fields"] == [field]
    assert stored(secrets, f"{PREFIX}default/crm")["base_url"] == "https://api.example.com"


def test_a_connection_put_back_unchanged_still_authenticates(
    httpserver: HTTPServer, secrets: Any
) -> None:
    url = bearer_api(httpserver)
    call("POST", "/connections", {"name": "crm", "connection": bearer(url)})
    _, read = call("GET", "/connections/crm")

    assert call("PUT", "/connections/crm", {"connection": read["connection"]})[0] == 200
    status, tested = call("POST", "/connections/crm/test", {"path": "/me"})

    assert status == 200, tested
    assert tested["ok"] is True and tested["status"] == 200
    assert [check["name"] for check in tested["checks"]] == ["url", "dns", "tls", "auth", "request"]
    assert all(check["ok"] for check in tested["checks"])
    assert tested["checks"][-1]["message"] == "200 OK"
    assert stored(secrets, f"{PREFIX}default/crm")["auth"]["token"] == TOKEN


def test_a_connection_made_outside_the_builder_is_read_replaced_listed_and_deleted(
    put_connection: Callable[..., str], secrets: Any, httpserver: HTTPServer
) -> None:
    url = bearer_api(httpserver)
    put_connection("cli-made", bearer(url))  # at <prefix><name>, as before workspaces
    secrets.create_secret(Name=f"{PREFIX}default/cli-new", SecretString=json.dumps(bearer(url)))

    status, read = call("GET", "/connections/cli-made")
    assert status == 200, read
    assert read["display_name"] is None and read["created_at"] is None
    assert read["connection"]["auth"]["token"] == "***"
    assert call("GET", "/connections/cli-new")[0] == 200
    assert call("GET", "/connections")[1]["items"] == []  # a list sees metadata only
    assert call("POST", "/connections/cli-made/test", {"path": "/me"})[1]["ok"] is True

    status, replaced = call(
        "PUT", "/connections/cli-made", {"display_name": "CLI", "connection": read["connection"]}
    )

    assert status == 200, replaced
    assert replaced["display_name"] == "CLI" and replaced["created_at"]
    assert stored(secrets, f"{PREFIX}cli-made")["auth"]["token"] == TOKEN  # where it was
    assert [item["name"] for item in call("GET", "/connections")[1]["items"]] == ["cli-made"]
    assert call("DELETE", "/connections/cli-made")[0] == 204
    assert call("DELETE", "/connections/cli-new")[0] == 204
    assert call("GET", "/connections/cli-made")[0] == 404
    assert secrets.list_secrets()["SecretList"] == []


# --- tests -------------------------------------------------------------------------------------


def checks(answer: dict[str, Any]) -> list[tuple[str, bool]]:
    return [(check["name"], check["ok"]) for check in answer["checks"]]


def test_a_refused_credential_fails_the_request_check_in_words(httpserver: HTTPServer) -> None:
    url = bearer_api(httpserver)
    call("POST", "/connections", {"name": "crm", "connection": bearer(url, token="wrong-token")})

    _, tested = call("POST", "/connections/crm/test", {"path": "/me"})

    assert tested["ok"] is False and tested["status"] == 401
    assert checks(tested)[-1] == ("request", False)
    assert tested["checks"][-1]["message"] == "authentication failed (401 Unauthorized)"
    assert "wrong-token" not in json.dumps(tested)


def test_a_wrong_path_and_a_closed_port_are_told_apart(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/health").respond_with_json({"ok": True})
    httpserver.expect_request("/v1/nope").respond_with_data("", status=404)
    connection = {"base_url": httpserver.url_for("/v1"), "allow_private_network": True}

    _, missing = call("POST", "/connections/test", {"connection": connection, "path": "/nope"})
    _, fine = call(
        "POST",
        "/connections/test",
        {"connection": {**connection, "base_url": httpserver.url_for("")}, "path": "/health"},
    )
    closed = {"base_url": "http://127.0.0.1:9", "allow_private_network": True}
    _, refused = call("POST", "/connections/test", {"connection": closed})

    assert missing["checks"][-1]["message"].startswith("wrong URL: 404 Not Found (GET http")
    assert missing["status"] == 404 and missing["saved"] is None
    assert fine["ok"] is True and fine["checks"][2]["message"] == "plain http: no TLS"
    assert checks(refused)[-1] == ("request", False) and refused["status"] is None
    assert refused["checks"][-1]["message"].startswith("could not connect")


def test_the_url_guard_and_dns_fail_their_own_checks() -> None:
    loopback = {"connection": {"base_url": "http://127.0.0.1:9"}}
    nowhere = {"connection": {"base_url": "https://no-such-host.invalid"}}
    no_base = {"connection": {}}

    _, guarded = call("POST", "/connections/test", loopback)
    _, unresolved = call("POST", "/connections/test", nowhere)
    _, unset = call("POST", "/connections/test", no_base)

    assert checks(guarded) == [("url", False)]
    assert "loopback address; set allow_private_network" in guarded["checks"][0]["message"]
    assert checks(unresolved) == [("url", True), ("dns", False)]
    assert unresolved["checks"][1]["message"].startswith("could not resolve host no-such-host")
    assert unset["checks"][0]["message"] == "the connection has no base_url to test"


def test_tls_is_checked_with_the_connections_own_settings(
    https_server: HTTPServer, mtls_server: HTTPServer, tls_ca: trustme.CA
) -> None:
    https_server.expect_request("/health").respond_with_json({"ok": True})
    mtls_server.expect_request("/health").respond_with_json({"ok": True})
    ca = tls_ca.cert_pem.bytes().decode()
    base = {"allow_private_network": True}

    def test(**connection: Any) -> dict[str, Any]:
        body = {"connection": {**base, **connection}, "path": "/health"}
        status, answer = call("POST", "/connections/test", body)
        assert status == 200, answer
        return dict(answer)

    untrusted = test(base_url=https_server.url_for(""))
    trusted = test(base_url=https_server.url_for(""), ca_bundle=ca)
    unverified = test(base_url=https_server.url_for(""), verify_ssl=False)
    cert = client_cert(tls_ca, KEY_PASSWORD)
    mutual = test(
        base_url=mtls_server.url_for(""),
        ca_bundle=ca,
        client_cert={"cert": cert.cert, "key": cert.key, "password": KEY_PASSWORD},
    )
    bad_key_password = test(
        base_url=mtls_server.url_for(""),
        ca_bundle=ca,
        client_cert={"cert": cert.cert, "key": cert.key, "password": "not-it"},
    )

    assert checks(untrusted)[-1] == ("tls", False)
    assert untrusted["checks"][-1]["message"] == (
        "SSL certificate problem: unable to get local issuer certificate"
    )
    assert trusted["ok"] is True
    assert trusted["checks"][2]["message"].endswith("with 127.0.0.1, certificate verified")
    assert unverified["ok"] is True and "not verified" in unverified["checks"][2]["message"]
    assert mutual["ok"] is True, mutual
    assert "client certificate sent" in mutual["checks"][2]["message"]
    assert checks(bad_key_password)[-1] == ("tls", False)
    assert "client_cert could not be loaded" in bad_key_password["checks"][-1]["message"]
    assert KEY_PASSWORD not in json.dumps([mutual, bad_key_password])


class TokenEndpoint:
    """An OAuth token endpoint (client credentials, Basic client authentication) and an API
    that takes only the token it issued."""

    def __init__(self, server: HTTPServer) -> None:
        self.issued = 0
        server.expect_request("/token", method="POST").respond_with_handler(self.token)
        server.expect_request("/me").respond_with_handler(self.me)
        self.url = server.url_for("").rstrip("/")

    def token(self, request: Request) -> Response:
        expected = base64.b64encode(f"app:{CLIENT_SECRET}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {expected}":
            return Response('{"error": "invalid_client"}', 401, mimetype="application/json")
        self.issued += 1
        body = {"access_token": ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 3600}
        return Response(json.dumps(body), mimetype="application/json")

    def me(self, request: Request) -> Response:
        ok = request.headers.get("Authorization") == f"Bearer {ACCESS_TOKEN}"
        return Response("{}", 200 if ok else 401, mimetype="application/json")

    def connection(self, secret: str = CLIENT_SECRET) -> dict[str, Any]:
        auth = {
            "type": "oauth2_client_credentials",
            "token_url": f"{self.url}/token",
            "client_id": "app",
            "client_secret": secret,
        }
        return {"base_url": self.url, "auth": auth, "allow_private_network": True}


@pytest.fixture
def oauth(httpserver: HTTPServer) -> TokenEndpoint:
    return TokenEndpoint(httpserver)


def test_test_and_save_saves_only_a_connection_that_passes(oauth: TokenEndpoint) -> None:
    wrong = {"connection": oauth.connection("wrong-secret"), "path": "/me", "save": True}
    right = {**wrong, "connection": oauth.connection(), "display_name": "OAuth API"}

    _, failed = call("POST", "/connections/test", {**wrong, "name": "api"})

    assert failed["ok"] is False and failed["saved"] is None
    assert checks(failed) == [("url", True), ("dns", True), ("tls", True), ("auth", False)]
    assert failed["checks"][-1]["message"] == (
        "token endpoint of the connection refused: HTTP 401, error invalid_client"
    )
    assert call("GET", "/connections/api")[0] == 404

    status, passed = call("POST", "/connections/test", {**right, "name": "api"})

    assert status == 200 and passed["ok"] is True, passed
    assert passed["saved"]["name"] == "api" and passed["saved"]["display_name"] == "OAuth API"
    assert passed["saved"]["connection"]["auth"]["client_secret"] == "***"
    assert call("GET", "/connections/api")[1] == passed["saved"]
    assert call("POST", "/connections/test", {**right, "name": "api"})[0] == 409
    assert call("POST", "/connections/test", {**right})[1]["error"]["fields"] == ["name"]
    assert ACCESS_TOKEN not in json.dumps([failed, passed])


def test_the_auth_check_asks_the_token_endpoint_every_time(oauth: TokenEndpoint) -> None:
    call("POST", "/connections", {"name": "api", "connection": oauth.connection()})

    first = call("POST", "/connections/api/test", {"path": "/me"})[1]
    second = call("POST", "/connections/api/test", {"path": "/me"})[1]

    assert first["ok"] is True and second["ok"] is True
    assert oauth.issued == 2
    assert first["checks"][3]["message"] == f"got an access token from {oauth.url}/token"


def test_edits_are_tested_before_they_are_saved_with_the_stored_credentials(
    httpserver: HTTPServer, secrets: Any
) -> None:
    url = bearer_api(httpserver)
    call("POST", "/connections", {"name": "crm", "connection": bearer("https://old.example.com")})
    _, read = call("GET", "/connections/crm")
    edited = {**read["connection"], "base_url": url}

    _, tested = call("POST", "/connections/crm/test", {"path": "/me", "connection": edited})

    assert tested["ok"] is True, tested
    assert stored(secrets, f"{PREFIX}default/crm")["base_url"] == "https://old.example.com"


# --- workspaces ----------------------------------------------------------------------------------


def test_another_workspace_cannot_reach_a_connection_of_the_same_name(
    httpserver: HTTPServer, team_b: str, secrets: Any
) -> None:
    url = bearer_api(httpserver)
    call("POST", "/connections", {"name": "crm", "connection": bearer(url)})
    call("POST", "/connections", {"name": "zzz", "connection": bearer(url)})
    _, default_page = call("GET", "/connections", query={"limit": "1"})

    assert call("GET", "/connections/crm", key=team_b)[0] == 404
    assert call("GET", "/connections", key=team_b)[1] == {"items": [], "next": None}
    replace = {
        "connection": {
            "base_url": "https://evil.example.com",
            "auth": {"type": "bearer", "token": "***"},
        }
    }
    assert call("PUT", "/connections/crm", replace, key=team_b)[0] == 404
    assert call("POST", "/connections/crm/test", {"path": "/me"}, key=team_b)[0] == 404
    assert call("DELETE", "/connections/crm", key=team_b)[0] == 404
    status, answer = call("GET", "/connections", query={"next": default_page["next"]}, key=team_b)
    assert (status, answer["error"]["fields"]) == (422, ["next"])

    # team-b's own crm: its own secret, its own credential.
    assert (
        call(
            "POST",
            "/connections",
            {"name": "crm", "connection": bearer(url, OTHER_TOKEN)},
            key=team_b,
        )[0]
        == 201
    )
    assert stored(secrets, f"{PREFIX}team-b/crm")["auth"]["token"] == OTHER_TOKEN
    assert stored(secrets, f"{PREFIX}default/crm")["auth"]["token"] == TOKEN
    assert call("POST", "/connections/crm/test", {"path": "/me"}, key=team_b)[1]["status"] == 401
    assert call("POST", "/connections/crm/test", {"path": "/me"})[1]["ok"] is True
    assert [i["name"] for i in call("GET", "/connections", key=team_b)[1]["items"]] == ["crm"]
    assert call("DELETE", "/connections/crm", key=team_b)[0] == 204
    assert call("GET", "/connections/crm")[0] == 200


# --- no secret in any answer or log ---------------------------------------------------------------


@pytest.fixture
def every_output(
    everything_logged: None, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> Callable[[], str]:
    """Everything printed or logged so far, every logger at DEBUG."""

    def everything() -> str:
        captured = capfd.readouterr()
        return captured.out + captured.err + caplog.text

    return everything


def test_no_secret_in_any_answer_or_log_line(
    every_output: Callable[[], str],
    oauth: TokenEndpoint,
    every_secret: tuple[dict[str, Any], list[str]],
) -> None:
    connection, values = every_secret
    values = [*values, CLIENT_SECRET, ACCESS_TOKEN, "wrong-secret"]
    answers = [
        call("POST", "/connections", {"name": "vault", "connection": connection}),
        call("POST", "/connections", {"name": "api", "connection": oauth.connection()}),
        call("GET", "/connections/vault"),
        call("GET", "/connections"),
        call(
            "PUT",
            "/connections/api",
            {"connection": call("GET", "/connections/api")[1]["connection"]},
        ),
        call("POST", "/connections/api/test", {"path": "/me"}),
        call("POST", "/connections/vault/test", {"path": "/me"}),
        call(
            "POST",
            "/connections/test",
            {"connection": oauth.connection("wrong-secret"), "path": "/me"},
        ),
        call(
            "POST",
            "/connections/test",
            {
                "connection": {
                    **oauth.connection(),
                    "base_url": f"https://u:{URL_PASSWORD}@127.0.0.1:9",
                }
            },
        ),
        call("DELETE", "/connections/vault"),
    ]

    assert answers[5][1]["ok"] is True
    text = json.dumps(answers) + every_output()
    assert "connection tested" in text  # the logs were captured
    assert [value for value in values if value in text] == []


def test_a_refresh_token_rotated_during_test_and_save_is_the_one_saved(
    httpserver: HTTPServer, secrets: Any
) -> None:
    def token(request: Request) -> Response:
        if request.form.get("refresh_token") != REFRESH_TOKEN:
            return Response('{"error": "invalid_grant"}', 400, mimetype="application/json")
        body = {"access_token": ACCESS_TOKEN, "refresh_token": "rotated-refresh-2c4e"}
        return Response(json.dumps(body), mimetype="application/json")

    httpserver.expect_request("/token", method="POST").respond_with_handler(token)
    httpserver.expect_request("/me").respond_with_json({})
    url = httpserver.url_for("").rstrip("/")
    auth = {
        "type": "oauth2_authorization_code",
        "authorize_url": f"{url}/authorize",
        "token_url": f"{url}/token",
        "client_id": "app",
        "client_secret": CLIENT_SECRET,
        "refresh_token": REFRESH_TOKEN,
    }
    connection = {"base_url": url, "auth": auth, "allow_private_network": True}

    _, tested = call(
        "POST",
        "/connections/test",
        {"connection": connection, "path": "/me", "save": True, "name": "coded"},
    )

    assert tested["ok"] is True, tested
    assert stored(secrets, f"{PREFIX}default/coded")["auth"]["refresh_token"] == (
        "rotated-refresh-2c4e"
    )
