"""Malformed invoke events and request specs give a typed error naming the field, never a crash."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apicall.request.execute import execute_event
from tests.support import strategies

VALID: dict[str, Any] = {
    "request": {
        "connection": "crm",
        "method": "GET",
        "url": "/customers/{id}",
        "response": {"fields": [{"name": "id", "type": "string", "path": "$.id"}]},
    },
    "values": {"id": "1"},
}


def with_change(path: str, value: Any) -> dict[str, Any]:
    """VALID with one dotted path set (or deleted when value is DELETE)."""
    event = copy.deepcopy(VALID)
    *parents, last = path.split(".")
    node: Any = event
    for part in parents:
        node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
    if value is DELETE:
        del node[last]
    elif last.isdigit():
        node[int(last)] = value
    else:
        node[last] = value
    return event


class _Delete:
    """Marks a field to remove; its repr keeps test ids stable across processes."""

    def __repr__(self) -> str:
        return "DELETE"


DELETE = _Delete()

CASES = [
    ("request", DELETE, "request"),
    ("request", "GET /x", "request"),
    ("request.url", DELETE, "request.url"),
    ("request.url", "", "request.url"),
    ("request.url", 42, "request.url"),
    ("request.method", "FETCH", "request.method"),
    ("request.method", None, "request.method"),
    ("request.connection", None, "request"),  # a relative url needs a connection
    ("request.connection", 7, "request.connection"),
    ("request.query", "status=active", "request.query"),
    ("request.query", [["a"]], "request.query[0][1]"),
    ("request.headers", {"X-A": 1}, "request.headers.X-A"),
    ("request.headers", ["Accept"], "request.headers"),
    ("request.body", {"type": "xml"}, "request.body"),
    ("request.body", {"type": "json", "valu": {}}, "request.body.valu"),
    ("request.body", {"type": "binary"}, "request.body.content_base64"),
    (
        "request.body",
        {"type": "multipart", "files": [{"name": "f", "filename": "a"}]},
        "request.body.files[0]",
    ),
    ("request.body", {"type": "form", "fields": {"a": {"b": 1}}}, "request.body.fields.a"),
    ("request.timeout_s", -1, "request.timeout_s"),
    ("request.timeout_s", 10_000, "request.timeout_s"),
    ("request.success_codes", "2xxx", "request.success_codes"),
    ("request.success_codes", [], "request.success_codes"),
    ("request.success_codes", [99], "request.success_codes"),
    ("request.on_failure", "ignore", "request.on_failure"),
    ("request.routes", ["ok"], "request.routes"),
    ("request.routes", "200", "request.routes"),
    ("request.response.format", "xml", "request.response.format"),
    ("request.response.fields", [{"name": "id"}], "request.response.fields[0].path"),
    (
        "request.response.fields",
        [{"name": "id", "path": "$.id", "type": "uuid"}],
        "request.response.fields[0].type",
    ),
    ("request.response.max_bytes", 0, "request.response.max_bytes"),
    ("request.max_redirects", 99, "request.max_redirects"),
    ("request.extra", True, "request.extra"),
    ("values", [1, 2], "values"),
    ("record", "not an object", "record"),
    ("surprise", 1, "surprise"),
]


@pytest.mark.parametrize(("path", "value", "field"), CASES, ids=[f"{c[0]}={c[1]!r}" for c in CASES])
def test_malformed_event_names_the_field(path: str, value: Any, field: str) -> None:
    outcome = execute_event(with_change(path, value))

    assert outcome["ok"] is False and outcome["route"] == "error"
    assert outcome["next"] == "terminate"
    assert outcome["error"]["kind"] == "invalid_request"
    assert outcome["error"]["field"] == field
    assert field in outcome["error"]["message"]


@pytest.mark.parametrize("event", [None, [], "text", 42, {}])
def test_event_that_is_not_an_invoke_object_is_refused(event: Any) -> None:
    outcome = execute_event(event)

    assert outcome["error"]["kind"] == "invalid_request"
    assert outcome["error"]["field"] in {"event", "request"}


json_values = strategies.json_values(max_leaves=8, max_text=8)
spec_keys = st.sampled_from(
    [
        "url",
        "method",
        "query",
        "headers",
        "body",
        "timeout_s",
        "routes",
        "success_codes",
        "response",
    ]
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.dictionaries(spec_keys, json_values, max_size=5))
def test_arbitrary_request_specs_never_crash(spec: dict[str, Any]) -> None:
    # No connection and a url that is never a reachable absolute URL: nothing here can touch the
    # network, and every answer is a well-formed Outcome.
    spec.pop("url", None)
    outcome = execute_event({"request": {**spec, "url": "/relative"}})

    assert outcome["ok"] is False
    assert outcome["error"]["kind"] == "invalid_request"
    assert outcome["error"]["field"]
