"""Push test rig: the push queues of template.yaml in moto, the SQS trigger, a real receiver."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from apicall.core.runtime import RUNTIME
from local import infra
from local.sqs_trigger import SqsTrigger, peek_messages
from local.stack import moto_server

# --- a receiver ----------------------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    id: str | None  # the webhook-id header
    answer: Any


# What a receiver does with a request: a status code, (status, headers), "timeout" or "reset".
Behaviour = Callable[[Received, int], Any]


class Receiver:
    """A threaded HTTP server on 127.0.0.1; `behaviour(request, nth_time_this_id)` answers."""

    def __init__(self, behaviour: Behaviour, *, timeout_sleep_s: float = 1.0) -> None:
        self.behaviour = behaviour
        self.timeout_sleep_s = timeout_sleep_s
        self.requests: list[Received] = []
        self.succeeded: Counter[str] = Counter()
        self._seen: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self._server.log = lambda *args, **kwargs: None  # type: ignore[method-assign]
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _app(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        received = Received(
            path=request.path,
            headers=dict(request.headers),
            body=request.get_data(),
            id=request.headers.get("webhook-id"),
            answer=None,
        )
        with self._lock:
            nth = self._seen[received.id or ""]
            self._seen[received.id or ""] += 1
        answer = self.behaviour(received, nth)
        received.answer = answer
        with self._lock:
            self.requests.append(received)
        if answer == "reset":
            sock: socket.socket = environ["werkzeug.socket"]
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
            return []
        if answer == "timeout":
            time.sleep(self.timeout_sleep_s)
            answer = 504
        status, headers = answer if isinstance(answer, tuple) else (answer, {})
        if 200 <= status < 300 and received.id:
            with self._lock:
                self.succeeded[received.id] += 1
        return Response("ok" if status < 400 else "failed", status, headers)(
            environ, start_response
        )

    def ids(self) -> list[str | None]:
        return [request.id for request in self.requests]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receiver() -> Iterator[Callable[..., Receiver]]:
    started: list[Receiver] = []

    def start(behaviour: Behaviour = lambda request, nth: 200, **kwargs: Any) -> Receiver:
        server = Receiver(behaviour, **kwargs)
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


# --- the queues and the trigger ------------------------------------------------------------------


def create_push_queues(sqs: Any, *, visibility_timeout_s: int | None = None) -> tuple[str, str]:
    """PushQueue and PushDeadLetterQueue as template.yaml declares them; returns (queue, dlq)."""
    resources = infra.load_template()["Resources"]
    dlq_props = resources["PushDeadLetterQueue"]["Properties"]
    queue_props = resources["PushQueue"]["Properties"]
    suffix = uuid.uuid4().hex[:8]
    dlq_url = sqs.create_queue(
        QueueName=f"push-dlq-{suffix}",
        Attributes={"MessageRetentionPeriod": str(dlq_props["MessageRetentionPeriod"])},
    )["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    redrive = queue_props["RedrivePolicy"]
    queue_url = sqs.create_queue(
        QueueName=f"push-{suffix}",
        Attributes={
            "VisibilityTimeout": str(visibility_timeout_s or queue_props["VisibilityTimeout"]),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": redrive["maxReceiveCount"]}
            ),
        },
    )["QueueUrl"]
    return queue_url, dlq_url


@dataclass
class PushRig:
    sqs: Any
    queue_url: str
    dlq_url: str
    trigger: SqsTrigger
    connection_url: Callable[[Receiver], str] = field(repr=False, default=lambda r: r.url)

    def send(self, message: dict[str, Any] | str, **attributes: str) -> str:
        body = message if isinstance(message, str) else json.dumps(message)
        return self.sqs.send_message(
            QueueUrl=self.queue_url,
            MessageBody=body,
            MessageAttributes={
                name: {"DataType": "String", "StringValue": value}
                for name, value in attributes.items()
            },
        )["MessageId"]

    def send_many(self, messages: list[dict[str, Any]]) -> None:
        for start in range(0, len(messages), 10):
            entries = [
                {"Id": str(index), "MessageBody": json.dumps(message)}
                for index, message in enumerate(messages[start : start + 10])
            ]
            self.sqs.send_message_batch(QueueUrl=self.queue_url, Entries=entries)

    def dead_letters(self) -> list[dict[str, Any]]:
        """Every message in the DLQ, left there."""
        return peek_messages(self.sqs, self.dlq_url)


def make_rig(
    session: boto3.Session,
    monkeypatch: pytest.MonkeyPatch,
    *,
    schedule: str = "0",
    handler: Any = None,
) -> PushRig:
    sqs = session.client("sqs")
    queue_url, dlq_url = create_push_queues(sqs)
    monkeypatch.setenv("PUSH_QUEUE_URL", queue_url)
    monkeypatch.setenv("PUSH_DLQ_URL", dlq_url)
    monkeypatch.setenv("PUSH_RETRY_SCHEDULE", schedule)
    monkeypatch.setenv("PUSH_MAX_ATTEMPTS", "10")
    RUNTIME.reset()  # the deliverer reads the settings just changed
    from apicall.core.observability import metrics

    # The Metrics singleton reads its namespace when first imported, maybe before the env was set.
    metrics.namespace = metrics.namespace or "apicall-tests"
    if handler is None:
        from functions.push.app import handler
    trigger = SqsTrigger(sqs, queue_url, handler)
    return PushRig(sqs, queue_url, dlq_url, trigger)


@pytest.fixture
def push_rig(
    aws: boto3.Session, tables: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> Iterator[PushRig]:
    """Push queues from the template, env set, the trigger bound to functions/push/app.py."""
    rig = make_rig(aws, monkeypatch)
    yield rig
    RUNTIME.reset()


def receiver_connection(put_connection: Callable[..., str], name: str, url: str) -> None:
    """A connection to a local receiver (the guard allows loopback only when told to)."""
    put_connection(name, {"base_url": url, "allow_private_network": True})


@pytest.fixture
def moto_process(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """moto's server in its own process, so its CPU work does not compete with the handler's.

    The tables of template.yaml are created in it; AWS_ENDPOINT_URL points every client at it.
    """

    with moto_server(in_process=False) as endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        client = boto3.client("dynamodb", region_name="us-east-1")
        env_names = {"RunsTable": "RUNS_TABLE", "IdempotencyTable": "IDEMPOTENCY_TABLE"}
        for logical_id, properties in infra.table_definitions().items():
            infra.create_table(client, f"test-{logical_id}", properties)
            if logical_id in env_names:
                monkeypatch.setenv(env_names[logical_id], f"test-{logical_id}")
        RUNTIME.reset()
        yield endpoint


def put_connection_to(name: str, connection: dict[str, Any]) -> None:
    """Store a connection secret in whatever AWS the environment points at."""

    client = boto3.client("secretsmanager", region_name="us-east-1")
    client.create_secret(Name=f"apicall/connections/{name}", SecretString=json.dumps(connection))
    RUNTIME.reset()
