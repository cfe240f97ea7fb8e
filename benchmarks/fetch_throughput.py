"""Fetch throughput: 100,000 orders (1,000 cursor pages of 100) from the demo API.

The demo API runs in its own process, so its work does not compete for this interpreter's GIL.
In the same run this measures:

1. a bare httpx loop that follows the same cursor (GET, parse JSON, count the records);
2. `run_fetch` with writes going nowhere (records and checkpoints to in-memory sinks): the
   fetch-and-map path, as records/s and as a ratio to (1);
3. `run_fetch` with moto DynamoDB for RecordsTable and RunsTable, and its BatchWriteItem calls;
4. peak memory (VmHWM of a fresh child process) of (2) for 100,000 and 500,000 records.

Run: `python -m benchmarks.fetch_throughput` (add `--quick` for 10,000 records).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from apicall.core.models import Connection
from apicall.core.store import RecordsWriter, RunsStore, WriteReport
from apicall.fetch.run import parse_job, run_fetch
from local.demo_api import API_KEY
from local.stack import free_port

ROOT = Path(__file__).resolve().parent.parent
PAGE = 100


def serve(port: int, total: int) -> None:
    import logging

    from werkzeug.serving import make_server

    from local.demo_api import DemoAPI

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    app = DemoAPI()
    app.orders.total = total
    make_server("127.0.0.1", port, app, threaded=True).serve_forever()


def start_server(total: int) -> tuple[multiprocessing.Process, str]:
    return start_in_process(serve, total)


def start_in_process(target: Any, *args: Any) -> tuple[multiprocessing.Process, str]:
    """`target(port, *args)` serving HTTP in a process of its own, once it answers /health."""
    port = free_port()
    process = multiprocessing.get_context("spawn").Process(
        target=target, args=(port, *args), daemon=True
    )
    process.start()
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            httpx.get(f"{url}/health", timeout=1)
            return process, url
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError("demo API did not start")


def job_event() -> dict[str, Any]:
    event = json.loads((ROOT / "events" / "fetch_cursor.json").read_text())
    event.pop("incremental")
    event["pagination"]["limit"] = PAGE
    event["max_pages"] = 1_000_000
    return event


def connection(url: str) -> Connection:
    return Connection.model_validate(
        {
            "base_url": url,
            "auth": {"type": "api_key", "name": "X-API-Key", "value": API_KEY, "in": "header"},
            "allow_private_network": True,
        }
    )


class NullWriter:
    """Records go nowhere; counts them."""

    calls = 0

    def write(self, items: list[dict[str, Any]], *, check_size: bool = True) -> WriteReport:
        return WriteReport(written=len(items))


class MemoryTable:
    """An in-memory stand-in for RunsTable: checkpoints go nowhere slow."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}

    def put_item(self, Item: dict[str, Any], **_: Any) -> None:
        self.items[(Item["pk"], Item["sk"])] = Item

    def get_item(self, Key: dict[str, str], **_: Any) -> dict[str, Any]:
        item = self.items.get((Key["pk"], Key["sk"]))
        return {"Item": item} if item else {}


def bare_loop(url: str) -> tuple[int, float]:
    """Follow the cursor with a plain httpx.Client: the floor for any fetch."""
    started = time.perf_counter()
    records, cursor = 0, None
    with httpx.Client(base_url=url, headers={"X-API-Key": API_KEY}) as client:
        while True:
            params: dict[str, Any] = {"limit": PAGE}
            if cursor:
                params["cursor"] = cursor
            body = client.get("/paged/orders/cursor", params=params).json()
            records += len(body["data"])
            cursor = body["next_cursor"]
            if not cursor:
                return records, time.perf_counter() - started


def fetch_nowhere(
    url: str, job: str = "bench", event: dict[str, Any] | None = None
) -> tuple[int, float]:
    """Records fetched and seconds taken by one run of `event` (the cursor job by default), with
    records and checkpoints written nowhere."""
    event = event if event is not None else job_event() | {"job": job}
    started = time.perf_counter()
    summary = run_fetch(
        parse_job(event),
        runs=RunsStore(MemoryTable()),
        writer=NullWriter(),
        connections=lambda name: connection(url),
    )
    assert summary["status"] == "succeeded", summary
    return summary["records"], time.perf_counter() - started


def fetch_to_moto(url: str) -> tuple[int, float, int, int]:
    import boto3
    from moto import mock_aws

    from local import infra

    with mock_aws():
        dynamodb = boto3.Session(region_name="us-east-1")
        tables = {}
        for logical_id, properties in infra.table_definitions().items():
            infra.create_table(dynamodb.client("dynamodb"), logical_id, properties)
            tables[logical_id] = dynamodb.resource("dynamodb").Table(logical_id)
        writer = RecordsWriter(tables["RecordsTable"])
        started = time.perf_counter()
        summary = run_fetch(
            parse_job(job_event()),
            runs=RunsStore(tables["RunsTable"]),
            writer=writer,
            connections=lambda name: connection(url),
        )
        elapsed = time.perf_counter() - started
        assert summary["status"] == "succeeded", summary
        count = tables["RecordsTable"].item_count
        return summary["records"], elapsed, writer.calls, count or summary["records"]


def peak_memory_mb(url: str, records: int) -> float:
    """Peak RSS (VmHWM) of a fresh interpreter that fetches `records` records, writes nowhere.

    VmHWM belongs to the new process image; ru_maxrss would also count the parent's pages the
    child had before exec.
    """
    code = (
        "from benchmarks.fetch_throughput import fetch_nowhere\n"
        f"n, _ = fetch_nowhere({url!r})\n"
        f"assert n == {records}, n\n"
        "status = open('/proc/self/status').read().split('VmHWM:')[1]\n"
        "print(int(status.split()[0]) / 1024)\n"
    )
    env = {"PYTHONPATH": f"{ROOT / 'shared'}:{ROOT}", "PATH": "/usr/bin:/bin"}
    env["POWERTOOLS_LOG_LEVEL"] = "WARNING"
    output = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env
    ).stdout
    return float(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10,000 records, no memory runs")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory runs")
    args = parser.parse_args()
    # What the fetch function sets once per container (FETCH_SWITCH_INTERVAL_MS' default), so
    # run_fetch is measured as it runs in Lambda.
    sys.setswitchinterval(0.0005)
    total = 10_000 if args.quick else 100_000
    results: dict[str, Any] = {"records": total, "page_size": PAGE}

    server, url = start_server(total)
    try:
        fetch_nowhere(url, job="warmup")  # imports, connection pool, JSONPath compile caches
        # Interleaved rounds, best of each: both paths see the same (shared, noisy) machine.
        bare, nowhere = [], []
        for i in range(3):
            bare.append(bare_loop(url))
            nowhere.append(fetch_nowhere(url, job=f"bench-{i}"))
        assert all(n == total for n, _ in bare + nowhere)
        bare_rps = max(n / s for n, s in bare)
        nowhere_rps = max(n / s for n, s in nowhere)
        results |= {
            "bare_httpx_records_per_s": round(bare_rps),
            "fetch_and_map_records_per_s": round(nowhere_rps),
            "ratio_to_bare_loop": round(nowhere_rps / bare_rps, 2),
        }
        stored, seconds, calls, count = fetch_to_moto(url)
        pages = total // PAGE
        results |= {
            "moto_records_per_s": round(stored / seconds),
            "moto_records_stored": count,
            "batch_write_item_calls": calls,
            "batch_write_item_limit": total // 25 + pages,
        }
    finally:
        server.terminate()

    if not (args.quick or args.no_memory):
        for size in (100_000, 500_000):
            server, url = start_server(size)
            try:
                results[f"peak_rss_mb_{size}"] = round(peak_memory_mb(url, size), 1)
            finally:
                server.terminate()
        growth = results["peak_rss_mb_500000"] / results["peak_rss_mb_100000"] - 1
        results["memory_growth_100k_to_500k"] = f"{growth:+.1%}"
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
