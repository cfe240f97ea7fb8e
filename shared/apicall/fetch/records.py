"""One page of a fetch: send its request through the connection's client, read its records, and
map them into RecordsTable items (key, typed fields, run stamp)."""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from apicall.core.errors import (
    ConfigError,
    InvalidResponse,
    UpstreamStatusError,
)
from apicall.core.models import FetchJob
from apicall.core.workspaces import scoped
from apicall.fetch.pagination import (
    Paginator,
    Position,
)
from apicall.http import client
from apicall.request import decoding, jsonpath, mapping

RESERVED_ATTRIBUTES = ("pk", "sk", "_fetched_at", "_run_id")
MAX_KEY_BYTES = 1024  # DynamoDB's limit for a sort key
MAX_REPORTED_SKIPS = 100  # the summary lists this many skipped records; the count is exact


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
        containers = jsonpath.extract(body, path[:-3] or "$", field=field_name)
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
    found = jsonpath.extract(body, path, field=field_name)
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
        http: client.ConnectionClient,
        base: client.OutgoingRequest,
        paginator: Paginator,
    ) -> None:
        self.job = job
        self.http = http
        self.connection = http.connection
        self.base = base
        self.paginator = paginator
        spec = job.request
        self.policy = client.SendPolicy(
            timeout_s=spec.timeout_s or self.connection.timeout_s,
            retry=self.connection.retry,
            max_bytes=spec.response.max_bytes,
            follow_redirects=spec.follow_redirects,
            max_redirects=spec.max_redirects,
        )

    def fetch(self, position: Position) -> FetchedPage:
        spec = self.job.request
        response = self.http.send(self.paginator.request_for(self.base, position), self.policy)
        if not client.is_success(response.status, spec.success_codes):
            reason = spec.error_message(response.status) or httpx.codes.get_reason_phrase(
                response.status
            )
            raise UpstreamStatusError(f"HTTP {response.status} {reason}", status=response.status)
        content_type = response.headers.get("content-type")
        body, kind = decoding.parse_body(response.content, content_type, spec.response.format)
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


@dataclass
class MappedPage:
    items: list[dict[str, Any]]
    skipped: list[tuple[str, str]]  # (record key or position, reason)
    newest: Any = None  # the largest incremental field value on the page


def records_partition(workspace: str, job: str) -> str:
    """RecordsTable's pk of a job's records: the job, `<workspace>#<job>` outside `default`."""
    return scoped(workspace, job)


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
        partition = records_partition(job.workspace, job.job)
        fetched_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        items: dict[str, dict[str, Any]] = {}  # by key: a key twice on a page is one upsert
        skipped: list[tuple[str, str]] = []
        newest = None
        for index, record in enumerate(records):
            if not isinstance(record, dict):
                not_object = f"is {type(record).__name__}, not an object"
                skipped.append((f"page {page_number} record {index}", not_object))
                continue
            key, problem = self._key(record)
            if problem:
                skipped.append((f"page {page_number} record {index}", problem))
                continue
            values = self.fields.map(record).values if self.fields else record
            items[key] = {**values, "pk": partition, "sk": key}
            items[key]["_fetched_at"] = fetched_at
            items[key]["_run_id"] = self.run_id
            if job.incremental:
                found = jsonpath.extract(record, job.incremental.field, field="incremental.field")
                if found and found[0] is not None and later(found[0], newest):
                    newest = found[0]
        return MappedPage(list(items.values()), skipped, newest)

    def _key(self, record: dict[str, Any]) -> tuple[str, str | None]:
        path = self.job.records.key
        found = jsonpath.extract(record, path, field="records.key")
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
