"""Pagination strategies: the request for a position, and where each one stops."""

from __future__ import annotations

import json
from typing import Any

import pytest

from apicall.core.errors import ConfigError, InvalidResponse
from apicall.core.models import FetchJob
from apicall.fetch.pagination import (
    CursorPaginator,
    LinkHeaderPaginator,
    NextUrlPaginator,
    OffsetPaginator,
    Page,
    PageNumberPaginator,
    SinglePage,
    next_link,
    paginator_for,
)
from apicall.http.client import OutgoingRequest

URL = "https://api.example.com/v1/orders"


def strategy(pagination: dict[str, Any]) -> Any:
    job = FetchJob.model_validate(
        {
            "job": "orders",
            "request": {"url": URL},
            "pagination": pagination,
            "records": {"key": "$.id"},
        }
    )
    return paginator_for(job.pagination)


def request(**changes: Any) -> OutgoingRequest:
    return OutgoingRequest(method=changes.pop("method", "GET"), url=URL, **changes)


def page(count: int = 0, body: Any = None, headers: dict[str, str] | None = None, url: str = URL):
    return Page(body=body or {}, headers=headers or {}, url=url, record_count=count)


def walk(paginator: Any, counts: list[int]) -> list[dict[str, Any]]:
    """Positions visited for pages of these record counts, until the strategy stops."""
    position = paginator.first_position()
    visited = [position]
    for count in counts:
        position = paginator.next_position(position, page(count))
        if position is None:
            return visited
        visited.append(position)
    raise AssertionError(f"did not stop; last position {position}")


# --- the factory --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pagination", "kind"),
    [
        ({"type": "none"}, SinglePage),
        ({"type": "offset"}, OffsetPaginator),
        ({"type": "page"}, PageNumberPaginator),
        ({"type": "cursor", "cursor_path": "$.next"}, CursorPaginator),
        ({"type": "next_url", "next_url_path": "$.next"}, NextUrlPaginator),
        ({"type": "link_header"}, LinkHeaderPaginator),
    ],
)
def test_paginator_for_picks_the_strategy_of_each_type(pagination, kind) -> None:
    assert isinstance(strategy(pagination), kind)


def test_single_page_stops_after_the_first_page() -> None:
    paginator = strategy({"type": "none"})
    assert paginator.request_for(request(), paginator.first_position()) == request()
    assert paginator.next_position(paginator.first_position(), page(100)) is None


# --- offset -------------------------------------------------------------------------------------


def test_offset_sets_offset_and_limit_replacing_same_named_query_params() -> None:
    paginator = strategy({"type": "offset", "limit": 50})
    sent = paginator.request_for(
        request(params=[("status", "paid"), ("limit", "10")]), {"offset": 100}
    )
    assert sent.params == [("status", "paid"), ("offset", "100"), ("limit", "50")]


def test_offset_parameter_names_are_configurable() -> None:
    paginator = strategy({"type": "offset", "offset_param": "skip", "limit_param": "take"})
    sent = paginator.request_for(request(), paginator.first_position())
    assert sent.params == [("skip", "0"), ("take", "100")]


def test_offset_stops_on_a_short_page_after_full_ones() -> None:
    visited = walk(strategy({"type": "offset", "limit": 50}), [50, 50, 20])
    assert [p["offset"] for p in visited] == [0, 50, 100]


def test_offset_asks_once_more_after_an_exactly_full_last_page() -> None:
    visited = walk(strategy({"type": "offset", "limit": 50}), [50, 50, 0])
    assert [p["offset"] for p in visited] == [0, 50, 100]


def test_offset_stops_on_an_empty_first_page() -> None:
    assert walk(strategy({"type": "offset"}), [0]) == [{"offset": 0, "largest_page": 0}]


def test_offset_does_not_end_on_pages_a_server_capped_below_the_limit() -> None:
    # The API serves at most 40 per page although 100 were asked for: every page is "short".
    visited = walk(strategy({"type": "offset", "limit": 100}), [40, 40, 40, 15])
    assert [p["offset"] for p in visited] == [0, 40, 80, 120]


def test_offset_with_a_short_only_page_confirms_the_end_with_one_more_request() -> None:
    visited = walk(strategy({"type": "offset", "limit": 100}), [30, 0])
    assert [p["offset"] for p in visited] == [0, 30]


def test_offset_params_can_go_in_the_json_body_of_a_search() -> None:
    paginator = strategy({"type": "offset", "limit": 25, "in": "body"})
    sent = paginator.request_for(request(method="POST", json={"status": "paid"}), {"offset": 75})
    assert sent.json == {"status": "paid", "offset": 75, "limit": 25}
    assert sent.params == []


def test_body_params_start_a_json_body_when_there_is_none() -> None:
    paginator = strategy({"type": "offset", "in": "body"})
    assert paginator.request_for(request(method="POST"), {"offset": 0}).json == {
        "offset": 0,
        "limit": 100,
    }


@pytest.mark.parametrize(
    "body",
    [{"data": [("a", "b")]}, {"content": b"raw"}, {"json": ["not", "an", "object"]}],
)
def test_body_params_need_a_json_object_body(body) -> None:
    paginator = strategy({"type": "offset", "in": "body"})
    with pytest.raises(ConfigError) as caught:
        paginator.request_for(request(method="POST", **body), {"offset": 0})
    assert caught.value.field == "pagination.in"


# --- page ---------------------------------------------------------------------------------------


def test_page_numbers_start_where_configured_and_send_the_size() -> None:
    paginator = strategy({"type": "page", "page_param": "p", "size_param": "per", "size": 20})
    sent = paginator.request_for(request(), paginator.first_position())
    assert sent.params == [("p", "1"), ("per", "20")]


def test_page_without_size_param_sends_only_the_page() -> None:
    paginator = strategy({"type": "page", "size_param": None, "start": 0})
    assert paginator.request_for(request(), paginator.first_position()).params == [("page", "0")]


def test_page_stops_on_an_empty_page() -> None:
    visited = walk(strategy({"type": "page", "size": 10}), [10, 10, 0])
    assert [p["page"] for p in visited] == [1, 2, 3]


def test_page_stops_at_total_pages_without_asking_for_an_empty_page() -> None:
    paginator = strategy({"type": "page", "size": 10, "total_pages_path": "$.meta.pages"})
    body = {"meta": {"pages": 2}}
    assert paginator.next_position({"page": 1}, page(10, body)) == {"page": 2}
    assert paginator.next_position({"page": 2}, page(10, body)) is None


def test_total_pages_counts_from_a_zero_start() -> None:
    paginator = strategy({"type": "page", "start": 0, "total_pages_path": "$.pages"})
    assert paginator.next_position({"page": 0}, page(5, {"pages": 2})) == {"page": 1}
    assert paginator.next_position({"page": 1}, page(5, {"pages": 2})) is None


def test_total_pages_may_be_a_numeric_string() -> None:
    paginator = strategy({"type": "page", "total_pages_path": "$.pages"})
    assert paginator.next_position({"page": 3}, page(5, {"pages": "3"})) is None


@pytest.mark.parametrize("total", ["many", 2.5, {"n": 2}, True])
def test_total_pages_of_the_wrong_type_is_an_invalid_response(total) -> None:
    paginator = strategy({"type": "page", "total_pages_path": "$.pages"})
    with pytest.raises(InvalidResponse) as caught:
        paginator.next_position({"page": 1}, page(5, {"pages": total}))
    assert caught.value.field == "pagination.total_pages_path"


# --- cursor -------------------------------------------------------------------------------------


def test_cursor_first_request_sends_only_the_limit() -> None:
    paginator = strategy(
        {"type": "cursor", "cursor_path": "$.next", "limit_param": "limit", "limit": 30}
    )
    assert paginator.request_for(request(), paginator.first_position()).params == [("limit", "30")]


def test_cursor_is_read_from_the_body_and_sent_as_the_cursor_param() -> None:
    paginator = strategy({"type": "cursor", "cursor_param": "after", "cursor_path": "$.meta.next"})
    position = paginator.next_position({"cursor": None}, page(10, {"meta": {"next": "abc"}}))
    assert position == {"cursor": "abc"}
    assert paginator.request_for(request(), position).params == [("after", "abc")]


def test_integer_cursors_are_kept() -> None:
    paginator = strategy({"type": "cursor", "cursor_path": "$.next"})
    assert paginator.next_position({"cursor": None}, page(1, {"next": 981})) == {"cursor": 981}


@pytest.mark.parametrize("body", [{"next": None}, {"next": ""}, {}])
def test_cursor_pagination_stops_when_cursor_is_null_empty_or_missing(body) -> None:
    paginator = strategy({"type": "cursor", "cursor_path": "$.next"})
    assert paginator.next_position({"cursor": "x"}, page(10, body)) is None


@pytest.mark.parametrize("cursor", [{"id": 3}, ["a"], True, 1.5])
def test_a_cursor_of_the_wrong_type_is_an_invalid_response_naming_the_field(cursor) -> None:
    paginator = strategy({"type": "cursor", "cursor_path": "$.next"})
    with pytest.raises(InvalidResponse) as caught:
        paginator.next_position({"cursor": None}, page(10, {"next": cursor}))
    assert caught.value.field == "pagination.cursor_path"


def test_a_cursor_that_repeats_stops_with_an_error_instead_of_looping() -> None:
    paginator = strategy({"type": "cursor", "cursor_path": "$.next"})
    with pytest.raises(InvalidResponse, match="same page forever"):
        paginator.next_position({"cursor": "c2"}, page(10, {"next": "c2"}))


def test_cursor_can_go_in_the_json_body() -> None:
    paginator = strategy({"type": "cursor", "cursor_path": "$.next", "in": "body"})
    sent = paginator.request_for(request(method="POST", json={"q": "x"}), {"cursor": "c9"})
    assert sent.json == {"q": "x", "cursor": "c9"}


# --- next_url -----------------------------------------------------------------------------------


def test_next_url_is_resolved_against_the_page_url() -> None:
    paginator = strategy({"type": "next_url", "next_url_path": "$.links.next"})
    body = {"links": {"next": "/v1/orders?after=50"}}
    position = paginator.next_position({"url": None}, page(50, body))
    assert position == {"url": "https://api.example.com/v1/orders?after=50"}


def test_next_url_request_keeps_params_the_link_does_not_name() -> None:
    paginator = strategy({"type": "next_url", "next_url_path": "$.next"})
    base = request(params=[("after", "0"), ("status", "paid")])
    sent = paginator.request_for(base, {"url": f"{URL}?after=50"})
    assert sent.url == f"{URL}?after=50"
    assert sent.params == [("status", "paid")]


@pytest.mark.parametrize("body", [{"next": None}, {"next": ""}, {}])
def test_next_url_pagination_stops_without_a_link(body) -> None:
    paginator = strategy({"type": "next_url", "next_url_path": "$.next"})
    assert paginator.next_position({"url": None}, page(10, body)) is None


def test_next_url_to_another_origin_is_refused() -> None:
    paginator = strategy({"type": "next_url", "next_url_path": "$.next"})
    with pytest.raises(InvalidResponse, match="another origin"):
        paginator.next_position({"url": None}, page(10, {"next": "https://evil.example/x"}))


def test_next_url_pointing_at_the_same_page_is_a_loop_error() -> None:
    paginator = strategy({"type": "next_url", "next_url_path": "$.next"})
    with pytest.raises(InvalidResponse, match="looping"):
        paginator.next_position({"url": None}, page(10, {"next": URL}))


def test_next_url_that_is_not_a_string_is_an_invalid_response() -> None:
    paginator = strategy({"type": "next_url", "next_url_path": "$.next"})
    with pytest.raises(InvalidResponse) as caught:
        paginator.next_position({"url": None}, page(10, {"next": {"href": "/x"}}))
    assert caught.value.field == "pagination.next_url_path"


# --- link_header --------------------------------------------------------------------------------


def test_link_header_follows_rel_next_among_several_links() -> None:
    paginator = strategy({"type": "link_header"})
    link = f'<{URL}?page=1>; rel="first", <{URL}?page=3>; rel="next", <{URL}?page=9>; rel="last"'
    position = paginator.next_position({"url": None}, page(10, headers={"link": link}))
    assert position == {"url": f"{URL}?page=3"}


def test_link_header_resolves_relative_links() -> None:
    assert next_link({"link": '</v1/orders?page=2>; rel="next"'}) == "/v1/orders?page=2"
    paginator = strategy({"type": "link_header"})
    headers = {"link": '</v1/orders?page=2>; rel="next"'}
    assert paginator.next_position({"url": None}, page(10, headers=headers)) == {
        "url": f"{URL}?page=2"
    }


@pytest.mark.parametrize("headers", [{}, {"link": f'<{URL}?page=1>; rel="first"'}])
def test_link_header_pagination_stops_without_a_next_link(headers) -> None:
    paginator = strategy({"type": "link_header"})
    assert paginator.next_position({"url": None}, page(10, headers=headers)) is None


# --- checkpoints --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pagination",
    [
        {"type": "none"},
        {"type": "offset"},
        {"type": "page"},
        {"type": "cursor", "cursor_path": "$.next"},
        {"type": "next_url", "next_url_path": "$.next"},
        {"type": "link_header"},
    ],
)
def test_positions_survive_a_json_round_trip(pagination) -> None:
    paginator = strategy(pagination)
    body = {"next": f"{URL}?after=7"}
    headers = {"link": f'<{URL}?page=2>; rel="next"'}
    for position in (
        paginator.first_position(),
        paginator.next_position(paginator.first_position(), page(100, body, headers)),
    ):
        if position is not None:
            restored = json.loads(json.dumps(position))
            assert paginator.request_for(request(), restored) == paginator.request_for(
                request(), position
            )
