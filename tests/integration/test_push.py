"""The push function end to end: moto SQS and DynamoDB, the emulated trigger, a real receiver."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from apicall.core.runtime import RUNTIME
from apicall.push.deliverer import attempt_history
from tests.support.push import PushRig, receiver_connection

EVENTS = Path(__file__).resolve().parents[2] / "events"
KEY = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def push(message_id: str, path: str = "/hooks", **target: Any) -> dict[str, Any]:
    return {
        "id": message_id,
        "event": "purchase.approved",
        "target": {"connection": "receiver", "url": path, "timeout_s": 2, **target},
        "record": {"id": 7, "status": "approved"},
    }


def test_a_message_is_delivered_once_as_json_with_its_webhook_id(
    push_rig: PushRig, receiver, put_connection
) -> None:
    server = receiver()
    receiver_connection(put_connection, "receiver", server.url)
    push_rig.send(push("evt_1"))

    push_rig.trigger.drain(timeout_s=10)

    assert len(server.requests) == 1
    request = server.requests[0]
    assert request.path == "/hooks"
    assert request.id == "evt_1"
    assert json.loads(request.body) == {"id": 7, "status": "approved"}
    assert request.headers["Content-Type"] == "application/json"
    history = attempt_history("evt_1")
    assert [(a["number"], a["outcome"], a["status"]) for a in history] == [(1, "delivered", 200)]


def fails_first(times: int):
    return lambda request, nth: 500 if nth < times else 200


def test_a_receiver_that_fails_9_times_gets_the_message_on_attempt_10(
    push_rig: PushRig, receiver, put_connection
) -> None:
    server = receiver(fails_first(9))
    receiver_connection(put_connection, "receiver", server.url)
    push_rig.send(push("evt_9"))

    push_rig.trigger.drain(timeout_s=20)

    assert server.ids() == ["evt_9"] * 10
    assert server.succeeded == {"evt_9": 1}
    history = attempt_history("evt_9")
    assert [a["outcome"] for a in history] == ["failed"] * 9 + ["delivered"]
    assert [a["number"] for a in history] == list(range(1, 11))
    assert history[0]["status"] == 500 and history[0]["error"]["kind"] == "status"
    assert push_rig.dead_letters() == []


def test_a_message_that_always_fails_ends_in_the_dead_letter_queue_after_10_attempts(
    push_rig: PushRig, receiver, put_connection
) -> None:
    server = receiver(lambda request, nth: 503)
    receiver_connection(put_connection, "receiver", server.url)
    push_rig.send(push("evt_dead"))

    push_rig.trigger.drain(timeout_s=20)

    assert server.ids() == ["evt_dead"] * 10
    history = attempt_history("evt_dead")
    assert len(history) == 10
    assert [a["outcome"] for a in history] == ["failed"] * 9 + ["dead_lettered"]
    assert "next_retry_at" not in history[-1]
    dead = push_rig.dead_letters()
    assert [json.loads(m["Body"])["id"] for m in dead] == ["evt_dead"]


def test_an_invalid_message_is_dead_lettered_at_once_while_the_rest_of_its_batch_is_delivered(
    push_rig: PushRig, receiver, put_connection
) -> None:
    server = receiver()
    receiver_connection(put_connection, "receiver", server.url)
    for n in range(9):
        push_rig.send(push(f"evt_{n}"))
    invalid = push("evt_invalid")
    del invalid["target"]["url"]
    push_rig.send(invalid)

    assert push_rig.trigger.poll() == 10
    push_rig.trigger.drain(timeout_s=10)

    assert sorted(server.ids()) == sorted(f"evt_{n}" for n in range(9))
    [dead] = push_rig.dead_letters()
    assert json.loads(dead["Body"])["id"] == "evt_invalid"
    attributes = dead["MessageAttributes"]
    assert attributes["apicall-rejected-field"]["StringValue"] == "target.url"
    assert "target.url" in attributes["apicall-rejected-reason"]["StringValue"]
    [attempt] = attempt_history("evt_invalid")
    assert attempt["outcome"] == "rejected" and attempt["number"] == 1


def test_bad_json_an_unknown_connection_and_a_refused_url_are_dead_lettered_with_the_reason(
    push_rig: PushRig,
) -> None:
    push_rig.send("{not json")
    push_rig.send(push("evt_unknown_connection", connection="nope"))
    push_rig.send(push("evt_metadata", connection=None, url="http://169.254.169.254/latest"))

    push_rig.trigger.drain(timeout_s=10)

    reasons = {
        m["MessageAttributes"]["apicall-rejected-field"]["StringValue"]: m["MessageAttributes"][
            "apicall-rejected-reason"
        ]["StringValue"]
        for m in push_rig.dead_letters()
        if "apicall-rejected-field" in m["MessageAttributes"]
    }
    assert "not JSON" in reasons["body"]
    assert "'nope' does not exist" in reasons["target.connection"]
    assert "cloud metadata" in reasons["target.url"]
    assert len(push_rig.dead_letters()) == 3


def test_a_form_record_is_sent_url_encoded(push_rig: PushRig, receiver, put_connection) -> None:
    server = receiver()
    receiver_connection(put_connection, "receiver", server.url)
    message = push("evt_form", format="form")
    message["record"] = {"id": 7, "ok": True, "tags": ["a", "b"]}
    push_rig.send(message)

    push_rig.trigger.drain(timeout_s=10)

    [request] = server.requests
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.body == b"id=7&ok=true&tags=%5B%22a%22%2C%22b%22%5D"


def test_connection_headers_and_auth_are_sent(push_rig: PushRig, receiver, put_connection) -> None:
    server = receiver()
    put_connection(
        "receiver",
        {
            "base_url": server.url + "/v1",
            "allow_private_network": True,
            "headers": {"X-Organization-ID": "org123"},
            "auth": {"type": "bearer", "token": "tok-123456"},
        },
    )
    push_rig.send(push("evt_auth", path="/in", headers={"X-Extra": "1"}))

    push_rig.trigger.drain(timeout_s=10)

    [request] = server.requests
    assert request.path == "/v1/in"
    assert request.headers["Authorization"] == "Bearer tok-123456"
    assert request.headers["X-Organization-Id"] == "org123"
    assert request.headers["X-Extra"] == "1"


def test_a_redelivered_message_is_not_delivered_again(
    push_rig: PushRig, receiver, put_connection
) -> None:
    server = receiver()
    receiver_connection(put_connection, "receiver", server.url)
    push_rig.send(push("evt_twice"))
    push_rig.trigger.drain(timeout_s=10)
    push_rig.send(push("evt_twice"))  # the producer (or SQS) delivers the same id again

    push_rig.trigger.drain(timeout_s=10)

    assert server.ids() == ["evt_twice"]
    assert sorted(a["outcome"] for a in attempt_history("evt_twice")) == ["delivered", "duplicate"]


def test_a_failed_attempt_waits_for_the_scheduled_delay(
    aws, tables, monkeypatch, receiver, put_connection
) -> None:
    from tests.support.push import make_rig

    rig = make_rig(aws, monkeypatch, schedule="30,60")
    server = receiver(lambda request, nth: 500)
    receiver_connection(put_connection, "receiver", server.url)
    rig.send(push("evt_later"))

    assert rig.trigger.poll() == 1
    assert rig.trigger.poll() == 0  # invisible for 30 s
    [attempt] = attempt_history("evt_later")
    assert attempt["outcome"] == "failed"
    # The delay runs from the failure, which lies between the attempt's start (`at`) and its end.
    waited = _seconds_between(attempt["at"], attempt["next_retry_at"])
    assert 30 - 0.01 <= waited <= 30 + attempt["elapsed_ms"] / 1000 + 0.01


def test_retry_after_from_the_receiver_lengthens_the_delay(
    push_rig: PushRig, receiver, put_connection
) -> None:
    server = receiver(lambda request, nth: (429, {"Retry-After": "120"}))
    receiver_connection(put_connection, "receiver", server.url)
    push_rig.send(push("evt_429"))

    assert push_rig.trigger.poll() == 1
    assert push_rig.trigger.poll() == 0

    [attempt] = attempt_history("evt_429")
    assert attempt["status"] == 429
    waited = _seconds_between(attempt["at"], attempt["next_retry_at"])
    assert 120 - 0.01 <= waited <= 120 + attempt["elapsed_ms"] / 1000 + 0.01


def test_signed_deliveries_verify_with_standardwebhooks(
    push_rig: PushRig, receiver, put_connection, aws
) -> None:
    from standardwebhooks.webhooks import Webhook, WebhookVerificationError

    key = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    aws.client("secretsmanager").create_secret(Name="apicall/signing/hooks", SecretString=key)
    server = receiver(fails_first(1))
    receiver_connection(put_connection, "receiver", server.url)
    push_rig.send(push("evt_signed", signing_secret="hooks"))

    push_rig.trigger.drain(timeout_s=10)

    first, second = server.requests
    for request in (first, second):
        assert Webhook(key).verify(request.body, request.headers) == {"id": 7, "status": "approved"}
    assert first.headers["Webhook-Id"] == second.headers["Webhook-Id"] == "evt_signed"
    tampered = first.body.replace(b"approved", b"refunded")
    with pytest.raises(WebhookVerificationError):
        Webhook(key).verify(tampered, first.headers)


def test_a_missing_signing_secret_dead_letters_the_message(
    push_rig: PushRig, receiver, put_connection
) -> None:
    server = receiver()
    receiver_connection(put_connection, "receiver", server.url)
    push_rig.send(push("evt_nosecret", signing_secret="missing"))

    push_rig.trigger.drain(timeout_s=10)

    assert server.requests == []
    [dead] = push_rig.dead_letters()
    assert dead["MessageAttributes"]["apicall-rejected-field"]["StringValue"] == (
        "target.signing_secret"
    )


def _seconds_between(start: str, end: str) -> float:
    from datetime import datetime

    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def test_redrive_by_id_moves_only_that_message_back_and_its_attempts_continue(
    push_rig: PushRig, receiver, put_connection
) -> None:
    from apicall.push.redrive import redrive

    broken = True
    server = receiver(lambda request, nth: 500 if broken else 200)
    receiver_connection(put_connection, "receiver", server.url)
    push_rig.send(push("evt_a"))
    push_rig.send(push("evt_b"))
    push_rig.trigger.drain(timeout_s=20)
    assert len(push_rig.dead_letters()) == 2

    broken = False  # the endpoint is fixed
    result = redrive(push_rig.sqs, push_rig.dlq_url, push_rig.queue_url, ids={"evt_a"})
    push_rig.trigger.drain(timeout_s=10)

    assert result.moved == ["evt_a"] and result.skipped == 1
    assert server.succeeded == {"evt_a": 1}
    last = attempt_history("evt_a")[-1]
    assert (last["number"], last["outcome"]) == (11, "delivered")
    assert [json.loads(m["Body"])["id"] for m in push_rig.dead_letters()] == ["evt_b"]


def test_redrive_all_retries_a_rejected_message_once_its_connection_exists(
    push_rig: PushRig, receiver, put_connection
) -> None:
    from apicall.push.redrive import main

    server = receiver()
    push_rig.send(push("evt_early"))  # the connection does not exist yet
    push_rig.trigger.drain(timeout_s=10)
    receiver_connection(put_connection, "receiver", server.url)

    assert main(["--all", "--dlq-url", push_rig.dlq_url, "--queue-url", push_rig.queue_url]) == 0
    push_rig.trigger.drain(timeout_s=10)

    assert server.ids() == ["evt_early"]
    history = attempt_history("evt_early")
    assert [(a["number"], a["outcome"]) for a in history] == [(1, "rejected"), (2, "delivered")]
    assert push_rig.dead_letters() == []


def test_redrive_dry_run_moves_nothing(push_rig: PushRig) -> None:
    from apicall.push.redrive import redrive

    push_rig.send("not json")
    push_rig.trigger.drain(timeout_s=10)

    result = redrive(push_rig.sqs, push_rig.dlq_url, push_rig.queue_url, dry_run=True)

    assert len(result.moved) == 1 and result.moved[0].startswith("sqs:")
    assert len(push_rig.dead_letters()) == 1


def test_the_sample_batch_event_delivers_valid_records_and_dead_letters_bad_ones(
    push_rig: PushRig, receiver, put_connection, aws
) -> None:
    # GIVEN events/push_batch.json with its connections and signing secret on a local receiver
    server = receiver()
    for name in ("demo-bearer", "demo-basic"):
        receiver_connection(put_connection, name, server.url)
    receiver_connection(put_connection, "hooks-example", server.url)
    aws.client("secretsmanager").create_secret(
        Name="apicall/signing/demo-hooks", SecretString=json.dumps({"key": KEY})
    )
    records = json.loads((EVENTS / "push_batch.json").read_text())["Records"]
    for record in records:
        body = record["body"]
        if "hooks.example.com" in body:  # a public URL in the sample: send it to the receiver
            message = json.loads(body)
            message["target"].update(connection="hooks-example", url="/in")
            body = json.dumps(message)
        push_rig.send(body)

    push_rig.trigger.drain(timeout_s=10)

    assert sorted(server.ids()) == ["evt_form_1", "evt_json_1", "evt_signed_1"]
    signed = next(r for r in server.requests if r.id == "evt_signed_1")
    Webhook(KEY).verify(signed.body, signed.headers)
    assert len(push_rig.dead_letters()) == 2


def test_the_per_target_bound_caps_requests_in_flight_while_other_targets_proceed(
    push_rig: PushRig, receiver, put_connection, monkeypatch
) -> None:
    import threading

    # GIVEN a bound of 2 per target, a slow target that holds each request until every delivery
    # to a fast target is answered, and a fast target that answers only while the slow one holds
    # two requests; one batch of 6 slow and 4 fast messages
    monkeypatch.setenv("PUSH_TARGET_CONCURRENCY", "2")
    RUNTIME.reset()  # a new container reads the bound
    in_flight, peak, lock = [0], [0], threading.Lock()
    slow_holds_two, fast_all_answered = threading.Event(), threading.Event()
    released_by_fast: list[bool] = []
    fast_answered_while_held: list[bool] = []

    def slow(request, nth):
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
            if in_flight[0] == 2:
                slow_holds_two.set()
        released_by_fast.append(fast_all_answered.wait(timeout=20))
        with lock:
            in_flight[0] -= 1
        return 200

    def fast(request, nth):
        held = slow_holds_two.wait(timeout=20)
        with lock:
            fast_answered_while_held.append(held and in_flight[0] == 2)
            if len(fast_answered_while_held) == 4:
                fast_all_answered.set()
        return 200

    slow_server, fast_server = receiver(slow), receiver(fast)
    receiver_connection(put_connection, "receiver", slow_server.url)
    receiver_connection(put_connection, "fast", fast_server.url)
    for n in range(6):
        push_rig.send(push(f"evt_slow_{n}", timeout_s=30))
    for n in range(4):
        push_rig.send(push(f"evt_fast_{n}", connection="fast", timeout_s=30))

    # WHEN the trigger drains the queue
    push_rig.trigger.drain(timeout_s=120)

    # THEN never more than 2 requests were in flight to the slow target, and the fast target's
    # deliveries were all answered while it held its 2 (not queued behind the slow target)
    assert peak[0] == 2
    assert len(slow_server.succeeded) == 6 and len(fast_server.succeeded) == 4
    assert fast_answered_while_held == [True] * 4
    assert released_by_fast == [True] * 6
