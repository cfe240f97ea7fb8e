"""Scheduled fetches: follow a FetchJob's pagination to the end and upsert every record.

One run of a job may span several invocations. Its state lives in RunsTable (`fetch#<job>`):

    sk checkpoint      the run in progress: position of the next page, counts, lease
    sk bookmark        the incremental bookmark of the last completed run
    sk run#<run_id>    the run summary: pages, records, skipped, elapsed, status, error
                       (run ids begin with the time, so the newest run sorts last)

After every written page the checkpoint moves to the next page, so a run that crashes resumes
there on the next invocation, refetching at most the page it was on. When the Lambda's time runs
low the run saves its position and hands the rest to a new invocation through the continuation
queue. A lease on the checkpoint keeps two invocations (a schedule and a continuation, say) from
running the same job at once. The same queue also carries `{"fetch", "start": true}`, a run
asked for now (the test API's POST /fetches/{job}/run).

The next page is requested (in a worker thread) while the current one is mapped and written.
"""

from __future__ import annotations

import json
import math
import re
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

from pydantic import ValidationError

from apicall.core import redaction
from apicall.core.connections import connection_for, load_connection
from apicall.core.errors import (
    ApicallError,
    BlockedURL,
    ConfigError,
    InvalidResponse,
    check_json_input,
    config_error_from,
    field_path,
    parse_json_input,
)
from apicall.core.models import Connection, FetchJob
from apicall.core.observability import MetricUnit, logger, metrics
from apicall.core.settings import get_settings
from apicall.core.store import RecordsWriter, RunsStore, WriteReport, default_runs_store
from apicall.core.workspaces import scoped
from apicall.fetch.checkpoints import Checkpoints, LeaseLost, RunState, job_fingerprint, now_iso
from apicall.fetch.pagination import (
    Page,
    paginator_for,
    storable_position,
    with_params,
)
from apicall.fetch.records import (
    MAX_REPORTED_SKIPS,
    FetchedPage,
    MappedPage,
    PageFetcher,
    RecordMapper,
    later,
)
from apicall.http import client
from apicall.request import jsonpath, templating
from apicall.request.execute import check_spec, new_run_id

# A page whose body is under this size cannot hold a record near DynamoDB's 400 KB item limit.
SMALL_PAGE_BYTES = 300 * 1024
DEFAULT_RESERVE_MS = 10_000
NO_CONTEXT_LEASE_S = 900

ConnectionLoader = Callable[[str], Connection]
Continuation = Callable[[dict[str, Any]], None]


class Writer(Protocol):
    calls: int

    def write(self, items: list[dict[str, Any]], *, check_size: bool = True) -> WriteReport: ...


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


def send_continuation(message: dict[str, Any]) -> None:
    """Queue the rest of a run for a new invocation of the fetch function."""
    import boto3

    queue_url = get_settings().fetch_continuation_queue_url
    if not queue_url:
        raise ConfigError(
            "FETCH_CONTINUATION_QUEUE_URL is not set", field="FETCH_CONTINUATION_QUEUE_URL"
        )
    boto3.client("sqs").send_message(QueueUrl=queue_url, MessageBody=json.dumps(message))


def queue_run(job: FetchJob, *, send: Continuation = send_continuation) -> None:
    """Have the fetch function run `job` now, as its schedule would (start a run, or resume the
    one in progress): `{"fetch": job, "start": true}` on the continuation queue.

    The queue rather than an asynchronous invoke, for what it gives a hand-off (see
    template.yaml): a run that fails for want of capacity is received again, and one that keeps
    failing lands in the continuation DLQ, which raises an alarm.
    """
    send({"fetch": _job_message(job), "start": True})


def run_fetch(
    job: FetchJob,
    *,
    run_id: str | None = None,
    context: Any = None,
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
    checkpoints = Checkpoints(
        runs or default_runs_store(), scoped(job.workspace, job.job), uuid.uuid4().hex
    )
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
        status, error = run.go(connections, continue_with)
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
        # Time-ordered, so a job's run summaries (sk run#<run_id>) sort newest last.
        run_id=new_run_id(),
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
        self, connections: ConnectionLoader, continue_with: Continuation
    ) -> tuple[str, dict[str, Any] | None]:
        self.checkpoints.save_summary(self.summary("running", None))
        try:
            fetcher = self._fetcher(connections)
            mapper = RecordMapper(self.job, self.state.run_id)
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fetch-page") as pool:
                return self._pages(fetcher, mapper, pool, continue_with)
        except ApicallError as error:
            logger.warning(
                "fetch failed",
                extra={"job": self.job.job, "page": self.state.pages + 1, "kind": error.kind},
            )
            return "failed", self._error(error)

    def _fetcher(self, connections: ConnectionLoader) -> PageFetcher:
        spec = self.job.request
        connection = (
            connection_for(
                spec.connection,
                field="request.connection",
                loader=connections,
                workspace=self.job.workspace,
            )
            if spec.connection
            else Connection()
        )
        base = templating.render_request(spec, {}, None, connection if spec.connection else None)
        name = scoped(self.job.workspace, spec.connection) if spec.connection else None
        http = client.client_for(connection, name, store=self.checkpoints.runs)
        self.secrets = http.secret_values(base.url)
        incremental = self.job.incremental
        if incremental and self.state.bookmark_sent is not None:
            base = with_params(
                base,
                {incremental.param: self.state.bookmark_sent},
                incremental.location,
                field="incremental.in",
            )
        return PageFetcher(self.job, http, base, paginator_for(self.job.pagination))

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
            self.secrets = fetcher.http.secret_values(fetcher.base.url)
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
        items = redaction.redact(mapped.items, self.secrets)
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
            "message": redaction.redact(error.message, self.secrets),
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
            "updated_at": now_iso(),
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
        jsonpath.check_path(path, field=f"{prefix}{name}")


def fetch_scheduled(event: Any, context: Any = None, **options: Any) -> dict[str, Any]:
    """The schedule's FetchJob: start a run, or resume the one in progress."""
    try:
        job = parse_job(event)
    except ConfigError as error:
        logger.error("invalid fetch job", extra={"field": error.field, "error": error.message})
        return {"status": "failed", "error": _error_info(error)}
    return run_fetch(job, context=context, **options)


# Run ids are hex (apicall.request.execute.new_run_id); anything else came from no hand-off.
_RUN_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
# RunsTable partition of continuation messages that were malformed, one item per message.
REJECTED_CONTINUATIONS = "fetch-rejected"


def parse_continuation(body: Any) -> tuple[FetchJob, str | None]:
    """The job and run id of a continuation message `{"fetch": FetchJob, "run_id"}`, or the job
    and None for `{"fetch": FetchJob, "start": true}` (run it now, see `queue_run`)."""
    if not isinstance(body, str):
        raise ConfigError("the continuation message has no body (a string)", field="body")
    message = parse_json_input(body, field="body", what="the continuation message body")
    if not isinstance(message, dict):
        raise ConfigError("the continuation message body must be a JSON object", field="body")
    for name in message:
        if name not in ("fetch", "run_id", "start"):
            where = field_path((name,))
            raise ConfigError(
                f"{where}: not a field of a continuation message (fetch, run_id, start)",
                field=where,
            )
    if "fetch" not in message:
        raise ConfigError("the continuation message has no fetch job", field="fetch")
    job = parse_job(message["fetch"], field="fetch")
    if "start" in message:
        if message["start"] is not True or "run_id" in message:
            raise ConfigError("start must be true, and comes without a run_id", field="start")
        return job, None
    run_id = message.get("run_id")
    if not isinstance(run_id, str) or not _RUN_ID.match(run_id):
        raise ConfigError("run_id must be the id of the run to resume", field="run_id")
    return job, run_id


def fetch_continuation(
    body: Any, context: Any = None, *, message_id: str | None = None, **options: Any
) -> dict[str, Any]:
    """A continuation message `{"fetch": FetchJob, "run_id"}`: resume that run; or
    `{"fetch": FetchJob, "start": true}`: run the job as its schedule would.

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
    item: dict[str, Any] = {"error": info, "sqs_message_id": message_id, "at": now_iso()}
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
