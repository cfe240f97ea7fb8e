"""The fetch function end to end: events/fetch_*.json against the demo API, AWS in moto.

The demo API serves orders in every pagination style (local/demo_pagination.py) and logs the
offset of every page it serves, so each test can tell that every record arrived exactly once
and that the run stopped where it should.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from apicall.core.runtime import RUNTIME
from apicall.core.store import RecordsWriter, RunsStore
from apicall.fetch import checkpoints, run
from functions.fetch import app
from local.demo_api import API_KEY, DemoAPI
from local.demo_pagination import OrderSource, order
from local.sqs_trigger import SqsTrigger
from local.stack import LocalContext
from tests.support.demo import demo_api, demo_connections, load_event  # noqa: F401

pytestmark = pytest.mark.usefixtures("tables", "demo_connections")

# event -> (demo route that serves it, page size)
STYLES = {
    "fetch_offset.json": ("offset", 50),
    "fetch_page.json": ("page", 50),
    "fetch_cursor.json": ("cursor", 50),
    "fetch_next_url.json": ("next_url", 50),
    "fetch_link_header.json": ("link", 50),
    "fetch_search_body.json": ("search", 50),
}


@pytest.fixture
def orders(demo_api: tuple[DemoAPI, str]) -> OrderSource:  # noqa: F811
    return demo_api[0].orders


@pytest.fixture
def demo_url(demo_api: tuple[DemoAPI, str]) -> str:  # noqa: F811
    return demo_api[1]


def invoke(event: dict[str, Any], *, budget_s: float = 900) -> dict[str, Any]:
    return app.handler(event, LocalContext("FetchFunction", budget_s))


def stored(tables: dict[str, Any], job: str) -> list[dict[str, Any]]:
    return RunsStore(tables["RecordsTable"]).query(job)


def stored_ids(tables: dict[str, Any], job: str) -> list[str]:
    return sorted(item["sk"] for item in stored(tables, job))


def order_ids(first: int, last: int) -> list[str]:
    return [order(n)["id"] for n in range(first, last + 1)]


def summary_of(result: dict[str, Any], tables: dict[str, Any]) -> dict[str, Any]:
    item = RunsStore(tables["RunsTable"]).get(f"fetch#{result['job']}", f"run#{result['run_id']}")
    assert item is not None
    return item


# --- every style, every record exactly once ----------------------------------------------------


@pytest.mark.parametrize(("total", "pages_of_data"), [(200, 4), (230, 5)])
@pytest.mark.parametrize("event_name", sorted(STYLES))
def test_every_style_stores_every_order_exactly_once(
    event_name: str, total: int, pages_of_data: int, orders: OrderSource, tables
) -> None:
    # 200 orders by 50: the last page is exactly full; 230: the last page is short.
    orders.total = total
    route, size = STYLES[event_name]
    event = load_event(event_name)

    result = invoke(event)

    assert result["status"] == "succeeded", result["error"]
    assert result["records"] == total and result["skipped"] == 0
    assert stored_ids(tables, event["job"]) == order_ids(1, total)
    served = orders.served[route]
    assert len(served) == len(set(served)), "a page was fetched twice"
    # Offsets without a page count or total ask once more after an exactly full last page.
    asks_for_empty_page = route in ("offset", "search") and total % size == 0
    assert len(served) == pages_of_data + asks_for_empty_page
    assert result["stop_reason"] == "last_page"


def test_the_stored_item_holds_the_typed_fields_and_run_stamp(orders, tables) -> None:
    orders.total = 3
    result = invoke(load_event("fetch_offset.json"))

    item = stored(tables, "demo-orders-offset")[1]
    assert item["pk"] == "demo-orders-offset" and item["sk"] == "ord_0000002"
    assert item["number"] == 2 and isinstance(item["total"], float | int)
    assert item["customer_email"] == "buyer2@example.com"
    assert item["updated_at"] == "2026-01-01T00:02:00+00:00"
    assert item["_run_id"] == result["run_id"] and item["_fetched_at"].endswith("Z")


def test_single_page_job_fetches_once(orders, tables) -> None:
    orders.total = 40
    result = invoke(load_event("fetch_none.json"))

    assert result["status"] == "succeeded" and result["pages"] == 1
    assert stored_ids(tables, "demo-orders-all") == order_ids(1, 40)


@pytest.mark.parametrize("event_name", [*sorted(STYLES), "fetch_none.json"])
def test_an_empty_first_page_ends_the_run_with_nothing_stored(event_name, orders, tables) -> None:
    orders.total = 0
    event = load_event(event_name)

    result = invoke(event)

    assert result["status"] == "succeeded" and result["pages"] == 1 and result["records"] == 0
    assert stored(tables, event["job"]) == []


def test_a_rerun_upserts_instead_of_duplicating(orders, tables) -> None:
    orders.total = 120
    first = invoke(load_event("fetch_cursor.json") | {"incremental": None})
    second = invoke(load_event("fetch_cursor.json") | {"incremental": None})

    assert first["run_id"] != second["run_id"]
    items = stored(tables, "demo-orders-cursor")
    assert [i["sk"] for i in items] == order_ids(1, 120)
    assert {i["_run_id"] for i in items} == {second["run_id"]}


def test_offsets_advance_by_what_arrived_when_the_server_caps_the_page_size(orders, tables) -> None:
    orders.total, orders.max_limit = 200, 30  # the job asks for 50 per page

    result = invoke(load_event("fetch_offset.json"))

    assert stored_ids(tables, "demo-orders-offset") == order_ids(1, 200)
    assert orders.served["offset"] == list(range(0, 210, 30))
    assert result["records"] == 200


def test_a_cursor_that_repeats_stops_the_run_with_an_error(orders, tables) -> None:
    orders.total, orders.repeat_cursor_at = 300, 100
    event = load_event("fetch_cursor.json")

    result = invoke(event)

    assert result["status"] == "failed"
    assert result["error"]["kind"] == "invalid_response"
    assert result["error"]["field"] == "pagination.cursor_path"
    assert orders.served["cursor"] == [0, 50, 100]  # no fourth request for the same page
    assert stored_ids(tables, event["job"]) == order_ids(1, 100)
    assert summary_of(result, tables)["status"] == "failed"


def test_max_pages_stops_the_run(orders, tables) -> None:
    orders.total = 500
    event = load_event("fetch_link_header.json") | {"max_pages": 3}

    result = invoke(event)

    assert result["status"] == "succeeded" and result["stop_reason"] == "max_pages"
    assert result["pages"] == 3 and orders.served["link"] == [0, 50, 100]
    assert stored_ids(tables, event["job"]) == order_ids(1, 150)


def test_the_run_summary_is_saved_in_the_runs_table(orders, tables) -> None:
    orders.total = 75
    result = invoke(load_event("fetch_page.json"))

    summary = summary_of(result, tables)
    assert summary["status"] == "succeeded"
    assert (summary["pages"], summary["records"], summary["skipped"]) == (2, 75, 0)
    assert summary["elapsed_ms"] >= 0 and summary["error"] is None
    assert summary["invocations"] == 1


# --- incremental --------------------------------------------------------------------------------


def test_incremental_sends_the_bookmark_of_the_last_completed_run(orders, tables) -> None:
    event = load_event("fetch_cursor.json")
    orders.total = 100
    first = invoke(event)
    orders.total = 130  # 30 orders were updated since
    orders.served.clear()

    second = invoke(event)

    assert first["bookmark_sent"] is None and first["records"] == 100
    assert second["bookmark_sent"] == order(100)["updated_at"]
    assert second["records"] == 30
    assert stored_ids(tables, event["job"]) == order_ids(1, 130)
    bookmark = RunsStore(tables["RunsTable"]).get("fetch#demo-orders-cursor", "bookmark")
    assert bookmark["value"] == order(130)["updated_at"]


def test_incremental_bookmark_does_not_move_when_the_run_fails(
    orders, tables, put_connection, demo_url
) -> None:
    event = load_event("fetch_cursor.json")
    orders.total = 100
    invoke(event)
    orders.total, orders.outage_at = 250, 50
    put_connection("demo-apikey", _no_retry_connection(demo_url))

    failed = invoke(event)

    assert failed["status"] == "failed" and failed["error"]["status"] == 503
    bookmark = RunsStore(tables["RunsTable"]).get("fetch#demo-orders-cursor", "bookmark")
    assert bookmark["value"] == order(100)["updated_at"]


# --- crash and resume ---------------------------------------------------------------------------


def _no_retry_connection(url: str) -> dict[str, Any]:
    return {
        "base_url": url,
        "auth": {"type": "api_key", "name": "X-API-Key", "value": API_KEY, "in": "header"},
        "retry": {"attempts": 1},
        "allow_private_network": True,
    }


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_run_that_fails_at_a_random_page_resumes_from_its_checkpoint(
    seed, orders, tables, put_connection, demo_url
) -> None:
    # GIVEN 40 pages of 25, and an outage at a random page
    pages, size = 40, 25
    failing_page = random.Random(seed).randrange(2, pages)  # 1-based, never the first
    orders.total, orders.outage_at = pages * size, (failing_page - 1) * size
    put_connection("demo-apikey", _no_retry_connection(demo_url))
    event = load_event("fetch_cursor.json") | {"incremental": None}
    event["pagination"]["limit"] = size

    failed = invoke(event)
    # THEN the first invocation stops at that page with everything before it stored
    assert failed["status"] == "failed" and failed["error"]["status"] == 503
    assert failed["error"]["page"] == failing_page
    assert stored_ids(tables, event["job"]) == order_ids(1, (failing_page - 1) * size)

    orders.outage_at = None
    resumed = invoke(event)

    # THEN the next invocation resumes the same run from the checkpoint and completes it
    assert resumed["run_id"] == failed["run_id"] and resumed["status"] == "succeeded"
    assert resumed["invocations"] == 2 and resumed["pages"] == pages
    assert stored_ids(tables, event["job"]) == order_ids(1, pages * size)
    assert orders.served_twice("cursor") == [orders.served["cursor"][failing_page - 1]]


class CrashingWriter(RecordsWriter):
    """Writes like the real writer, then dies mid-page like a killed Lambda would."""

    def __init__(self, crash_on_call: int) -> None:
        super().__init__()
        self.crash_on_call = crash_on_call
        self.pages = 0

    def write(self, items, *, check_size=True):  # type: ignore[no-untyped-def]
        self.pages += 1
        if self.pages == self.crash_on_call:
            super().write(items[: len(items) // 2], check_size=check_size)
            raise RuntimeError("the process died")
        return super().write(items, check_size=check_size)


def test_a_crash_mid_write_resumes_and_refetches_only_the_pages_in_flight(orders, tables) -> None:
    orders.total = 500
    event = load_event("fetch_offset.json")
    crash_page = random.Random(7).randrange(2, 10)

    with pytest.raises(RuntimeError):
        run.run_fetch(run.parse_job(event), writer=CrashingWriter(crash_page), context=None)
    resumed = invoke(event)

    assert resumed["status"] == "succeeded" and resumed["records"] == 500
    assert stored_ids(tables, event["job"]) == order_ids(1, 500)
    # The page being written, and the next one already requested, are fetched again.
    refetched = orders.served_twice("offset")
    assert refetched and len(refetched) <= 2
    assert refetched[0] == (crash_page - 1) * 50


# --- continuation -------------------------------------------------------------------------------


@pytest.fixture
def continuation_queue(aws: boto3.Session, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = aws.client("sqs").create_queue(QueueName="fetch-continuations")["QueueUrl"]
    monkeypatch.setenv("FETCH_CONTINUATION_QUEUE_URL", url)
    RUNTIME.reset()  # the settings just changed
    yield url


def test_a_tiny_time_budget_splits_the_run_across_invocations(
    orders, tables, continuation_queue
) -> None:
    # GIVEN 2,000 orders in pages of 20 and ~0.15 s per invocation beyond the 10 s reserve
    orders.total = 2000
    event = load_event("fetch_offset.json")
    event["pagination"]["limit"] = 20
    budget_s = run.DEFAULT_RESERVE_MS / 1000 + 0.15

    trigger = SqsTrigger(
        boto3.client("sqs"),
        continuation_queue,
        app.handler,
        batch_size=1,
        function_timeout_s=budget_s,
        function_name="FetchFunction",
    )

    first = invoke(event, budget_s=budget_s)
    while trigger.poll():
        pass
    continuations = trigger.invocations

    assert first["status"] == "continued"
    assert trigger.errors == [] and trigger.pending() == 0
    assert continuations >= 2
    summary = summary_of(first, tables)
    assert summary["status"] == "succeeded" and summary["invocations"] == continuations + 1
    assert summary["records"] == 2000 and summary["pages"] == 101
    assert stored_ids(tables, event["job"]) == order_ids(1, 2000)
    assert orders.served_twice("offset") == []


def test_a_continuation_of_a_finished_run_is_ignored(orders, tables, continuation_queue) -> None:
    orders.total = 10
    event = load_event("fetch_offset.json")
    done = invoke(event)
    message = json.dumps({"fetch": event, "run_id": done["run_id"]})

    answer = run.fetch_continuation(message)

    assert answer["status"] == "stale"
    assert orders.served["offset"] == [0, 10]  # only the finished run asked


def test_a_schedule_while_another_invocation_holds_the_run_is_skipped(orders, tables) -> None:
    orders.total = 10
    job = run.parse_job(load_event("fetch_offset.json"))
    runs = RunsStore(tables["RunsTable"])
    holder = checkpoints.Checkpoints(runs, job.job, "someone-else")
    state = checkpoints.RunState(
        run_id="r1",
        fingerprint=checkpoints.job_fingerprint(job),
        position={"offset": 0, "largest_page": 0},
        started_at=0,
    )
    assert holder.acquire(state, lease_s=60)

    answer = run.run_fetch(job)

    assert answer["status"] == "busy" and "offset" not in orders.served


# --- credentials at rest ------------------------------------------------------------------------


def test_a_key_echoed_in_next_links_is_not_stored_and_the_resumed_run_still_authenticates(
    httpserver: HTTPServer, put_connection, tables
) -> None:
    # GIVEN an API that takes its key in the query and echoes it into its next links, and fails
    # page 2 once, so the run stops with a checkpoint holding that link
    key = "k3y-echoed-into-links"
    failed_once: list[int] = []

    def pages(request: Request) -> Response:
        if request.args.get("api_key") != key:
            return Response("no key", status=401)
        page = int(request.args.get("page", "1"))
        if page == 2 and not failed_once:
            failed_once.append(page)
            return Response("try later", status=503)
        following = {"next": f"/items?page={page + 1}&api_key={key}"} if page < 3 else {}
        body = {"data": [{"id": f"{page}-{n}"} for n in range(2)], "links": following}
        return Response(json.dumps(body), content_type="application/json")

    httpserver.expect_request("/items").respond_with_handler(pages)
    put_connection(
        "echoing",
        {
            "base_url": httpserver.url_for("/"),
            "auth": {"type": "api_key", "name": "api_key", "value": key, "in": "query"},
            "retry": {"attempts": 1},
            "allow_private_network": True,
        },
    )
    event = {
        "job": "echoing-items",
        "request": {"connection": "echoing", "url": "/items"},
        "pagination": {"type": "next_url", "next_url_path": "$.links.next"},
        "records": {"path": "$.data[*]", "key": "$.id"},
    }

    failed = invoke(event)

    assert failed["status"] == "failed" and failed["error"]["status"] == 503
    checkpoint = RunsStore(tables["RunsTable"]).get("fetch#echoing-items", "checkpoint")
    assert checkpoint is not None and checkpoint["position"]["url"].endswith("/items?page=2")
    runs_table = tables["RunsTable"].scan()["Items"]
    assert runs_table and key not in json.dumps(runs_table, default=str)

    # THEN the resumed run adds the key itself (the server answers 401 without it) and finishes
    resumed = invoke(event)

    assert resumed["status"] == "succeeded" and resumed["run_id"] == failed["run_id"]
    assert stored_ids(tables, "echoing-items") == ["1-0", "1-1", "2-0", "2-1", "3-0", "3-1"]
