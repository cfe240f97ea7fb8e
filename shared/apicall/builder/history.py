"""What ran, as the builder shows it: executions (the history), push deliveries, fetch jobs and the
records they stored; and the two things a builder does about them, replaying a dead-lettered push
and running a fetch job now.

Everything is read in the caller's workspace and nowhere else: each workspace's history, push
attempts, fetch state and records have keys of their own (apicall.core.workspaces), and a list's
`next` token is checked against the partition it is given to. Lists are one DynamoDB Query per
page, never a Scan.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from apicall.core.errors import ConfigError, InvalidRequest, NotFound
from apicall.core.models import MAX_RECORD_KEY_BYTES, Contract, FetchJob
from apicall.core.runtime import RUNTIME
from apicall.core.settings import get_settings
from apicall.core.store import (
    DEFAULT_PAGE_LIMIT,
    TTL_ATTRIBUTE,
    RunsStore,
    default_runs_store,
    history_key,
    query_page,
)
from apicall.core.workspaces import scoped
from apicall.fetch import lookup
from apicall.fetch.checkpoints import job_state
from apicall.fetch.run import check_job, queue_run, send_continuation
from apicall.push import redrive
from apicall.push.deliverer import attempt_history

# Attributes of a stored item that are the storage's, not the answer's.
_STORAGE_ATTRIBUTES = ("pk", "sk", TTL_ATTRIBUTE)
# What a run id's first 12 hex digits can count: milliseconds since 1970, up to the year 10889.
_MAX_RUN_MS = 16**12 - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# An attempt's outcome -> the push's status, when it is the last attempt.
PUSH_STATUS = {
    "delivered": "delivered",
    "duplicate": "delivered",  # a copy of a message delivered before
    "dead_lettered": "dead_lettered",
    "rejected": "rejected",
    "failed": "pending",  # SQS hands it back for the next attempt
}
PushStatus = Literal["pending", "delivered", "dead_lettered", "rejected"]


# --- bodies and answers (documented in the API's OpenAPI document) -----------------------------


class Stored(BaseModel):
    """An item as stored (credentials already redacted when it was written)."""

    model_config = ConfigDict(extra="allow", defer_build=True)


class Execution(Stored):
    run_id: str
    at: str = Field(description="when it ran, ISO 8601 UTC")


class HistoryPage(Contract):
    items: list[Execution] = Field(description="newest first")
    next: str | None = Field(description="give it back as `next` for the following page")


class PushView(Contract):
    id: str
    status: PushStatus = Field(description="from the outcome of the last attempt")
    attempts: list[Stored] = Field(description="every attempt, oldest first")


class ReplayAnswer(Contract):
    id: str
    replayed: bool


class FetchView(Contract):
    job: str
    runs: list[Stored] = Field(description="the latest run summaries, newest first")
    checkpoint: Stored | None = Field(description="the run in progress, or where the last ended")
    bookmark: Stored | None = Field(description="the incremental bookmark: value, run_id, at")


class FetchRunBody(Contract):
    """`POST /fetches/{job}/run`: the job to run (its `workspace` is the caller's, whatever it
    says)."""

    job: FetchJob


class FetchRunAnswer(Contract):
    job: str
    queued: bool


class StoredRecord(Contract):
    key: str = Field(description="the record key (the sort key it is stored under)")
    record: dict[str, Any] = Field(description="the stored fields, `_fetched_at` and `_run_id`")


class RecordsPage(Contract):
    items: list[StoredRecord] = Field(description="in key order")
    next: str | None


# --- history -------------------------------------------------------------------------------------


def list_history(
    workspace: str,
    *,
    connection: str | None = None,
    route: str | None = None,
    since: str | None = None,
    until: str | None = None,
    limit: int = DEFAULT_PAGE_LIMIT,
    next_token: str | None = None,
    store: RunsStore | None = None,
) -> dict[str, Any]:
    """One page of the workspace's executions, newest first: one Query.

    `since` and `until` (ISO 8601, inclusive, to the millisecond; a time without an offset is
    UTC) bound the sort key, since a run id begins with its time. `connection` and `route`
    filter what the Query reads, so a page may hold fewer than `limit` items, even none, and
    still have a `next`.
    """
    from boto3.dynamodb.conditions import Attr

    store = store if store is not None else default_runs_store()
    start, end = _read_time(since, "since"), _read_time(until, "until")
    low = _run_id_bound(start, "0") if start is not None else None
    high = _run_id_bound(end, "f") if end is not None else None
    if low is not None and high is not None and low > high:
        return {"items": [], "next": None}  # an empty range; DynamoDB refuses one
    # Expired items linger until DynamoDB deletes them (within days); they are gone here.
    condition = Attr(TTL_ATTRIBUTE).not_exists() | Attr(TTL_ATTRIBUTE).gte(int(_now().timestamp()))
    if connection is not None:
        condition &= Attr("connection").eq(connection)
    if route is not None:
        condition &= Attr("route").eq(route)
    page = query_page(
        store.table,
        history_key(workspace),
        sk_from=low,
        sk_to=high,
        newest_first=True,
        limit=limit,
        next_token=next_token,
        filter=condition,
    )
    return {"items": [_answered(item) for item in page.items], "next": page.next}


def execution(workspace: str, run_id: str, *, store: RunsStore | None = None) -> dict[str, Any]:
    """One execution of the workspace: one GetItem."""
    store = store if store is not None else default_runs_store()
    item = store.execution(workspace, run_id)
    if item is None:
        raise NotFound("no execution of that run_id in this workspace", field="run_id")
    return _answered(item)


def _read_time(text: str | None, field: str) -> datetime | None:
    """An ISO 8601 date and time (`2026-01-31T09:30:00Z`; without an offset, UTC), or
    InvalidRequest naming `field`."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.upper())
    except ValueError:
        raise InvalidRequest(
            f"{field} must be an ISO 8601 date and time, like 2026-01-31T09:30:00Z", field=field
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _run_id_bound(moment: datetime, fill: str) -> str:
    """The smallest ("0") or largest ("f") run id of `moment`'s millisecond."""
    ms = (moment - _EPOCH) // timedelta(milliseconds=1)
    return f"{min(max(ms, 0), _MAX_RUN_MS):012x}" + fill * 20


def _now() -> datetime:
    return datetime.now(UTC)


# --- pushes --------------------------------------------------------------------------------------


def push_status(workspace: str, push_id: str, *, store: RunsStore | None = None) -> dict[str, Any]:
    """The delivery of Push message `push_id`: every attempt and the status the last one left.

    After a replay the status stays what the last attempt left until the push function makes
    the next attempt.
    """
    attempts = attempt_history(push_id, store, workspace=workspace)
    if not attempts:
        raise NotFound("no attempt of a push with that id in this workspace", field="id")
    last = attempts[-1].get("outcome")
    return {
        "id": push_id,
        "status": PUSH_STATUS.get(str(last), "pending"),
        "attempts": [_answered(attempt) for attempt in attempts],
    }


def _boto3_sqs() -> Any:
    import boto3

    return boto3.client("sqs")


_sqs = RUNTIME.slot(_boto3_sqs)


def replay_push(
    workspace: str,
    push_id: str,
    *,
    sqs: Any = None,
    time_left_ms: Callable[[], int] | None = None,
) -> dict[str, Any]:
    """Move the dead letter of `push_id` in the workspace back to the push queue
    (apicall.push.redrive.replay: a bounded look through the DLQ)."""
    settings = get_settings()
    if not settings.push_dlq_url or not settings.push_queue_url:
        raise ConfigError("PUSH_DLQ_URL and PUSH_QUEUE_URL must be set", field="PUSH_DLQ_URL")
    result = redrive.replay(
        sqs if sqs is not None else _sqs.get(),
        settings.push_dlq_url,
        settings.push_queue_url,
        push_id,
        workspace=workspace,
        time_left_ms=time_left_ms,
    )
    if not result.found:
        message = "no dead letter of a push with that id in this workspace"
        if not result.complete:
            message += (
                f" among the {result.looked_at} looked at of about {result.depth} dead letters;"
                " an operator's `make redrive` looks through them all"
            )
        raise NotFound(message, field="id")
    return {"id": push_id, "replayed": True}


# --- fetch jobs ----------------------------------------------------------------------------------


def fetch_status(workspace: str, job: str, *, store: RunsStore | None = None) -> dict[str, Any]:
    """The job's latest runs (newest first), its checkpoint and its bookmark."""
    store = store if store is not None else default_runs_store()
    state = job_state(store, scoped(workspace, job))
    if state.empty:
        raise NotFound("no run of that fetch job in this workspace", field="job")
    return {
        "job": job,
        "runs": state.runs,
        "checkpoint": state.checkpoint,
        "bookmark": state.bookmark,
    }


def run_fetch_now(
    workspace: str,
    job: str,
    body: FetchRunBody,
    *,
    send: Callable[[dict[str, Any]], None] = send_continuation,
) -> dict[str, Any]:
    """Have the fetch function run the job now, in the caller's workspace, as its schedule
    would: start a run, or resume the one in progress (apicall.fetch.run.queue_run).

    The job comes in the body: its definition lives in the EventBridge schedule that runs it,
    which is not looked up (rules, their targets and their inputs, per call). The body's
    `workspace` is replaced by the caller's: a job runs only where its caller works.
    """
    if body.job.job != job:
        raise InvalidRequest("job.job must be the job named in the path", field="job.job")
    fetch = body.job.model_copy(update={"workspace": workspace})
    check_job(fetch, field="job")
    queue_run(fetch, send=send)
    return {"job": job, "queued": True}


# --- records -------------------------------------------------------------------------------------


def list_records(
    workspace: str,
    job: str,
    *,
    limit: int = DEFAULT_PAGE_LIMIT,
    next_token: str | None = None,
    table: Any = None,
) -> dict[str, Any]:
    """One page of the records the job stored, in key order: one Query."""
    page = lookup.records_page(job, workspace, limit=limit, next_token=next_token, table=table)
    return {"items": page.items, "next": page.next}


def record(workspace: str, job: str, key: str, *, table: Any = None) -> dict[str, Any]:
    """One record the job stored: one GetItem."""
    found = None
    if len(key.encode(errors="replace")) <= MAX_RECORD_KEY_BYTES:  # else none can be stored
        found = lookup.lookup(job, key, workspace, table=table)
    if found is None:
        raise NotFound(
            "no record of that key stored by that fetch job in this workspace", field="key"
        )
    return found


def _answered(item: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in item.items() if name not in _STORAGE_ATTRIBUTES}
