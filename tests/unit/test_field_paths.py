"""Errors name the field as the input spells it: no union tags or members, every list's parent."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from apicall.core.errors import ConfigError, field_path
from apicall.fetch.run import parse_job
from apicall.push.message import parse_message
from apicall.request.execute import execute_event

REQUEST: dict[str, Any] = {"request": {"url": "https://api.example.com/x"}}
PUSH: dict[str, Any] = {"id": "evt_1", "target": {"url": "https://hooks.example.com"}, "record": {}}
FETCH: dict[str, Any] = {
    "job": "orders",
    "request": {"url": "https://api.example.com/orders"},
    "records": {"key": "$.id"},
}
ELEVEN_FIELDS = [{"name": f"f{i}", "path": "$.x"} for i in range(11)]
ELEVEN_PAIRS = [["a", "b"]] * 11


def changed(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """`base` with dotted paths set: changed(FETCH, **{"request.headers": {...}})."""
    data = copy.deepcopy(base)
    for path, value in changes.items():
        *parents, last = path.split(".")
        node = data
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return data


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def request_field(event: dict[str, Any]) -> str | None:
    return execute_event(event)["error"]["field"]


def push_field(message: dict[str, Any]) -> str | None:
    import json

    try:
        parse_message(json.dumps(message))
    except ConfigError as error:
        return error.field
    return None


def fetch_field(job: dict[str, Any]) -> str | None:
    try:
        parse_job(job)
    except ConfigError as error:
        return error.field
    return None


CASES = [
    # a discriminated union's tag is not a field of the input
    (fetch_field, changed(FETCH, pagination={"type": "cursor"}), "pagination.cursor_path"),
    (fetch_field, changed(FETCH, pagination={"type": "page", "size": 0}), "pagination.size"),
    (
        fetch_field,
        changed(FETCH, pagination={"type": "cursor", "cursor": 1, "cursor_path": "$.n"}),
        "pagination.cursor",
    ),
    (
        request_field,
        changed(REQUEST, **{"request.body": {"type": "json", "valu": 1}}),
        "request.body.valu",
    ),
    (
        request_field,
        changed(REQUEST, **{"request.body": {"type": "binary"}}),
        "request.body.content_base64",
    ),
    (
        fetch_field,
        changed(FETCH, **{"request.body": {"type": "form", "fields": {"a": [1]}}}),
        "request.body.fields.a",
    ),
    # a plain union's member is not a field either, and a list item keeps its parent
    (
        request_field,
        changed(REQUEST, **{"request.query": [*ELEVEN_PAIRS, ["a"]]}),
        "request.query[11][1]",
    ),
    (
        fetch_field,
        changed(FETCH, **{"request.query": [*ELEVEN_PAIRS, ["a", [1]]]}),
        "request.query[11][1]",
    ),
    (
        fetch_field,
        changed(FETCH, records={"key": "$.id", "fields": [*ELEVEN_FIELDS, {"name": 1}]}),
        "records.fields[11].name",
    ),
    (push_field, changed(PUSH, **{"target.headers": {"a": [1]}}), "target.headers.a"),
    (
        request_field,
        changed(
            REQUEST,
            **{
                "request.body": {
                    "type": "form",
                    "fields": [*ELEVEN_PAIRS, ["a", {"b": 1}]],
                }
            },
        ),
        "request.body.fields[11][1]",
    ),
    # a key that reads like a type name is still the input's key
    (request_field, changed(REQUEST, **{"request.headers": {"str": 1}}), "request.headers.str"),
    (push_field, changed(PUSH, **{"target.headers": {"none": 1}}), "target.headers.none"),
    (
        fetch_field,
        changed(FETCH, **{"request.path_params": {"int": [1]}}),
        "request.path_params.int",
    ),
    (push_field, changed(PUSH, record=[1]), "record"),
    # what JSON carries but nothing can send: named where it is, not at the root
    (request_field, changed(REQUEST, **{"request.url": "https://x/\ud800"}), "request.url"),
    (request_field, changed(REQUEST, values={"\udfff": 1}), "values.\\udfff"),
    (request_field, changed(REQUEST, values={"a": nested(150)}), "values.a"),
    (fetch_field, changed(FETCH, **{"request.headers": {"X": "\ud800"}}), "request.headers.X"),
    (push_field, changed(PUSH, record={"": "\ud800"}), 'record.""'),
    (push_field, changed(PUSH, target={"url": "https://x", "method": "GET"}), "target.method"),
]


@pytest.mark.parametrize(
    ("parse", "data", "field"),
    CASES,
    ids=[f"{case[0].__name__}-{index}" for index, case in enumerate(CASES)],
)
def test_an_invalid_input_names_the_field_as_the_input_spells_it(parse, data, field) -> None:
    assert parse(data) == field


@pytest.mark.parametrize(
    ("loc", "expected"),
    [
        (("auth", "token"), "auth.token"),
        (("query", 0, 1), "query[0][1]"),
        (("query", "list[tuple[str, str]]", 0, 1), "query[0][1]"),
        (("success_codes", "str"), "success_codes"),
    ],
)
def test_without_the_input_union_members_are_left_out_by_their_spelling(loc, expected) -> None:
    assert field_path(loc) == expected
