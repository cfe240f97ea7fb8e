"""POST /preview builds the request /test would send and sends nothing; /test answers what it sent
in the same shape. Through functions/request/api.py:handler, with a pytest-httpserver that fails
the test if it receives anything it was not told to expect, and every answer searched for every
secret of the connections involved.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug.wrappers import Request, Response

from local.demo_api import API_KEY, BEARER_TOKEN
from tests.support import builder_api
from tests.support.builder_api import api_event

pytestmark = pytest.mark.usefixtures("tables")

TOKEN = "tok-preview-3b7e"
QUERY_KEY = "qk-preview-91aa"
COOKIE = "session=cookie-preview-5d20"
USER_TOKEN = "user-token-preview-0c4f"
USERINFO_PASSWORD = "pw-preview-7a11"
SECRETS = (
    TOKEN,
    QUERY_KEY,
    "cookie-preview-5d20",
    USER_TOKEN,
    USERINFO_PASSWORD,
    API_KEY,
    BEARER_TOKEN,
)

SPEC = {
    "connection": "local",
    "method": "POST",
    "url": "/customers/{id}/notes",
    "path_params": {"id": "{customer.id}"},
    "query": [["page", "{page}"], ["fixed", "1"]],
    "headers": {"X-Id": "{customer.id}", "X-Trace": "{trace}"},
    "body": {
        "type": "json",
        "value": {
            "customer": {"id": "{customer.id}", "name": "{customer.name}"},
            "tags": ["{tag}"],
        },
    },
}


def post(path: str, body: Any) -> tuple[int, Any]:
    return builder_api.call(api_event("POST", path, body=body), secrets=SECRETS)


@pytest.fixture
def local(server: HTTPServer, put_connection: Callable[[str, dict[str, Any]], str]) -> str:
    """Connection `local` (bearer) to the test's pytest-httpserver, which expects nothing unless a
    test says so; its base URL."""
    base = server.url_for("/").rstrip("/")
    put_connection(
        "local",
        {
            "base_url": base,
            "auth": {"type": "bearer", "token": TOKEN},
            "allow_private_network": True,
        },
    )
    return base


def nothing_sent(server: HTTPServer, runs_table: Any) -> None:
    assert server.log == []
    stored = [item["pk"] for item in runs_table.scan()["Items"]]
    assert not [pk for pk in stored if pk.startswith(("history", "test-values"))], stored


def test_a_preview_builds_the_request_and_sends_nothing(
    local: str, server: HTTPServer, runs_table: Any
) -> None:
    status, answer = post(
        "/preview",
        {"request": SPEC, "values": {"customer": {"id": "42", "name": "Ada"}, "page": 2}},
    )

    assert status == 200, answer
    assert answer["method"] == "POST"
    assert answer["url"] == f"{local}/customers/42/notes?page=2&fixed=1"
    headers = answer["headers"]
    assert headers["X-Id"] == "42" and headers["X-Trace"] == ""
    assert headers["Authorization"] == "***"
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"].startswith("apicall/")
    assert answer["body"] == {"customer": {"id": "42", "name": "Ada"}, "tags": [None]}
    assert answer["placeholders"] == [
        {"name": "customer.id", "where": "path_params.id", "value": "42", "source": "given"},
        {"name": "page", "where": "query.page", "value": 2, "source": "given"},
        {"name": "customer.id", "where": "headers.X-Id", "value": "42", "source": "given"},
        {"name": "trace", "where": "headers.X-Trace", "source": "empty"},
        {"name": "customer.id", "where": "body.customer.id", "value": "42", "source": "given"},
        {"name": "customer.name", "where": "body.customer.name", "value": "Ada", "source": "given"},
        {"name": "tag", "where": "body.tags[0]", "source": "empty"},
    ]
    nothing_sent(server, runs_table)


def test_a_url_placeholder_and_a_whole_body_placeholder_say_so(
    local: str, server: HTTPServer, runs_table: Any
) -> None:
    spec = {
        "connection": "local",
        "method": "PUT",
        "url": "/things/{thing}?v={version}",
        "body": {"type": "raw", "content": "{note}"},
    }

    status, answer = post("/preview", {"request": spec, "values": {"thing": "a/b", "note": "hi"}})

    assert status == 200, answer
    assert answer["url"] == f"{local}/things/a%2Fb?v="
    assert answer["body"] == "hi" and answer["headers"]["Content-Type"] == "text/plain"
    assert [(use["name"], use["where"], use["source"]) for use in answer["placeholders"]] == [
        ("thing", "url", "given"),
        ("version", "url", "empty"),
        ("note", "body", "given"),
    ]
    nothing_sent(server, runs_table)


def test_values_left_out_come_from_the_last_test_of_the_same_request(
    local: str, server: HTTPServer
) -> None:
    server.expect_oneshot_request("/customers/7/notes", method="POST").respond_with_json({})
    values = {"customer": {"id": "7", "name": "Ken"}, "page": 3, "trace": "t-1"}
    assert post("/test", {"request": SPEC, "values": values})[1]["ok"] is True

    status, answer = post("/preview", {"request": SPEC, "values": {"customer": {"name": "Dennis"}}})

    assert status == 200
    assert answer["url"] == f"{local}/customers/7/notes?page=3&fixed=1"
    by_where = {use["where"]: use for use in answer["placeholders"]}
    assert by_where["path_params.id"] == {
        "name": "customer.id",
        "where": "path_params.id",
        "value": "7",
        "source": "remembered",
    }
    assert by_where["body.customer.name"]["source"] == "given"
    assert by_where["body.customer.name"]["value"] == "Dennis"
    assert by_where["headers.X-Trace"] == {
        "name": "trace",
        "where": "headers.X-Trace",
        "value": "t-1",
        "source": "remembered",
    }
    assert by_where["body.tags[0]"]["source"] == "empty"
    assert len(server.log) == 1  # the test's request, none for the preview


def test_credentials_are_masked_wherever_they_would_go(
    server: HTTPServer, put_connection: Callable[[str, dict[str, Any]], str], runs_table: Any
) -> None:
    put_connection(
        "keyed",
        {
            "base_url": server.url_for("/api"),
            "auth": {"type": "api_key", "name": "api_key", "value": QUERY_KEY, "in": "query"},
            "headers": {"Cookie": COOKIE, "X-Org": "org-1"},
            "allow_private_network": True,
        },
    )
    spec = {
        "connection": "keyed",
        "url": "/me",
        "headers": {"Authorization": "Bearer {user.token}", "X-Echo": "{echo}"},
        "body": {"type": "form", "fields": {"key": "{echo}", "plain": "yes"}},
        "method": "POST",
    }

    status, answer = post(
        "/preview", {"request": spec, "values": {"user": {"token": USER_TOKEN}, "echo": QUERY_KEY}}
    )

    assert status == 200, answer
    assert answer["url"] == server.url_for("/api/me") + "?api_key=***"
    headers = answer["headers"]
    assert headers["Authorization"] == "***" and headers["Cookie"] == "***"
    assert headers["X-Echo"] == "***" and headers["X-Org"] == "org-1"
    assert answer["body"] == "key=***&plain=yes"
    uses = {use["where"]: use for use in answer["placeholders"]}
    assert uses["headers.Authorization"]["value"] == "***"
    assert uses["headers.X-Echo"]["value"] == "***" and uses["body.key"]["value"] == "***"
    nothing_sent(server, runs_table)


def test_a_password_in_an_inline_url_is_masked(server: HTTPServer, runs_table: Any) -> None:
    url = f"http://ada:{USERINFO_PASSWORD}@127.0.0.1:{server.port}/x?q={{q}}"

    status, answer = post("/preview", {"request": {"url": url}, "values": {"q": USERINFO_PASSWORD}})

    assert status == 200, answer
    # "ada:<password>" is one secret too (Basic sends it so): masked whole.
    assert answer["url"] == f"http://***@127.0.0.1:{server.port}/x?q=***"
    assert answer["placeholders"] == [
        {"name": "q", "where": "url", "value": "***", "source": "given"}
    ]
    nothing_sent(server, runs_table)


@pytest.mark.usefixtures("demo_connections")
@pytest.mark.parametrize(
    ("connection", "header", "shown"),
    [("demo-bearer", "Authorization", "***"), ("demo-apikey", "X-API-Key", "***")],
)
def test_the_connection_s_auth_header_is_shown_masked(
    connection: str, header: str, shown: str
) -> None:
    status, answer = post("/preview", {"request": {"connection": connection, "url": "/me"}})

    assert status == 200 and answer["headers"][header] == shown
    assert answer["body"] is None and answer["placeholders"] == []


def test_the_test_route_answers_what_it_sent_in_the_preview_s_shape(
    local: str, server: HTTPServer
) -> None:
    seen: list[Request] = []

    def record(request: Request) -> Response:
        seen.append(request)
        return Response(json.dumps({"ok": True}), content_type="application/json")

    server.expect_request("/customers/42/notes", method="POST").respond_with_handler(record)
    body = {"request": SPEC, "values": {"customer": {"id": "42", "name": "Ada"}, "page": 2}}

    status, tested = post("/test", body)
    previewed = post("/preview", body)[1]

    assert status == 200 and tested["ok"] is True
    sent = tested["sent"]
    assert sent == {key: previewed[key] for key in ("method", "url", "headers", "body")}
    # What the server got is what `sent` says, the credential aside.
    (request,) = seen
    assert request.url == sent["url"] and json.loads(request.get_data()) == sent["body"]
    assert {name.lower() for name, _ in request.headers} == {
        name.lower() for name in sent["headers"]
    }
    for name, value in sent["headers"].items():
        expected = f"Bearer {TOKEN}" if name == "Authorization" else value
        assert request.headers[name] == expected, name


def test_the_test_route_sent_is_null_when_no_request_could_be_built(local: str) -> None:
    spec = {"connection": "local", "url": "/x", "body": {"type": "record"}}

    status, answer = post("/test", {"request": spec})

    assert status == 200 and answer["ok"] is False
    assert answer["error"]["field"] == "record" and answer["sent"] is None


@pytest.mark.usefixtures("demo_connections")
def test_a_preview_of_an_entity_starts_from_it() -> None:
    entity = {"url": "/customers/{id}", "path_params": {"id": "{customer.id}"}}
    created = api_event(
        "POST",
        "/connections/demo-bearer/entities",
        resource="/connections/{name}/entities",
        body={"name": "getCustomer", "request": entity},
    )
    assert builder_api.call(created)[0] == 201

    status, answer = post(
        "/preview",
        {
            "request": {
                "connection": "demo-bearer",
                "entity": "getCustomer",
                "method": "DELETE",
                "headers": {"X-Reason": "{why}"},
            },
            "values": {"customer": {"id": "5"}, "why": "gone"},
        },
    )

    assert status == 200, answer
    assert answer["method"] == "DELETE" and answer["url"].endswith("/customers/5")
    assert answer["headers"]["X-Reason"] == "gone"

    status, answer = post("/preview", {"request": {"connection": "demo-bearer", "entity": "nope"}})
    assert status == 404 and answer["error"]["fields"] == ["request.entity"]


def test_bodies_are_shown_as_the_text_sent(local: str, server: HTTPServer, runs_table: Any) -> None:
    bodies = {
        "form": {"type": "form", "fields": [["a", "1"], ["a", "{two}"]]},
        "multipart": {
            "type": "multipart",
            "fields": {"note": "{two}"},
            "files": [{"name": "f", "filename": "a.txt", "text": "hello"}],
        },
        "binary": {
            "type": "binary",
            "content_base64": base64.b64encode(b"\x00\xff\xfe").decode(),
        },
        "big": {"type": "raw", "content": "x" * 70_000},
    }
    shown = {}
    for name, body in bodies.items():
        spec = {"connection": "local", "method": "POST", "url": "/u", "body": body}
        status, answer = post("/preview", {"request": spec, "values": {"two": "2"}})
        assert status == 200, (name, answer)
        shown[name] = answer

    assert shown["form"]["body"] == "a=1&a=2"
    assert shown["form"]["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    multipart = shown["multipart"]
    assert multipart["headers"]["Content-Type"].startswith("multipart/form-data; boundary=")
    assert 'name="note"\r\n\r\n2\r\n' in multipart["body"] and "hello" in multipart["body"]
    assert shown["binary"]["body"] == "<3 bytes>"
    assert shown["big"]["body"].endswith("... (70000 bytes in all)")
    assert shown["big"]["headers"]["Content-Length"] == "70000"
    nothing_sent(server, runs_table)


@pytest.mark.parametrize(
    ("request_spec", "extra", "status", "field"),
    [
        ({"connection": "nope", "url": "/x"}, {}, 404, "connection"),
        ({"connection": "local", "url": "/x", "body": {"type": "record"}}, {}, 422, "record"),
        (
            {"connection": "local", "url": "/x", "response": {"data_path": "$["}},
            {},
            422,
            "request.response.data_path",
        ),
        ({"connection": "local", "method": "GET"}, {}, 422, "request.url"),
        ({"connection": "local", "url": "/x"}, {"remember": True}, 422, "remember"),
        ({"url": "/x"}, {}, 422, "request"),
    ],
    ids=["unknown connection", "no record", "data path", "no url", "unknown field", "relative"],
)
def test_what_cannot_be_previewed_is_refused_naming_the_field(
    local: str,
    server: HTTPServer,
    runs_table: Any,
    request_spec: dict[str, Any],
    extra: dict[str, Any],
    status: int,
    field: str,
) -> None:
    answered, answer = post("/preview", {"request": request_spec, **extra})

    assert answered == status, answer
    assert answer["error"]["fields"][0] == field
    nothing_sent(server, runs_table)
