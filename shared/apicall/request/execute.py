"""Execute one configured request: build it, send it, classify it, map it, record it.

This is the one place where an error becomes a route: the request function, the test API and the
fetch function all answer through `execute`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx

from apicall.core import redaction
from apicall.core.catalog import CatalogStore
from apicall.core.connections import connection_for, load_connection
from apicall.core.errors import (
    ApicallError,
    CapacityExceeded,
    ConfigError,
    InvalidRequest,
    UpstreamStatusError,
    UpstreamTimeout,
)
from apicall.core.models import (
    Connection,
    ErrorInfo,
    InvokeEvent,
    Outcome,
    RequestSpec,
    no_connection,
)
from apicall.core.observability import MetricUnit, logger, metrics
from apicall.core.store import RunsStore, default_runs_store
from apicall.core.workspaces import scoped
from apicall.http import client
from apicall.request import decoding, entities, jsonpath, mapping, templating

ConnectionLoader = Callable[[str], Connection]

TimeLeft = Callable[[], int]

# Kept back from the invocation's remaining time to write the history and answer: a request cut
# short by the Lambda's own timeout would end as an invocation error, not on the timeout route.
ANSWER_MARGIN_S = 1.0
# Less time than this left for the request is not worth opening a connection for.
MIN_SEND_S = 0.5


def route_for_error(error: ApicallError) -> str:
    if isinstance(error, CapacityExceeded):
        return "max-connection"
    if isinstance(error, UpstreamTimeout):
        return "timeout"
    return "error"


def _route_for_status(status: int, routes: list[str]) -> str:
    return str(status) if str(status) in routes else "other"


def _status_message(spec: RequestSpec, response: client.HttpResponse) -> str:
    custom = spec.error_message(response.status)
    if custom:
        return custom
    reason = httpx.codes.get_reason_phrase(response.status) or "unexpected status"
    return f"HTTP {response.status} {reason}"


def _error_message(spec: RequestSpec, error: ApicallError, route: str) -> str:
    """The route's `errors` message, except for a spec or input mistake: its own message says
    which field to fix, and a message written for an outage would hide it."""
    custom = None if isinstance(error, ConfigError) else spec.error_message(route)
    return custom or error.message


def check_spec(spec: RequestSpec) -> None:
    """Raise ConfigError naming the field for anything in `spec` that can be wrong before any
    value is known: a template or a JSONPath. A mistake found after sending is found too late: a
    POST has already run on the server and its answer would be thrown away.

    A spec still naming an entity is refused: only the request function and the test API
    resolve entities (`apicall.request.entities`), before this check."""
    if spec.entity is not None:
        raise InvalidRequest(
            "request.entity: entities are resolved only by the request function and the test "
            "API; give the request in full here",
            field="request.entity",
        )
    templating.placeholders(spec)
    response = spec.response
    if response.data_path is not None:
        jsonpath.check_path(response.data_path, field="request.response.data_path")
    for index, field in enumerate(response.fields):
        jsonpath.check_path(field.path, field=f"request.response.fields[{index}].path")


def deadline_s(timeout_s: float, time_left_ms: TimeLeft | None) -> float:
    """`timeout_s` capped by the invocation's remaining time, less ANSWER_MARGIN_S.

    Raises UpstreamTimeout when too little time is left to send at all.
    """
    if time_left_ms is None:
        return timeout_s
    left = time_left_ms() / 1000 - ANSWER_MARGIN_S
    if left < MIN_SEND_S:
        raise UpstreamTimeout("too little time left in this invocation to send the request")
    return min(timeout_s, left)


def _host(spec: RequestSpec, outgoing: client.OutgoingRequest | None) -> str | None:
    return urlsplit(outgoing.url if outgoing else spec.url).hostname or None


def new_run_id() -> str:
    """32 hex digits, the first 12 the time in milliseconds: run ids sort by when they ran, so
    a workspace's history is one ordered partition and one execution is found by its id."""
    return f"{int(time.time() * 1000):012x}{uuid.uuid4().hex[:20]}"


class Execution:
    """The state of one execution, so `execute` reads as the steps it takes."""

    def __init__(self, invocation: InvokeEvent, run_id: str) -> None:
        self.invocation = invocation
        self.spec = invocation.request
        self.run_id = run_id
        self.started = time.monotonic()
        self.connection: Connection = no_connection()
        self.outgoing: client.OutgoingRequest | None = None
        self._secrets: set[str] | None = None

    @property
    def secrets(self) -> set[str]:
        """Credentials of the connection and of the URL's userinfo, read once the request is done
        (OAuth tokens included)."""
        if self._secrets is None:
            url = self.outgoing.url if self.outgoing else self.spec.url
            self._secrets = redaction.secret_values(self.connection, url=url)
        return self._secrets

    def secret_headers(self) -> frozenset[str]:
        return redaction.secret_header_names(self.connection)

    def elapsed_ms(self) -> int:
        return int((time.monotonic() - self.started) * 1000)

    def next_step(self, ok: bool) -> str:
        return "continue" if ok or self.spec.on_failure == "continue" else "terminate"

    def all_field_names(self) -> list[str]:
        return [field.name for field in self.spec.response.fields]

    def failed(self, error: ApicallError, *, attempts: int = 0) -> Outcome:
        route = route_for_error(error)
        message = redaction.redact(_error_message(self.spec, error, route), self.secrets)
        return Outcome(
            ok=False,
            route=route,
            next=self.next_step(False),
            status=error.status,
            attempts=attempts,
            elapsed_ms=self.elapsed_ms(),
            skipped_fields=self.all_field_names(),
            error=ErrorInfo(
                kind=error.kind,
                message=message,
                status=error.status,
                field=error.field,
            ),
            run_id=self.run_id,
        )

    def answered(self, response: client.HttpResponse) -> Outcome:
        spec = self.spec
        received = dict(response.headers.items())  # names lowercased, repeats comma-joined
        headers = redaction.redact(
            redaction.redact_headers(received, also=self.secret_headers()), self.secrets
        )
        common: dict[str, Any] = {
            "status": response.status,
            "route": _route_for_status(response.status, spec.routes),
            "attempts": response.attempts,
            "elapsed_ms": self.elapsed_ms(),
            "headers": headers,
            "truncated": response.truncated,
            "run_id": self.run_id,
        }
        body, _kind = decoding.parse_body(
            response.content, received.get("content-type"), spec.response.format
        )
        body = redaction.redact(body, self.secrets)
        if not client.is_success(response.status, spec.success_codes):
            error = UpstreamStatusError(_status_message(spec, response), status=response.status)
            return Outcome(
                ok=False,
                next=self.next_step(False),
                body=body,
                skipped_fields=self.all_field_names(),
                error=ErrorInfo(kind="status", message=error.message, status=response.status),
                **common,
            )
        mapped = mapping.map_response(body, spec.response)
        return Outcome(
            ok=True,
            next="continue",
            body=body,
            data=mapped.data,
            rows=mapped.rows,
            skipped_fields=mapped.skipped_fields,
            warnings=mapped.warnings,
            **common,
        )


def execute(
    invocation: InvokeEvent,
    *,
    store: RunsStore | None = None,
    connections: ConnectionLoader = load_connection,
    retries: bool = True,
    missing_values: str = "error",
    fill_report: dict[str, str] | None = None,
    record_history: bool = True,
    time_left_ms: TimeLeft | None = None,
    catalog: CatalogStore | None = None,
    sent: list[client.OutgoingRequest] | None = None,
) -> Outcome:
    """Run one request and answer its Outcome; never raises for bad input or a bad upstream.

    `time_left_ms` (a Lambda context's `get_remaining_time_in_millis`) caps the request's total
    deadline, so a slow API ends on the timeout route while there is time to answer. A spec
    naming an entity is resolved from `catalog` (default: the container's CatalogTable) in the
    invocation's workspace. `sent`, if given, receives the request as built and handed to the
    client (nothing when the spec and values could not make one).
    """
    run = Execution(invocation, new_run_id())
    store = store if store is not None else default_runs_store()
    outcome = _run(
        run, store, connections, retries, missing_values, fill_report, time_left_ms, catalog
    )
    if sent is not None and run.outgoing is not None:
        sent.append(run.outgoing)
    if record_history:
        _record(run, outcome, store)
    return outcome


def _run(
    run: Execution,
    store: RunsStore,
    connections: ConnectionLoader,
    retries: bool,
    missing_values: str,
    fill_report: dict[str, str] | None,
    time_left_ms: TimeLeft | None,
    catalog: CatalogStore | None,
) -> Outcome:
    spec = run.spec
    workspace = run.invocation.workspace
    try:
        if spec.entity is not None:
            spec = run.spec = entities.resolve(spec, workspace, catalog=catalog)
        check_spec(spec)
        if spec.connection:
            run.connection = connection_for(
                spec.connection,
                field="request.connection",
                loader=connections,
                workspace=workspace,
            )
        # Before the request exists, so a run out of time counts no attempt.
        timeout_s = deadline_s(spec.timeout_s or run.connection.timeout_s, time_left_ms)
        run.outgoing = templating.render_request(
            spec,
            run.invocation.values,
            run.invocation.record,
            run.connection if spec.connection else None,
            missing=missing_values,
            report=fill_report,
        )
        http = client.client_for(
            run.connection,
            scoped(workspace, spec.connection) if spec.connection else None,
            store=store,
        )
        policy = client.SendPolicy(
            timeout_s=timeout_s,
            retry=run.connection.retry if retries else None,
            max_bytes=spec.response.max_bytes,
            truncate=spec.response.format in ("text", "binary"),
            follow_redirects=spec.follow_redirects,
            max_redirects=spec.max_redirects,
        )
        response = http.send(run.outgoing, policy)
        return run.answered(response)
    except ApicallError as error:
        attempts = error.attempts if error.attempts is not None else 1 if run.outgoing else 0
        return run.failed(error, attempts=attempts)


def failed_before_start(error: ConfigError, run_id: str | None = None) -> Outcome:
    """The Outcome for an invocation that could not even be parsed (no spec to follow)."""
    return Outcome(
        ok=False,
        route="error",
        next="terminate",
        error=ErrorInfo(kind=error.kind, message=error.message, field=error.field),
        run_id=run_id or new_run_id(),
    )


def _emit_metrics(outcome: Outcome) -> None:
    metrics.add_metric(name="Requests", unit=MetricUnit.Count, value=1)
    if not outcome.ok:
        metrics.add_metric(name="RequestFailures", unit=MetricUnit.Count, value=1)
    metrics.add_metric(
        name="RequestLatency", unit=MetricUnit.Milliseconds, value=outcome.elapsed_ms
    )


def _record(run: Execution, outcome: Outcome, store: RunsStore) -> None:
    """Write the history item; a history failure is logged, never turned into a failed request."""
    outgoing = run.outgoing
    summary: dict[str, Any] = {
        "connection": run.spec.connection,
        "host": _host(run.spec, outgoing),
        "ok": outcome.ok,
        "status": outcome.status,
        "route": outcome.route,
        "attempts": outcome.attempts,
        "elapsed_ms": outcome.elapsed_ms,
        "error": outcome.error.model_dump() if outcome.error else None,
        "request": {
            "method": run.spec.method,
            "url": outgoing.url if outgoing else run.spec.url,
            "query": [list(pair) for pair in outgoing.params] if outgoing else [],
            "headers": redaction.redact_headers(outgoing.headers, also=run.secret_headers())
            if outgoing
            else {},
        },
    }
    try:
        store.put_execution(
            run.invocation.workspace, run.run_id, redaction.redact(summary, run.secrets)
        )
    except Exception as exc:  # history is best effort: the API call itself already happened
        logger.warning(
            "execution history not written",
            extra={"run_id": run.run_id, "error": type(exc).__name__},
        )


def execute_event(
    event: Any, *, correlation_id: str | None = None, time_left_ms: TimeLeft | None = None
) -> dict[str, Any]:
    """The direct-invoke contract: `{"request", "values", "record"}` in, an Outcome dict out.

    `time_left_ms` is the invocation's remaining time (see `execute`)."""
    from pydantic import ValidationError

    from apicall.core.errors import check_json_input, config_error_from

    if not isinstance(event, dict):
        error = ConfigError("the event must be a JSON object", field="event")
        return failed_before_start(error).model_dump()
    try:
        # pydantic reports a lone surrogate at the root, not where it is.
        check_json_input(event)
        invocation = InvokeEvent.model_validate(event)
    except ConfigError as unusable:
        return failed_before_start(unusable).model_dump()
    except ValidationError as exc:
        error = config_error_from(exc, data=event, what="invoke event")
        return failed_before_start(error).model_dump()
    logger.set_correlation_id(invocation.correlation_id or correlation_id)
    outcome = execute(invocation, time_left_ms=time_left_ms)
    # Counted here, for direct invokes only: a builder's POST /test is not production traffic.
    _emit_metrics(outcome)
    return outcome.model_dump()
