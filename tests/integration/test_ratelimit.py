"""A connection's rate limit holds across threads and processes; overload routes max-connection.

The shared limiter lives in a moto server (one process's in-memory moto cannot be shared), the
API is a local server in its own process that timestamps every arrival.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from apicall.core.models import Connection, InvokeEvent
from apicall.core.store import RunsStore
from apicall.request.execute import execute
from local import infra
from local.stack import moto_server
from tests.support.arrivals import arrivals, arrivals_server
from tests.support.ratelimit_worker import call_many, local_connection

ROOT = Path(__file__).resolve().parents[2]
STARTUP_S = 4.0  # time for the worker processes to import the layer before the common start


@pytest.fixture
def shared_runs() -> Iterator[tuple[str, Any]]:
    """RunsTable, built from template.yaml, in a moto server: (endpoint URL, boto3 Table).

    The server applies one call at a time, so that moto's conditional writes are atomic as
    DynamoDB's are (see local.stack.moto_server).
    """
    name = f"runs-{uuid.uuid4().hex[:8]}"
    with moto_server(one_call_at_a_time=True) as endpoint:
        client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
        infra.create_table(client, name, infra.table_definitions()["RunsTable"])
        resource = boto3.resource("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
        yield endpoint, resource.Table(name)


@pytest.fixture
def api() -> Iterator[str]:
    with arrivals_server() as base_url:
        yield base_url


def start_worker(
    base_url: str, count: int, name: str, start_at: float, runs: tuple[str, Any], *rate: str
) -> Any:
    """A second container: its own process, its own memory, the same RunsTable."""
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": runs[0],
        "RUNS_TABLE": runs[1].name,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "shared"), str(ROOT)]),
    }
    arguments = [base_url, str(count), name, repr(start_at), *rate]
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.ratelimit_worker", *arguments],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )


def statuses_of(process: Any) -> list[int]:
    out, _ = process.communicate(timeout=120)
    assert process.returncode == 0
    return list(json.loads(out))


def busiest_window(times: list[float], window_s: float) -> int:
    ordered = sorted(times)
    return max(sum(1 for t in ordered if start <= t < start + window_s) for start in ordered)


@pytest.mark.slow
def test_eight_threads_and_two_processes_never_exceed_20_requests_in_any_2_s_window(
    shared_runs: tuple[str, Any], api: str
) -> None:
    table = shared_runs[1]
    start_at = time.time() + STARTUP_S
    workers = [start_worker(api, 20, f"process{n}", start_at, shared_runs) for n in range(2)]
    store = RunsStore(table)
    with ThreadPoolExecutor(8) as pool:
        futures = [
            pool.submit(call_many, api, 20, f"thread{n}", start_at=start_at, store=store)
            for n in range(8)
        ]
        statuses = [status for future in futures for status in future.result()]
    statuses += [status for worker in workers for status in statuses_of(worker)]

    seen = arrivals(api)
    assert statuses == [200] * 200
    expected = {f"{caller}-{n}" for caller in [f"thread{i}" for i in range(8)] for n in range(20)}
    expected |= {f"process{i}-{n}" for i in range(2) for n in range(20)}
    assert sorted(request_id for _, _, request_id in seen) == sorted(expected)  # none lost
    assert busiest_window([at for at, _, _ in seen], 2.0) == 20


@pytest.mark.slow
def test_a_429_with_retry_after_pauses_every_caller_of_the_connection(
    shared_runs: tuple[str, Any], api: str
) -> None:
    # A limit that never binds here, and callers 0.1 s apart: only the pause can stop them.
    start_at = time.time() + STARTUP_S
    worker = start_worker(api, 10, "process", start_at, shared_runs, "1000", "1", "0.1")
    paced = functools.partial(
        call_many,
        api,
        store=RunsStore(shared_runs[1]),
        connection=local_connection(1000, 1),
        pace_s=0.1,
    )
    with ThreadPoolExecutor(3) as pool:
        callers = [pool.submit(paced, 10, f"thread{n}", start_at=start_at) for n in range(2)]
        told = pool.submit(paced, 1, "told", start_at=start_at + 0.5, path="/limited")
        assert told.result() == [429]
        assert [status for caller in callers for status in caller.result()] == [200] * 20
    assert statuses_of(worker) == [200] * 10

    seen = arrivals(api)
    (told_at,) = [at for at, path, _ in seen if path == "/limited"]
    others = [(at - told_at, request_id) for at, path, request_id in seen if path == "/ok"]
    # Requests granted before the pause was stored may still land in the first moments.
    during = [request_id for offset, request_id in others if 0.25 < offset < 2.0]
    assert during == []
    assert any(offset < 0 for offset, _ in others)
    resumed = {str(request_id).rsplit("-", 1)[0] for offset, request_id in others if offset >= 2}
    assert resumed == {"thread0", "thread1", "process"}


# --- max-connection through execute ---------------------------------------------------------


def invocation(timeout_s: float) -> InvokeEvent:
    return InvokeEvent.model_validate(
        {"request": {"connection": "crm", "url": "/orders", "timeout_s": timeout_s}}
    )


def test_pool_exhaustion_routes_max_connection(httpserver: HTTPServer, runs_table: Any) -> None:
    arrived, release = threading.Event(), threading.Event()

    def slow(request: Request) -> Response:
        arrived.set()
        release.wait(30)
        return Response("{}", mimetype="application/json")

    httpserver.expect_request("/orders").respond_with_handler(slow)
    crm = Connection(base_url=httpserver.url_for("/"), allow_private_network=True, max_in_flight=1)
    store = RunsStore(runs_table)
    first = threading.Thread(
        target=execute,
        args=(invocation(60),),
        kwargs={"store": store, "connections": lambda _: crm},
    )
    first.start()
    try:
        assert arrived.wait(30)  # the one connection of the pool is now busy

        outcome = execute(invocation(0.5), store=store, connections=lambda _: crm)
    finally:
        release.set()
        first.join()

    assert outcome.route == "max-connection"
    assert outcome.error is not None and "max_in_flight" in outcome.error.message


def test_a_rate_limit_wait_past_the_deadline_routes_max_connection(
    httpserver: HTTPServer, runs_table: Any
) -> None:
    httpserver.expect_request("/orders").respond_with_json({})
    crm = Connection.model_validate(
        {
            "base_url": httpserver.url_for("/"),
            "allow_private_network": True,
            "rate_limit": {"requests": 1, "per_s": 60},
        }
    )
    store = RunsStore(runs_table)
    assert execute(invocation(5), store=store, connections=lambda _: crm).route == "other"

    outcome = execute(invocation(20), store=store, connections=lambda _: crm)

    assert outcome.route == "max-connection"
    assert outcome.error is not None
    assert outcome.error.message == (
        "connection 'crm' (rate limit 1 requests per 60 s) has no free slot before the "
        "request's deadline"
    )
    # refused at once, not after waiting out the 20 s deadline (the next slot is 60 s away)
    assert outcome.elapsed_ms < 20_000 / 2
    assert len(httpserver.log) == 1
