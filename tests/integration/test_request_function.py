"""The request function end to end: direct-invoke events against the demo API, AWS in moto."""

from __future__ import annotations

from typing import Any

import pytest

from apicall.store import RunsStore
from functions.request import app
from local.stack import LocalContext
from tests.support.demo import load_event

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
    outcome = invoke(load_event("request_timeout.json"))

    assert outcome["route"] == "timeout" and outcome["next"] == "terminate"
    assert outcome["error"]["kind"] == "timeout"
    assert outcome["elapsed_ms"] < 3000


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

    items = RunsStore(runs_table).executions("demo-apikey")
    assert len(items) == 1
    item = items[0]
    assert item["route"] == "200" and item["status"] == 200 and item["attempts"] == 1
    assert item["request"]["method"] == "GET"
    assert "demo-api-key-7f3a" not in repr(item)
    assert item["expires_at"] > 0
