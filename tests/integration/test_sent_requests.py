"""What reaches a real server: every query pair of a URL and its params, and multipart bodies.

httpx 0.28 replaces a URL's query with `params=`; these send through the layer (a request, a
redirect, a fetch following next links) and read what the server parsed.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from apicall.builder import discover
from apicall.core.models import Connection, InvokeEvent
from apicall.core.store import RunsStore
from apicall.request.execute import execute
from functions.fetch import app as fetch_app
from local.stack import LocalContext

LOCAL = Connection(allow_private_network=True, retry={"attempts": 1})


def run(
    request: dict[str, Any],
    tables: dict[str, Any],
    connection: Connection = LOCAL,
    **invocation: Any,
) -> dict[str, Any]:
    outcome = execute(
        InvokeEvent.model_validate({"request": {"connection": "local", **request}, **invocation}),
        store=RunsStore(tables["RunsTable"]),
        connections=lambda _name: connection,
    )
    return outcome.model_dump()


def pairs_seen(request: Request) -> Response:
    """Answers the query pairs it was sent, in order, repeats kept."""
    seen = list(request.args.items(multi=True))
    return Response(json.dumps(seen), content_type="application/json")


# --- query --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "query", "seen"),
    [
        ("/items?a=1", [["b", "2"]], [["a", "1"], ["b", "2"]]),
        ("/items?tag=x", [["tag", "y"]], [["tag", "x"], ["tag", "y"]]),
        ("/items?page=2#frag", [["state", "all"]], [["page", "2"], ["state", "all"]]),
    ],
)
def test_a_spec_url_with_a_query_of_its_own_sends_it_with_the_query_pairs(
    url: str, query: list[list[str]], seen: list[list[str]], server: HTTPServer, tables
) -> None:
    server.expect_request("/items").respond_with_handler(pairs_seen)

    outcome = run({"url": server.url_for(url), "query": query}, tables)

    assert outcome["ok"], outcome["error"]
    assert outcome["body"] == seen


def test_a_redirect_sends_the_location_query_not_the_first_hop_query(
    server: HTTPServer, tables
) -> None:
    server.expect_request("/start").respond_with_response(
        Response(status=302, headers={"Location": "/end?c=3"})
    )
    server.expect_request("/end").respond_with_handler(pairs_seen)

    outcome = run({"url": server.url_for("/start?a=1"), "query": [["b", "2"]]}, tables)

    assert outcome["body"] == [["c", "3"]]
    first_hop = server.log[0][0]
    assert list(first_hop.args.items(multi=True)) == [("a", "1"), ("b", "2")]


def test_an_api_key_in_the_query_joins_the_url_query_and_the_query_pairs(
    server: HTTPServer, tables
) -> None:
    server.expect_request("/items").respond_with_handler(pairs_seen)
    connection = Connection.model_validate(
        {
            "allow_private_network": True,
            "auth": {"type": "api_key", "in": "query", "name": "key", "value": "k-1"},
        }
    )

    outcome = run({"url": server.url_for("/items?a=1"), "query": [["b", "2"]]}, tables, connection)

    assert outcome["ok"]
    sent = server.log[0][0]
    assert list(sent.args.items(multi=True)) == [("a", "1"), ("b", "2"), ("key", "k-1")]


def test_an_oauth_token_url_with_a_query_of_its_own_keeps_it(server: HTTPServer, tables) -> None:
    token_queries: list[list[tuple[str, str]]] = []

    def token(request: Request) -> Response:
        token_queries.append(list(request.args.items(multi=True)))
        issued = {"access_token": "t-1", "token_type": "bearer", "expires_in": 3600}
        return Response(json.dumps(issued), content_type="application/json")

    server.expect_request("/oauth/token", method="POST").respond_with_handler(token)
    server.expect_request("/items").respond_with_handler(pairs_seen)
    connection = Connection.model_validate(
        {
            "allow_private_network": True,
            "auth": {
                "type": "oauth2_client_credentials",
                "token_url": server.url_for("/oauth/token?api-version=2"),
                "client_id": "client",
                "client_secret": "secret",
            },
        }
    )

    outcome = run({"url": server.url_for("/items?a=1"), "query": [["b", "2"]]}, tables, connection)

    assert token_queries == [[("api-version", "2")]]
    assert outcome["body"] == [["a", "1"], ["b", "2"]]


def test_a_discovery_url_with_a_query_of_its_own_keeps_it(server: HTTPServer) -> None:
    def document(request: Request) -> Response:
        info = {"title": json.dumps(list(request.args.items(multi=True))), "version": "1"}
        answer = {"openapi": "3.0.3", "info": info, "paths": {}}
        return Response(json.dumps(answer), content_type="application/json")

    server.expect_request("/openapi").respond_with_handler(document)

    fetched = discover.fetch_document(server.url_for("/openapi?format=json&v=3"), LOCAL)

    assert json.loads(fetched["info"]["title"]) == [["format", "json"], ["v", "3"]]


# The API's next links name only the page, as many do; the job's own pairs must still go along.
@pytest.mark.parametrize(
    ("pagination", "link"),
    [
        ({"type": "link_header"}, lambda page: {"Link": f'</issues?page={page}>; rel="next"'}),
        ({"type": "next_url", "next_url_path": "$.next"}, lambda page: {}),
    ],
    ids=["link_header", "next_url"],
)
def test_a_next_link_with_its_own_query_keeps_the_job_query_pairs(
    pagination: dict[str, Any], link: Any, server: HTTPServer, put_connection, tables
) -> None:
    seen: list[list[tuple[str, str]]] = []

    def issues(request: Request) -> Response:
        seen.append(list(request.args.items(multi=True)))
        page = int(request.args.get("page", "1"))
        more = page < 3
        body = {"data": [{"id": f"{page}-{n}"} for n in range(2)]}
        if more and pagination["type"] == "next_url":
            body["next"] = f"/issues?page={page + 1}"
        headers = link(page + 1) if more else {}
        return Response(json.dumps(body), content_type="application/json", headers=headers)

    server.expect_request("/issues").respond_with_handler(issues)
    put_connection("pages", {"base_url": server.url_for("/"), "allow_private_network": True})
    job = {
        "job": f"issues-{pagination['type']}",
        "request": {
            "connection": "pages",
            "url": "/issues",
            "query": [["state", "all"], ["per_page", "2"]],
        },
        "pagination": pagination,
        "records": {"path": "$.data[*]", "key": "$.id"},
    }

    result = fetch_app.handler(job, LocalContext("FetchFunction", 900))

    assert result["status"] == "succeeded", result
    assert seen == [
        [("state", "all"), ("per_page", "2")],
        [("page", "2"), ("state", "all"), ("per_page", "2")],
        [("page", "3"), ("state", "all"), ("per_page", "2")],
    ]


# --- multipart ----------------------------------------------------------------------------------


def form_seen(request: Request) -> Response:
    """Answers how the server parsed the body."""
    answer = {
        "content_type": request.mimetype,
        "form": list(request.form.items(multi=True)),
        "files": sorted(request.files),
    }
    return Response(json.dumps(answer), content_type="application/json")


@pytest.mark.parametrize(
    ("fields", "form"),
    [
        ({"folder": "invoices"}, [["folder", "invoices"]]),
        ({"a": "1", "b": "two words", "n": 3}, [["a", "1"], ["b", "two words"], ["n", "3"]]),
        ({"note": "{note}"}, [["note", "Zoë & co"]]),
    ],
)
def test_a_multipart_body_with_fields_and_no_files_reaches_the_server_as_multipart(
    fields: dict[str, Any], form: list[list[str]], server: HTTPServer, tables
) -> None:
    server.expect_request("/upload", method="POST").respond_with_handler(form_seen)

    outcome = run(
        {
            "method": "POST",
            "url": server.url_for("/upload"),
            "body": {"type": "multipart", "fields": fields},
        },
        tables,
        values={"note": "Zoë & co"},
    )

    assert outcome["body"] == {"content_type": "multipart/form-data", "form": form, "files": []}


def test_an_empty_multipart_body_reaches_the_server_as_multipart(
    server: HTTPServer, tables
) -> None:
    server.expect_request("/upload", method="POST").respond_with_handler(form_seen)

    outcome = run(
        {"method": "POST", "url": server.url_for("/upload"), "body": {"type": "multipart"}}, tables
    )

    assert outcome["body"] == {"content_type": "multipart/form-data", "form": [], "files": []}
