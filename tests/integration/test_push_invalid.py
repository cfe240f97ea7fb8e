"""Push messages that JSON allows but nothing can deliver are dead-lettered at once, with the field.

A lone surrogate (`"\\ud800"` is valid JSON) cannot be encoded to send; nesting thousands deep
breaks every recursive reader. Neither is retried: a retry cannot change the message.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from apicall.push.deliverer import attempt_history
from functions.push.app import handler
from local.stack import LocalContext
from tests.support.push import PushRig


def message(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "evt_bad",
        "target": {"url": "https://hooks.example.com/in", "headers": {}},
        "record": {"name": "Ada"},
    }
    for path, value in changes.items():
        *parents, last = path.split("__")
        node = base
        for part in parents:
            node = node[part]
        node[last] = value
    return base


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


SURROGATE_BODIES = [
    (json.dumps(message(record__name="\ud800")), "record.name"),
    (json.dumps(message(record={"ok": ["a", {"deep": "x\udfffy"}]})), "record.ok[1].deep"),
    (json.dumps(message(target__headers={"X-Name": "\udc00"})), "target.headers.X-Name"),
    (json.dumps(message(target__url="https://hooks.example.com/\ud800")), "target.url"),
    (json.dumps(message(event="\ud800")), "event"),
    (json.dumps(message(record={"\ud800": 1})), "record.\\ud800"),
]
DEEP_BODIES = [
    (nested(10_000), "body"),
    (json.dumps(message()).replace('"Ada"', nested(10_000)), "body"),
    (json.dumps(message()).replace('"Ada"', nested(150)), "record.name"),
    (json.dumps(message()).replace('"Ada"', '{"a":' * 5000 + "1" + "}" * 5000), "body"),
]


@pytest.mark.parametrize(("body", "field"), SURROGATE_BODIES + DEEP_BODIES)
def test_a_message_no_retry_can_deliver_is_dead_lettered_at_once_naming_the_field(
    push_rig: PushRig, body: str, field: str
) -> None:
    push_rig.send(body)

    push_rig.trigger.drain(timeout_s=30)

    [letter] = push_rig.dead_letters()
    attributes = letter["MessageAttributes"]
    assert letter["Body"] == body
    assert attributes["apicall-rejected-field"]["StringValue"] == field
    assert field.split("[")[0].split(".")[0] in attributes["apicall-rejected-reason"]["StringValue"]
    assert push_rig.trigger.invocations == 1 and not push_rig.trigger.errors


def test_a_rejected_message_with_a_lone_surrogate_in_its_id_is_still_recorded(
    push_rig: PushRig,
) -> None:
    push_rig.send(json.dumps(message(id="evt_\ud800", record__name="\ud800")))

    push_rig.trigger.drain(timeout_s=30)

    [letter] = push_rig.dead_letters()
    assert letter["MessageAttributes"]["apicall-rejected-field"]["StringValue"] == "id"
    [attempt] = attempt_history(
        f"sqs:{letter['MessageAttributes']['apicall-source-message-id']['StringValue']}"
    )
    assert attempt["outcome"] == "rejected"


def sqs_record(body: str, **attributes: dict[str, Any]) -> dict[str, Any]:
    return {
        "messageId": "m-1",
        "receiptHandle": "r-1",
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": attributes,
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:push",
        "awsRegion": "us-east-1",
    }


@pytest.mark.parametrize(
    "record",
    [
        sqs_record("{}", **{"apicall-attempts-before": {"dataType": "Number", "stringValue": "²"}}),
        sqs_record("{}", **{"x": {"dataType": "Binary", "binaryValue": "not base64!"}}),
        {**sqs_record("{}"), "attributes": {"ApproximateReceiveCount": "many"}},
    ],
)
def test_odd_record_attributes_still_end_in_the_dead_letter_queue(
    push_rig: PushRig, record: dict[str, Any]
) -> None:
    answer = handler({"Records": [record]}, LocalContext("PushFunction", 30))

    assert answer["batchItemFailures"] == []
    [letter] = push_rig.dead_letters()
    assert letter["MessageAttributes"]["apicall-rejected-field"]["StringValue"] == "id"


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (message(), "Records"),
        ({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}, "Records"),
        ({"Records": []}, "Records"),
        ({"Records": [{"eventSource": "aws:sns", "Sns": {}}]}, "Records[0].eventSource"),
        ({"Records": [{**sqs_record("{}"), "body": None}]}, "Records[0].body"),
        (
            {"Records": [{**sqs_record("{}"), "messageAttributes": []}]},
            "Records[0].messageAttributes",
        ),
        ([1, 2], "event"),
        (None, "event"),
    ],
)
def test_an_event_that_is_not_an_sqs_batch_answers_a_typed_error(
    push_rig: PushRig, event: Any, field: str
) -> None:
    answer = handler(event, LocalContext("PushFunction", 30))

    assert answer["error"]["kind"] == "invalid_request"
    assert answer["error"]["field"] == field
    assert field in answer["error"]["message"]
    assert push_rig.dead_letters() == []
