"""Scheduled fetches: follow a FetchJob's pagination to the end and upsert every record.

One run of a job may span several invocations. Its state lives in RunsTable (`fetch#<job>`):

    sk checkpoint      the run in progress: position of the next page, counts, lease
    sk bookmark        the incremental bookmark of the last completed run
    sk run#<run_id>    the run summary: pages, records, skipped, elapsed, status, error

After every written page the checkpoint moves to the next page, so a run that crashes resumes
there on the next invocation, refetching at most the page it was on. When the Lambda's time runs
low the run saves its position and hands the rest to a new invocation through the continuation
queue. A lease on the checkpoint keeps two invocations (a schedule and a continuation, say) from
running the same job at once.

The next page is requested (in a worker thread) while the current one is mapped and written.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import httpx
from pydantic import ValidationError

from apicall import auth, client, mapping, templating
from apicall.connections import connection_for, load_connection
from apicall.errors import (
    ApicallError,
    BlockedURL,
    ConfigError,
    InvalidResponse,
    UpstreamStatusError,
    check_json_input,
    config_error_from,
    field_path,
    parse_json_input,
)
from apicall.execute import check_spec
from apicall.models import Connection, FetchJob
from apicall.observability import MetricUnit, logger, metrics
from apicall.pagination import (
    Page,
    Paginator,
    Position,
    paginator_for,
    storable_position,
    with_params,
)
from apicall.ratelimit import RateLimiter
from apicall.settings import get_settings
from apicall.store import RecordsWriter, RunsStore, WriteReport, default_runs_store, to_dynamo

RESERVED_ATTRIBUTES = ("pk", "sk", "_fetched_at", "_run_id")
MAX_KEY_BYTES = 1024  # DynamoDB's limit for a sort key
MAX_REPORTED_SKIPS = 100  # the summary lists this many skipped records; the count is exact
# A page whose body is under this size cannot hold a record near DynamoDB's 400 KB item limit.
SMALL_PAGE_BYTES = 300 * 1024
DEFAULT_RESERVE_MS = 10_000
NO_CONTEXT_LEASE_S = 900

ConnectionLoader = Callable[[str], Connection]
Continuation = Callable[[dict[str, Any]], None]


class Writer(Protocol):
    calls: int

    def write(self, items: list[dict[str, Any]], *, check_size: bool = True) -> WriteReport: ...


class LeaseLost(Exception):
    """Another invocation took over the run (this one outlived its lease)."""


# --- one page ---


@dataclass
class FetchedPage:
    position: Position
    body: Any
    records: list[Any]
    headers: httpx.Headers
    url: str
    digest: str
    size: int


def records_at(body: Any, path: str) -> list[Any]:
    """The record list at `path`; a missing list is an error, `null` an empty page."""
    field_name = "records.path"
    if path.endswith("[*]"):
        containers = mapping.extract(body, path[:-3] or "$", field=field_name)
        if not containers:
            raise InvalidResponse(f"the page has no record list at {path[:-3]}", field=field_name)
        container = containers[0]
        if container is None:
            return []
        if isinstance(container, list):
            return container
        if isinstance(container, dict):
            return list(container.values())
        raise InvalidResponse(
            f"{path[:-3]} is a {type(container).__name__}, not a list of records", field=field_name
        )
    found = mapping.extract(body, path, field=field_name)
    if not found:
        raise InvalidResponse(f"the page has no record list at {path}", field=field_name)
    if len(found) == 1 and isinstance(found[0], list):
        return found[0]
    if len(found) == 1 and found[0] is None:
        return []
    return found


class PageFetcher:
    """Sends one page's request through the layer's client and reads its records."""

    def __init__(
        self,
        job: FetchJob,
        connection: Connection,
        base: templating.OutgoingRequest,
        paginator: Paginator,
        *,
        http_auth: httpx.Auth | None,
        http_client: httpx.Client | None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.job = job
        self.connection = connection
        self.base = base
        self.paginator = paginator
        self.http_auth = http_auth
        self.http_client = http_client
        self.limiter = limiter

    def fetch(self, position: Position) -> FetchedPage:
        spec = self.job.request
        response = client.send(
            self.paginator.request_for(self.base, position),
            self.connection,
            auth=self.http_auth,
            timeout_s=spec.timeout_s or self.connection.timeout_s,
            retry=self.connection.retry,
            max_bytes=spec.response.max_bytes,
            truncate=False,
            follow_redirects=spec.follow_redirects,
            max_redirects=spec.max_redirects,
            client=self.http_client,
            connection_name=spec.connection,
            limiter=self.limiter,
        )
        if not client.is_success(response.status, spec.success_codes):
            reason = spec.error_message(response.status) or httpx.codes.get_reason_phrase(
                response.status
            )
            raise UpstreamStatusError(f"HTTP {response.status} {reason}", status=response.status)
        content_type = response.headers.get("content-type")
        body, kind = mapping.parse_body(response.content, content_type, spec.response.format)
        if kind != "json":
            raise InvalidResponse(
                f"the page is not JSON (content-type {content_type or 'none'})",
                field="request.response.format",
                status=response.status,
            )
        return FetchedPage(
            position=position,
            body=body,
            records=records_at(body, self.job.records.path),
            headers=response.headers,
            url=response.url,
            digest=hashlib.blake2b(response.content, digest_size=16).hexdigest(),
            size=len(response.content),
        )


# --- records -> items ---


@dataclass
class MappedPage:
    items: list[dict[str, Any]]
    skipped: list[tuple[str, str]]  # (record key or position, reason)
    newest: Any = None  # the largest incremental field value on the page


class RecordMapper:
    """Turns a page's records into RecordsTable items: key, typed fields, run stamp."""

    def __init__(self, job: FetchJob, run_id: str) -> None:
        self.job = job
        self.run_id = run_id
        fields = job.records.fields
        self.fields = mapping.FieldMapper(fields, where="records.fields") if fields else None
        for index, spec in enumerate(job.records.fields):
            if spec.name in RESERVED_ATTRIBUTES:
                raise ConfigError(
                    f"field name {spec.name!r} is reserved for the records table",
                    field=f"records.fields[{index}].name",
                )

    def map_page(self, records: list[Any], page_number: int) -> MappedPage:
        job = self.job
        fetched_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        items: dict[str, dict[str, Any]] = {}  # by key: a key twice on a page is one upsert
        skipped: list[tuple[str, str]] = []
        newest = None
        for index, record in enumerate(records):
            where = f"page {page_number} record {index}"
            if not isinstance(record, dict):
                skipped.append((where, f"is {type(record).__name__}, not an object"))
                continue
            key, problem = self._key(record)
            if problem:
                skipped.append((where, problem))
                continue
            values = self.fields.map(record).values if self.fields else record
            items[key] = {**values, "pk": job.job, "sk": key}
            items[key]["_fetched_at"] = fetched_at
            items[key]["_run_id"] = self.run_id
            if job.incremental:
                found = mapping.extract(record, job.incremental.field, field="incremental.field")
                if found and found[0] is not None and later(found[0], newest):
                    newest = found[0]
        return MappedPage(list(items.values()), skipped, newest)

    def _key(self, record: dict[str, Any]) -> tuple[str, str | None]:
        path = self.job.records.key
        found = mapping.extract(record, path, field="records.key")
        value = found[0] if found else None
        if value is None or value == "":
            return "", f"has no key at {path}"
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            return "", f"key at {path} is {type(value).__name__}, not a string or number"
        if isinstance(value, float):
            if not math.isfinite(value):
                return "", f"key at {path} is not a finite number"
            value = int(value) if value.is_integer() else value
        key = str(value)
        if len(key.encode()) > MAX_KEY_BYTES:
            return "", f"key at {path} is longer than {MAX_KEY_BYTES} bytes"
        return key, None


def later(value: Any, than: Any) -> bool:
    """`value` comes after `than` (None comes first): as numbers, ISO times, or else text."""
    if than is None:
        return True
    numbers = (int, float)
    if isinstance(value, numbers) and isinstance(than, numbers):
        return value > than
    a, b = _as_time(value), _as_time(than)
    if a is not None and b is not None:
        return a > b
    return str(value) > str(than)


def _as_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


# --- the run ---


@dataclass
class RunState:
    """What the checkpoint holds; enough to resume the run in another invocation."""

    run_id: str
    fingerprint: str
    position: Position
    started_at: float
    status: str = "running"
    pages: int = 0
    records: int = 0
    skipped: int = 0
    skipped_records: list[list[str]] = field(default_factory=list)
    page_hash: str | None = None
    bookmark_sent: Any = None
    newest_seen: Any = None
    invocations: int = 0

    def to_item(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> RunState:
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in item.items() if k in known})


def job_fingerprint(job: FetchJob) -> str:
    """Changes when the job would page differently; a checkpoint of another shape is not resumed."""
    shape = job.model_dump(mode="json", include={"request", "pagination", "records", "incremental"})
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:16]


class Budget:
    """The invocation's time, from the Lambda context; None means unlimited."""

    def __init__(self, context: Any, reserve_ms: int) -> None:
        self.context = context
        self.reserve_ms = reserve_ms
        self.slowest_page_ms = 0.0

    def remaining_ms(self) -> float:
        if self.context is None:
            return math.inf
        return float(self.context.get_remaining_time_in_millis())

    def page_took(self, ms: float) -> None:
        self.slowest_page_ms = max(self.slowest_page_ms, ms)

    def room_for_another_page(self) -> bool:
        # The next page still has to arrive and be written, then the checkpoint and hand-off.
        return self.remaining_ms() > self.reserve_ms + 2 * self.slowest_page_ms

    def lease_s(self) -> float:
        remaining = self.remaining_ms()
        return NO_CONTEXT_LEASE_S if math.isinf(remaining) else remaining / 1000 + 5


class Checkpoints:
    """The run's checkpoint, bookmark and summary items in RunsTable, guarded by a lease."""

    def __init__(self, runs: RunsStore, job: str, owner: str) -> None:
        self.runs = runs
        self.pk = f"fetch#{job}"
        self.owner = owner

    def load(self) -> RunState | None:
        item = self.runs.get(self.pk, "checkpoint")
        return RunState.from_item(item) if item else None

    def acquire(self, state: RunState, lease_s: float) -> bool:
        """Save `state` and take the lease, unless another live invocation holds it."""
        now = time.time()
        try:
            self._put(
                state,
                lease_s,
                condition="attribute_not_exists(pk) OR lease_until < :now OR lease_owner = :owner",
                values={":now": to_dynamo(now), ":owner": self.owner},
            )
        except LeaseLost:
            return False
        return True

    def save(self, state: RunState, lease_s: float) -> None:
        """Save `state`, keeping the lease; raises LeaseLost if another invocation took it."""
        self._put(state, lease_s, condition="lease_owner = :owner", values={":owner": self.owner})

    def release(self, state: RunState) -> None:
        self._put(state, None, condition="lease_owner = :owner", values={":owner": self.owner})

    def _put(
        self, state: RunState, lease_s: float | None, *, condition: str, values: dict[str, Any]
    ) -> None:
        from botocore.exceptions import ClientError

        lease_until = time.time() + lease_s if lease_s is not None else 0
        item = {"pk": self.pk, "sk": "checkpoint", **state.to_item()}
        item.update(lease_owner=self.owner, lease_until=lease_until, updated_at=time.time())
        try:
            self.runs.table.put_item(
                Item=to_dynamo(item),
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise LeaseLost() from exc
            raise

    def bookmark(self) -> Any:
        item = self.runs.get(self.pk, "bookmark")
        return item.get("value") if item else None

    def save_bookmark(self, value: Any, run_id: str) -> None:
        self.runs.put(self.pk, "bookmark", {"value": value, "run_id": run_id, "at": _now_iso()})

    def save_summary(self, summary: dict[str, Any]) -> None:
        ttl_s = get_settings().history_ttl_days * 86400
        self.runs.put(self.pk, f"run#{summary['run_id']}", summary, ttl_s=ttl_s)

    def summary(self, run_id: str) -> dict[str, Any] | None:
        return self.runs.get(self.pk, f"run#{run_id}")


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def send_continuation(message: dict[str, Any]) -> None:
    """Queue the rest of a run for a new invocation of the fetch function."""
    import boto3

    queue_url = get_settings().fetch_continuation_queue_url
    if not queue_url:
        raise ConfigError(
            "FETCH_CONTINUATION_QUEUE_URL is not set", field="FETCH_CONTINUATION_QUEUE_URL"
        )
    boto3.client("sqs").send_message(QueueUrl=queue_url, MessageBody=json.dumps(message))


def run_fetch(
    job: FetchJob,
    *,
    run_id: str | None = None,
    context: Any = None,
    http_client: httpx.Client | None = None,
    runs: RunsStore | None = None,
    writer: Writer | None = None,
    connections: ConnectionLoader = load_connection,
    continue_with: Continuation = send_continuation,
    reserve_ms: int | None = None,
) -> dict[str, Any]:
    """Run (or resume) `job` for as long as the invocation allows; returns the run summary.

    `run_id` is given by a continuation: it resumes that run only if it is still the one in
    progress. Bad input and bad pages end the run with a typed error in the summary; they are
    never raised.
    """
    started = time.monotonic()
    checkpoints = Checkpoints(runs or default_runs_store(), job.job, uuid.uuid4().hex)
    budget = Budget(context, DEFAULT_RESERVE_MS if reserve_ms is None else reserve_ms)
    state = _state_to_run(job, checkpoints, run_id)
    if state is None:
        logger.info("continuation of a finished run ignored", extra={"job": job.job})
        return {"job": job.job, "run_id": run_id, "status": "stale"}
    state.invocations += 1
    if not checkpoints.acquire(state, budget.lease_s()):
        logger.info("another invocation is running this job", extra={"job": job.job})
        return {"job": job.job, "run_id": state.run_id, "status": "busy"}
    run = FetchRun(job, state, checkpoints, budget, writer or RecordsWriter())
    try:
        status, error = run.go(http_client, connections, continue_with)
    except LeaseLost:
        logger.warning("lost the lease; another invocation took over", extra={"job": job.job})
        return {"job": job.job, "run_id": state.run_id, "status": "superseded"}
    except Exception as exc:
        # Not an error of the job or the API: record it, free the run to be resumed, and let the
        # trigger retry (the checkpoint keeps every written page).
        run.finish("failed", {"kind": "internal", "message": type(exc).__name__})
        raise
    finally:
        _emit_metrics(run, time.monotonic() - started)
    return run.finish(status, error)


def _state_to_run(job: FetchJob, checkpoints: Checkpoints, run_id: str | None) -> RunState | None:
    saved = checkpoints.load()
    fingerprint = job_fingerprint(job)
    resumable = saved is not None and saved.status == "running" and saved.fingerprint == fingerprint
    if run_id is not None:
        return saved if resumable and saved is not None and saved.run_id == run_id else None
    if resumable and saved is not None:
        return saved
    return RunState(
        run_id=uuid.uuid4().hex,
        fingerprint=fingerprint,
        position=paginator_for(job.pagination).first_position(),
        started_at=time.time(),
        bookmark_sent=checkpoints.bookmark() if job.incremental else None,
    )


class FetchRun:
    """One invocation's share of a run: from the checkpoint to the end, an error or the deadline."""

    def __init__(
        self,
        job: FetchJob,
        state: RunState,
        checkpoints: Checkpoints,
        budget: Budget,
        writer: Writer,
    ) -> None:
        self.job = job
        self.state = state
        self.checkpoints = checkpoints
        self.budget = budget
        self.writer = writer
        self.pages_now = 0
        self.records_now = 0
        self.stop_reason: str | None = None
        self.secrets: set[str] = set()
        self.finished = False

    def go(
        self,
        http_client: httpx.Client | None,
        connections: ConnectionLoader,
        continue_with: Continuation,
    ) -> tuple[str, dict[str, Any] | None]:
        self.checkpoints.save_summary(self.summary("running", None))
        try:
            fetcher = self._fetcher(http_client, connections)
            mapper = RecordMapper(self.job, self.state.run_id)
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fetch-page") as pool:
                return self._pages(fetcher, mapper, pool, continue_with)
        except ApicallError as error:
            logger.warning(
                "fetch failed",
                extra={"job": self.job.job, "page": self.state.pages + 1, "kind": error.kind},
            )
            return "failed", self._error(error)

    def _fetcher(
        self, http_client: httpx.Client | None, connections: ConnectionLoader
    ) -> PageFetcher:
        spec = self.job.request
        connection = (
            connection_for(spec.connection, field="request.connection", loader=connections)
            if spec.connection
            else Connection()
        )
        base = templating.render_request(spec, {}, None, connection if spec.connection else None)
        self.secrets = auth.secret_values(connection, url=base.url)
        incremental = self.job.incremental
        if incremental and self.state.bookmark_sent is not None:
            base = with_params(
                base,
                {incremental.param: self.state.bookmark_sent},
                incremental.location,
                field="incremental.in",
            )
        return PageFetcher(
            self.job,
            connection,
            base,
            paginator_for(self.job.pagination),
            http_auth=auth.auth_for(spec.connection, connection, store=self.checkpoints.runs)
            if spec.connection
            else None,
            http_client=http_client,
            limiter=RateLimiter(self.checkpoints.runs.table) if connection.rate_limit else None,
        )

    def _pages(
        self,
        fetcher: PageFetcher,
        mapper: RecordMapper,
        pool: ThreadPoolExecutor,
        continue_with: Continuation,
    ) -> tuple[str, dict[str, Any] | None]:
        state = self.state
        page_started = time.monotonic()
        pending: Future[FetchedPage] = pool.submit(fetcher.fetch, state.position)
        while True:
            page = pending.result()
            # An OAuth access token is known once the first page has been fetched.
            self.secrets = auth.secret_values(fetcher.connection, url=fetcher.base.url)
            number = state.pages + 1
            if page.digest == state.page_hash and page.records:
                raise InvalidResponse(
                    f"page {number} is identical to page {number - 1}; "
                    "stopping instead of fetching the same page forever",
                    field="pagination",
                )
            view = Page(page.body, page.headers, page.url, len(page.records))
            following = fetcher.paginator.next_position(page.position, view)
            if following is not None and number >= self.job.max_pages:
                following, self.stop_reason = None, "max_pages"
            elif following is None:
                self.stop_reason = "last_page"
            handing_off = following is not None and not self.budget.room_for_another_page()
            if following is not None and not handing_off:
                pending = pool.submit(fetcher.fetch, following)  # while this page is written
            self._write(mapper.map_page(page.records, number), page)
            state.position = storable_position(following, self.secrets) if following else {}
            state.page_hash = page.digest
            self.budget.page_took((time.monotonic() - page_started) * 1000)
            page_started = time.monotonic()
            if following is None:
                return "succeeded", None
            self.checkpoints.save(state, self.budget.lease_s())
            if handing_off:
                self._hand_off(continue_with)
                return "continued", None

    def _hand_off(self, continue_with: Continuation) -> None:
        """Free the run and queue the rest; the summary is saved first so it never lags."""
        self.checkpoints.save_summary(self.summary("continued", None))
        self.checkpoints.release(self.state)
        continue_with({"fetch": _job_message(self.job), "run_id": self.state.run_id})
        self.finished = True

    def _write(self, mapped: MappedPage, page: FetchedPage) -> None:
        state = self.state
        # Credentials an API echoes into its records are masked as in every other answer.
        items = auth.redact(mapped.items, self.secrets)
        report = self.writer.write(items, check_size=page.size > SMALL_PAGE_BYTES)
        skipped = mapped.skipped + report.rejected
        state.pages += 1
        state.records += report.written
        state.skipped += len(skipped)
        room = MAX_REPORTED_SKIPS - len(state.skipped_records)
        state.skipped_records.extend([key, reason] for key, reason in skipped[: max(room, 0)])
        if mapped.newest is not None and later(mapped.newest, state.newest_seen):
            state.newest_seen = mapped.newest
        self.pages_now += 1
        self.records_now += report.written

    def _error(self, error: ApicallError) -> dict[str, Any]:
        field = error.field
        if field is None and isinstance(error, BlockedURL):  # the guard knows URLs, not fields
            field = self._url_field()
        return {
            "kind": error.kind,
            "message": auth.redact(error.message, self.secrets),
            "field": field,
            "status": error.status,
            "page": self.state.pages + 1,
        }

    def _url_field(self) -> str:
        """Where the URL of the page being fetched came from."""
        if self.state.pages:
            return "pagination"  # a next link or a cursor of the API's
        spec = self.job.request
        relative = not spec.url.lower().startswith(("http://", "https://"))
        return "request.connection" if spec.connection and relative else "request.url"

    def summary(self, status: str, error: dict[str, Any] | None) -> dict[str, Any]:
        state = self.state
        return {
            "job": self.job.job,
            "run_id": state.run_id,
            "status": status,
            "pages": state.pages,
            "records": state.records,
            "skipped": state.skipped,
            "skipped_records": state.skipped_records,
            "elapsed_ms": int((time.time() - state.started_at) * 1000),
            "invocations": state.invocations,
            "stop_reason": self.stop_reason,
            "bookmark_sent": state.bookmark_sent,
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(state.started_at)),
            "updated_at": _now_iso(),
            "error": error,
        }

    def finish(self, status: str, error: dict[str, Any] | None) -> dict[str, Any]:
        """Record the invocation's end; a completed run advances the bookmark and frees the job."""
        if self.finished:
            return self.summary(status, error)
        self.finished = True
        state = self.state
        if status == "succeeded":
            state.status = "done"
            if self.job.incremental and state.newest_seen is not None:
                newest = state.newest_seen
                if state.bookmark_sent is None or later(newest, state.bookmark_sent):
                    self.checkpoints.save_bookmark(newest, state.run_id)
        self.checkpoints.release(state)
        summary = self.summary(status, error)
        self.checkpoints.save_summary(summary)
        logger.info(
            "fetch " + status,
            extra={k: summary[k] for k in ("job", "run_id", "pages", "records", "skipped")},
        )
        return summary


def _job_message(job: FetchJob) -> dict[str, Any]:
    return job.model_dump(mode="json", by_alias=True, exclude_unset=True)


def _emit_metrics(run: FetchRun, elapsed_s: float) -> None:
    metrics.add_metric(name="FetchPages", unit=MetricUnit.Count, value=run.pages_now)
    metrics.add_metric(name="FetchRecords", unit=MetricUnit.Count, value=run.records_now)
    metrics.add_metric(name="FetchInvocationDuration", unit=MetricUnit.Seconds, value=elapsed_s)
    if run.state.status == "done":
        run_s = time.time() - run.state.started_at
        metrics.add_metric(name="FetchRunDuration", unit=MetricUnit.Seconds, value=run_s)


# --- events ---


def parse_job(data: Any, *, field: str = "") -> FetchJob:
    """A FetchJob from an event, or a ConfigError naming the bad field.

    `field` is where the job sits in its message (`fetch` in a continuation).
    """
    if not isinstance(data, dict):
        raise ConfigError("the fetch job must be a JSON object", field=field or "job")
    check_json_input(data, field=field)
    try:
        job = FetchJob.model_validate(data)
    except ValidationError as exc:
        raise config_error_from(exc, data=data, prefix=field, what="fetch job") from exc
    check_job(job, field=field)
    return job


def check_job(job: FetchJob, *, field: str = "") -> None:
    """Raise ConfigError naming the field for a template or JSONPath of `job` that cannot work,
    before the first page is requested (a POST search would otherwise run for nothing)."""
    prefix = f"{field}." if field else ""
    try:
        check_spec(job.request)
    except ConfigError as error:
        error.field = f"{prefix}{error.field}" if error.field else error.field
        raise
    paths = [("records.path", job.records.path), ("records.key", job.records.key)]
    paths += [(f"records.fields[{i}].path", f.path) for i, f in enumerate(job.records.fields)]
    for name in ("cursor_path", "next_url_path", "total_pages_path"):
        path = getattr(job.pagination, name, None)
        if path:
            paths.append((f"pagination.{name}", path))
    if job.incremental is not None:
        paths.append(("incremental.field", job.incremental.field))
    for name, path in paths:
        mapping.check_path(path, field=f"{prefix}{name}")


def fetch_scheduled(event: Any, context: Any = None, **options: Any) -> dict[str, Any]:
    """The schedule's FetchJob: start a run, or resume the one in progress."""
    try:
        job = parse_job(event)
    except ConfigError as error:
        logger.error("invalid fetch job", extra={"field": error.field, "error": error.message})
        return {"status": "failed", "error": _error_info(error)}
    return run_fetch(job, context=context, **options)


# Run ids are uuid4 hex; anything else did not come from a hand-off.
_RUN_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
# RunsTable partition of continuation messages that were malformed, one item per message.
REJECTED_CONTINUATIONS = "fetch-rejected"


def parse_continuation(body: Any) -> tuple[FetchJob, str]:
    """The job and run id of a continuation message `{"fetch": FetchJob, "run_id"}`."""
    if not isinstance(body, str):
        raise ConfigError("the continuation message has no body (a string)", field="body")
    message = parse_json_input(body, field="body", what="the continuation message body")
    if not isinstance(message, dict):
        raise ConfigError("the continuation message body must be a JSON object", field="body")
    for name in message:
        if name not in ("fetch", "run_id"):
            where = field_path((name,))
            raise ConfigError(
                f"{where}: not a field of a continuation message (fetch, run_id)", field=where
            )
    if "fetch" not in message:
        raise ConfigError("the continuation message has no fetch job", field="fetch")
    job = parse_job(message["fetch"], field="fetch")
    run_id = message.get("run_id")
    if not isinstance(run_id, str) or not _RUN_ID.match(run_id):
        raise ConfigError("run_id must be the id of the run to resume", field="run_id")
    return job, run_id


def fetch_continuation(
    body: Any, context: Any = None, *, message_id: str | None = None, **options: Any
) -> dict[str, Any]:
    """A continuation message `{"fetch": FetchJob, "run_id"}`: resume that run.

    A malformed message is answered, logged and recorded, never raised: no retry can change it,
    so failing it would only send it round to the dead-letter queue.
    """
    try:
        job, run_id = parse_continuation(body)
    except ConfigError as error:
        return _reject_continuation(error, body, message_id, options.get("runs"))
    return run_fetch(job, run_id=run_id, context=context, **options)


def _reject_continuation(
    error: ConfigError, body: Any, message_id: str | None, runs: RunsStore | None
) -> dict[str, Any]:
    info = _error_info(error)
    logger.error(
        "invalid continuation message",
        extra={"message_id": message_id, "field": error.field, "error": error.message},
    )
    item: dict[str, Any] = {"error": info, "sqs_message_id": message_id, "at": _now_iso()}
    item.update(_readable_names(body))
    try:
        store = runs or default_runs_store()
        key = f"{item['at']}#{message_id or uuid.uuid4().hex}"
        ttl_s = get_settings().history_ttl_days * 86400
        store.put(REJECTED_CONTINUATIONS, key, item, ttl_s=ttl_s)
    except Exception as exc:  # the log line above already holds everything
        logger.warning("rejected continuation not recorded", extra={"error": repr(exc)})
    return {"status": "rejected", "error": info}


def _readable_names(body: Any) -> dict[str, str]:
    """The job and run id a malformed message names, when they are plain text, to find it by."""
    try:
        message = json.loads(body)
        job = message["fetch"].get("job")
        names = {"job": job, "run_id": message.get("run_id")}
    except Exception:  # anything at all may be malformed here
        return {}
    return {
        name: value
        for name, value in names.items()
        if isinstance(value, str) and len(value) <= 200 and _RUN_ID.match(value.replace(".", "_"))
    }


def _error_info(error: ApicallError) -> dict[str, Any]:
    return {"kind": error.kind, "message": error.message, "field": error.field}


def is_sqs_event(event: Any) -> bool:
    """An SQS batch as Lambda sends one; anything else is read (and refused) as a FetchJob."""
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list) or not records:
        return False
    return all(
        isinstance(r, dict)
        and r.get("eventSource") == "aws:sqs"
        and isinstance(r.get("messageId"), str)
        for r in records
    )
