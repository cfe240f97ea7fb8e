"""The request function end to end: direct-invoke events against the demo API, AWS in moto."""

from __future__ import annotations

import copy
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from apicall.builder import testapi
from apicall.core.store import RunsStore
from functions.request import api, app
from local.stack import LocalContext, free_port
from tests.support.demo import load_event
from tests.support.servers import ScriptedServer, read_request_head

pytestmark = pytest.mark.usefixtures("tables", "demo_connections")


def invoke(event: dict[str, Any]) -> dict[str, Any]:
    return app.handler(event, LocalContext("RequestFunction", 30))


def test_get_with_query_and_api_key_maps_rows() -> None:
    outcome = invoke(load_event("request_get_query_api_key.json"))

    assert outcome["ok"] and outcome["route"] == "200" and outcome["next"] == "continue"
    assert outcome["data"] is None
    assert [row["name"] for row in outcome["rows"]] == ["Ada", "Ken", "Dennis"]
    assert all(set(row) == {"id", "name", "balance", "created_at"} for row in outcome["rows"])
    assert all(isinstance(row["balance"], float | int) for row in outcome["rows"])


def test_repeated_query_keys_filter_on_every_tag(demo_api) -> None:
    demo, _ = demo_api
    outcome = invoke(load_event("request_get_query_api_key.json"))

    expected = {
        c["id"]
        for c in demo.state.customers.values()
        if c["status"] == "active" and {"a", "b"} <= set(c["tags"])
    }
    assert {row["id"] for row in outcome["rows"]} == expected


def test_post_json_with_bearer_keeps_placeholder_types() -> None:
    outcome = invoke(load_event("request_post_json_bearer.json"))

    assert outcome["status"] == 201 and outcome["route"] == "201"
    assert outcome["data"]["items"] == [{"sku": "A-1", "qty": 2}]
    assert outcome["body"]["order"]["customer_id"] == "3"
    assert outcome["body"]["order"]["note"] == "rush order for Linus"


def test_put_fills_path_params() -> None:
    outcome = invoke(load_event("request_put_path_params.json"))

    assert outcome["data"] == {"id": "2", "name": "Grace Hopper"}


def test_patch_sends_form_with_basic_auth() -> None:
    outcome = invoke(load_event("request_patch_form.json"))

    assert outcome["ok"] and outcome["data"] == {"status": "inactive"}


def test_delete_answers_no_content_on_its_route() -> None:
    outcome = invoke(load_event("request_delete.json"))

    assert outcome["status"] == 204 and outcome["route"] == "204" and outcome["body"] is None


def test_head_has_headers_and_no_body() -> None:
    outcome = invoke(load_event("request_head.json"))

    assert outcome["status"] == 200 and outcome["body"] is None
    assert outcome["headers"]["content-type"].startswith("application/json")


def test_multipart_upload_sends_fields_and_files() -> None:
    outcome = invoke(load_event("request_multipart_upload.json"))

    assert outcome["body"]["fields"] == {"folder": "invoices/2026"}
    assert outcome["rows"] == [
        {"filename": "invoice.txt", "size": len("Invoice 2026-11 for Ada")},
        {"filename": "logo.png", "size": 70},
    ]


def test_binary_upload_sends_decoded_bytes() -> None:
    outcome = invoke(load_event("request_binary_upload.json"))

    assert outcome["body"]["content_type"] == "application/pdf"
    assert outcome["data"]["size"] == 78


def test_oauth_client_credentials_fetches_a_token_once(demo_api) -> None:
    demo, _ = demo_api
    first = invoke(load_event("request_oauth_client_credentials.json"))
    second = invoke(load_event("request_oauth_client_credentials.json"))

    assert first["ok"] and second["ok"]
    assert first["data"] == {"client_id": "demo-client", "scopes": ["orders:read"]}
    assert demo.state.token_requests == 1


def test_listed_error_status_takes_its_route_and_custom_message() -> None:
    outcome = invoke(load_event("request_not_found_route.json"))

    assert outcome["ok"] is False and outcome["route"] == "404"
    assert outcome["next"] == "continue"
    assert outcome["error"] == {
        "kind": "status",
        "message": "Customer not found",
        "status": 404,
        "field": None,
    }
    assert outcome["skipped_fields"] == ["name"]


def test_unlisted_status_routes_other() -> None:
    event = load_event("request_not_found_route.json")
    event["request"]["routes"] = ["200"]

    assert invoke(event)["route"] == "other"


def test_timeout_routes_timeout_and_terminates() -> None:
    event = load_event("request_timeout.json")  # a timeout_s of 1
    event["request"]["query"]["seconds"] = 30  # the demo API's longest answer

    outcome = invoke(event)

    assert outcome["route"] == "timeout" and outcome["next"] == "terminate"
    assert outcome["error"]["kind"] == "timeout"
    assert outcome["elapsed_ms"] < 10_000  # cut at the deadline, not after the server's 30 s


def test_failure_with_terminate_answers_terminate() -> None:
    event = load_event("request_not_found_route.json")
    event["request"]["on_failure"] = "terminate"

    outcome = invoke(event)

    assert outcome["ok"] is False and outcome["next"] == "terminate"


def test_unreachable_host_routes_error() -> None:
    event = load_event("request_delete.json")
    event["request"]["connection"] = None
    event["request"]["url"] = "http://127.0.0.1:9/nothing"

    outcome = invoke(event)

    assert outcome["route"] == "error" and outcome["error"]["kind"] == "blocked"


def test_unknown_connection_is_an_invalid_request_naming_the_field() -> None:
    event = load_event("request_delete.json")
    event["request"]["connection"] = "no-such-connection"

    outcome = invoke(event)

    assert outcome["route"] == "error" and outcome["next"] == "terminate"
    assert outcome["error"]["kind"] == "invalid_request"
    assert outcome["error"]["field"] == "request.connection"


def test_every_execution_is_recorded_with_credentials_redacted(runs_table) -> None:
    invoke(load_event("request_get_query_api_key.json"))

    items = RunsStore(runs_table).executions("default")
    assert len(items) == 1
    item = items[0]
    assert item["connection"] == "demo-apikey"
    assert item["route"] == "200" and item["status"] == 200 and item["attempts"] == 1
    assert item["request"]["method"] == "GET"
    assert "demo-api-key-7f3a" not in repr(item)
    assert item["expires_at"] > 0


# --- on a local server --------------------------------------------------------------------------


class ShortContext(LocalContext):
    """A Lambda context with a fixed, small remaining time."""

    def __init__(self, remaining_ms: int) -> None:
        super().__init__("RequestFunction", 30)
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def local(put_connection) -> str:
    """A connection to servers on 127.0.0.1 with a generous timeout and no retries."""
    put_connection(
        "local", {"allow_private_network": True, "timeout_s": 30, "retry": {"attempts": 1}}
    )
    return "local"


@pytest.fixture
def silent_server(scripted_server) -> Iterator[ScriptedServer]:
    """Reads every request and never answers."""
    released = threading.Event()

    def script(conn: socket.socket, index: int) -> None:
        read_request_head(conn)
        released.wait()

    yield scripted_server(script)
    released.set()


@pytest.fixture
def late_server(scripted_server) -> Iterator[ScriptedServer]:
    """Answers 200 only after 20 s: long after the invocations below had to answer."""
    released = threading.Event()

    def script(conn: socket.socket, index: int) -> None:
        read_request_head(conn)
        released.wait(20)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    yield scripted_server(script)
    released.set()


# GIVEN a connection timeout of 30 s and an invocation with 3.5 s or 2 s left
@pytest.mark.parametrize("remaining_ms", [3500, 2000])
def test_the_deadline_is_capped_by_the_invocation_time_left_and_routes_timeout(
    remaining_ms: int, local: str, late_server: ScriptedServer
) -> None:
    event = {"request": {"connection": local, "url": f"{late_server.url}/slow"}}

    outcome = app.handler(event, ShortContext(remaining_ms))

    assert outcome["route"] == "timeout" and outcome["error"]["kind"] == "timeout"
    assert outcome["attempts"] == 1 and len(late_server.arrivals) == 1


def test_too_little_time_left_routes_timeout_without_sending(
    local: str, silent_server: ScriptedServer
) -> None:
    event = {"request": {"connection": local, "url": f"{silent_server.url}/slow"}}

    outcome = app.handler(event, ShortContext(1000))

    assert outcome["route"] == "timeout" and outcome["attempts"] == 0
    assert silent_server.arrivals == []


def test_the_test_api_caps_the_deadline_by_the_invocation_time_left_and_routes_timeout(
    local: str, late_server: ScriptedServer, tables: Any
) -> None:
    event = copy.deepcopy(load_event("api_test.json"))
    event["body"] = json.dumps({"request": {"connection": local, "url": f"{late_server.url}/x"}})

    answer = api.handler(event, ShortContext(3500))

    outcome = json.loads(answer["body"])
    assert answer["statusCode"] == 200
    assert outcome["route"] == "timeout" and outcome["error"]["kind"] == "timeout"
    assert len(late_server.arrivals) == 1


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("lambda_left_ms", "elapsed_s", "expected_ms"),
    [
        (900_000, 0.0, 29_000),  # a long Lambda timeout: API Gateway's 29 s ends first
        (900_000, 10.0, 19_000),  # counted from when the invocation started
        (5_000, 0.0, 5_000),  # a Lambda with less time left ends first
    ],
)
def test_the_test_api_answers_within_api_gateways_integration_timeout(
    lambda_left_ms: int, elapsed_s: float, expected_ms: int
) -> None:
    clock = FakeClock()
    left = testapi.answer_time_left(ShortContext(lambda_left_ms), clock=clock)
    clock.now += elapsed_s

    assert left() == expected_ms


@pytest.mark.parametrize(
    ("response", "field"),
    [
        ({"data_path": "$.["}, "request.response.data_path"),
        ({"data_path": "$.items[?@.price >]"}, "request.response.data_path"),
        (
            {"fields": [{"name": "id", "path": "$.id"}, {"name": "x", "path": "$.."}]},
            "request.response.fields[1].path",
        ),
        ({"fields": [{"name": "x", "path": "id"}]}, "request.response.fields[0].path"),
    ],
)
def test_a_bad_response_path_is_refused_before_anything_is_sent(
    response: dict[str, Any], field: str, local: str, server: HTTPServer
) -> None:
    server.expect_request("/orders", method="POST").respond_with_json({"id": 1}, status=201)
    event = {
        "request": {
            "connection": local,
            "method": "POST",
            "url": server.url_for("/orders"),
            "body": {"type": "json", "value": {"sku": "A-1"}},
            "response": response,
        }
    }

    outcome = invoke(event)

    assert outcome["route"] == "error" and outcome["error"]["kind"] == "invalid_request"
    assert outcome["error"]["field"] == field
    assert server.log == []


@pytest.mark.parametrize(
    ("request_fields", "values", "record", "field"),
    [
        (
            {"body": {"type": "json", "value": {"name": "\ud800"}}},
            {},
            None,
            "request.body.value.name",
        ),
        ({"body": {"type": "json", "value": {"name": "{x}"}}}, {"x": "\ud800"}, None, "values.x"),
        ({"body": {"type": "raw", "content": "{x}"}}, {"x": "a\udfff"}, None, "values.x"),
        ({"body": {"type": "form", "fields": {"a": "\ud800"}}}, {}, None, "request.body.fields.a"),
        (
            {"body": {"type": "multipart", "fields": {"a": "{x}"}}},
            {"x": "\ud800"},
            None,
            "values.x",
        ),
        ({"query": [["q", "\ud800"]]}, {}, None, "request.query[0][1]"),
        ({"url": "/orders/{id}"}, {"id": "\ud800"}, None, "values.id"),
        ({"body": {"type": "record"}}, {}, {"name": "\ud800"}, "record.name"),
    ],
)
def test_a_lone_surrogate_is_an_invalid_request_naming_the_field_and_nothing_is_sent(
    request_fields: dict[str, Any],
    values: dict[str, Any],
    record: dict[str, Any] | None,
    field: str,
    put_connection,
    server: HTTPServer,
) -> None:
    put_connection("here", {"base_url": server.url_for("/"), "allow_private_network": True})
    event = {
        "request": {"connection": "here", "method": "POST", "url": "/orders", **request_fields},
        "values": values,
        "record": record,
    }

    outcome = invoke(event)

    assert outcome["route"] == "error" and outcome["error"]["kind"] == "invalid_request"
    assert outcome["error"]["field"] == field
    assert server.log == []


@pytest.mark.parametrize(
    ("status", "errors", "message"),
    [
        (404, {"404": "No such customer", "4xx": "Rejected"}, "No such customer"),
        (409, {"404": "No such customer", "4xx": "Rejected"}, "Rejected"),
        (503, {"5XX": "The CRM is down"}, "The CRM is down"),
        (503, {"4xx": "Rejected"}, "HTTP 503 Service Unavailable"),
    ],
)
def test_an_errors_message_applies_to_its_code_then_its_class(
    status: int, errors: dict[str, str], message: str, local: str, server: HTTPServer
) -> None:
    server.expect_request("/x").respond_with_data("no", status=status)
    event = {"request": {"connection": local, "url": server.url_for("/x"), "errors": errors}}

    outcome = invoke(event)

    assert outcome["error"]["message"] == message and outcome["error"]["status"] == status


def test_an_errors_message_applies_to_the_timeout_route(
    local: str, silent_server: ScriptedServer
) -> None:
    event = {
        "request": {
            "connection": local,
            "url": f"{silent_server.url}/slow",
            "timeout_s": 0.2,
            "errors": {"timeout": "The CRM did not answer in time", "error": "Unreachable"},
        }
    }

    outcome = invoke(event)

    assert outcome["route"] == "timeout"
    assert outcome["error"] == {
        "kind": "timeout",
        "message": "The CRM did not answer in time",
        "status": None,
        "field": None,
    }


def test_an_errors_message_applies_to_the_error_route(local: str) -> None:
    closed = f"http://127.0.0.1:{free_port()}/x"
    event = {"request": {"connection": local, "url": closed, "errors": {"error": "Unreachable"}}}

    outcome = invoke(event)

    assert outcome["route"] == "error" and outcome["error"]["kind"] == "connection"
    assert outcome["error"]["message"] == "Unreachable"


def test_an_errors_message_does_not_hide_what_is_wrong_with_the_spec(local: str) -> None:
    event = {
        "request": {
            "connection": local,
            "url": "http://127.0.0.1:9/{missing}",
            "errors": {"error": "Unreachable"},
        }
    }

    outcome = invoke(event)

    assert outcome["error"]["kind"] == "invalid_request"
    assert outcome["error"]["field"] == "request.url" and "missing" in outcome["error"]["message"]


@pytest.mark.parametrize(
    ("success_codes", "status", "ok"),
    [
        ("200,201", 201, True),
        ("200,201", 202, False),
        ("2xx,304", 304, True),
        (["2xx", 304], 304, True),
    ],
)
def test_success_codes_in_the_comma_form_decide_ok(
    success_codes: Any, status: int, ok: bool, local: str, server: HTTPServer
) -> None:
    server.expect_request("/x").respond_with_data("", status=status)
    event = {
        "request": {
            "connection": local,
            "url": server.url_for("/x"),
            "success_codes": success_codes,
        }
    }

    assert invoke(event)["ok"] is ok
