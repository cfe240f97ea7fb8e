"""Malformed FetchJobs and upstream pages end the run with a typed error, never an exception.

Upstream pages come from a real local server (pytest-httpserver); AWS is moto.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from apicall.core.store import MAX_ITEM_BYTES, RecordsWriter, RunsStore
from apicall.fetch import run
from functions.fetch import app
from local.stack import LocalContext

pytestmark = pytest.mark.usefixtures("tables")


@pytest.fixture
def stub(httpserver: HTTPServer, put_connection) -> HTTPServer:
    put_connection(
        "stub",
        {
            "base_url": httpserver.url_for("/"),
            "retry": {"attempts": 1},
            "allow_private_network": True,
        },
    )
    return httpserver


def job(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "job": "stub-orders",
        "request": {"connection": "stub", "url": "/orders"},
        "pagination": {"type": "cursor", "cursor_path": "$.next"},
        "records": {"path": "$.data[*]", "key": "$.id"},
    }
    return base | changes


def invoke(event: Any) -> dict[str, Any]:
    return app.handler(event, LocalContext("FetchFunction", 900))


def stored(tables: dict[str, Any], job_name: str = "stub-orders") -> list[dict[str, Any]]:
    return RunsStore(tables["RecordsTable"]).query(job_name)


# --- malformed jobs -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({}, "job"),
        (["not", "an", "object"], "job"),
        (job(job="has spaces"), "job"),
        (job(records={"path": "$.data[*]"}), "records.key"),
        (job(pagination={"type": "sideways"}), "pagination"),
        (job(pagination={"type": "cursor"}), "pagination.cursor_path"),
        (job(max_pages=0), "max_pages"),
        (job(request={"url": "relative/without/connection"}), "request"),
        (job(incremental={"param": "since"}), "incremental.field"),
    ],
)
def test_a_malformed_fetch_job_answers_a_typed_error_naming_the_field(event, field) -> None:
    answer = invoke(event)

    assert answer["status"] == "failed"
    assert answer["error"]["kind"] == "invalid_request"
    assert answer["error"]["field"].startswith(field)


def test_a_reserved_field_name_is_refused(stub, tables) -> None:
    fields = [{"name": "pk", "path": "$.id"}]
    answer = invoke(job(records={"path": "$.data[*]", "key": "$.id", "fields": fields}))

    assert answer["status"] == "failed"
    assert answer["error"]["field"] == "records.fields[0].name"
    assert stub.log == []


def test_a_bad_jsonpath_for_the_key_is_a_config_error(stub, tables) -> None:
    stub.expect_request("/orders").respond_with_json({"data": [{"id": 1}], "next": None})

    answer = invoke(job(records={"path": "$.data[*]", "key": "$.[id"}))

    assert answer["status"] == "failed" and answer["error"]["kind"] == "invalid_request"
    assert answer["error"]["field"] == "records.key"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"records": {"path": "$.data[", "key": "$.id"}}, "records.path"),
        ({"records": {"path": "$.data[*]", "key": "$.[id"}}, "records.key"),
        (
            {
                "records": {
                    "path": "$.data[*]",
                    "key": "$.id",
                    "fields": [{"name": "a", "path": "$["}],
                }
            },
            "records.fields[0].path",
        ),
        ({"pagination": {"type": "cursor", "cursor_path": "$..["}}, "pagination.cursor_path"),
        ({"pagination": {"type": "next_url", "next_url_path": "$.a["}}, "pagination.next_url_path"),
        ({"incremental": {"param": "since", "field": "$.a[?"}}, "incremental.field"),
        (
            {"request": {"connection": "stub", "url": "/orders", "response": {"data_path": "$["}}},
            "request.response.data_path",
        ),
    ],
)
def test_a_bad_path_or_template_in_a_job_fails_before_any_page_is_requested(
    stub, tables, changes: dict[str, Any], field: str
) -> None:
    stub.expect_request("/orders").respond_with_json({"data": [{"id": 1}], "next": None})

    answer = invoke(job(**changes))

    assert answer["status"] == "failed" and answer["error"]["kind"] == "invalid_request"
    assert answer["error"]["field"].startswith(field)
    assert stub.log == []


def test_an_unknown_connection_is_a_config_error(tables) -> None:
    answer = invoke(job(request={"connection": "nowhere", "url": "/orders"}))

    assert answer["status"] == "failed" and answer["error"]["kind"] == "invalid_request"


def test_page_params_in_a_form_body_are_refused(stub, tables) -> None:
    request = {
        "connection": "stub",
        "method": "POST",
        "url": "/orders",
        "body": {"type": "form", "fields": {"q": "x"}},
    }
    answer = invoke(job(request=request, pagination={"type": "offset", "in": "body"}))

    assert answer["error"]["field"] == "pagination.in" and stub.log == []


# --- malformed pages ----------------------------------------------------------------------------


def test_a_page_that_is_not_json_is_an_invalid_response(stub, tables) -> None:
    stub.expect_request("/orders").respond_with_data(
        "<html>maintenance</html>", content_type="text/html"
    )

    answer = invoke(job())

    assert answer["status"] == "failed"
    assert answer["error"]["kind"] == "invalid_response"
    assert answer["error"]["field"] == "request.response.format"


def test_a_page_with_broken_json_is_an_invalid_response(stub, tables) -> None:
    stub.expect_request("/orders").respond_with_data('{"data": [', content_type="application/json")

    answer = invoke(job())

    assert answer["error"]["kind"] == "invalid_response"


@pytest.mark.parametrize("body", [{"items": []}, {"data": "none today"}, [1, 2]])
def test_a_page_without_a_record_list_at_the_path_is_an_invalid_response(
    stub, tables, body
) -> None:
    stub.expect_request("/orders").respond_with_json(body)

    answer = invoke(job())

    assert answer["status"] == "failed"
    assert answer["error"]["kind"] == "invalid_response"
    assert answer["error"]["field"] == "records.path"


def test_a_cursor_of_the_wrong_type_is_an_invalid_response(stub, tables) -> None:
    stub.expect_request("/orders").respond_with_json({"data": [{"id": 1}], "next": {"after": 1}})

    answer = invoke(job())

    assert answer["error"]["kind"] == "invalid_response"
    assert answer["error"]["field"] == "pagination.cursor_path"
    summary = RunsStore(tables["RunsTable"]).get("fetch#stub-orders", f"run#{answer['run_id']}")
    assert summary["status"] == "failed" and summary["error"]["page"] == 1


def test_an_upstream_error_status_is_a_status_error(stub, tables) -> None:
    stub.expect_request("/orders").respond_with_json({"error": "boom"}, status=500)

    answer = invoke(job())

    assert answer["error"]["kind"] == "status" and answer["error"]["status"] == 500


def test_a_page_identical_to_the_one_before_stops_the_run(stub, tables) -> None:
    page = {"data": [{"id": n} for n in range(10)], "total": 10}
    stub.expect_request("/orders").respond_with_json(page)

    answer = invoke(job(pagination={"type": "page", "size": 10}))

    assert answer["status"] == "failed" and answer["error"]["field"] == "pagination"
    assert "identical" in answer["error"]["message"]
    assert len(stub.log) == 2 and len(stored(tables)) == 10


def test_a_null_record_list_is_an_empty_page(stub, tables) -> None:
    stub.expect_request("/orders").respond_with_json({"data": None, "next": None})

    answer = invoke(job())

    assert answer["status"] == "succeeded" and answer["records"] == 0


# --- records that cannot be stored --------------------------------------------------------------


def test_records_without_a_key_are_reported_not_stored(stub, tables) -> None:
    records = [{"id": "a"}, {"name": "no id"}, {"id": None}, {"id": {"x": 1}}, "text", {"id": 7}]
    stub.expect_request("/orders").respond_with_json({"data": records, "next": None})

    answer = invoke(job())

    assert answer["status"] == "succeeded"
    assert answer["records"] == 2 and answer["skipped"] == 4
    assert sorted(item["sk"] for item in stored(tables)) == ["7", "a"]
    reasons = [reason for _where, reason in answer["skipped_records"]]
    assert reasons[0] == "has no key at $.id" and "not a string or number" in reasons[2]


def test_a_record_over_the_item_size_limit_is_reported_by_key_and_skipped(stub, tables) -> None:
    records = [{"id": "small"}, {"id": "huge", "blob": "x" * (MAX_ITEM_BYTES + 1)}, {"id": "also"}]
    stub.expect_request("/orders").respond_with_json({"data": records, "next": None})

    answer = invoke(job())

    assert answer["status"] == "succeeded" and answer["records"] == 2
    assert answer["skipped_records"] == [["huge", "larger than DynamoDB's 400 KB item limit"]]
    assert sorted(item["sk"] for item in stored(tables)) == ["also", "small"]


def test_a_key_seen_twice_on_a_page_is_stored_once_with_the_last_values(stub, tables) -> None:
    records = [{"id": 1, "v": "old"}, {"id": 1, "v": "new"}]
    stub.expect_request("/orders").respond_with_json({"data": records, "next": None})

    invoke(job())

    assert [(i["sk"], i["v"]) for i in stored(tables)] == [("1", "new")]


# --- the writer ---------------------------------------------------------------------------------


def items(count: int, job_name: str = "w") -> list[dict[str, Any]]:
    return [{"pk": job_name, "sk": f"k{n:04d}", "n": n, "price": n / 10} for n in range(count)]


def test_writes_go_in_batches_of_25(tables) -> None:
    writer = RecordsWriter(tables["RecordsTable"])

    report = writer.write(items(60))

    assert writer.calls == 3 and report.written == 60 and report.rejected == []
    assert len(stored(tables, "w")) == 60


class PartiallyProcessing:
    """The moto table, whose BatchWriteItem takes only part of each batch for the first calls,
    handing the rest back as UnprocessedItems, as DynamoDB does under throttling."""

    def __init__(self, table: Any, *, busy_calls: int, accept: int) -> None:
        self.name, self.busy_calls, self.accept = table.name, busy_calls, accept
        self._table, self.meta = table, self

    @property
    def client(self) -> PartiallyProcessing:
        return self

    def batch_write_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        requests = RequestItems[self.name]
        if self.busy_calls <= 0:
            return self._table.meta.client.batch_write_item(RequestItems=RequestItems)
        self.busy_calls -= 1
        taken, rest = requests[: self.accept], requests[self.accept :]
        if taken:
            self._table.meta.client.batch_write_item(RequestItems={self.name: taken})
        return {"UnprocessedItems": {self.name: rest} if rest else {}}


def test_unprocessed_items_are_retried_with_backoff(tables) -> None:
    delays: list[float] = []
    table = PartiallyProcessing(tables["RecordsTable"], busy_calls=2, accept=10)
    writer = RecordsWriter(table, sleep=delays.append, base_delay_s=0.1)

    report = writer.write(items(25))

    assert report.written == 25 and writer.calls == 3
    assert len(delays) == 2 and 0.05 <= delays[0] <= 0.1 and 0.1 <= delays[1] <= 0.2
    assert len(stored(tables, "w")) == 25


def test_items_still_unprocessed_after_every_attempt_fail_the_page(tables) -> None:
    from apicall.core.errors import CapacityExceeded

    table = PartiallyProcessing(tables["RecordsTable"], busy_calls=99, accept=0)
    writer = RecordsWriter(table, sleep=lambda s: None, max_attempts=3)

    with pytest.raises(CapacityExceeded):
        writer.write(items(5))


def test_an_item_dynamodb_refuses_is_reported_and_the_rest_written(tables) -> None:
    batch = items(5)
    batch[2]["sk"] = ""  # an empty key fails validation for the whole batch

    report = RecordsWriter(tables["RecordsTable"]).write(batch)

    assert report.written == 4
    assert [key for key, _reason in report.rejected] == [""]


def test_continuation_message_carries_the_job_it_resumes() -> None:
    parsed = run.parse_job(job(pagination={"type": "offset", "in": "body"}))
    message = json.loads(json.dumps(run._job_message(parsed)))
    assert run.parse_job(message) == parsed


@pytest.mark.parametrize(
    ("request_spec", "field"),
    [
        ({"url": "http://169.254.169.254/latest/meta-data"}, "request.url"),
        ({"url": "http://127.0.0.1:9/orders"}, "request.url"),
        ({"connection": "private", "url": "/orders"}, "request.connection"),
    ],
)
def test_a_refused_url_names_the_field_it_came_from(
    put_connection, request_spec: dict[str, Any], field: str
) -> None:
    put_connection("private", {"base_url": "http://10.0.0.1"})

    answer = invoke(job(request=request_spec))

    assert answer["status"] == "failed" and answer["error"]["kind"] == "blocked"
    assert answer["error"]["field"] == field
