"""No route, invoke, push or fetch of one workspace can read, use, list, replay or delete what
another workspace holds, even under the same names.

Workspace `blue` (API key `key-blue`) holds a connection `crm` with an entity, an execution in its
history, a dead-lettered push `evt_1`, a fetch job `orders` with a run and records. Workspace
`green` (API key `key-green`) holds nothing. Each case acts as green, against blue's names, and
then checks that blue's things are still there, unchanged, and that blue's server heard nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from pytest_httpserver import HTTPServer

from apicall.core.catalog import default_catalog_store
from apicall.core.runtime import RUNTIME
from apicall.core.store import RecordsWriter, RunsStore
from apicall.fetch.records import records_partition
from apicall.push.deliverer import push_key
from functions.fetch import app as fetch_app
from functions.push import app as push_app
from functions.request import app as request_app
from local.sqs_trigger import SqsTrigger, peek_messages
from local.stack import LocalContext
from tests.support.builder_api import api_event, call
from tests.support.push import create_push_queues

pytestmark = pytest.mark.usefixtures("tables")

BLUE_TOKEN = "tok-blue-3f9a71"
BLUE, GREEN = "key-blue", "key-green"


@dataclass
class Blue:
    server: HTTPServer
    run_id: str
    record_key: str
    queue_url: str
    dlq_url: str
    continuation_url: str
    sqs: Any
    next_tokens: dict[str, str]

    def heard(self) -> int:
        return len(self.server.log)


def as_caller(
    key: str, method: str, path: str, *, body: Any = None, query: dict[str, str] | None = None
) -> tuple[int, Any]:
    return call(
        api_event(method, path, body=body, query=query, api_key_id=key), secrets=[BLUE_TOKEN]
    )


@pytest.fixture
def blue(
    aws: boto3.Session, tables: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Blue]:
    sqs = aws.client("sqs")
    queue_url, dlq_url = create_push_queues(sqs)
    monkeypatch.setenv("PUSH_QUEUE_URL", queue_url)
    monkeypatch.setenv("PUSH_DLQ_URL", dlq_url)
    continuation_url = sqs.create_queue(QueueName="fetch-continuation")["QueueUrl"]
    monkeypatch.setenv("FETCH_CONTINUATION_QUEUE_URL", continuation_url)
    RUNTIME.reset()
    catalog = default_catalog_store()
    catalog.set_api_key_workspace(BLUE, "blue")
    catalog.set_api_key_workspace(GREEN, "green")
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    server.expect_request("/things/1").respond_with_json({"id": 1})
    connection = {
        "base_url": server.url_for("/").rstrip("/"),
        "auth": {"type": "bearer", "token": BLUE_TOKEN},
        "allow_private_network": True,
    }
    for name in ("crm", "erp"):
        status, answer = as_caller(
            BLUE, "POST", "/connections", body={"name": name, "connection": connection}
        )
        assert status == 201, answer
    entity = {"name": "getThing", "request": {"method": "GET", "url": "/things/{id}"}}
    assert as_caller(BLUE, "POST", "/connections/crm/entities", body=entity)[0] == 201
    assert (
        as_caller(BLUE, "POST", "/connections/crm/entities", body={**entity, "name": "other"})[0]
        == 201
    )
    for _ in range(2):
        status, tested = as_caller(
            BLUE,
            "POST",
            "/test",
            body={"request": {"connection": "crm", "entity": "getThing"}, "values": {"id": 1}},
        )
        assert status == 200 and tested["ok"], tested
    # A push of blue that failed for good, and a fetch job of blue with a run and records.
    runs = RunsStore(tables["RunsTable"])
    runs.put(
        push_key("blue", "evt_1"),
        "attempt#010#m1",
        {"message_id": "evt_1", "outcome": "dead_lettered"},
    )
    sqs.send_message(
        QueueUrl=dlq_url,
        MessageBody=json.dumps(
            {
                "id": "evt_1",
                "workspace": "blue",
                "target": {"connection": "crm", "url": "/hooks"},
                "record": {},
            }
        ),
    )
    runs.put(
        "fetch#blue#orders",
        "run#0190a0b0c0d0e0f00000000000000000",
        {"status": "succeeded", "pages": 1},
    )
    RecordsWriter(tables["RecordsTable"]).write(
        [{"pk": records_partition("blue", "orders"), "sk": f"o{n}", "n": n} for n in range(3)]
    )
    tokens = {
        "/connections": as_caller(BLUE, "GET", "/connections", query={"limit": "1"})[1]["next"],
        "/history": as_caller(BLUE, "GET", "/history", query={"limit": "1"})[1]["next"],
        "/records/orders": as_caller(BLUE, "GET", "/records/orders", query={"limit": "1"})[1][
            "next"
        ],
        "/connections/crm/entities": as_caller(
            BLUE, "GET", "/connections/crm/entities", query={"limit": "1"}
        )[1]["next"],
    }
    assert all(tokens.values()), tokens
    run_id = as_caller(BLUE, "GET", "/history")[1]["items"][0]["run_id"]
    heard_before = len(server.log)
    found = Blue(server, run_id, "o1", queue_url, dlq_url, continuation_url, sqs, tokens)
    yield found
    # Whatever green did: blue's things are all still there and blue's server heard nothing more.
    assert len(server.log) == heard_before
    assert as_caller(BLUE, "GET", "/connections/crm")[0] == 200
    assert as_caller(BLUE, "GET", "/connections/crm/entities/getThing")[0] == 200
    assert as_caller(BLUE, "GET", f"/history/{run_id}")[0] == 200
    assert as_caller(BLUE, "GET", "/pushes/evt_1")[0] == 200
    assert as_caller(BLUE, "GET", "/fetches/orders")[0] == 200
    assert as_caller(BLUE, "GET", "/records/orders/o1")[0] == 200
    assert len(as_caller(BLUE, "GET", "/connections")[1]["items"]) == 2
    server.clear()
    server.stop()


def _status(expected: int) -> Callable[[int, Any], None]:
    def check(status: int, answer: Any) -> None:
        assert status == expected, answer

    return check


def _empty(status: int, answer: Any) -> None:
    assert status == 200 and answer["items"] == [], answer


def _bad_next(status: int, answer: Any) -> None:
    assert status == 422 and answer["error"]["fields"] == ["next"], answer


def _route(method: str, path: str, check: Callable[[int, Any], None], **kwargs: Any):
    def case(blue: Blue) -> None:
        check(*as_caller(GREEN, method, path.format(run_id=blue.run_id), **kwargs))

    return case


def _with_blues_next(path: str):
    def case(blue: Blue) -> None:
        _bad_next(*as_caller(GREEN, "GET", path, query={"next": blue.next_tokens[path]}))

    return case


def _replay(blue: Blue) -> None:
    status, answer = as_caller(GREEN, "POST", "/pushes/evt_1/replay")
    assert status == 404, answer
    assert [json.loads(m["Body"])["id"] for m in peek_messages(blue.sqs, blue.dlq_url)] == ["evt_1"]


def _run_fetch_now(blue: Blue) -> None:
    job = {
        "job": "orders",
        "workspace": "blue",
        "request": {"connection": "crm", "url": "/things/1"},
        "records": {"path": "$", "key": "$.id"},
    }
    status, answer = as_caller(GREEN, "POST", "/fetches/orders/run", body={"job": job})
    # Queued as green's own job, whatever workspace the body names: never as blue's.
    assert status == 202, answer
    (queued,) = peek_messages(blue.sqs, blue.continuation_url)
    assert json.loads(queued["Body"])["fetch"]["workspace"] == "green"


def _invoke(blue: Blue) -> None:
    outcome = request_app.handler(
        {"request": {"connection": "crm", "url": "/things/1"}, "workspace": "green"},
        LocalContext("RequestFunction", 30),
    )
    assert outcome["ok"] is False and outcome["error"]["field"] == "request.connection"


def _invoke_entity(blue: Blue) -> None:
    outcome = request_app.handler(
        {
            "request": {"connection": "crm", "entity": "getThing"},
            "values": {"id": 1},
            "workspace": "green",
        },
        LocalContext("RequestFunction", 30),
    )
    assert outcome["ok"] is False


def _lookup(blue: Blue) -> None:
    answer = request_app.handler(
        {"lookup": {"job": "orders", "key": "o1"}, "workspace": "green"},
        LocalContext("RequestFunction", 30),
    )
    assert answer["found"] is False and answer.get("record") is None, answer


def _push(blue: Blue) -> None:
    message = {
        "id": "evt_2",
        "workspace": "green",
        "target": {"connection": "crm", "url": "/things/1"},
        "record": {},
    }
    blue.sqs.send_message(QueueUrl=blue.queue_url, MessageBody=json.dumps(message))
    SqsTrigger(blue.sqs, blue.queue_url, push_app.handler).drain(timeout_s=10)
    dead = [json.loads(m["Body"])["id"] for m in peek_messages(blue.sqs, blue.dlq_url)]
    assert "evt_2" in dead  # rejected: green has no connection crm


def _fetch(blue: Blue) -> None:
    job = {
        "job": "orders",
        "workspace": "green",
        "request": {"connection": "crm", "url": "/things/1"},
        "records": {"path": "$", "key": "$.id"},
    }
    result = fetch_app.handler(job, LocalContext("FetchFunction", 60))
    assert result["status"] != "succeeded", result


def _same_name_in_green(blue: Blue) -> None:
    connection = {
        "base_url": "https://green.example.com",
        "auth": {"type": "bearer", "token": "tok-green"},
    }
    assert (
        as_caller(GREEN, "POST", "/connections", body={"name": "crm", "connection": connection})[0]
        == 201
    )
    _, view = as_caller(GREEN, "GET", "/connections/crm")
    assert view["connection"]["base_url"] == "https://green.example.com"
    _, theirs = as_caller(BLUE, "GET", "/connections/crm")
    assert theirs["connection"]["base_url"] == blue.server.url_for("/").rstrip("/")


def _workspace_in_query_is_ignored(blue: Blue) -> None:
    _empty(*as_caller(GREEN, "GET", "/connections", query={"workspace": "blue"}))


REPLACEMENT = {"connection": {"base_url": "https://evil.example", "auth": {"type": "none"}}}
ENTITY = {"name": "getThing", "request": {"method": "GET", "url": "/x"}}
TEST_CRM = {"request": {"connection": "crm", "url": "/things/1"}}

CASES: dict[str, Callable[[Blue], None]] = {
    "read a connection": _route("GET", "/connections/crm", _status(404)),
    "list connections": _route("GET", "/connections", _empty),
    "replace a connection": _route("PUT", "/connections/crm", _status(404), body=REPLACEMENT),
    "delete a connection": _route("DELETE", "/connections/crm", _status(404)),
    "test a saved connection": _route("POST", "/connections/crm/test", _status(404), body={}),
    "list entities": _route("GET", "/connections/crm/entities", _status(404)),
    "read an entity": _route("GET", "/connections/crm/entities/getThing", _status(404)),
    "replace an entity": _route(
        "PUT",
        "/connections/crm/entities/getThing",
        _status(404),
        body={"request": ENTITY["request"]},
    ),
    "delete an entity": _route("DELETE", "/connections/crm/entities/getThing", _status(404)),
    "add an entity": _route("POST", "/connections/crm/entities", _status(404), body=ENTITY),
    "test with the connection": _route("POST", "/test", _status(404), body=TEST_CRM),
    "test with the entity": _route(
        "POST", "/test", _status(404), body={"request": {"connection": "crm", "entity": "getThing"}}
    ),
    "preview with the connection": _route("POST", "/preview", _status(404), body=TEST_CRM),
    "discover with the connection": _route(
        "POST", "/discover", _status(404), body={"connection": "crm", "url": "/openapi.json"}
    ),
    "start OAuth consent": _route("GET", "/oauth/crm/authorize", _status(404)),
    "list the history": _route("GET", "/history", _empty),
    "list the history of the connection": _route(
        "GET", "/history", _empty, query={"connection": "crm"}
    ),
    "read an execution": _route("GET", "/history/{run_id}", _status(404)),
    "read a push": _route("GET", "/pushes/evt_1", _status(404)),
    "replay a push": _replay,
    "read a fetch job": _route("GET", "/fetches/orders", _status(404)),
    "list records": _route("GET", "/records/orders", _empty),
    "read a record": _route("GET", "/records/orders/o1", _status(404)),
    "page connections with blue's next": _with_blues_next("/connections"),
    "page the history with blue's next": _with_blues_next("/history"),
    "page records with blue's next": _with_blues_next("/records/orders"),
    "page entities with blue's next": lambda blue: _route(
        "GET",
        "/connections/crm/entities",
        _status(404),
        query={"next": blue.next_tokens["/connections/crm/entities"]},
    )(blue),
    "run blue's fetch job now": _run_fetch_now,
    "invoke with the connection": _invoke,
    "invoke with the entity": _invoke_entity,
    "look up a record": _lookup,
    "push through the connection": _push,
    "fetch through the connection": _fetch,
    "create a same-named connection": _same_name_in_green,
    "name blue's workspace in the query": _workspace_in_query_is_ignored,
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_green_cannot_reach_blue(blue: Blue, case: str) -> None:
    CASES[case](blue)


def test_there_are_at_least_30_cases() -> None:
    assert len(CASES) >= 30
