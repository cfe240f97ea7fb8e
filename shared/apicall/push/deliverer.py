"""Push delivery: one Push message from SQS to its target, signed, idempotent, retried by SQS.

The queue is the retry engine. A failed attempt sets the message's visibility timeout to the next
delay of the retry schedule and is reported as a batch item failure, so SQS hands it back then;
after PUSH_MAX_ATTEMPTS receives the queue's RedrivePolicy moves it to the dead-letter queue. A
message that can never succeed as it is (bad JSON, a missing field, an unknown connection, a URL
the guard refuses) is sent to the dead-letter queue at once with the reason and reported as done.
Powertools idempotency on the message `id` keeps a redelivered message from being delivered twice.

Each record is delivered on a worker thread, at most PUSH_TARGET_CONCURRENCY at a time per target,
so one slow endpoint does not hold back the rest of the batch.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import math
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx

from apicall.core import redaction
from apicall.core.connections import connection_for, load_connection
from apicall.core.errors import (
    ApicallError,
    BlockedURL,
    ConfigError,
    ConnectionNotFound,
    DeliveryInProgress,
    IdempotencyUnavailable,
    InternalError,
    InvalidMessage,
    InvalidRequest,
    SecretUnavailable,
    UpstreamStatusError,
    UpstreamTimeout,
)
from apicall.core.models import Connection, PushMessage, no_connection
from apicall.core.observability import MetricUnit, logger, metrics
from apicall.core.redaction import safe_url
from apicall.core.runtime import RUNTIME, Slot
from apicall.core.settings import Settings, get_settings
from apicall.core.store import RunsStore, default_runs_store
from apicall.core.workspaces import DEFAULT_WORKSPACE, WORKSPACE_NAME, family_key, scoped
from apicall.http import client
from apicall.request import templating

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext


from apicall.push.message import (
    Prepared,
    build_request,
    parse_message,
    read_signing_secret,
    signed_headers,
    webhook_signer,
)

# Message attributes this module reads or writes.
REJECTED_REASON = "apicall-rejected-reason"
REJECTED_FIELD = "apicall-rejected-field"
SOURCE_MESSAGE_ID = "apicall-source-message-id"
ATTEMPTS_BEFORE = "apicall-attempts-before"

MAX_VISIBILITY_S = 43200  # SQS's limit
MAX_RESPONSE_BYTES = 64 * 1024
EXCERPT_CHARS = 500
# Kept back from the invocation's remaining time for recording the attempt and the SQS calls.
BOOKKEEPING_MARGIN_S = 2.0
IDEMPOTENCY_KEY_PREFIX = "apicall-push"


class DeliveryFailed(Exception):
    """The target answered outside its success codes; the attempt is retried later."""

    def __init__(
        self, error: UpstreamStatusError, *, retry_after_s: float | None, excerpt: str | None
    ) -> None:
        super().__init__(error.message)
        self.error = error
        self.retry_after_s = retry_after_s
        self.excerpt = excerpt


# Errors no retry can cure: the message goes to the dead-letter queue with the reason.
PERMANENT_ERRORS = (InvalidMessage, InvalidRequest, ConnectionNotFound, BlockedURL)


def retry_delay_s(
    receive_count: int, schedule: tuple[float, ...], retry_after_s: float | None = None
) -> int:
    """Seconds until the next attempt after failed attempt `receive_count` (1-based).

    The schedule's last value repeats; a later Retry-After wins; SQS caps visibility at 12 h.
    """
    delay = schedule[min(max(receive_count, 1), len(schedule)) - 1]
    if retry_after_s is not None:
        delay = max(delay, retry_after_s)
    return min(math.ceil(delay), MAX_VISIBILITY_S)


# --- attempts ------------------------------------------------------------------------------------


@dataclasses.dataclass
class Attempt:
    """One receive of one message; RunsTable `push#<id>`, `attempt#<nnn>#<sqs message id>`."""

    message_id: str
    workspace: str
    number: int
    outcome: str  # delivered | duplicate | failed | dead_lettered | rejected
    sqs_message_id: str
    receive_count: int
    elapsed_ms: int = 0
    status: int | None = None
    error: dict[str, Any] | None = None
    next_retry_at: str | None = None
    event: str | None = None
    url: str | None = None
    response_excerpt: str | None = None
    at: str = dataclasses.field(
        default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    )

    @property
    def ok(self) -> bool:
        return self.outcome in ("delivered", "duplicate", "rejected")

    def to_item(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


def attempt_history(
    message_id: str, store: RunsStore | None = None, *, workspace: str = DEFAULT_WORKSPACE
) -> list[dict[str, Any]]:
    """Every recorded attempt of a message, oldest first."""
    store = store or default_runs_store()
    return store.query(push_key(workspace, message_id), sk_prefix="attempt#")


def push_key(workspace: str, message_id: str) -> str:
    """RunsTable's partition of a message's attempts (an id is free text: it may hold `#`)."""
    return family_key("push", workspace, message_id)


# --- the deliverer -------------------------------------------------------------------------------

ConnectionLoader = Callable[[str], Connection]
SecretReader = Callable[[str, str], str]  # (name, workspace) -> the secret


class Deliverer:
    """Delivers SQS records; one per container, built from settings (tests inject their own)."""

    def __init__(
        self,
        *,
        settings: Settings | None = None,
        store: RunsStore | None = None,
        sqs: Any = None,
        idempotency_client: Any = None,
        connections: ConnectionLoader = load_connection,
        signing_secrets: SecretReader | None = None,
    ) -> None:
        import boto3
        from aws_lambda_powertools.utilities.idempotency import (
            DynamoDBPersistenceLayer,
            IdempotencyConfig,
            idempotent_function,
        )

        self.settings = settings or get_settings()
        if not self.settings.idempotency_table:
            raise ConfigError("IDEMPOTENCY_TABLE is not set", field="IDEMPOTENCY_TABLE")
        # Clients are made here, on one thread: making boto3 clients concurrently is not safe.
        session = boto3.session.Session()
        self.sqs = sqs or session.client("sqs")
        self.store = store or default_runs_store()
        self.store.table  # noqa: B018 - built now, before the worker threads share it
        self.connections = connections
        self.signing_secrets = signing_secrets or (
            lambda name, workspace: read_signing_secret(name, self.settings, workspace=workspace)
        )
        self.executor = ThreadPoolExecutor(self.settings.push_concurrency, "push")
        self._bounds: dict[str, threading.BoundedSemaphore] = {}
        self._bounds_lock = threading.Lock()
        self._queue_url: str | None = self.settings.push_queue_url
        self.idempotency_config = IdempotencyConfig(
            event_key_jmespath="id",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=self.settings.push_idempotency_ttl_s,
        )
        persistence = DynamoDBPersistenceLayer(
            table_name=self.settings.idempotency_table,
            boto3_client=idempotency_client or session.client("dynamodb"),
        )
        self._send_once = idempotent_function(
            data_keyword_argument="message",
            persistence_store=persistence,
            config=self.idempotency_config,
            key_prefix=IDEMPOTENCY_KEY_PREFIX,
        )(self._send)

    # one record -------------------------------------------------------------------------------

    def handle(self, record: SQSRecord, lambda_context: LambdaContext | None = None) -> Attempt:
        """Deliver one record and record the attempt; never raises."""
        started = time.monotonic()
        receive_count = _receive_count(record)
        message_id, workspace = _message_hints(record)
        attempt = Attempt(
            message_id=message_id,
            workspace=workspace,
            number=receive_count + _attempts_before(record),
            outcome="failed",
            sqs_message_id=record.message_id,
            receive_count=receive_count,
        )
        try:
            prepared = self._prepare(record, attempt)
            with self._bound(prepared.key):
                self._attempt(prepared, record, attempt, lambda_context, started)
        except PERMANENT_ERRORS as error:
            self._reject(record, attempt, error)
        except ApicallError as error:
            self._failed(record, attempt, error)
        except DeliveryFailed as failure:
            attempt.response_excerpt = failure.excerpt
            self._failed(record, attempt, failure.error, retry_after_s=failure.retry_after_s)
        except Exception as exc:  # a bug or an AWS outage must not lose the message
            logger.exception("push attempt failed unexpectedly", extra=_log(attempt))
            self._failed(record, attempt, InternalError(f"internal error: {type(exc).__name__}"))
        if not attempt.elapsed_ms:
            attempt.elapsed_ms = int((time.monotonic() - started) * 1000)
        self._record(attempt)
        return attempt

    def _prepare(self, record: SQSRecord, attempt: Attempt) -> Prepared:
        message = parse_message(record.body)
        attempt.message_id, attempt.event = message.id, message.event
        attempt.workspace = message.workspace
        target = message.target
        connection = no_connection()
        if target.connection:
            try:
                connection = connection_for(
                    target.connection,
                    field="target.connection",
                    loader=self.connections,
                    workspace=message.workspace,
                )
            except SecretUnavailable:
                raise  # the next attempt may read it
            except ConfigError as exc:  # missing, misnamed or broken: fixed only by a person
                raise InvalidMessage(exc.message, field=exc.field) from exc
        request, body_text = build_request(message, connection if target.connection else None)
        attempt.url = safe_url(request.url)
        signer = None
        name = scoped(message.workspace, target.connection) if target.connection else None
        http = client.client_for(connection, name, store=self.store)
        secrets = http.secret_values(request.url)
        if target.signing_secret:
            key = self.signing_secrets(target.signing_secret, message.workspace)
            signer = webhook_signer(key, target.signing_secret)
            # A receiver holds the key too, with or without its prefix, and may echo it.
            secrets |= {key, key.removeprefix("whsec_")}
        return Prepared(message, http, request, body_text, signer, frozenset(secrets))

    def _attempt(
        self,
        prepared: Prepared,
        record: SQSRecord,
        attempt: Attempt,
        lambda_context: LambdaContext | None,
        started: float,
    ) -> None:
        timeout_s = prepared.target.timeout_s
        if lambda_context is not None:
            self.idempotency_config.register_lambda_context(lambda_context)
            left = lambda_context.get_remaining_time_in_millis() / 1000 - BOOKKEEPING_MARGIN_S
            if left < 0.5:
                raise UpstreamTimeout("too little time left in this invocation to deliver")
            timeout_s = min(timeout_s, left)
        from aws_lambda_powertools.utilities.idempotency.exceptions import (
            IdempotencyAlreadyInProgressError,
            IdempotencyPersistenceLayerError,
        )

        try:
            result = self._send_once(
                message={"id": _idempotency_id(prepared.message)},
                prepared=prepared,
                timeout_s=timeout_s,
                receipt=(record.message_id, attempt.receive_count),
            )
        except IdempotencyAlreadyInProgressError as exc:
            raise DeliveryInProgress("another invocation is delivering this message") from exc
        except IdempotencyPersistenceLayerError as exc:
            raise IdempotencyUnavailable(f"the idempotency table failed: {exc}") from exc
        attempt.status = result.get("status")
        attempt.elapsed_ms = int(result.get("elapsed_ms", 0))
        first = (result.get("sqs_message_id"), result.get("receive_count"))
        if first == (record.message_id, attempt.receive_count):
            attempt.outcome = "delivered"
        else:  # Powertools answered the stored result of an earlier delivery
            attempt.outcome = "duplicate"
            attempt.elapsed_ms = int((time.monotonic() - started) * 1000)

    def _send(
        self,
        message: dict[str, Any],
        prepared: Prepared,
        timeout_s: float,
        receipt: tuple[str, int],
    ) -> dict[str, Any]:
        """One HTTP attempt; wrapped in Powertools idempotency (an exception frees the key)."""
        request = dataclasses.replace(prepared.request, headers=dict(prepared.request.headers))
        for name, value in signed_headers(
            prepared.message.id, prepared.body_text, prepared.signer
        ).items():
            templating.set_header(request.headers, name, value)
        target = prepared.target
        policy = client.SendPolicy(
            timeout_s=timeout_s,
            retry=None,  # SQS is the retry engine
            max_bytes=MAX_RESPONSE_BYTES,
            truncate=True,
            follow_redirects=False,
        )
        response = prepared.http.send(request, policy)
        if not client.is_success(response.status, target.success_codes):
            reason = response.reason_phrase or httpx.codes.get_reason_phrase(response.status)
            # Redacted before it is cut, so that a secret across the cut leaves no head behind.
            text = redaction.redact(response.content.decode("utf-8", "replace"), prepared.secrets)
            raise DeliveryFailed(
                UpstreamStatusError(
                    f"HTTP {response.status} {reason}".strip(), status=response.status
                ),
                retry_after_s=client.retry_after_s(response.headers.get("retry-after")),
                excerpt=text[:EXCERPT_CHARS] or None,
            )
        return {
            "status": response.status,
            "elapsed_ms": response.elapsed_ms,
            "sqs_message_id": receipt[0],
            "receive_count": receipt[1],
            "delivered_at": datetime.now(UTC).isoformat(),
        }

    @contextmanager
    def _bound(self, key: str) -> Iterator[None]:
        with self._bounds_lock:
            bound = self._bounds.get(key)
            if bound is None:
                bound = self._bounds[key] = threading.BoundedSemaphore(
                    self.settings.push_target_concurrency
                )
        with bound:
            yield

    # outcomes ---------------------------------------------------------------------------------

    def _failed(
        self,
        record: SQSRecord,
        attempt: Attempt,
        error: ApicallError,
        *,
        retry_after_s: float | None = None,
    ) -> None:
        attempt.error = {"kind": error.kind, "message": error.message, "status": error.status}
        if error.field:
            attempt.error["field"] = error.field
        attempt.status = attempt.status or error.status
        last = attempt.receive_count >= self.settings.push_max_attempts
        schedule = self.settings.push_retry_schedule
        delay = 0 if last else retry_delay_s(attempt.receive_count, schedule, retry_after_s)
        attempt.outcome = "dead_lettered" if last else "failed"
        if not last:
            attempt.next_retry_at = datetime.fromtimestamp(time.time() + delay, tz=UTC).isoformat()
        try:
            # On the last attempt, visibility 0 lets SQS move the message to the DLQ right away.
            self.sqs.change_message_visibility(
                QueueUrl=self._push_queue_url(record),
                ReceiptHandle=record.receipt_handle,
                VisibilityTimeout=delay,
            )
        except Exception as exc:  # the queue's own visibility timeout then sets the delay
            logger.warning(
                "could not set the retry delay", extra={**_log(attempt), "error": repr(exc)}
            )

    def _reject(self, record: SQSRecord, attempt: Attempt, error: ApicallError) -> None:
        """Send the message to the dead-letter queue with the reason; the push queue drops it."""
        reason = _sqs_text(error.message)
        field = _sqs_text(error.field, 256) if error.field else None
        if isinstance(error, BlockedURL) or field == "url":  # the client names no field
            field = "target.url"
        attempt.error = {"kind": error.kind, "message": reason, "field": field}
        dlq = self.settings.push_dlq_url
        if not dlq:
            logger.error("PUSH_DLQ_URL is not set: the invalid message is retried instead")
            self._failed(record, attempt, error)
            return
        attributes = _api_attributes(record, keep=7)
        attributes[REJECTED_REASON] = {"DataType": "String", "StringValue": reason}
        attributes[SOURCE_MESSAGE_ID] = {"DataType": "String", "StringValue": record.message_id}
        if field:
            attributes[REJECTED_FIELD] = {"DataType": "String", "StringValue": field}
        try:
            self.sqs.send_message(
                QueueUrl=dlq, MessageBody=record.body, MessageAttributes=attributes
            )
        except Exception as exc:
            logger.warning(
                "could not dead-letter an invalid message; retrying it",
                extra={**_log(attempt), "error": repr(exc)},
            )
            self._failed(record, attempt, error)
            return
        attempt.outcome = "rejected"

    def _record(self, attempt: Attempt) -> None:
        logger.info("push attempt", extra=_log(attempt))
        try:
            self.store.put(
                push_key(attempt.workspace, attempt.message_id),
                # The SQS message id keeps apart two copies of one id received as the same number.
                f"attempt#{attempt.number:03d}#{attempt.sqs_message_id}",
                attempt.to_item(),
                ttl_s=self.settings.history_ttl_days * 86400,
            )
        except Exception as exc:  # the history is best effort; the delivery already happened
            logger.warning("push attempt not recorded", extra={**_log(attempt), "error": repr(exc)})

    def _push_queue_url(self, record: SQSRecord) -> str:
        if self._queue_url is None:
            # arn:aws:sqs:<region>:<account>:<name>
            *_, account, name = record.event_source_arn.split(":")
            self._queue_url = self.sqs.get_queue_url(
                QueueName=name, QueueOwnerAWSAccountId=account
            )["QueueUrl"]
        return self._queue_url


def _message_hints(record: SQSRecord) -> tuple[str, str]:
    """(id, workspace) of the Push message if the body has them (even an invalid body): the id,
    else the SQS message id; the workspace, else the default one."""
    try:
        body = json.loads(record.body)
        value, workspace = body.get("id"), body.get("workspace", DEFAULT_WORKSPACE)
    except (ValueError, AttributeError, RecursionError):
        value, workspace = None, DEFAULT_WORKSPACE
    if not isinstance(workspace, str) or not WORKSPACE_NAME.match(workspace):
        workspace = DEFAULT_WORKSPACE
    # The id becomes a RunsTable key: it must encode, and SQS could not have carried a NUL.
    if isinstance(value, str) and 0 < len(value) <= 256 and _sqs_text(value) == value:
        return value, workspace
    return f"sqs:{record.message_id}", workspace


def _idempotency_id(message: PushMessage) -> Any:
    # Powertools hashes the JSON of this: a string in the default workspace (the key it always
    # was), a list elsewhere, so no two workspaces' ids ever hash alike.
    if message.workspace == DEFAULT_WORKSPACE:
        return message.id
    return [message.workspace, message.id]


def _count(value: Any) -> int | None:
    # isdigit() accepts '²', which int() refuses.
    return int(value) if isinstance(value, str) and value.isascii() and value.isdigit() else None


def _receive_count(record: SQSRecord) -> int:
    attributes = record.raw_event.get("attributes")
    value = attributes.get("ApproximateReceiveCount") if isinstance(attributes, dict) else None
    return max(_count(value) or 1, 1)


def _message_attributes(record: SQSRecord) -> dict[str, dict[str, Any]]:
    # The raw dicts: Powertools' accessors raise KeyError on a key Lambda would have sent as null.
    attributes = record.raw_event.get("messageAttributes")
    if not isinstance(attributes, dict):
        return {}
    return {name: value for name, value in attributes.items() if isinstance(value, dict)}


def _attempts_before(record: SQSRecord) -> int:
    attribute = _message_attributes(record).get(ATTEMPTS_BEFORE, {})
    return _count(attribute.get("stringValue")) or 0


# What SQS refuses in a message attribute's value: what is not an XML 1.0 character. Spelled as
# the refused ranges: the accepted ones, negated, take 4 ms to compile at every cold start.
_NOT_SQS_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _sqs_text(text: str, limit: int = 1000) -> str:
    return _NOT_SQS_TEXT.sub("\ufffd", text[:limit])


_DATA_TYPES = ("String", "Number", "Binary")


def _sqs_clean(text: str) -> bool:
    return bool(text) and not _NOT_SQS_TEXT.search(text)


def _api_attributes(record: SQSRecord, *, keep: int) -> dict[str, dict[str, Any]]:
    """The record's message attributes in the SendMessage shape (SQS allows 10 in all).

    One that SQS could not have delivered (invalid base64, an unknown data type, characters SQS
    does not carry) is left behind rather than costing the message its place in the DLQ.
    """
    out: dict[str, dict[str, Any]] = {}
    for name, attribute in _message_attributes(record).items():
        if len(out) >= keep or name.startswith("apicall-rejected"):
            continue
        data_type, text = attribute.get("dataType"), attribute.get("stringValue")
        if not isinstance(data_type, str) or data_type.split(".")[0] not in _DATA_TYPES:
            continue
        if not _sqs_clean(name) or not _sqs_clean(data_type):
            continue
        if isinstance(text, str):
            if not _sqs_clean(text):
                continue
            out[name] = {"DataType": data_type, "StringValue": text}
        elif isinstance(attribute.get("binaryValue"), str):
            try:
                binary = base64.b64decode(attribute["binaryValue"], validate=True)
            except ValueError:
                continue
            out[name] = {"DataType": data_type, "BinaryValue": binary}
    return out


def _log(attempt: Attempt) -> dict[str, Any]:
    return {
        "message_id": attempt.message_id,
        "attempt": attempt.number,
        "outcome": attempt.outcome,
        "status": attempt.status,
        "elapsed_ms": attempt.elapsed_ms,
        "error": attempt.error,
        "next_retry_at": attempt.next_retry_at,
    }


# --- the event ----------------------------------------------------------------------------------


def sqs_event_problem(event: Any) -> InvalidMessage | None:
    """Why `event` is not an SQS batch as Lambda sends one (a test invoke, a wrong trigger)."""
    if not isinstance(event, dict):
        return InvalidMessage(
            f"the push function takes an SQS event, not a JSON {_json_kind(event)}", field="event"
        )
    records = event.get("Records")
    if not isinstance(records, list) or not records:
        return InvalidMessage(
            "the push function takes an SQS event: Records must list the SQS messages",
            field="Records",
        )
    for index, record in enumerate(records):
        where = f"Records[{index}]"
        if not isinstance(record, dict):
            return InvalidMessage(f"{where} must be an SQS message object", field=where)
        if record.get("eventSource") != "aws:sqs":
            return InvalidMessage(
                f"{where}.eventSource must be aws:sqs: the push function reads SQS messages only",
                field=f"{where}.eventSource",
            )
        for name in ("messageId", "receiptHandle", "body"):
            if not isinstance(record.get(name), str):
                return InvalidMessage(f"{where}.{name} must be a string", field=f"{where}.{name}")
        for name in ("attributes", "messageAttributes"):
            value = record.get(name, {})
            if not isinstance(value, dict) or (
                name == "messageAttributes" and not all(isinstance(v, dict) for v in value.values())
            ):
                return InvalidMessage(
                    f"{where}.{name} must be an object of SQS {name}", field=f"{where}.{name}"
                )
    return None


def refused_event(event: Any, error: InvalidMessage) -> dict[str, Any]:
    """The answer to an event that is not an SQS batch: the typed error, and any record that
    looks like a message reported failed, so that nothing is acknowledged unread."""
    logger.error("not an SQS event", extra={"field": error.field, "error": error.message})
    records = event.get("Records") if isinstance(event, dict) else None
    failures = [
        {"itemIdentifier": record["messageId"]}
        for record in (records if isinstance(records, list) else [])
        if isinstance(record, dict) and isinstance(record.get("messageId"), str)
    ]
    return {
        "batchItemFailures": failures,
        "error": {"kind": error.kind, "message": error.message, "field": error.field},
    }


def _json_kind(value: Any) -> str:
    names = {list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number" if isinstance(value, int | float) else "value")


# --- the batch record handler ---------------------------------------------------------------------


class AttemptFailed(Exception):
    """Raised to Powertools' batch processor so the record is reported as a batch item failure."""


# The container's deliverer and its thread pool, shut down by RUNTIME.reset().
_default: Slot[Deliverer] = RUNTIME.slot(
    lambda: Deliverer(), close=lambda deliverer: deliverer.executor.shutdown(wait=False)
)


def default_deliverer() -> Deliverer:
    return _default.get()


def emit_metrics(attempt: Attempt) -> None:
    if attempt.outcome == "delivered":
        metrics.add_metric(name="PushDelivered", unit=MetricUnit.Count, value=1)
        metrics.add_metric(
            name="PushLatency", unit=MetricUnit.Milliseconds, value=attempt.elapsed_ms
        )
    elif attempt.outcome == "duplicate":
        metrics.add_metric(name="PushDuplicateSkipped", unit=MetricUnit.Count, value=1)
    elif attempt.outcome == "rejected":
        metrics.add_metric(name="PushRejected", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="PushDeadLettered", unit=MetricUnit.Count, value=1)
    else:
        metrics.add_metric(name="PushAttemptFailed", unit=MetricUnit.Count, value=1)
        if attempt.outcome == "dead_lettered":
            metrics.add_metric(name="PushDeadLettered", unit=MetricUnit.Count, value=1)


async def deliver_record(
    record: SQSRecord, lambda_context: LambdaContext | None = None
) -> dict[str, Any]:
    """Powertools AsyncBatchProcessor record handler: deliver on a worker thread."""
    deliverer = default_deliverer()  # built on the loop's thread, before any worker needs it
    loop = asyncio.get_running_loop()
    attempt = await loop.run_in_executor(
        deliverer.executor, deliverer.handle, record, lambda_context
    )
    emit_metrics(attempt)  # on the loop's thread: Metrics is not thread-safe
    if not attempt.ok:
        raise AttemptFailed(f"attempt {attempt.number} of {attempt.message_id}: {attempt.outcome}")
    return attempt.to_item()
