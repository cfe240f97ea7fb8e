"""The builder's view of what ran, through functions/request/api.py:handler: the history of
executions, push deliveries (and replaying a dead letter), fetch jobs (and running one now) and
the records they stored; and the request function's record lookup. Real moto DynamoDB and SQS,
the push rig's real receiver, the demo API; every read stays in the caller's workspace."""

from __future__ import annotations

import copy
import functools
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from apicall.core.catalog import default_catalog_store
from apicall.core.errors import ConfigError
from apicall.core.runtime import RUNTIME
from apicall.core.store import RecordsWriter, RunsStore, history_key, records_table
from apicall.fetch import lookup
from apicall.fetch.records import records_partition
from apicall.fetch.run import parse_continuation
from apicall.push import redrive
from apicall.push.deliverer import push_key
from functions.fetch.app import handler as fetch_handler
from functions.request import api
from functions.request.app import handler as request_handler
from local.sqs_trigger import SqsTrigger, peek_messages
from local.stack import LocalContext
from tests.support.demo import load_event
from tests.support.push import PushRig, receiver_connection

pytestmark = pytest.mark.usefixtures("tables")

TEAM_B_KEY = "key-team-b"


# --- calling the API ------------------------------------------------------------------------------


def call(
    method: str,
    path: str,
    *,
    query: dict[str, str] | None = None,
    body: Any = None,
    api_key_id: str = "key1",
) -> tuple[int, Any]:
    """One API Gateway event into the handler; `api_key_id` picks the caller's workspace."""
    event = copy.deepcopy(load_event("api_history.json"))
    event["httpMethod"] = method
    event["path"] = path
    event["resource"] = path
    event["requestContext"]["path"] = f"/dev{path}"
    event["requestContext"]["identity"]["apiKeyId"] = api_key_id
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in (query or {}).items()} or None
    if body is not None:
        event["body"] = body if isinstance(body, str) else json.dumps(body)
        event["headers"]["Content-Type"] = "application/json"
        event["multiValueHeaders"]["Content-Type"] = ["application/json"]
    answer = api.handler(event, LocalContext("ApiFunction", 30))
    text = answer["body"]
    return answer["statusCode"], json.loads(text) if text else None


def as_team_b(method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    return call(method, path, api_key_id=TEAM_B_KEY, **kwargs)


@pytest.fixture(autouse=True)
def team_b(tables: dict[str, Any]) -> str:
    """A second workspace, reached with its own API key; key1 (the events' key) is `default`."""
    default_catalog_store().set_api_key_workspace(TEAM_B_KEY, "team-b")
    return "team-b"


def refused(answer: tuple[int, Any], status: int, field: str) -> None:
    code, body = answer
    assert code == status, body
    assert body["error"]["fields"] == [field], body


# --- history --------------------------------------------------------------------------------------

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z in ms


def run_id_at(ms: int) -> str:
    return f"{ms:012x}{uuid.uuid4().hex[:20]}"


def put_executions(store: RunsStore, workspace: str, count: int, **summary: Any) -> list[str]:
    """`count` executions one minute apart from T0; returns their run ids, oldest first."""
    ids = [run_id_at(T0 + n * 60_000) for n in range(count)]
    writer = RecordsWriter(store.table)
    writer.write(
        [
            {
                "pk": history_key(workspace),
                "sk": run_id,
                "run_id": run_id,
                "at": f"minute {n}",
                "connection": "crm" if n % 2 else "billing",
                "route": "200" if n % 3 else "error",
                "ok": bool(n % 3),
                "expires_at": int(time.time()) + 86400,
                **summary,
            }
            for n, run_id in enumerate(ids)
        ]
    )
    return ids


@pytest.mark.usefixtures("demo_connections")
def test_a_real_execution_is_in_the_history_newest_first_as_stored(runs_table: Any) -> None:
    store = RunsStore(runs_table)
    older = put_executions(store, "default", 3)
    outcome = request_handler(
        {"request": {"connection": "demo-bearer", "url": "/customers/1"}},
        LocalContext("RequestFunction", 30),
    )

    status, page = call("GET", "/history")

    assert status == 200 and page["next"] is None
    assert [item["run_id"] for item in page["items"]] == [outcome["run_id"], *reversed(older)]
    newest = page["items"][0]
    assert newest["connection"] == "demo-bearer" and newest["ok"] is True
    assert newest["request"]["method"] == "GET" and newest["status"] == 200
    assert not {"pk", "sk", "expires_at"} & set(newest)
    status, one = call("GET", f"/history/{outcome['run_id']}")
    assert status == 200 and one == newest


def test_history_filters_by_connection_route_and_time(runs_table: Any) -> None:
    ids = put_executions(RunsStore(runs_table), "default", 12)

    def listed(**query: str) -> list[str]:
        status, page = call("GET", "/history", query=query)
        assert status == 200, page
        return [item["run_id"] for item in page["items"]]

    assert listed(connection="crm") == [ids[n] for n in (11, 9, 7, 5, 3, 1)]
    assert listed(route="error") == [ids[n] for n in (9, 6, 3, 0)]
    assert listed(connection="crm", route="error") == [ids[9], ids[3]]
    # Inclusive at both ends, to the millisecond; a time without an offset is UTC.
    assert listed(since="2026-01-01T00:03:00Z", until="2026-01-01T00:05:00+00:00") == [
        ids[5],
        ids[4],
        ids[3],
    ]
    assert listed(since="2026-01-01T01:03:00+01:00") == list(reversed(ids[3:]))
    assert listed(until="2026-01-01T00:01:59.999") == [ids[1], ids[0]]
    assert listed(since="2026-01-01T00:05:00Z", until="2026-01-01T00:04:00Z") == []
    assert listed(since="1900-01-01T00:00:00Z") == list(reversed(ids))


def test_history_pages_to_the_end_with_next(runs_table: Any) -> None:
    ids = put_executions(RunsStore(runs_table), "default", 7)
    seen: list[str] = []
    query = {"limit": "3"}
    pages = 0
    while True:
        status, page = call("GET", "/history", query=query)
        assert status == 200
        pages += 1
        seen += [item["run_id"] for item in page["items"]]
        if page["next"] is None:
            break
        query = {"limit": "3", "next": page["next"]}

    assert seen == list(reversed(ids)) and pages in (3, 4)


def test_a_filtered_page_may_hold_fewer_items_and_next_goes_on(runs_table: Any) -> None:
    ids = put_executions(RunsStore(runs_table), "default", 6)
    seen: list[str] = []
    query = {"limit": "2", "route": "error"}
    while True:
        status, page = call("GET", "/history", query=query)
        assert status == 200 and len(page["items"]) <= 2
        seen += [item["run_id"] for item in page["items"]]
        if page["next"] is None:
            break
        query = {**query, "next": page["next"]}

    assert seen == [ids[3], ids[0]]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-13-01"}, "until"),
        ({"since": "2026-02-30T00:00:00Z"}, "since"),
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"next": "not a token"}, "next"),
        ({"next": "eyJwayI6IngifQ"}, "next"),  # {"pk": "x"}: not a key this list gave
    ],
)
def test_bad_history_queries_answer_422_naming_the_field(query: dict[str, str], field: str) -> None:
    refused(call("GET", "/history", query=query), 422, field)


def test_a_next_token_cannot_move_a_caller_into_another_workspace(runs_table: Any) -> None:
    put_executions(RunsStore(runs_table), "default", 4)
    status, page = call("GET", "/history", query={"limit": "2"})
    assert status == 200 and page["next"]

    refused(as_team_b("GET", "/history", query={"next": page["next"]}), 422, "next")


def test_an_unknown_or_malformed_run_id(runs_table: Any) -> None:
    refused(call("GET", f"/history/{run_id_at(T0)}"), 404, "run_id")
    refused(call("GET", "/history/not-a-run-id"), 422, "run_id")


def test_another_workspace_sees_none_of_the_history(runs_table: Any) -> None:
    ids = put_executions(RunsStore(runs_table), "default", 3)
    (theirs,) = put_executions(RunsStore(runs_table), "team-b", 1)

    assert as_team_b("GET", "/history")[1]["items"][0]["run_id"] == theirs
    assert len(as_team_b("GET", "/history")[1]["items"]) == 1
    refused(as_team_b("GET", f"/history/{ids[0]}"), 404, "run_id")
    assert [i["run_id"] for i in call("GET", "/history")[1]["items"]] == list(reversed(ids))


# --- pushes ---------------------------------------------------------------------------------------


def put_attempts(store: RunsStore, workspace: str, push_id: str, outcomes: list[str]) -> None:
    for number, outcome in enumerate(outcomes, start=1):
        store.put(
            push_key(workspace, push_id),
            f"attempt#{number:03d}#m{number}",
            {"message_id": push_id, "number": number, "outcome": outcome, "at": f"t{number}"},
            ttl_s=3600,
        )


@pytest.mark.parametrize(
    ("outcomes", "status"),
    [
        (["delivered"], "delivered"),
        (["failed", "failed"], "pending"),
        (["failed", "delivered", "duplicate"], "delivered"),
        (["failed"] * 9 + ["dead_lettered"], "dead_lettered"),
        (["rejected"], "rejected"),
    ],
)
def test_a_push_answers_its_attempts_and_the_status_the_last_one_left(
    runs_table: Any, outcomes: list[str], status: str
) -> None:
    put_attempts(RunsStore(runs_table), "default", "evt:1", outcomes)

    code, view = call("GET", "/pushes/evt:1")

    assert code == 200, view
    assert view["id"] == "evt:1" and view["status"] == status
    assert [a["outcome"] for a in view["attempts"]] == outcomes
    assert [a["number"] for a in view["attempts"]] == list(range(1, len(outcomes) + 1))
    assert not {"pk", "sk", "expires_at"} & set(view["attempts"][0])


def test_a_push_without_attempts_is_404_also_from_another_workspace(runs_table: Any) -> None:
    put_attempts(RunsStore(runs_table), "default", "evt_1", ["delivered"])

    refused(call("GET", "/pushes/evt_2"), 404, "id")
    refused(as_team_b("GET", "/pushes/evt_1"), 404, "id")


def dead_push(push_id: str, workspace: str | None = None) -> dict[str, Any]:
    message = {
        "id": push_id,
        "target": {"connection": "hooks", "url": "/in", "timeout_s": 2},
        "record": {"n": 1},
    }
    return {**message, "workspace": workspace} if workspace else message


def test_a_dead_lettered_push_is_replayed_and_then_delivered(
    push_rig: PushRig, receiver: Callable[..., Any], put_connection: Callable[..., str]
) -> None:
    broken = {"now": True}
    server = receiver(lambda request, nth: 503 if broken["now"] else 200)
    # Team A's connection, and a message of team A's: only team A may replay it.
    default_catalog_store().set_api_key_workspace("key-team-a", "team-a")
    receiver_connection(put_connection, "team-a/hooks", server.url)
    push_rig.send(dead_push("evt_dead", "team-a"))
    push_rig.send(dead_push("evt_other"))  # the default workspace's, also dead
    receiver_connection(put_connection, "hooks", server.url)
    push_rig.trigger.drain(timeout_s=30)
    assert len(push_rig.dead_letters()) == 2
    code, view = call("GET", "/pushes/evt_dead", api_key_id="key-team-a")
    assert code == 200 and view["status"] == "dead_lettered" and len(view["attempts"]) == 10

    refused(as_team_b("POST", "/pushes/evt_dead/replay"), 404, "id")
    refused(call("POST", "/pushes/evt_dead/replay"), 404, "id")  # default's key: not its push
    refused(call("POST", "/pushes/evt_never/replay", api_key_id="key-team-a"), 404, "id")
    assert len(push_rig.dead_letters()) == 2  # looking moved nothing, and hid nothing

    broken["now"] = False
    code, answer = call("POST", "/pushes/evt_dead/replay", api_key_id="key-team-a")
    assert (code, answer) == (202, {"id": "evt_dead", "replayed": True})
    assert [json.loads(m["Body"])["id"] for m in push_rig.dead_letters()] == ["evt_other"]
    push_rig.trigger.drain(timeout_s=30)

    code, view = call("GET", "/pushes/evt_dead", api_key_id="key-team-a")
    assert code == 200 and view["status"] == "delivered"
    assert [a["number"] for a in view["attempts"]][-1] == 11
    assert server.succeeded == {"evt_dead": 1}
    refused(call("POST", "/pushes/evt_dead/replay", api_key_id="key-team-a"), 404, "id")


def rejected_in_dlq(rig: PushRig, count: int) -> None:
    """`count` messages the push function rejects at once (no such connection)."""
    for n in range(count):
        rig.send(dead_push(f"evt_{n}"))
    rig.trigger.drain(timeout_s=20)
    assert len(rig.dead_letters()) == count


def test_a_replay_looks_at_no_more_than_its_bound_and_says_so(push_rig: PushRig) -> None:
    rejected_in_dlq(push_rig, 12)

    result = redrive.replay(
        push_rig.sqs, push_rig.dlq_url, push_rig.queue_url, "evt_none", max_looked_at=3
    )

    assert not result.found and result.looked_at == 3 and result.depth == 12
    assert not result.complete
    assert len(push_rig.dead_letters()) == 12  # what it held is visible again at once


def test_a_replay_stops_looking_when_the_request_runs_out_of_time(push_rig: PushRig) -> None:
    rejected_in_dlq(push_rig, 2)

    result = redrive.replay(
        push_rig.sqs, push_rig.dlq_url, push_rig.queue_url, "evt_1", time_left_ms=lambda: 4000
    )

    assert not result.found and result.looked_at == 0 and not result.complete
    assert len(push_rig.dead_letters()) == 2


def test_a_replay_through_the_api_says_when_it_could_not_look_through_the_dlq(
    push_rig: PushRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    rejected_in_dlq(push_rig, 2)
    bounded = functools.partial(redrive.replay, max_looked_at=1)
    monkeypatch.setattr(redrive, "replay", bounded)

    code, answer = call("POST", "/pushes/evt_9/replay")

    assert code == 404
    assert "among the 1 looked at of about 2 dead letters" in answer["error"]["message"]


# --- fetch jobs and records -----------------------------------------------------------------------


@pytest.fixture
def continuation_queue(aws: boto3.Session, monkeypatch: pytest.MonkeyPatch) -> str:
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName=f"fetch-continuation-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    monkeypatch.setenv("FETCH_CONTINUATION_QUEUE_URL", url)
    RUNTIME.reset()
    return url


def fetch_job(name: str = "orders", **changes: Any) -> dict[str, Any]:
    return {**load_event("fetch_cursor.json"), "job": name, **changes}


def run_queued_fetches(aws: boto3.Session, queue_url: str) -> None:
    trigger = SqsTrigger(
        aws.client("sqs"),
        queue_url,
        fetch_handler,
        batch_size=1,
        function_timeout_s=900,
        function_name="FetchFunction",
    )
    trigger.drain(timeout_s=60)
    assert not trigger.errors


@pytest.mark.usefixtures("demo_connections")
def test_a_fetch_run_now_is_queued_runs_and_its_records_are_listed(
    aws: boto3.Session, continuation_queue: str
) -> None:
    code, answer = call("POST", "/fetches/orders/run", body={"job": fetch_job(workspace="team-b")})

    assert (code, answer) == (202, {"job": "orders", "queued": True})
    (queued,) = peek_messages(aws.client("sqs"), continuation_queue)
    message = json.loads(queued["Body"])
    assert message["start"] is True and message["fetch"]["workspace"] == "default"
    assert "run_id" not in message
    run_queued_fetches(aws, continuation_queue)

    code, view = call("GET", "/fetches/orders")
    assert code == 200, view
    (last,) = view["runs"]
    assert view["job"] == "orders" and last["status"] == "succeeded" and last["records"] > 50
    assert view["checkpoint"]["status"] == "done" and "lease_owner" not in view["checkpoint"]
    assert view["bookmark"]["run_id"] == last["run_id"]
    assert not {"pk", "sk", "expires_at"} & set(last)

    code, page = call("GET", "/records/orders", query={"limit": "500"})
    assert code == 200 and page["next"] is None and len(page["items"]) == last["records"]
    first = page["items"][0]
    assert set(first) == {"key", "record"} and first["record"]["_run_id"] == last["run_id"]
    assert first["record"]["id"] == first["key"] and "pk" not in first["record"]
    code, one = call("GET", f"/records/orders/{first['key']}")
    assert (code, one) == (200, first)

    # Team B sees none of it.
    refused(as_team_b("GET", "/fetches/orders"), 404, "job")
    assert as_team_b("GET", "/records/orders") == (200, {"items": [], "next": None})
    refused(as_team_b("GET", f"/records/orders/{first['key']}"), 404, "key")


def test_a_start_message_runs_the_job_as_its_schedule_would() -> None:
    job, run_id = parse_continuation(json.dumps({"fetch": fetch_job(), "start": True}))

    assert job.job == "orders" and run_id is None


@pytest.mark.parametrize(
    "changes", [{"start": False}, {"start": "yes"}, {"start": True, "run_id": "r1"}]
)
def test_a_start_message_is_start_true_without_a_run_id(changes: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as refusal:
        parse_continuation(json.dumps({"fetch": fetch_job(), **changes}))

    assert refusal.value.field == "start"


def test_runs_are_listed_newest_first_and_at_most_20(runs_table: Any) -> None:
    store = RunsStore(runs_table)
    ids = [run_id_at(T0 + n) for n in range(25)]
    for run_id in ids:
        store.put("fetch#team-b#orders", f"run#{run_id}", {"run_id": run_id}, ttl_s=3600)

    code, view = as_team_b("GET", "/fetches/orders")

    assert code == 200
    assert [summary["run_id"] for summary in view["runs"]] == list(reversed(ids))[:20]
    assert view["checkpoint"] is None and view["bookmark"] is None
    refused(call("GET", "/fetches/orders"), 404, "job")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "job"),
        ({"job": fetch_job("other")}, "job.job"),
        ({"job": {**fetch_job(), "records": {"path": "$.data[*]"}}}, "job.records.key"),
        ({"job": {**fetch_job(), "records": {"key": "$["}}}, "job.records.key"),
    ],
)
def test_a_run_needs_the_job_of_its_path(
    continuation_queue: str, aws: boto3.Session, body: dict[str, Any], field: str
) -> None:
    refused(call("POST", "/fetches/orders/run", body=body), 422, field)
    assert peek_messages(aws.client("sqs"), continuation_queue) == []


def test_unknown_jobs_and_records(records: None) -> None:
    refused(call("GET", "/fetches/nothing"), 404, "job")
    assert call("GET", "/records/nothing") == (200, {"items": [], "next": None})
    refused(call("GET", "/records/ref/absent"), 404, "key")
    refused(call("GET", "/records/ref/" + "x" * 1025), 422, "key")
    refused(call("GET", "/records/bad job!"), 422, "job")
    refused(call("GET", "/records/ref", query={"limit": "0"}), 422, "limit")
    refused(call("GET", "/records/ref", query={"next": "bm90IGEga2V5"}), 422, "next")


@pytest.fixture
def records(tables: dict[str, Any]) -> None:
    """Reference data: job `ref` stored 3 records in `default` and 1 in team-b."""
    RecordsWriter(tables["RecordsTable"]).write(
        [
            {"pk": "ref", "sk": "a", "name": "Ada", "key": "own field", "_run_id": "r1"},
            {"pk": "ref", "sk": "42", "name": "Grace", "_run_id": "r1"},
            {"pk": "ref", "sk": "b", "name": "Barbara", "_run_id": "r1"},
            {"pk": "team-b#ref", "sk": "a", "name": "Bea", "_run_id": "r2"},
        ]
    )


def test_a_record_keeps_its_own_key_field_beside_the_key(records: None) -> None:
    code, page = call("GET", "/records/ref")

    assert code == 200
    assert [item["key"] for item in page["items"]] == ["42", "a", "b"]
    assert page["items"][1] == {
        "key": "a",
        "record": {"name": "Ada", "key": "own field", "_run_id": "r1"},
    }
    assert as_team_b("GET", "/records/ref/a")[1]["record"]["name"] == "Bea"
    refused(as_team_b("GET", "/records/ref/b"), 404, "key")


# --- lookup: the request function's direct invoke -------------------------------------------------


def invoke(event: Any) -> dict[str, Any]:
    return request_handler(event, LocalContext("RequestFunction", 30))


def test_lookup_reads_one_record_of_the_workspace(records: None) -> None:
    assert lookup.lookup("ref", "a") == {
        "key": "a",
        "record": {"name": "Ada", "key": "own field", "_run_id": "r1"},
    }
    assert lookup.lookup("ref", "a", "team-b")["record"]["name"] == "Bea"
    assert lookup.lookup("ref", "zzz") is None

    assert invoke({"lookup": {"job": "ref", "key": "a"}}) == {
        "ok": True,
        "found": True,
        "key": "a",
        "record": {"name": "Ada", "key": "own field", "_run_id": "r1"},
    }
    assert invoke({"lookup": {"job": "ref", "key": 42}})["record"]["name"] == "Grace"
    assert invoke({"lookup": {"job": "ref", "key": "b"}, "workspace": "team-b"}) == {
        "ok": True,
        "found": False,
        "key": "b",
        "record": None,
    }


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"lookup": {"job": "ref"}}, "lookup.key"),
        ({"lookup": {"job": "ref", "key": True}}, "lookup.key"),
        ({"lookup": {"job": "ref", "key": ""}}, "lookup.key"),
        ({"lookup": {"job": "ref", "key": "x" * 1025}}, "lookup.key"),
        ({"lookup": {"job": "no such job!", "key": "a"}}, "lookup.job"),
        ({"lookup": {"job": "ref", "key": "a"}, "workspace": "a/b"}, "workspace"),
        ({"lookup": {"job": "ref", "key": "a"}, "extra": 1}, "extra"),
        ({"lookup": {"job": "ref", "key": "\ud800"}}, "lookup.key"),
    ],
)
def test_a_bad_lookup_is_answered_naming_the_field(
    records: None, event: dict[str, Any], field: str
) -> None:
    answer = invoke(event)

    assert answer["ok"] is False and answer["found"] is False and answer["record"] is None
    assert answer["error"]["kind"] == "invalid_request" and answer["error"]["field"] == field


# --- what a page costs ----------------------------------------------------------------------------


@pytest.fixture
def dynamodb_calls(tables: dict[str, Any]) -> Iterator[Counter[str]]:
    """Every DynamoDB operation the layer's client makes, by name, from now on."""
    calls: Counter[str] = Counter()

    def count(model: Any, **kwargs: Any) -> None:
        calls[model.name] += 1

    events = records_table().meta.client.meta.events
    events.register("before-call.dynamodb.*", count)
    yield calls
    events.unregister("before-call.dynamodb.*", count)


def page_through(path: str, limit: int, calls: Counter[str]) -> tuple[int, int]:
    """(items, pages) of a whole list; each page costs at most 2 calls, none a Scan."""
    items = pages = 0
    query = {"limit": str(limit)}
    while True:
        calls.clear()
        status, page = call("GET", path, query=query)
        assert status == 200, page
        assert calls["Scan"] == 0 and sum(calls.values()) <= 2, calls
        assert calls["Query"] == 1
        items += len(page["items"])
        pages += 1
        if page["next"] is None:
            return items, pages
        query = {"limit": str(limit), "next": page["next"]}


def test_paging_1000_executions_costs_one_query_a_page(
    tables: dict[str, Any], dynamodb_calls: Counter[str]
) -> None:
    put_executions(RunsStore(tables["RunsTable"]), "default", 1000)

    items, pages = page_through("/history", 50, dynamodb_calls)

    assert items == 1000 and pages in (20, 21)


@pytest.mark.slow  # moto reads the whole partition for every page: about 40 s
def test_paging_10000_records_costs_one_query_a_page(
    tables: dict[str, Any], dynamodb_calls: Counter[str]
) -> None:
    writer = RecordsWriter(tables["RecordsTable"])
    partition = records_partition("default", "big")
    for start in range(0, 10_000, 1000):
        writer.write(
            [{"pk": partition, "sk": f"{n:05d}", "n": n} for n in range(start, start + 1000)],
            check_size=False,
        )

    items, pages = page_through("/records/big", 500, dynamodb_calls)

    assert items == 10_000 and pages in (20, 21)


# --- the sample events ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("api_history.json", 200),
        ("api_history_run.json", 404),
        ("api_push.json", 404),
        ("api_push_replay.json", 404),
        ("api_fetch.json", 404),
        ("api_fetch_run.json", 202),
        ("api_records.json", 200),
        ("api_record.json", 404),
    ],
)
def test_each_sample_event_is_answered(
    push_rig: PushRig, continuation_queue: str, name: str, status: int
) -> None:
    answer = api.handler(load_event(name), LocalContext("ApiFunction", 30))

    assert answer["statusCode"] == status, answer["body"]
