"""A malformed message on FetchContinuationQueue is acknowledged with a typed error, never retried.

No retry can change a message, so reporting it as a batch item failure would only send it round
three times to the dead-letter queue. It is logged, recorded in RunsTable (`fetch-rejected`) with
the field at fault, and deleted from the queue.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from apicall.core.store import RunsStore
from apicall.fetch import run
from functions.fetch import app
from local.sqs_trigger import SqsTrigger

JOB: dict[str, Any] = {
    "job": "orders",
    "request": {"url": "https://api.example.com/orders"},
    "pagination": {"type": "cursor", "cursor_path": "$.next"},
    "records": {"key": "$.id"},
}
RUN_ID = "0" * 32


def message(**changes: Any) -> str:
    return json.dumps({"fetch": JOB, "run_id": RUN_ID, **changes})


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


MALFORMED = [
    ("{not json", "body"),
    ("", "body"),
    ("[1, 2]", "body"),
    ('"text"', "body"),
    (nested(10_000), "body"),
    (json.dumps({"run_id": RUN_ID}), "fetch"),
    (message(fetch=5), "fetch"),
    (message(fetch={**JOB, "pagination": {"type": "cursor"}}), "fetch.pagination.cursor_path"),
    (message(fetch={**JOB, "records": {"key": 1}}), "fetch.records.key"),
    (message(fetch={**JOB, "job": "\ud800"}), "fetch.job"),
    (message(fetch={**JOB, "request": {"url": "https://x/\udfff"}}), "fetch.request.url"),
    (message(fetch={**JOB, "records": {"key": json.loads(nested(150))}}), "fetch.records"),
    (json.dumps({"fetch": JOB}), "run_id"),
    (message(run_id=7), "run_id"),
    (message(run_id="../../x y"), "run_id"),
    (message(run_id=""), "run_id"),
    (message(surprise=True), "surprise"),
]


@pytest.fixture
def queue(aws: boto3.Session, tables: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> str:
    """FetchContinuationQueue with the template's redrive policy to its DLQ."""
    sqs = aws.client("sqs")
    dlq = sqs.create_queue(QueueName="fetch-continuation-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    url = sqs.create_queue(
        QueueName="fetch-continuations",
        Attributes={
            "VisibilityTimeout": "0",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3}),
        },
    )["QueueUrl"]
    monkeypatch.setenv("FETCH_CONTINUATION_QUEUE_URL", url)
    return url


def rejected(tables: dict[str, Any]) -> list[dict[str, Any]]:
    return RunsStore(tables["RunsTable"]).query(run.REJECTED_CONTINUATIONS)


@pytest.mark.parametrize(("body", "field"), MALFORMED)
def test_a_malformed_continuation_is_acknowledged_and_recorded_naming_the_field(
    queue: str, tables: dict[str, Any], body: str, field: str
) -> None:
    sqs = boto3.client("sqs")
    sent = sqs.send_message(QueueUrl=queue, MessageBody=body or " ")["MessageId"]
    trigger = SqsTrigger(sqs, queue, app.handler, batch_size=1, function_name="FetchFunction")

    while trigger.poll():
        pass

    assert trigger.errors == [] and trigger.invocations == 1
    assert trigger.pending() == 0
    [item] = rejected(tables)
    assert item["sqs_message_id"] == sent
    assert item["error"]["kind"] == "invalid_request"
    assert item["error"]["field"] == field
    assert field.split(".")[-1] in item["error"]["message"]


def test_the_answer_to_a_malformed_continuation_is_the_typed_error(tables) -> None:
    answer = run.fetch_continuation(message(run_id=7), message_id="m-1")

    assert answer["status"] == "rejected"
    assert answer["error"]["field"] == "run_id"


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({**JOB, "job": "\ud800"}, "job"),
        ({**JOB, "records": {"key": "$.id", "fields": json.loads(nested(150))}}, "records.fields"),
        ({"Records": [{"eventSource": "aws:sqs"}]}, "job"),
    ],
)
def test_a_scheduled_job_that_cannot_be_used_answers_a_typed_error(
    tables, event: dict[str, Any], field: str
) -> None:
    from local.stack import LocalContext

    answer = app.handler(event, LocalContext("FetchFunction", 900))

    assert answer["status"] == "failed"
    assert answer["error"]["field"] == field
