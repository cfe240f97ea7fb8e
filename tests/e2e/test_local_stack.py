"""The local stack driven through its real triggers: schedules, SQS, the REST API."""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any
from urllib.parse import urlsplit

import httpx

from apicall.push.deliverer import attempt_history
from local.demo import (
    EVENTS,
    Demo,
    api_call,
    count_records,
    dead_letters,
    run_builder_flow,
    running_demo,
)
from local.schedules import Scheduler
from tests.e2e.conftest import children, port_open, wait_for


def push(demo: Demo, path: str) -> str:
    message_id = f"evt_{uuid.uuid4().hex[:10]}"
    body = {
        "id": message_id,
        "event": "order.paid",
        "target": {"connection": "demo-bearer", "url": path},
        "record": {"id": 1, "status": "paid"},
    }
    demo.stack.client("sqs").send_message(
        QueueUrl=demo.stack.queue_url("PushQueue"), MessageBody=json.dumps(body)
    )
    return message_id


def outcomes(message_id: str) -> list[str]:
    return [attempt["outcome"] for attempt in attempt_history(message_id)]


def test_the_templates_schedule_rule_fires_on_its_rate_and_lands_records(demo: Demo) -> None:
    # GIVEN the template's OrdersSchedule rule (rate(1 hour), shipped disabled) enabled
    events = demo.stack.client("events")
    rule = next(r for r in demo.triggers.scheduler.rules() if "OrdersSchedule" in r.name)
    events.enable_rule(Name=rule.name)
    scheduler = Scheduler(demo.stack)
    # WHEN its rate runs 3600 times faster, so the hour passes in a second
    scheduler.start(tick_s=0.2, speedup=3600)
    try:
        firing = wait_for(lambda: scheduler.firings and scheduler.firings[0], timeout_s=60)
    finally:
        scheduler.stop()
        events.disable_rule(Name=rule.name)
    # THEN FetchFunction got the rule's Input and every order the demo API has is in the table
    assert firing.error is None
    assert firing.function == "FetchFunction"
    assert firing.result["status"] == "succeeded"
    assert count_records(demo.stack, "demo-orders") == demo.app.orders.total


def test_a_push_failing_its_first_attempts_is_delivered_by_redelivery(demo: Demo) -> None:
    message_id = push(demo, "/hooks/flaky?fail=2")

    wait_for(lambda: "delivered" in outcomes(message_id))

    assert outcomes(message_id) == ["failed", "failed", "delivered"]
    assert demo.app.receiver.attempts[message_id] == 3
    assert demo.app.receiver.accepted[message_id] == 1


def test_a_push_that_always_fails_reaches_the_dead_letter_queue_after_10_attempts(
    demo: Demo,
) -> None:
    message_id = push(demo, "/hooks/broken")

    def dead_lettered() -> list[dict[str, Any]]:
        return [
            m
            for m in dead_letters(demo.stack, "PushDeadLetterQueue")
            if json.loads(m["Body"])["id"] == message_id
        ]

    found = wait_for(dead_lettered, timeout_s=90)

    assert len(found) == 1
    assert outcomes(message_id) == ["failed"] * 9 + ["dead_lettered"]
    assert demo.app.receiver.attempts[message_id] == 10
    assert demo.app.receiver.accepted[message_id] == 0


def test_the_test_api_refuses_a_request_without_the_api_key(demo: Demo) -> None:
    api = demo.triggers.api
    assert api is not None
    body = {"sample": {"id": 1}}

    refused = httpx.post(f"{api.url}/schema", json=body)
    wrong = httpx.post(f"{api.url}/schema", json=body, headers={"x-api-key": "guess"})
    answered = httpx.post(f"{api.url}/schema", json=body, headers={"x-api-key": api.api_key})

    assert (refused.status_code, refused.json()) == (403, {"message": "Forbidden"})
    assert wrong.status_code == 403
    assert answered.status_code == 200
    assert answered.json()["fields"] == [{"name": "id", "type": "integer", "path": "$.id"}]


def test_the_test_api_passes_path_and_query_parameters_to_the_function(demo: Demo) -> None:
    api = demo.triggers.api
    assert api is not None

    answer = httpx.get(
        f"{api.url}/oauth/demo-oauth/authorize",
        params={"redirect_uri": "https://builder.example.com/cb"},
        headers={"x-api-key": api.api_key},
    )

    # The route got {connection} = demo-oauth: a client-credentials connection cannot consent.
    assert answer.status_code == 422
    assert answer.json()["error"]["fields"] == ["connection"]
    assert "'demo-oauth'" in answer.json()["error"]["message"]


def test_an_unknown_route_answers_like_api_gateway(demo: Demo) -> None:
    api = demo.triggers.api
    assert api is not None

    answer = httpx.post(f"{api.url}/nothing-here", headers={"x-api-key": api.api_key})

    assert (answer.status_code, answer.json()) == (403, {"message": "Missing Authentication Token"})


# Runs before the test below: once it has opened and closed a second stack in this process,
# the module's stack answers ResourceNotFound for its tables (seen when this test ran after it).
def test_the_builder_flow_of_make_demo_runs_over_the_api(demo: Demo) -> None:
    # GIVEN a fetch job started through the API ("run now"), as a builder would
    api = demo.triggers.api
    assert api is not None
    job = json.loads((EVENTS / "fetch_cursor.json").read_text())
    status, _ = api_call(
        api.url, "POST", f"/fetches/{job['job']}/run", {"job": job}, api_key=api.api_key
    )
    assert status == 202
    wait_for(lambda: count_records(demo.stack, job["job"]) == demo.app.orders.total)

    # WHEN make demo's builder section runs
    rows = {row["step"]: row for row in run_builder_flow(demo, job["job"])}

    # THEN every step answered, the connection was tested, entities saved, a test sent
    assert [row["status"] for row in rows.values()] == [201] + [200] * 8
    assert '"ok": true' in rows["test the connection"]["answer"]
    assert "getCustomer" in rows["list the entities"]["answer"]
    assert '"ok": true' in rows["test the request"]["answer"]
    assert '"***"' in rows["create a connection"]["answer"]
    assert '"more": true' in rows["its records"]["answer"]


def test_no_process_thread_or_port_is_left_after_the_stack_closes() -> None:
    before_children = children()
    before_threads = set(threading.enumerate())

    # moto's backends live in this process: a second stack needs names of its own.
    name = f"e2e-{uuid.uuid4().hex[:6]}"
    with running_demo(schedules=True, stack_name=name, parameters={"Stage": name}) as demo:
        assert demo.triggers.api is not None
        ports = [
            urlsplit(demo.stack.endpoint_url).port,
            urlsplit(demo.url).port,
            urlsplit(demo.triggers.api.url).port,
        ]
        assert all(port and port_open(port) for port in ports)

    assert children() == before_children
    assert not any(port_open(port) for port in ports if port)
    left = [t for t in set(threading.enumerate()) - before_threads if not t.daemon]
    # The push deliverer's pool threads are the only ones a container keeps, as in Lambda.
    assert [t.name for t in left if not t.name.startswith("push")] == []
