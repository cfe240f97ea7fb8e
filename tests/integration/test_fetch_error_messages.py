"""A fetch that fails on a status reports the request's `errors` message, as execute does."""

from __future__ import annotations

import pytest
from pytest_httpserver import HTTPServer

from functions.fetch import app
from local.stack import LocalContext


@pytest.mark.parametrize(
    ("status", "errors", "message"),
    [
        (404, {"404": "No such list", "4xx": "Refused"}, "HTTP 404 No such list"),
        (403, {"404": "No such list", "4xx": "Refused"}, "HTTP 403 Refused"),
        (503, {"4xx": "Refused"}, "HTTP 503 Service Unavailable"),
    ],
)
def test_a_failed_page_takes_the_message_of_its_code_then_its_class(
    status: int, errors: dict[str, str], message: str, server: HTTPServer, put_connection, tables
) -> None:
    server.expect_request("/items").respond_with_data("no", status=status)
    put_connection(
        "pages",
        {"base_url": server.url_for("/"), "allow_private_network": True, "retry": {"attempts": 1}},
    )
    job = {
        "job": "failing-items",
        "request": {"connection": "pages", "url": "/items", "errors": errors},
        "records": {"path": "$.data[*]", "key": "$.id"},
    }

    result = app.handler(job, LocalContext("FetchFunction", 900))

    assert result["status"] == "failed"
    assert result["error"]["message"] == message and result["error"]["status"] == status
