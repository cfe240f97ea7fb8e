"""The GIL switch interval belongs to the fetch function's process, never to library code."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from apicall.core.models import Connection
from apicall.core.store import RecordsWriter, RunsStore
from apicall.fetch.run import parse_job, run_fetch
from tests.support.environment import HANDLER_ENVIRONMENT, in_fresh_interpreter

pytestmark = pytest.mark.usefixtures("tables")


UNUSUAL_S = 0.0042  # neither CPython's 5 ms nor the fetch function's default


@pytest.fixture
def switch_interval() -> Iterator[None]:
    """The process's switch interval set to UNUSUAL_S, and put back afterwards."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(UNUSUAL_S)
    yield
    sys.setswitchinterval(previous)


def test_a_fetch_run_leaves_the_switch_interval_of_the_process_alone(
    switch_interval: None, server: HTTPServer, tables: dict[str, Any]
) -> None:
    seen: list[float] = []  # the server runs in this process: it sees the interval mid-run

    def page(request: Request) -> Response:
        seen.append(sys.getswitchinterval())
        following = None if request.args.get("cursor") else "2"
        body = {"data": [{"id": str(len(seen))}], "next_cursor": following}
        return Response(json.dumps(body), content_type="application/json")

    server.expect_request("/orders").respond_with_handler(page)
    job = parse_job(
        {
            "job": "switch-interval",
            "request": {"connection": "local", "method": "GET", "url": "/orders"},
            "pagination": {
                "type": "cursor",
                "cursor_param": "cursor",
                "cursor_path": "$.next_cursor",
            },
            "records": {"path": "$.data[*]", "key": "$.id"},
        }
    )
    local = Connection(base_url=server.url_for(""), allow_private_network=True)

    summary = run_fetch(
        job,
        runs=RunsStore(tables["RunsTable"]),
        writer=RecordsWriter(tables["RecordsTable"]),
        connections=lambda name: local,
    )

    assert summary["status"] == "succeeded" and summary["records"] == 2
    assert seen == [UNUSUAL_S, UNUSUAL_S]
    assert sys.getswitchinterval() == UNUSUAL_S


def test_the_fetch_function_sets_the_switch_interval_of_its_setting_when_it_loads() -> None:
    # A new container: the handler module loaded in a fresh interpreter, as Lambda loads it.
    script = "import sys, functions.fetch.app; print(sys.getswitchinterval())"
    env = {**os.environ, **HANDLER_ENVIRONMENT, "FETCH_SWITCH_INTERVAL_MS": "2"}

    loaded = in_fresh_interpreter(script, env)

    assert loaded.returncode == 0, loaded.stderr[-2000:]
    assert float(loaded.stdout) == pytest.approx(0.002)
