"""A connection that is missing, misnamed or unreadable is named where the input names it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from apicall.fetch.run import fetch_scheduled
from apicall.request.execute import execute_event
from tests.support.push import PushRig

pytestmark = pytest.mark.usefixtures("tables")


def request_error(name: str) -> dict[str, Any]:
    event = {"request": {"connection": name, "url": "/x"}}
    return execute_event(event)["error"]


def fetch_error(name: str) -> dict[str, Any]:
    job = {
        "job": "orders",
        "request": {"connection": name, "url": "/orders"},
        "records": {"key": "$.id"},
    }
    return fetch_scheduled(job)["error"]


CONNECTIONS = [
    ("nope", "does not exist"),
    ("../escape", "invalid connection name"),
    ("not-json", "is not a JSON object"),
]


@pytest.fixture(autouse=True)
def _unreadable_connection(put_connection) -> None:
    put_connection("not-json", [1])  # a JSON array, not a connection


@pytest.mark.parametrize(("name", "problem"), CONNECTIONS)
@pytest.mark.parametrize("answer", [request_error, fetch_error])
def test_a_bad_connection_is_named_by_the_field_that_names_it(
    answer, name: str, problem: str
) -> None:
    error = answer(name)

    assert error["kind"] == "invalid_request"
    assert error["field"] == "request.connection"
    assert problem in error["message"]


@pytest.mark.parametrize(("name", "problem"), CONNECTIONS)
def test_a_push_to_a_bad_connection_is_rejected_naming_target_connection(
    push_rig: PushRig, name: str, problem: str
) -> None:
    push_rig.send({"id": "evt_1", "target": {"connection": name, "url": "/in"}, "record": {}})

    push_rig.trigger.drain()

    [letter] = push_rig.dead_letters()
    attributes = letter["MessageAttributes"]
    assert attributes["apicall-rejected-field"]["StringValue"] == "target.connection"
    assert problem in attributes["apicall-rejected-reason"]["StringValue"]
    assert json.loads(letter["Body"])["id"] == "evt_1"
