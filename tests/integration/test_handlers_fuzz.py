"""The three handlers fuzzed with malformed events, AWS in moto: nothing raises, every input
error names its field, and no push message is lost.

- push: SQS batches whose bodies are random JSON, wrong types, lone surrogates, 20,000-deep
  nesting, 240 kB strings, text that is not JSON, messages missing fields, and whose attributes
  hold invalid base64 or counts that are no numbers. Every record either ends in the DLQ with
  the rejection attributes (reason and field) or is reported as a batch item failure.
- fetch: scheduled FetchJob events and continuation SQS messages of the same kinds. A malformed
  continuation is acknowledged and recorded under `fetch-rejected` with its field.
- request: direct invokes.

Every URL is one the URL guard refuses (or a relative one for a connection whose base URL it
refuses), so nothing leaves the machine. One moto account serves the whole module.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from apicall.core.errors import ConfigError
from apicall.core.runtime import RUNTIME
from apicall.core.store import RunsStore
from apicall.fetch import run
from apicall.push import deliverer
from local import infra
from local.stack import LocalContext
from tests.support import strategies
from tests.support.push import create_push_queues

EXAMPLES = 300
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
        HealthCheck.function_scoped_fixture,
        HealthCheck.filter_too_much,
    ],
)
TALLY: Counter[str] = Counter()


@dataclass
class Account:
    sqs: Any
    dlq_url: str
    runs: RunsStore
    rejected_continuations: list[tuple[str, str | None]] = field(default_factory=list)

    def attempts_of(self, sqs_message_id: str) -> list[dict[str, Any]]:
        """The recorded push attempts of one SQS message, wherever its Push id put them."""
        from boto3.dynamodb.conditions import Attr

        items: list[dict[str, Any]] = []
        options: dict[str, Any] = {"FilterExpression": Attr("sqs_message_id").eq(sqs_message_id)}
        while True:
            page = self.runs.table.scan(**options)
            items.extend(page["Items"])
            if "LastEvaluatedKey" not in page:
                return items
            options["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def take_dead_letters(self, count: int) -> list[dict[str, Any]]:
        """`count` messages from the DLQ, deleted there (moto answers at once)."""
        letters: list[dict[str, Any]] = []
        while len(letters) < count:
            batch = self.sqs.receive_message(
                QueueUrl=self.dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
            ).get("Messages", [])
            if not batch:
                break
            letters.extend(batch)
            for message in batch:
                self.sqs.delete_message(
                    QueueUrl=self.dlq_url, ReceiptHandle=message["ReceiptHandle"]
                )
        return letters


@pytest.fixture(scope="module")
def account() -> Iterator[Account]:
    patch = pytest.MonkeyPatch()
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        patch.delenv(name, raising=False)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "PUSH_RETRY_SCHEDULE": "0",
        "PUSH_MAX_ATTEMPTS": "10",
    }.items():
        patch.setenv(name, value)
    from apicall.core.observability import logger

    level = logger.log_level
    logger.setLevel("CRITICAL")  # thousands of attempts; the assertions say what went wrong
    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        env = {"RunsTable": "RUNS_TABLE", "RecordsTable": "RECORDS_TABLE"}
        env["IdempotencyTable"] = "IDEMPOTENCY_TABLE"
        env["CatalogTable"] = "CATALOG_TABLE"
        for logical_id, properties in infra.table_definitions().items():
            infra.create_table(session.client("dynamodb"), f"fuzz-{logical_id}", properties)
            if logical_id in env:
                patch.setenv(env[logical_id], f"fuzz-{logical_id}")
        sqs = session.client("sqs")
        queue_url, dlq_url = create_push_queues(sqs)
        patch.setenv("PUSH_QUEUE_URL", queue_url)
        patch.setenv("PUSH_DLQ_URL", dlq_url)
        continuation = sqs.create_queue(QueueName="fuzz-continuations")["QueueUrl"]
        patch.setenv("FETCH_CONTINUATION_QUEUE_URL", continuation)
        session.client("secretsmanager").create_secret(
            Name=f"apicall/connections/{strategies.REFUSED_CONNECTION}",
            SecretString=json.dumps({"base_url": "http://127.0.0.1:9", "retry": {"attempts": 1}}),
        )
        RUNTIME.reset()
        yield Account(sqs, dlq_url, RunsStore(session.resource("dynamodb").Table("fuzz-RunsTable")))
        RUNTIME.reset()
    logger.setLevel(level)
    patch.undo()
    print(f"\nfuzz tally: {dict(sorted(TALLY.items()))}")


def context(name: str, timeout_s: float = 120) -> LocalContext:
    return LocalContext(name, timeout_s)


# --- push ----------------------------------------------------------------------------------------

push_batches = st.lists(
    strategies.sqs_records(strategies.sqs_bodies(strategies.push_messages())),
    min_size=1,
    max_size=3,
)


@FUZZ
@given(records=push_batches)
def test_push_handler_dead_letters_or_fails_every_malformed_message(
    account: Account, records: list[dict[str, Any]]
) -> None:
    from functions.push.app import handler

    for record in records:
        record["messageId"] = str(uuid.uuid4())

    answer = handler({"Records": records}, context("PushFunction"))

    failed = {item["itemIdentifier"] for item in answer["batchItemFailures"]}
    letters = account.take_dead_letters(len(records) - len(failed))
    by_source = {
        letter["MessageAttributes"][deliverer.SOURCE_MESSAGE_ID]["StringValue"]: letter
        for letter in letters
    }
    for record in records:
        message_id = record["messageId"]
        if message_id in failed:
            # Retried, so it is not lost; its recorded error names the field when it is input's.
            [attempt] = account.attempts_of(message_id)
            assert attempt["error"]["kind"] != "internal", attempt["error"]
            TALLY[f"push failed: {attempt['error'].get('field') or attempt['error']['kind']}"] += 1
            continue
        letter = by_source.get(message_id)
        assert letter is not None, f"message {message_id} neither dead-lettered nor failed"
        assert letter["Body"] == record["body"]
        attributes = letter["MessageAttributes"]
        assert attributes[deliverer.REJECTED_REASON]["StringValue"]
        assert attributes[deliverer.REJECTED_FIELD]["StringValue"]
        TALLY["push dead-lettered"] += 1
    TALLY["push batches"] += 1


# --- fetch ---------------------------------------------------------------------------------------


@FUZZ
@given(event=strategies.mostly(strategies.fetch_jobs(), strategies.odd_values()))
def test_fetch_handler_answers_every_malformed_job_with_a_typed_error(
    account: Account, event: Any
) -> None:
    from functions.fetch.app import handler

    answer = handler(event, context("FetchFunction", 900))

    assert answer["status"] in ("failed", "succeeded", "busy", "stale"), answer
    if answer["status"] == "failed":
        assert answer["error"]["field"], answer["error"]
        TALLY[f"fetch job {answer['error']['kind']}"] += 1


continuation_batches = strategies.sqs_records(
    strategies.sqs_bodies(strategies.continuation_messages())
)


@pytest.fixture(scope="module")
def rejected_continuations(account: Account) -> Iterator[list[tuple[str, str | None]]]:
    expected: list[tuple[str, str | None]] = []
    yield expected
    # Every malformed continuation is on record, under the field its parser named.
    recorded = {
        item["sqs_message_id"]: item["error"]["field"]
        for item in account.runs.query(run.REJECTED_CONTINUATIONS)
    }
    assert dict(expected) == {m: recorded.get(m) for m, _ in expected}


@FUZZ
@given(record=continuation_batches)
def test_fetch_handler_acknowledges_every_malformed_continuation(
    account: Account, rejected_continuations: list[tuple[str, str | None]], record: dict[str, Any]
) -> None:
    from functions.fetch.app import handler

    record["messageId"] = str(uuid.uuid4())

    answer = handler({"Records": [record]}, context("FetchFunction", 900))

    assert answer == {"batchItemFailures": []}
    try:
        run.parse_continuation(record["body"])
    except ConfigError as error:
        assert error.field
        rejected_continuations.append((record["messageId"], error.field))
        TALLY["continuation rejected"] += 1
    else:
        TALLY["continuation resumed"] += 1


# --- request -------------------------------------------------------------------------------------


@FUZZ
@given(event=strategies.invoke_events())
def test_request_handler_answers_every_malformed_invoke_with_a_typed_error(
    account: Account, event: Any
) -> None:
    from functions.request.app import handler

    outcome = handler(event, context("RequestFunction", 30))

    assert outcome["ok"] is False and outcome["route"] == "error", outcome
    error = outcome["error"]
    assert error["kind"] in ("invalid_request", "blocked"), error
    if error["kind"] == "invalid_request":
        assert error["field"], error
    TALLY[f"request {error['kind']}"] += 1
