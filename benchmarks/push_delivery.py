"""Push delivery: batch concurrency against a 200 ms receiver, and throughput with an instant one.

Everything runs in this process: AWS in moto (queues and tables from template.yaml), the push
handler invoked by local/sqs_trigger.py as Lambda's SQS event source would, receivers on
127.0.0.1. Figures are ratios within the same run. moto's DynamoDB and SQS are far slower per call
than the real services and share this interpreter's GIL, so the throughput figure is a floor.

Run: `python -m benchmarks.push_delivery` (`--quick` for 2 rounds and 100 messages).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from typing import Any

import boto3
from moto import mock_aws

from apicall.core.runtime import RUNTIME
from local import infra
from tests.support.push import Receiver, create_push_queues

REGION = "us-east-1"


def _environment(sqs: Any) -> tuple[str, str]:
    client = boto3.client("dynamodb", region_name=REGION)
    for logical_id, properties in infra.table_definitions().items():
        infra.create_table(client, f"bench-{logical_id}", properties)
    queue_url, dlq_url = create_push_queues(sqs)
    os.environ.update(
        {
            "RUNS_TABLE": "bench-RunsTable",
            "IDEMPOTENCY_TABLE": "bench-IdempotencyTable",
            "PUSH_QUEUE_URL": queue_url,
            "PUSH_DLQ_URL": dlq_url,
            "PUSH_RETRY_SCHEDULE": "0",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
        }
    )
    return queue_url, dlq_url


def _reset(**env: str) -> None:
    """A new container with `env`: settings, clients and the deliverer built afresh."""
    os.environ.update(env)
    RUNTIME.reset()


def _messages(prefix: str, count: int, connection: str) -> list[str]:
    return [
        json.dumps(
            {
                "id": f"{prefix}-{n}",
                "target": {"connection": connection, "url": "/hooks"},
                "record": {"n": n, "status": "approved"},
            }
        )
        for n in range(count)
    ]


def _send(sqs: Any, queue_url: str, bodies: list[str]) -> None:
    for start in range(0, len(bodies), 10):
        entries = [
            {"Id": str(i), "MessageBody": body} for i, body in enumerate(bodies[start : start + 10])
        ]
        sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)


def _timed_batch(trigger: Any, sqs: Any, queue_url: str, bodies: list[str]) -> float:
    """Seconds the handler took for one batch holding `bodies`."""
    _send(sqs, queue_url, bodies)
    messages = sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]
    )["Messages"]
    assert len(messages) == len(bodies), "the batch did not come back whole"
    records = [trigger.lambda_record(message) for message in messages]
    started = time.perf_counter()
    trigger.invoke(records)
    elapsed = time.perf_counter() - started
    assert not trigger.errors, trigger.errors
    return elapsed


def concurrency(sqs: Any, queue_url: str, rounds: int = 7) -> dict[str, float]:
    from functions.push.app import handler
    from local.sqs_trigger import SqsTrigger

    slow = Receiver(lambda request, nth: time.sleep(0.2) or 200)
    secrets = boto3.client("secretsmanager", region_name=REGION)
    secrets.create_secret(
        Name="apicall/connections/slow",
        SecretString=json.dumps({"base_url": slow.url, "allow_private_network": True}),
    )
    trigger = SqsTrigger(sqs, queue_url, handler)
    results: dict[str, float] = {}
    for bound in ("10", "5"):
        _reset(PUSH_TARGET_CONCURRENCY=bound)
        _timed_batch(trigger, sqs, queue_url, _messages(f"warm{bound}", 10, "slow"))
        singles, batches = [], []
        for r in range(rounds):  # interleaved, so both see the same machine state
            singles.append(
                _timed_batch(trigger, sqs, queue_url, _messages(f"s{bound}-{r}", 1, "slow"))
            )
            batches.append(
                _timed_batch(trigger, sqs, queue_url, _messages(f"b{bound}-{r}", 10, "slow"))
            )
        results[f"one_ms_bound{bound}"] = statistics.median(singles) * 1000
        results[f"ten_ms_bound{bound}"] = statistics.median(batches) * 1000
    slow.close()
    return results


def throughput(sqs: Any, queue_url: str, total: int = 1000) -> dict[str, float]:
    from functions.push.app import handler
    from local.sqs_trigger import SqsTrigger

    instant = Receiver(lambda request, nth: 200)
    boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name="apicall/connections/instant",
        SecretString=json.dumps({"base_url": instant.url, "allow_private_network": True}),
    )
    _reset(PUSH_TARGET_CONCURRENCY="10")
    trigger = SqsTrigger(sqs, queue_url, handler)
    bodies = _messages("t", total, "instant")
    _timed_batch(trigger, sqs, queue_url, _messages("warm-t", 10, "instant"))
    handler_s = 0.0
    started = time.perf_counter()
    for start in range(0, total, 10):
        handler_s += _timed_batch(trigger, sqs, queue_url, bodies[start : start + 10])
    wall_s = time.perf_counter() - started
    delivered = sum(instant.succeeded.values())
    instant.close()
    from apicall.push.deliverer import attempt_history

    assert delivered == total + 10, f"{delivered} delivered: {attempt_history('t-0')}"
    return {"handler_msgs_per_s": total / handler_s, "end_to_end_msgs_per_s": total / wall_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2 rounds and 100 messages")
    quick = parser.parse_args().quick
    os.environ.update(
        {"AWS_DEFAULT_REGION": REGION, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
    )
    with mock_aws():
        sqs = boto3.client("sqs", region_name=REGION)
        queue_url, _ = _environment(sqs)
        figures = concurrency(sqs, queue_url, rounds=2 if quick else 7)
        figures.update(throughput(sqs, queue_url, total=100 if quick else 1000))
    for bound in ("10", "5"):
        one, ten = figures[f"one_ms_bound{bound}"], figures[f"ten_ms_bound{bound}"]
        print(
            f"200 ms receiver, PUSH_TARGET_CONCURRENCY={bound}: one message {one:.0f} ms, "
            f"batch of 10 {ten:.0f} ms = {ten / one:.2f}x one delivery"
        )
    print(
        f"instant receiver: {figures['handler_msgs_per_s']:.0f} messages/s through the handler, "
        f"{figures['end_to_end_msgs_per_s']:.0f} messages/s including the trigger's SQS calls"
    )


if __name__ == "__main__":
    main()
