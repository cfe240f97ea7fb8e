"""The test API end to end: API Gateway events into functions/request/api.py:handler, against the
demo API, a local OAuth provider and moto."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from pytest_httpserver import HTTPServer
from werkzeug.wrappers import Request, Response

from apicall.core.connections import load_connection
from functions.request import api
from local.demo_api import BEARER_TOKEN
from local.stack import LocalContext
from tests.support.demo import EVENTS_DIR, demo_api, demo_connections, load_event  # noqa: F401

pytestmark = pytest.mark.usefixtures("tables", "demo_connections")

TEST_ROUTES = {
    ("POST", "/test"),
    ("POST", "/schema"),
    ("POST", "/discover"),
    ("POST", "/curl"),
    ("GET", "/oauth/{connection}/authorize"),
    ("GET", "/oauth/callback"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
}
CONNECTION_ROUTES = {
    ("POST", "/connections"),
    ("GET", "/connections"),
    ("GET", "/connections/{name}"),
    ("PUT", "/connections/{name}"),
    ("DELETE", "/connections/{name}"),
    ("POST", "/connections/{name}/test"),
    ("POST", "/connections/test"),
}
ENTITY_ROUTES = {
    ("POST", "/connections/{name}/entities"),
    ("GET", "/connections/{name}/entities"),
    ("GET", "/connections/{name}/entities/{entity}"),
    ("PUT", "/connections/{name}/entities/{entity}"),
    ("DELETE", "/connections/{name}/entities/{entity}"),
    ("POST", "/preview"),
}
HISTORY_ROUTES = {
    ("GET", "/history"),
    ("GET", "/history/{run_id}"),
    ("GET", "/pushes/{id}"),
    ("POST", "/pushes/{id}/replay"),
    ("GET", "/fetches/{job}"),
    ("POST", "/fetches/{job}/run"),
    ("GET", "/records/{job}"),
    ("GET", "/records/{job}/{key}"),
}
ROUTES = TEST_ROUTES | CONNECTION_ROUTES | ENTITY_ROUTES | HISTORY_ROUTES


def call(event: dict[str, Any]) -> tuple[int, Any]:
    answer = api.handler(event, LocalContext("ApiFunction", 30))
    body = answer["body"]
    if answer.get("isBase64Encoded"):
        return answer["statusCode"], body
    content_type = answer["multiValueHeaders"].get("Content-Type", [""])[0]
    return answer["statusCode"], json.loads(body) if content_type == "application/json" else body


def with_body(name: str, **changes: Any) -> dict[str, Any]:
    event = copy.deepcopy(load_event(name))
    body = json.loads(event["body"])
    body.update(changes)
    event["body"] = json.dumps(body)
    return event


def with_query(name: str, query: dict[str, str]) -> dict[str, Any]:
    event = copy.deepcopy(load_event(name))
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
    return event


def test_event_files_cover_every_route() -> None:
    covered = set()
    for path in EVENTS_DIR.glob("api_*.json"):
        event = json.loads(path.read_text())
        covered.add((event["httpMethod"], event["resource"]))
    assert covered == ROUTES


# --- POST /test ---------------------------------------------------------------------------------


def test_test_route_runs_the_request_and_answers_outcome_schema_and_fill_report() -> None:
    status, answer = call(load_event("api_test.json"))

    assert status == 200
    assert answer["ok"] is True and answer["status"] == 200 and answer["route"] == "200"
    assert answer["body"]["name"] == "Grace Hopper"
    assert {"name": "id", "type": "string", "path": "$.id"} in answer["schema"]
    assert answer["placeholders"] == {"customer.id": "given", "customer.name": "given"}


def test_left_out_values_come_from_the_last_test_of_the_same_request() -> None:
    call(load_event("api_test.json"))

    status, answer = call(load_event("api_test_remembered_values.json"))

    assert status == 200 and answer["ok"]
    assert answer["placeholders"] == {"customer.id": "remembered", "customer.name": "given"}
    assert answer["body"]["id"] == "2" and answer["body"]["name"] == "Grace B. Hopper"


def test_values_nobody_gave_are_sent_empty_and_reported() -> None:
    event = with_body(
        "api_test.json",
        request={
            "connection": "demo-bearer",
            "url": "/customers",
            "query": [["status", "{status}"]],
        },
        values={},
        remember=False,
    )

    status, answer = call(event)

    assert status == 200 and answer["ok"]
    assert answer["placeholders"] == {"status": "empty"}


def test_remember_false_stores_nothing(runs_table: Any) -> None:
    call(with_body("api_test.json", remember=False))

    items = runs_table.scan()["Items"]
    assert not [item for item in items if item["pk"].startswith("test-values#")]


def test_upstream_failure_is_an_outcome_not_a_5xx() -> None:
    event = with_body(
        "api_test.json",
        request={"connection": "demo-bearer", "url": "/customers/999", "routes": ["404"]},
    )

    status, answer = call(event)

    assert status == 200
    assert answer["ok"] is False and answer["route"] == "404"
    assert answer["error"]["kind"] == "status" and answer["schema"] is None


def test_a_test_is_sent_once_without_retries(
    httpserver: HTTPServer, put_connection: Callable[[str, dict[str, Any]], str]
) -> None:
    put_connection(
        "flaky",
        {
            "base_url": httpserver.url_for("/"),
            "allow_private_network": True,
            "retry": {"attempts": 5, "base_s": 0, "on": [503]},
        },
    )
    httpserver.expect_request("/busy").respond_with_json({"error": "busy"}, status=503)

    status, answer = call(
        with_body("api_test.json", request={"connection": "flaky", "url": "/busy"})
    )

    assert status == 200 and answer["status"] == 503 and answer["attempts"] == 1
    assert len(httpserver.log) == 1


def test_unknown_connection_answers_404_naming_the_field() -> None:
    status, answer = call(
        with_body("api_test.json", request={"connection": "nope", "url": "/customers"})
    )

    assert status == 404
    assert answer["error"]["kind"] == "not_found"
    assert answer["error"]["fields"] == ["connection"]


def test_invalid_body_answers_422_with_every_field_path() -> None:
    status, answer = call(load_event("api_test_invalid.json"))

    assert status == 422
    assert answer["error"]["kind"] == "invalid_request"
    assert answer["error"]["fields"] == ["request.method", "values"]


@pytest.mark.parametrize(
    ("request_spec", "field"),
    [
        ({"body": {"type": "json", "valu": 1}}, "request.body.valu"),
        ({"body": {"type": "form", "fields": {"a": [1]}}}, "request.body.fields.a"),
        ({"query": [["a", {"b": 1}]]}, "request.query[0][1]"),
        ({"body": {"type": "multipart", "files": [{"name": "f"}]}}, "request.body.files[0]"),
    ],
)
def test_422_names_fields_as_the_body_spells_them_once_each(
    request_spec: dict[str, Any], field: str
) -> None:
    spec = {"url": "https://api.example.com/x", **request_spec}

    status, answer = call(with_body("api_test.json", request=spec))

    assert status == 422
    assert answer["error"]["fields"][0].startswith(field)
    assert len(answer["error"]["fields"]) == len(set(answer["error"]["fields"]))
    assert ".json." not in answer["error"]["message"] and "list[" not in answer["error"]["message"]


def test_body_that_is_not_json_answers_422() -> None:
    event = copy.deepcopy(load_event("api_test.json"))
    event["body"] = "{not json"

    status, answer = call(event)

    assert status == 422 and answer["error"]["fields"]


def _raw(path: str, body: str | None, content_type: str = "application/json", **event: Any):
    """An event of a POST route with the body and Content-Type as given."""

    def build() -> dict[str, Any]:
        base = copy.deepcopy(load_event("api_test.json"))
        base["path"] = base["resource"] = base["requestContext"]["resourcePath"] = path
        base["headers"]["Content-Type"] = content_type
        base["multiValueHeaders"]["Content-Type"] = [content_type]
        base["body"] = body
        base.update(event)
        return base

    return build


SCHEMA_BODY = json.dumps({"sample": {"id": 1}})
DEEP = "[" * 5000 + "]" * 5000


@pytest.mark.parametrize(
    ("case", "event", "status", "fields"),
    [
        ("JSON declared as text/plain", _raw("/schema", SCHEMA_BODY, "text/plain"), 415, ["body"]),
        ("JSON declared as XML", _raw("/test", SCHEMA_BODY, "application/xml"), 415, ["body"]),
        ("multipart without boundary", _raw("/curl", "x", "multipart/form-data"), 415, ["body"]),
        (
            "form body",
            _raw("/schema", "sample=1", "application/x-www-form-urlencoded"),
            415,
            ["body"],
        ),
        (
            "base64 flag on junk",
            _raw("/schema", "!!not base64!!", isBase64Encoded=True),
            422,
            ["body"],
        ),
        (
            "base64 of bytes that are not UTF-8",
            _raw("/schema", base64.b64encode(b'{"sample": "\xff"}').decode(), isBase64Encoded=True),
            422,
            ["body"],
        ),
        ("body nested 5,000 deep", _raw("/discover", DEEP), 422, ["body"]),
        (
            "sample nested 600 deep",
            _raw("/schema", '{"sample": ' + "[" * 600 + "]" * 600 + "}"),
            422,
            ["sample"],
        ),
        (
            "sample objects nested 500 deep",
            _raw("/schema", '{"sample": ' + '{"a": ' * 500 + "1" + "}" * 501),
            422,
            ["sample"],
        ),
        ("text that is not JSON", _raw("/curl", "curl https://x.io"), 422, ["body"]),
        ("NaN", _raw("/schema", '{"sample": NaN}'), 422, ["body"]),
        (
            "an integer of 5,000 digits",
            _raw("/schema", '{"sample": ' + "1" * 5000 + "}"),
            422,
            ["body"],
        ),
        (
            "lone surrogate in the sample",
            _raw("/schema", '{"sample": {"a": ["\\ud800"]}}'),
            422,
            ["sample.a[0]"],
        ),
        (
            "lone surrogate in a header value",
            _raw("/test", '{"request": {"url": "https://x.io", "headers": {"X-A": "\\udfff"}}}'),
            422,
            ["request.headers.X-A"],
        ),
        (
            "lone surrogate in a key",
            _raw("/test", '{"values": {"\\ud800": 1}, "request": {}}'),
            422,
            ["values"],
        ),
        (
            "lone surrogate in the command",
            _raw("/curl", '{"command": "curl \\ud800"}'),
            422,
            ["command"],
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_unreadable_bodies_answer_4xx_naming_the_field(
    case: str, event: Callable[[], dict[str, Any]], status: int, fields: list[str]
) -> None:
    answered, answer = call(event())

    assert (answered, answer["error"]["fields"]) == (status, fields), answer
    json.dumps(answer, ensure_ascii=False).encode()  # the answer itself is text


def test_a_junk_body_on_a_get_route_is_ignored() -> None:
    event = copy.deepcopy(load_event("api_docs.json"))
    event.update(body="!!", isBase64Encoded=True)

    status, _ = call(event)

    assert status == 200


def _deep_response(
    depth: int, httpserver: HTTPServer, put_connection: Callable[[str, dict[str, Any]], str]
) -> dict[str, Any]:
    put_connection("deep", {"base_url": httpserver.url_for("/"), "allow_private_network": True})
    deep = '{"a": ' * depth + "1" + "}" * depth
    httpserver.expect_request("/deep").respond_with_data(deep, content_type="application/json")
    status, answer = call(
        with_body("api_test.json", request={"connection": "deep", "url": "/deep"}, values={})
    )
    assert status == 200 and answer["ok"] is True, answer
    return dict(answer)


def test_test_route_infers_no_schema_of_a_response_nested_past_the_inference_limit(
    httpserver: HTTPServer, put_connection: Callable[[str, dict[str, Any]], str]
) -> None:
    answer = _deep_response(70, httpserver, put_connection)

    assert answer["schema"] is None
    assert "no schema: body: nests deeper than 64 levels" in answer["warnings"]


@pytest.mark.parametrize("depth", [300, 600, 990])
def test_a_response_nested_too_deep_for_json_is_answered_as_text(
    depth: int, httpserver: HTTPServer, put_connection: Callable[[str, dict[str, Any]], str]
) -> None:
    answer = _deep_response(depth, httpserver, put_connection)

    assert isinstance(answer["body"], str) and answer["schema"] is None


def test_no_secret_in_the_answer() -> None:
    event = with_body(
        "api_test.json",
        request={"connection": "demo-bearer", "url": "/me", "method": "GET"},
    )

    status, answer = call(event)

    assert status == 200
    assert BEARER_TOKEN not in json.dumps(answer)


# --- POST /schema -------------------------------------------------------------------------------


def test_schema_route_infers_fields_of_the_sample() -> None:
    status, answer = call(load_event("api_schema.json"))

    assert status == 200
    assert answer["fields"] == [
        {"name": "id", "type": "integer", "path": "$.id"},
        {"name": "name", "type": "string", "path": "$.name"},
        {"name": "score", "type": "number", "path": "$.score"},
        {"name": "created_at", "type": "datetime", "path": "$.created_at"},
        {"name": "address.city", "type": "string", "path": "$.address.city"},
        {"name": "address.zip", "type": "string", "path": "$.address.zip"},
        {"name": "nickname", "type": "string", "path": "$.nickname", "nullable_only": True},
    ]


def test_schema_route_refuses_a_bad_data_path_naming_it() -> None:
    status, answer = call(with_body("api_schema.json", data_path="$.data[?"))

    assert status == 422
    assert answer["error"]["fields"] == ["data_path"]


def test_schema_route_requires_a_sample() -> None:
    event = copy.deepcopy(load_event("api_schema.json"))
    event["body"] = json.dumps({"data_path": "$.x"})

    status, answer = call(event)

    assert status == 422 and answer["error"]["fields"] == ["sample"]


# --- POST /discover -----------------------------------------------------------------------------


def test_discover_route_answers_entities_as_request_drafts() -> None:
    status, answer = call(load_event("api_discover.json"))

    assert status == 200
    (entity,) = answer["entities"]
    assert entity["name"] == "getThing" and entity["method"] == "GET"
    assert entity["path_params"][0]["name"] == "thingId"
    assert entity["request"]["connection"] == "demo-apikey"
    assert entity["request"]["url"] == "/things/{thingId}"
    assert entity["response_fields"] == [
        {"name": "id", "type": "integer", "path": "$.id"},
        {"name": "updated_at", "type": "datetime", "path": "$.updated_at"},
    ]


def test_discover_route_fetches_a_document_url_through_the_connection(
    httpserver: HTTPServer,
) -> None:
    document = json.loads(load_event("api_discover.json")["body"])["openapi"]
    httpserver.expect_request(
        "/openapi.json", headers={"X-API-Key": "demo-api-key-7f3a"}
    ).respond_with_json(document)

    event = with_body("api_discover.json", openapi=None, url=httpserver.url_for("/openapi.json"))
    status, answer = call(event)

    assert status == 200 and answer["entities"][0]["name"] == "getThing"


def test_discover_url_without_connection_goes_through_the_url_guard(httpserver: HTTPServer) -> None:
    event = with_body(
        "api_discover.json", openapi=None, url=httpserver.url_for("/x"), connection=None
    )

    status, answer = call(event)

    assert status == 422 and answer["error"]["fields"] == ["url"]
    assert len(httpserver.log) == 0


def test_broken_document_answers_422_with_the_parser_reason() -> None:
    broken = {"openapi": "3.0.3", "info": {"title": "x"}, "paths": {}}

    status, answer = call(with_body("api_discover.json", openapi=broken))

    assert status == 422
    assert answer["error"]["fields"] == ["openapi"]
    assert "'version' is a required property" in answer["error"]["message"]


def test_discover_requires_exactly_one_source() -> None:
    status, answer = call(with_body("api_discover.json", url="https://x.io/spec.json"))

    assert status == 422 and answer["error"]["kind"] == "invalid_request"


def test_discover_with_unknown_connection_is_404() -> None:
    status, answer = call(with_body("api_discover.json", connection="missing"))

    assert status == 404 and answer["error"]["fields"] == ["connection"]


# --- POST /curl ---------------------------------------------------------------------------------


def test_curl_route_answers_a_request_spec() -> None:
    status, answer = call(load_event("api_curl.json"))

    assert status == 200
    assert answer["request"]["method"] == "POST"
    assert answer["request"]["body"] == {"type": "json", "value": {"sku": "A-1", "qty": 2}}
    assert answer["ignored"] == ["-s", "-S"]


def test_curl_route_refuses_what_is_not_curl() -> None:
    status, answer = call(with_body("api_curl.json", command="wget https://x.io"))

    assert status == 422 and answer["error"]["fields"] == ["command"]


# --- OAuth consent ------------------------------------------------------------------------------


class Provider:
    """An OAuth provider's token endpoint that checks the code and the PKCE verifier."""

    def __init__(self) -> None:
        self.challenges: dict[str, str] = {}
        self.exchanges = 0

    def token(self, request: Request) -> Response:
        form = request.form
        auth = request.authorization
        if not auth or (auth.username, auth.password) != ("app-id", "app-secret"):
            return Response(
                json.dumps({"error": "invalid_client"}), 401, mimetype="application/json"
            )
        challenge = self.challenges.pop(form.get("code", ""), None)
        verifier = form.get("code_verifier", "")
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
        if form.get("grant_type") != "authorization_code" or challenge != digest.decode():
            return Response(
                json.dumps({"error": "invalid_grant"}), 400, mimetype="application/json"
            )
        self.exchanges += 1
        token = {
            "access_token": "provider-access-1",
            "refresh_token": "provider-refresh-1",
            "token_type": "Bearer",
            "expires_in": 3600,
            "scope": "read",
        }
        return Response(json.dumps(token), mimetype="application/json")


@pytest.fixture
def provider(
    httpserver: HTTPServer, put_connection: Callable[[str, dict[str, Any]], str]
) -> Provider:
    provider = Provider()
    httpserver.expect_request("/token", method="POST").respond_with_handler(provider.token)
    put_connection(
        "demo-consent",
        {
            "base_url": httpserver.url_for("/api"),
            "auth": {
                "type": "oauth2_authorization_code",
                "authorize_url": "https://provider.example.com/authorize",
                "token_url": httpserver.url_for("/token"),
                "client_id": "app-id",
                "client_secret": "app-secret",
                "scope": "read",
            },
            "allow_private_network": True,
        },
    )
    return provider


def consent(provider: Provider) -> tuple[str, str]:
    """Run the authorize step and play the user granting consent: (state, code)."""
    status, answer = call(load_event("api_oauth_authorize.json"))
    assert status == 200
    query = parse_qs(urlsplit(answer["authorization_url"]).query)
    provider.challenges["granted-code"] = query["code_challenge"][0]
    return answer["state"], "granted-code"


def test_authorize_answers_the_provider_url_with_state_and_pkce(provider: Provider) -> None:
    status, answer = call(load_event("api_oauth_authorize.json"))

    assert status == 200
    url = urlsplit(answer["authorization_url"])
    query = parse_qs(url.query)
    assert f"{url.scheme}://{url.netloc}{url.path}" == "https://provider.example.com/authorize"
    assert query["response_type"] == ["code"] and query["client_id"] == ["app-id"]
    assert query["state"] == [answer["state"]] and len(answer["state"]) >= 32
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0]
    assert query["redirect_uri"] == ["https://builder.example.com/oauth/return"]
    assert "app-secret" not in json.dumps(answer)


def test_callback_exchanges_the_code_and_stores_the_refresh_token(provider: Provider) -> None:
    state, code = consent(provider)

    status, answer = call(with_query("api_oauth_callback.json", {"state": state, "code": code}))

    assert status == 200
    assert answer == {"connection": "demo-consent", "stored": True, "scope": "read"}
    assert provider.exchanges == 1
    stored = load_connection("demo-consent", fresh=True).auth
    assert stored.refresh_token == "provider-refresh-1"  # type: ignore[union-attr]


def test_a_replayed_state_is_refused(provider: Provider) -> None:
    state, code = consent(provider)
    call(with_query("api_oauth_callback.json", {"state": state, "code": code}))

    status, answer = call(with_query("api_oauth_callback.json", {"state": state, "code": code}))

    # No pending consent of that name any more: like an unknown connection, 404.
    assert status == 404 and answer["error"]["fields"] == ["state"]
    assert provider.exchanges == 1


def test_an_unknown_state_is_refused(provider: Provider) -> None:
    status, answer = call(load_event("api_oauth_callback.json"))

    assert status == 404 and answer["error"]["kind"] == "not_found"
    assert answer["error"]["fields"] == ["state"]


def test_a_code_the_provider_refuses_is_a_400_without_secrets(provider: Provider) -> None:
    state, _ = consent(provider)

    status, answer = call(with_query("api_oauth_callback.json", {"state": state, "code": "forged"}))

    assert status == 400 and answer["error"]["kind"] == "auth"
    assert "invalid_grant" in answer["error"]["message"]
    assert "app-secret" not in json.dumps(answer)


def test_callback_without_state_names_the_query_field(provider: Provider) -> None:
    status, answer = call(with_query("api_oauth_callback.json", {"code": "x"}))

    assert status == 422 and answer["error"]["fields"] == ["state"]


def test_authorize_refuses_a_connection_of_another_auth_type() -> None:
    event = copy.deepcopy(load_event("api_oauth_authorize.json"))
    event["path"] = "/oauth/demo-bearer/authorize"
    event["pathParameters"] = {"connection": "demo-bearer"}

    status, answer = call(event)

    assert status == 422 and answer["error"]["fields"] == ["connection"]


# --- self-description ---------------------------------------------------------------------------


def test_openapi_json_describes_every_route_with_the_api_key() -> None:
    status, document = call(load_event("api_openapi.json"))

    assert status == 200
    assert document["components"]["securitySchemes"]["api_key"]["in"] == "header"
    operations = {
        (method.upper(), path) for path, item in document["paths"].items() for method in item
    }
    assert operations == ROUTES - {("GET", "/openapi.json"), ("GET", "/docs")}
    test_body = document["paths"]["/test"]["post"]["requestBody"]
    assert test_body["required"] is True


def test_docs_serves_swagger_ui() -> None:
    event = copy.deepcopy(load_event("api_docs.json"))

    status, body = call(event)

    assert status == 200
    assert "swagger" in body.lower() and "apicall test API" in body


def test_unknown_route_is_404() -> None:
    event = copy.deepcopy(load_event("api_docs.json"))
    event["path"], event["resource"] = "/nope", "/nope"

    status, answer = call(event)

    assert status == 404 and answer["error"]["kind"] == "not_found"
    assert answer["error"]["fields"] == ["path"]
