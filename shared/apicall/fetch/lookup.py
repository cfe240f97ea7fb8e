"""Reading what fetch jobs stored: one record by its key (a workflow's reference-data lookup), or
a job's records a page at a time (the builder's GET /records/{job}).

RecordsTable holds a job's records in one partition, `records_partition(workspace, job)`, one
item per record key (apicall.fetch.records). A record is answered as `{"key", "record"}`: the key
beside the stored attributes rather than among them, because a record without mapped `fields`
is stored whole and may well have a field of its own called `key`. `pk` and `sk` are the
storage's, not the record's, and are left out; `_fetched_at` and `_run_id` stay.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from apicall.core.errors import ConfigError, check_json_input, config_error_from
from apicall.core.models import LookupEvent
from apicall.core.store import (
    DEFAULT_PAGE_LIMIT,
    Page,
    from_dynamo,
    query_page,
    records_table,
)
from apicall.core.workspaces import DEFAULT_WORKSPACE
from apicall.fetch.records import records_partition


def stored_record(item: dict[str, Any]) -> dict[str, Any]:
    """`{"key", "record"}` of a RecordsTable item (already converted from DynamoDB's types)."""
    record = {name: value for name, value in item.items() if name not in ("pk", "sk")}
    return {"key": item["sk"], "record": record}


def lookup(
    job: str, key: str, workspace: str = DEFAULT_WORKSPACE, *, table: Any = None
) -> dict[str, Any] | None:
    """The record `key` that fetch job `job` stored in `workspace`, or None: one GetItem.

    Eventually consistent, as reference data needs: a record written by a run that ended in the
    last second may not be seen yet, at half the read cost.
    """
    table = table if table is not None else records_table()
    item = table.get_item(Key={"pk": records_partition(workspace, job), "sk": key}).get("Item")
    return stored_record(from_dynamo(item)) if item is not None else None


def records_page(
    job: str,
    workspace: str = DEFAULT_WORKSPACE,
    *,
    limit: int = DEFAULT_PAGE_LIMIT,
    next_token: str | None = None,
    table: Any = None,
) -> Page[dict[str, Any]]:
    """One page of the job's records in key order, by one Query (`next` continues it)."""
    table = table if table is not None else records_table()
    page = query_page(
        table,
        records_partition(workspace, job),
        limit=limit,
        next_token=next_token,
        consistent=False,
    )
    return Page([stored_record(item) for item in page.items], page.next)


def lookup_event(event: Any, *, table: Any = None) -> dict[str, Any]:
    """The request function's direct invoke `{"lookup": {"job", "key"}, "workspace"?}`:
    `{"ok": true, "found", "key", "record"}`, record null when not found.

    Input that is not valid is answered, never raised, like a request's: `ok: false` and
    `error: {"kind", "message", "field"}`, so a workflow routes it like any failed step. A
    DynamoDB failure raises: the invoke fails and its caller's retry policy applies.
    """
    try:
        if not isinstance(event, dict):
            raise ConfigError("the event must be a JSON object", field="event")
        check_json_input(event)
        try:
            parsed = LookupEvent.model_validate(event)
        except ValidationError as exc:
            raise config_error_from(exc, data=event, what="lookup event") from exc
    except ConfigError as error:
        return {
            "ok": False,
            "found": False,
            "key": None,
            "record": None,
            "error": {"kind": error.kind, "message": error.message, "field": error.field},
        }
    key = str(parsed.lookup.key)
    found = lookup(parsed.lookup.job, key, parsed.workspace, table=table)
    return {
        "ok": True,
        "found": found is not None,
        "key": key,
        "record": found["record"] if found else None,
    }


def is_lookup_event(event: Any) -> bool:
    """A direct invoke asking for a lookup rather than a request."""
    return isinstance(event, dict) and "lookup" in event and "request" not in event
