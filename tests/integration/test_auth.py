"""Credentials on the wire, against a real local API and a real OAuth token endpoint.

pytest-httpserver plays both: `/api` accepts the tokens the test says are valid, and `/oauth/token`
issues `access-1`, `access-2`, ... while recording every token request it receives.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import trustme
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from apicall.core import redaction
from apicall.core.connections import load_connection
from apicall.core.errors import AuthError, BlockedURL
from apicall.core.models import Connection
from apicall.core.runtime import RUNTIME
from apicall.core.store import RunsStore
from apicall.http.auth import auth_for
from apicall.http.client import ConnectionClient, OutgoingRequest, SendPolicy
from apicall.http.guard import Guard
from tests.support.servers import client_cert

CLIENT_SECRET = "cs-very-secret-41f2"
REFRESH_TOKEN = "rt-original-8c1d"


@pytest.fixture
def store(runs_table: Any) -> RunsStore:
    return RunsStore(runs_table)


class TokenEndpoint:
    """A token endpoint that numbers the tokens it issues and remembers each request."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.expires_in: int | None = 3600
        self.new_refresh_token: str | None = None
        self.error: tuple[int, str, str] | None = None  # status, content type, body
        # When set, each token request is answered only once this event is set.
        self.hold: threading.Event | None = None
        self._lock = threading.Lock()

    @property
    def calls(self) -> int:
        return len(self.requests)

    def handle(self, request: Request) -> Response:
        with self._lock:
            form = {
                key: values[0] for key, values in parse_qs(request.get_data(as_text=True)).items()
            }
            self.requests.append(
                {"form": form, "authorization": request.headers.get("Authorization")}
            )
            number = len(self.requests)
        if self.hold is not None:
            self.hold.wait(30)
        if self.error is not None:
            status, content_type, body = self.error
            return Response(body, status=status, content_type=content_type)
        token: dict[str, Any] = {"access_token": f"access-{number}", "token_type": "bearer"}
        if self.expires_in is not None:
            token["expires_in"] = self.expires_in
        if self.new_refresh_token:
            token["refresh_token"] = self.new_refresh_token
        return Response(json.dumps(token), content_type="application/json")


class Api:
    """An API that accepts the bearer tokens in `valid` and counts what it received."""

    def __init__(self) -> None:
        self.valid: set[str] | None = None  # None: any access-N token
        self.seen: list[dict[str, Any]] = []

    def handle(self, request: Request) -> Response:
        header = request.headers.get("Authorization", "")
        self.seen.append({"authorization": header, "body": request.get_data(as_text=True)})
        token = header.removeprefix("Bearer ")
        ok = token.startswith("access-") if self.valid is None else token in self.valid
        return Response("{}" if ok else '{"error": "unauthorized"}', status=200 if ok else 401)


@pytest.fixture
def token_endpoint(httpserver: HTTPServer) -> TokenEndpoint:
    endpoint = TokenEndpoint()
    httpserver.expect_request("/oauth/token", method="POST").respond_with_handler(endpoint.handle)
    return endpoint


@pytest.fixture
def api(httpserver: HTTPServer) -> Api:
    server = Api()
    httpserver.expect_request("/api").respond_with_handler(server.handle)
    return server


def echo(httpserver: HTTPServer) -> str:
    """An endpoint answering what it received, for the static credential types."""

    def handle(request: Request) -> Response:
        seen = {"headers": dict(request.headers), "query": request.args.to_dict(flat=False)}
        return Response(json.dumps(seen), content_type="application/json")

    httpserver.expect_request("/echo").respond_with_handler(handle)
    return httpserver.url_for("/echo")


def connection(httpserver: HTTPServer, auth_config: dict[str, Any]) -> Connection:
    return Connection.model_validate(
        {"base_url": httpserver.url_for("/"), "auth": auth_config, "allow_private_network": True}
    )


def client_credentials(httpserver: HTTPServer, **overrides: Any) -> Connection:
    config = {
        "type": "oauth2_client_credentials",
        "token_url": httpserver.url_for("/oauth/token"),
        "client_id": "client-a",
        "client_secret": CLIENT_SECRET,
        **overrides,
    }
    return connection(httpserver, config)


def authorization_code(httpserver: HTTPServer, **overrides: Any) -> dict[str, Any]:
    return {
        "base_url": httpserver.url_for("/"),
        "allow_private_network": True,
        "auth": {
            "type": "oauth2_authorization_code",
            "authorize_url": httpserver.url_for("/oauth/authorize"),
            "token_url": httpserver.url_for("/oauth/token"),
            "client_id": "client-b",
            "client_secret": CLIENT_SECRET,
            "refresh_token": REFRESH_TOKEN,
            **overrides,
        },
    }


def get(
    httpserver: HTTPServer, credentials: httpx.Auth | None, path: str = "/api"
) -> httpx.Response:
    with httpx.Client() as client:
        return client.get(httpserver.url_for(path), auth=credentials)


# --- static credentials -------------------------------------------------------------------------


def test_no_auth_applies_nothing(httpserver: HTTPServer) -> None:
    assert auth_for("open", connection(httpserver, {"type": "none"})) is None


def test_api_key_in_a_header(httpserver: HTTPServer) -> None:
    url = echo(httpserver)
    conn = connection(httpserver, {"type": "api_key", "name": "X-Api-Key", "value": "key-123"})

    with httpx.Client() as client:
        seen = client.get(url, auth=auth_for("keyed", conn)).json()

    assert seen["headers"]["X-Api-Key"] == "key-123"
    assert seen["query"] == {}


def test_api_key_in_the_query_keeps_the_other_parameters(httpserver: HTTPServer) -> None:
    url = echo(httpserver)
    conn = connection(
        httpserver, {"type": "api_key", "name": "api_key", "value": "key-123", "in": "query"}
    )

    with httpx.Client() as client:
        seen = client.get(url, params={"status": "active"}, auth=auth_for("keyed", conn)).json()

    assert seen["query"] == {"status": ["active"], "api_key": ["key-123"]}
    assert "X-Api-Key" not in seen["headers"]


def test_basic_auth(httpserver: HTTPServer) -> None:
    url = echo(httpserver)
    conn = connection(httpserver, {"type": "basic", "username": "ann", "password": "p@ss:word"})

    with httpx.Client() as client:
        seen = client.get(url, auth=auth_for("basic", conn)).json()

    expected = base64.b64encode(b"ann:p@ss:word").decode()
    assert seen["headers"]["Authorization"] == f"Basic {expected}"


def test_bearer_token(httpserver: HTTPServer) -> None:
    url = echo(httpserver)
    conn = connection(httpserver, {"type": "bearer", "token": "tok-xyz"})

    with httpx.Client() as client:
        seen = client.get(url, auth=auth_for("bearer", conn)).json()

    assert seen["headers"]["Authorization"] == "Bearer tok-xyz"


def test_a_401_with_a_static_token_is_not_retried(httpserver: HTTPServer, api: Api) -> None:
    conn = connection(httpserver, {"type": "bearer", "token": "tok-revoked"})

    response = get(httpserver, auth_for("bearer", conn))

    assert response.status_code == 401
    assert len(api.seen) == 1


# --- OAuth 2.0 client credentials ---------------------------------------------------------------


def test_client_credentials_token_request_uses_basic_client_auth_scope_and_audience(
    httpserver: HTTPServer, token_endpoint: TokenEndpoint, api: Api, store: RunsStore
) -> None:
    conn = client_credentials(httpserver, scope="orders:read", audience="https://api.example")

    response = get(httpserver, auth_for("cc", conn, store=store))

    assert response.status_code == 200
    assert api.seen[0]["authorization"] == "Bearer access-1"
    [token_request] = token_endpoint.requests
    assert token_request["form"] == {
        "grant_type": "client_credentials",
        "scope": "orders:read",
        "audience": "https://api.example",
    }
    expected = base64.b64encode(f"client-a:{CLIENT_SECRET}".encode()).decode()
    assert token_request["authorization"] == f"Basic {expected}"


def test_client_credentials_with_client_secret_post_sends_the_secret_in_the_body(
    httpserver: HTTPServer, token_endpoint: TokenEndpoint, api: Api, store: RunsStore
) -> None:
    conn = client_credentials(httpserver, token_auth_method="client_secret_post")

    assert get(httpserver, auth_for("cc", conn, store=store)).status_code == 200

    [token_request] = token_endpoint.requests
    assert token_request["authorization"] is None
    assert token_request["form"] == {
        "grant_type": "client_credentials",
        "client_id": "client-a",
        "client_secret": CLIENT_SECRET,
    }


def test_token_is_fetched_once_and_reused_across_requests(
    httpserver: HTTPServer, token_endpoint: TokenEndpoint, api: Api, store: RunsStore
) -> None:
    credentials = auth_for("cc", client_credentials(httpserver), store=store)

    statuses = [get(httpserver, credentials).status_code for _ in range(3)]

    assert statuses == [200, 200, 200]
    assert token_endpoint.calls == 1
    assert {seen["authorization"] for seen in api.seen} == {"Bearer access-1"}


def test_another_container_reuses_the_token_from_the_runs_table(
    httpserver: HTTPServer, token_endpoint: TokenEndpoint, api: Api, store: RunsStore
) -> None:
    conn = client_credentials(httpserver)
    get(httpserver, auth_for("cc", conn, store=store))

    RUNTIME.reset()  # a second container: nothing in memory, same table
    response = get(httpserver, auth_for("cc", conn, store=RunsStore(store.table)))

    assert response.status_code == 200
    assert token_endpoint.calls == 1
    assert api.seen[-1]["authorization"] == "Bearer access-1"
    item = store.get_token("cc")
    assert item is not None
    assert item["access_token"] == "access-1" and item["client_id"] == "client-a"
    assert item["expires_at"] > time.time() + 3500


def test_a_token_cached_for_another_client_id_is_not_used(
    httpserver: HTTPServer, token_endpoint: TokenEndpoint, api: Api, store: RunsStore
) -> None:
    get(httpserver, auth_for("cc", client_credentials(httpserver), store=store))
    RUNTIME.reset()

    rotated_client = client_credentials(httpserver, client_id="client-a2")
    get(httpserver, auth_for("cc", rotated_client, store=store))

    assert token_endpoint.calls == 2
    assert api.seen[-1]["authorization"] == "Bearer access-2"


def test_a_token_within_a_minute_of_expiry_is_refreshed_first(
    httpserver: HTTPServer, token_endpoint: TokenEndpoint, api: Api, store: RunsStore
) -> None:
    token_endpoint.expires_in = 45
    credentials = auth_for("cc", client_credentials(httpserver), store=store)

    get(httpserver, credentials)
    get(httpserver, credentials)

    assert token_endpoint.calls == 2
    assert [seen["authorization"] for seen in api.seen] == ["Bearer access-1", "Bearer access-2"]


def test_a_nearly_expired_token_in_the_runs_table_is_not_used(
    httpserver: HTTPServer, token_endpoint: TokenEndpoint, api: Api, store: RunsStore
) -> None:
    store.put_token(
        "cc",
        {
            "access_token": "old",
            "token_type": "Bearer",
            "expires_at": int(time.time()) + 30,
            "client_id": "client-a",
        },
        expires_in_s=30,
    )

    get(httpserver, auth_for("cc", client_credentials(httpserver), store=store))

    assert token_endpoint.calls == 1
    assert api.seen[0]["authorization"] == "Bearer access-1"


def test_a_401_drops_the_token_fetches_one_new_token_and_retries_once(
    httpserver: HTTPServer, token_endpoint: TokenEndpoint, api: Api, store: RunsStore
) -> None:
    api.valid = {"access-2"}  # the provider revoked access-1 early
    credentials = auth_for("cc", client_credentials(httpserver), store=store)

    with httpx.Client() as client:
        response = client.post(httpserver.url_for("/api"), json={"n": 1}, auth=credentials)

    assert response.status_code == 200
    assert token_endpoint.calls == 2
    assert [seen["authorization"] for seen in api.seen] == ["Bearer access-1", "Bearer access-2"]
    assert [seen["body"] for seen in api.seen] == ['{"n":1}', '{"n":1}']
    item = store.get_token("cc")
    assert item is not None and item["access_token"] == "access-2"


def test_a_second_401_is_returned_as_is(
    httpserver: HTTPServer, token_endpoint: TokenEndpoint, api: Api, store: RunsStore
) -> None:
    api.valid = set()

    response = get(httpserver, auth_for("cc", client_credentials(httpserver), store=store))

    assert response.status_code == 401
    assert token_endpoint.calls == 2
    assert len(api.seen) == 2


def test_eight_threads_needing_a_token_cause_one_token_request(
    httpserver: HTTPServer, token_endpoint: TokenEndpoint, api: Api, store: RunsStore
) -> None:
    # GIVEN a token endpoint that answers only once all eight threads are sending with the
    # credentials (no token exists before then)
    token_endpoint.hold = threading.Event()
    conn = client_credentials(httpserver)
    start = threading.Barrier(8)
    statuses: list[int] = []
    sending = threading.Semaphore(0)

    class Sending(httpx.Auth):
        """The connection's credentials, telling the test when a request starts using them."""

        def __init__(self, inner: httpx.Auth) -> None:
            self.inner = inner
            self.requires_request_body = inner.requires_request_body
            self.requires_response_body = inner.requires_response_body

        def sync_auth_flow(self, request: httpx.Request) -> Any:
            sending.release()
            return (yield from self.inner.sync_auth_flow(request))

    def worker() -> None:
        credentials = auth_for("cc", conn, store=store)
        assert credentials is not None
        start.wait()
        statuses.append(get(httpserver, Sending(credentials)).status_code)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for _ in range(8):
        assert sending.acquire(timeout=30)
    token_endpoint.hold.set()
    for thread in threads:
        thread.join(timeout=30)

    assert statuses == [200] * 8
    assert token_endpoint.calls == 1


def test_tokens_work_without_the_runs_table(
    httpserver: HTTPServer, token_endpoint: TokenEndpoint, api: Api, aws: Any
) -> None:
    missing_table = RunsStore(aws.resource("dynamodb").Table("no-such-table"))
    credentials = auth_for("cc", client_credentials(httpserver), store=missing_table)

    assert [get(httpserver, credentials).status_code for _ in range(2)] == [200, 200]
    assert token_endpoint.calls == 1


def test_access_tokens_handed_out_become_secret_values(
    httpserver: HTTPServer, token_endpoint: TokenEndpoint, api: Api, store: RunsStore
) -> None:
    conn = client_credentials(httpserver)

    get(httpserver, auth_for("cc", conn, store=store))

    assert {"access-1", CLIENT_SECRET} <= redaction.secret_values(conn)


@pytest.mark.parametrize(
    ("status", "content_type", "body", "expected"),
    [
        (401, "application/json", '{"error": "invalid_client"}', "HTTP 401, error invalid_client"),
        (
            400,
            "application/json",
            '{"error": "invalid_scope", "error_description": "cs-very-secret-41f2"}',
            "HTTP 400, error invalid_scope",
        ),
        (500, "text/html", "<h1>down</h1>", "HTTP 500"),
        (503, "application/json", "{}", "HTTP 503"),
        (200, "text/plain", "access_token=nope", "did not answer JSON"),
        (200, "application/json", '{"token_type": "bearer"}', "without an access_token"),
        (
            200,
            "application/json",
            '{"error": "temporarily_unavailable"}',
            "temporarily_unavailable",
        ),
    ],
)
def test_token_endpoint_failures_are_auth_errors_that_name_the_connection_not_the_secret(
    httpserver: HTTPServer,
    token_endpoint: TokenEndpoint,
    api: Api,
    store: RunsStore,
    status: int,
    content_type: str,
    body: str,
    expected: str,
) -> None:
    token_endpoint.error = (status, content_type, body)

    with pytest.raises(AuthError) as caught:
        get(httpserver, auth_for("crm", client_credentials(httpserver), store=store))

    message = caught.value.message
    assert "connection 'crm'" in message
    assert expected in message
    assert CLIENT_SECRET not in message and CLIENT_SECRET not in str(caught.value)
    assert caught.value.to_dict()["kind"] == "auth"
    assert api.seen == []


def test_an_unreachable_token_endpoint_is_an_auth_error(
    httpserver: HTTPServer, api: Api, store: RunsStore
) -> None:
    conn = client_credentials(httpserver, token_url="http://127.0.0.1:9/oauth/token")

    with pytest.raises(AuthError, match="connection 'cc' could not be reached"):
        get(httpserver, auth_for("cc", conn, store=store))


@pytest.mark.parametrize(
    "location", ["jar:http://127.0.0.1!/", "http://[::1", "http://127.0.0.1:99999/token"]
)
def test_a_token_endpoint_redirecting_to_an_unreadable_location_is_an_auth_error(
    httpserver: HTTPServer, api: Api, store: RunsStore, location: str
) -> None:
    httpserver.expect_request("/oauth/moved", method="POST").respond_with_response(
        Response(status=302, headers={"Location": location})
    )
    conn = client_credentials(httpserver, token_url=httpserver.url_for("/oauth/moved"))

    with pytest.raises(AuthError, match="connection 'cc'") as caught:
        get(httpserver, auth_for("cc", conn, store=store))

    assert CLIENT_SECRET not in str(caught.value)
    assert api.seen == []


def test_the_token_url_goes_through_the_url_guard(
    httpserver: HTTPServer, token_endpoint: TokenEndpoint, store: RunsStore
) -> None:
    conn = client_credentials(httpserver).model_copy(update={"allow_private_network": False})
    credentials = auth_for("cc", conn, store=store)

    with pytest.raises(BlockedURL), httpx.Client() as client:
        client.get("http://127.0.0.1:9/never-sent", auth=credentials)

    assert token_endpoint.calls == 0


# --- OAuth 2.0 authorization code (refresh token) ------------------------------------------------


def test_authorization_code_refreshes_with_the_stored_refresh_token(
    httpserver: HTTPServer,
    token_endpoint: TokenEndpoint,
    api: Api,
    store: RunsStore,
    put_connection: Any,
    aws: Any,
) -> None:
    put_connection("crm", authorization_code(httpserver, scope="contacts"))

    response = get(httpserver, auth_for("crm", load_connection("crm"), store=store))

    assert response.status_code == 200
    [token_request] = token_endpoint.requests
    assert token_request["form"] == {
        "grant_type": "refresh_token",
        "refresh_token": REFRESH_TOKEN,
        "scope": "contacts",
    }
    assert token_request["authorization"].startswith("Basic ")
    stored = _stored_auth(aws, "crm")
    assert stored["refresh_token"] == REFRESH_TOKEN


def test_a_rotated_refresh_token_is_written_back_to_the_secret(
    httpserver: HTTPServer,
    token_endpoint: TokenEndpoint,
    api: Api,
    store: RunsStore,
    put_connection: Any,
    aws: Any,
) -> None:
    put_connection("crm", authorization_code(httpserver))
    token_endpoint.new_refresh_token = "rt-rotated-2"

    get(httpserver, auth_for("crm", load_connection("crm"), store=store))

    assert _stored_auth(aws, "crm")["refresh_token"] == "rt-rotated-2"
    assert _stored_auth(aws, "crm")["client_secret"] == CLIENT_SECRET
    assert load_connection("crm").auth.refresh_token == "rt-rotated-2"  # type: ignore[union-attr]


def test_after_a_rotation_the_401_retry_uses_the_new_refresh_token(
    httpserver: HTTPServer,
    token_endpoint: TokenEndpoint,
    api: Api,
    store: RunsStore,
    put_connection: Any,
) -> None:
    put_connection("crm", authorization_code(httpserver))
    token_endpoint.new_refresh_token = "rt-rotated-2"
    api.valid = {"access-2"}

    response = get(httpserver, auth_for("crm", load_connection("crm"), store=store))

    assert response.status_code == 200
    assert [r["form"]["refresh_token"] for r in token_endpoint.requests] == [
        REFRESH_TOKEN,
        "rt-rotated-2",
    ]


def test_invalid_grant_retries_once_with_a_refresh_token_another_container_stored(
    httpserver: HTTPServer, api: Api, store: RunsStore, put_connection: Any
) -> None:
    put_connection("crm", authorization_code(httpserver))
    stale = load_connection("crm")  # cached before another container rotated the token
    put_connection("crm", authorization_code(httpserver, refresh_token="rt-newer"))
    forms: list[dict[str, list[str]]] = []

    def token(request: Request) -> Response:
        form = parse_qs(request.get_data(as_text=True))
        forms.append(form)
        if form["refresh_token"] != ["rt-newer"]:
            return Response(
                '{"error": "invalid_grant"}', status=400, content_type="application/json"
            )
        return Response(
            '{"access_token": "access-9", "expires_in": 600}', content_type="application/json"
        )

    httpserver.expect_request("/oauth/token").respond_with_handler(token)

    response = get(httpserver, auth_for("crm", stale, store=store))

    assert response.status_code == 200
    assert [form["refresh_token"] for form in forms] == [[REFRESH_TOKEN], ["rt-newer"]]


@pytest.mark.parametrize("stored", ["same", "newer"])
def test_a_refused_refresh_token_is_an_auth_error_naming_the_refusal(
    httpserver: HTTPServer, api: Api, store: RunsStore, put_connection: Any, stored: str
) -> None:
    # Refused with the cached token and no newer one stored, or refused again with the newer one.
    put_connection("crm", authorization_code(httpserver))
    stale = load_connection("crm")
    if stored == "newer":
        put_connection("crm", authorization_code(httpserver, refresh_token="rt-newer"))
    httpserver.expect_request("/oauth/token").respond_with_data(
        '{"error": "invalid_grant"}', status=400, content_type="application/json"
    )

    with pytest.raises(AuthError) as refused:
        get(httpserver, auth_for("crm", stale, store=store))

    assert refused.value.message == (
        "token endpoint of connection 'crm' refused: HTTP 400, error invalid_grant"
    )
    assert api.seen == []


def test_authorization_code_without_a_refresh_token_asks_for_consent(
    httpserver: HTTPServer, token_endpoint: TokenEndpoint, api: Api, store: RunsStore
) -> None:
    config = authorization_code(httpserver)
    del config["auth"]["refresh_token"]

    with pytest.raises(AuthError, match="'crm' has no refresh_token yet"):
        get(httpserver, auth_for("crm", Connection.model_validate(config), store=store))

    assert token_endpoint.calls == 0


def _stored_auth(aws: Any, name: str) -> dict[str, Any]:
    secret = aws.client("secretsmanager").get_secret_value(SecretId=f"apicall/connections/{name}")
    return json.loads(secret["SecretString"])["auth"]


# --- the token endpoint's connection ------------------------------------------------------------


def send_through_apicall(
    server: HTTPServer, conn: Connection, name: str, store: RunsStore, **options: Any
) -> Any:
    """GET /api with apicall's own client (its transport, guard and deadline), not plain httpx."""
    client = ConnectionClient(conn, name=name, store=store, **options)
    return client.send(
        OutgoingRequest("GET", server.url_for("/api")), SendPolicy(timeout_s=5, max_bytes=1024)
    )


def test_the_token_endpoint_gets_the_connections_client_certificate(
    mtls_server: HTTPServer, tls_ca: trustme.CA, store: RunsStore
) -> None:
    # Certificate-bound token endpoints (RFC 8705) refuse a client that presents no certificate.
    endpoint, api = TokenEndpoint(), Api()
    mtls_server.expect_request("/oauth/token", method="POST").respond_with_handler(endpoint.handle)
    mtls_server.expect_request("/api").respond_with_handler(api.handle)
    conn = client_credentials(mtls_server).model_copy(
        update={
            "ca_bundle": tls_ca.cert_pem.bytes().decode(),
            "client_cert": client_cert(tls_ca),
        }
    )

    response = send_through_apicall(mtls_server, conn, "mtls", store)

    assert response.status == 200
    assert endpoint.calls == 1 and api.seen[0]["authorization"] == "Bearer access-1"


def test_the_token_endpoints_address_is_judged_when_its_socket_opens(
    httpserver: HTTPServer, token_endpoint: TokenEndpoint, api: Api, store: RunsStore
) -> None:
    # The name resolves to a private address at connect time: no token request leaves.
    lookups: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        lookups.append(host)
        return ["10.0.0.9"]

    conn = client_credentials(
        httpserver, token_url=f"http://token.test:{httpserver.port}/oauth/token"
    ).model_copy(update={"allow_private_network": False})

    with pytest.raises(BlockedURL, match="private"):
        send_through_apicall(
            httpserver,
            conn,
            "rebind",
            store,
            guard=Guard(permit_loopback=True, resolver=resolver),
        )

    assert lookups == ["token.test"]
    assert token_endpoint.calls == 0 and api.seen == []
