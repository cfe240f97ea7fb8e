"""The shared rate limiter's own cost: DynamoDB calls and latency per request, against no limit.

A local API (werkzeug, its own process) and moto's server (its own process: DynamoDB over HTTP,
as the limiter reaches it from Lambda) on 127.0.0.1. In the same run:

1. `send` to a connection without a rate limit (the baseline) and with one that never binds,
   interleaved by 100: latency p50/p99 and the ratio, DynamoDB calls per request (counted by a
   botocore hook on every call the limiter's client makes);
2. two processes (two containers) sending at once under a limit that never binds: calls per
   request when containers race for the same item;
3. the same two processes, 4 threads each, under a binding limit of 50 per s: calls per request
   when callers wait for their turn, and the rate the API saw.

Run: `python -m benchmarks.ratelimit_cost` (add `--quick` for fewer requests).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import httpx

from apicall.core.models import Connection, RateLimit
from apicall.core.runtime import RUNTIME
from apicall.core.store import RunsStore
from apicall.http import ratelimit
from apicall.http.client import OutgoingRequest, SendPolicy, client_for
from local import infra
from local.stack import free_port, moto_server

ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
SERVER = """
import sys
from werkzeug.serving import make_server
from werkzeug.wrappers import Response
def app(environ, start_response):
    return Response('{"ok": true}', mimetype="application/json")(environ, start_response)
make_server("127.0.0.1", int(sys.argv[1]), app, threaded=True).serve_forever()
"""
UNLIMITED = Connection(allow_private_network=True)
NEVER_BINDS = RateLimit(requests=1_000_000, per_s=1)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def wait_until_up(url: str) -> None:
    for _ in range(200):
        try:
            httpx.get(url, timeout=0.5)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not start")


def limited(limit: RateLimit) -> Connection:
    return Connection(allow_private_network=True, rate_limit=limit)


def counting_table(endpoint: str, table_name: str) -> tuple[Any, list[str]]:
    """The RunsTable resource the limiter uses, and the list its every DynamoDB call lands in."""
    table = boto3.resource("dynamodb", endpoint_url=endpoint, region_name=REGION).Table(table_name)
    calls: list[str] = []
    table.meta.client.meta.events.register(
        "before-call.dynamodb.*", lambda model, **_: calls.append(model.name)
    )
    return table, calls


def send_one(url: str, connection: Connection, store: RunsStore | None) -> None:
    client = client_for(connection, "bench", store=store)
    response = client.send(
        OutgoingRequest(method="GET", url=url),
        SendPolicy(timeout_s=30, max_bytes=1024, truncate=True),
    )
    assert response.status == 200


def worker(args: argparse.Namespace) -> None:
    """One container of phases 2 and 3: prints its requests, DynamoDB calls and seconds."""
    table, calls = counting_table(args.endpoint, args.table)
    store = RunsStore(table)
    connection = limited(RateLimit(requests=args.requests, per_s=args.per_s))
    per_thread = args.count // args.threads
    time.sleep(max(0.0, args.start_at - time.time()))
    started = time.perf_counter()
    with ThreadPoolExecutor(args.threads) as pool:

        def calls_in_a_row() -> None:
            for _ in range(per_thread):
                send_one(args.url, connection, store)

        for future in [pool.submit(calls_in_a_row) for _ in range(args.threads)]:
            future.result()
    seconds = time.perf_counter() - started
    print(json.dumps({"requests": per_thread * args.threads, "calls": len(calls), "s": seconds}))


def run_workers(
    url: str, endpoint: str, table: str, count: int, limit: RateLimit, threads: int
) -> list[dict[str, Any]]:
    start_at = time.time() + 3
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "shared"), str(ROOT)])}
    command = [sys.executable, "-m", "benchmarks.ratelimit_cost", "--worker", url, endpoint, table]
    command += [str(count), str(limit.requests), str(limit.per_s), str(threads), repr(start_at)]
    processes = [
        subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = []
    for process in processes:
        out, _ = process.communicate(timeout=600)
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def main(quick: bool) -> None:
    total = 400 if quick else 2000
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    api_port = free_port()
    api = subprocess.Popen([sys.executable, "-c", SERVER, str(api_port)], stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{api_port}/ok"
    try:
        with moto_server(in_process=False) as endpoint:
            wait_until_up(url)
            measure(url, endpoint, quick, total)
    finally:
        api.terminate()
        api.wait()


def measure(url: str, endpoint: str, quick: bool, total: int) -> None:
    """Phases 1 to 3 (see the module docstring) against the API at `url` and moto."""
    table_name = f"bench-runs-{uuid.uuid4().hex[:6]}"
    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name=REGION)
    infra.create_table(client, table_name, infra.table_definitions()["RunsTable"])
    table, calls = counting_table(endpoint, table_name)
    store = RunsStore(table)
    connection = limited(NEVER_BINDS)

    # 1. one caller, warm: the limiter's cost on every request
    for _ in range(50):
        send_one(url, UNLIMITED, None)
        send_one(url, connection, store)
    bare: list[float] = []
    with_limit: list[float] = []
    calls.clear()
    for _ in range(total // 100):
        for conn, runs, sink in ((UNLIMITED, None, bare), (connection, store, with_limit)):
            for _ in range(100):
                started = time.perf_counter()
                send_one(url, conn, runs)
                sink.append(time.perf_counter() - started)
    print(f"1. one warm caller, {len(bare)} requests each, interleaved by 100")
    for name, q in (("p50", 0.5), ("p99", 0.99)):
        b, w = percentile(bare, q) * 1000, percentile(with_limit, q) * 1000
        print(f"   {name}: no limit {b:.2f} ms, with limit {w:.2f} ms, ratio {w / b:.2f}")
    added_ms = (statistics.mean(with_limit) - statistics.mean(bare)) * 1000
    print(f"   mean added per request: {added_ms:.2f} ms")
    per_request = len(calls) / len(with_limit)
    print(f"   DynamoDB calls per request: {per_request:.2f} {sorted(set(calls))}, no limit: 0")

    # 2. two containers racing for the item, limit never binds
    RUNTIME.reset()  # a new container: no limiter state seen yet
    results = run_workers(url, endpoint, table_name, total // 2, NEVER_BINDS, 1)
    requests = sum(r["requests"] for r in results)
    print(f"2. two containers at once, limit never binds: {requests} requests")
    print(f"   DynamoDB calls per request: {sum(r['calls'] for r in results) / requests:.2f}")

    # 3. two containers x 4 threads under a binding limit
    binding = RateLimit(requests=50, per_s=1)
    count = 200 if quick else 600
    results = run_workers(url, endpoint, table_name, count, binding, 4)
    requests = sum(r["requests"] for r in results)
    seconds = max(r["s"] for r in results)
    print(f"3. two containers x 4 threads, limit 50 per s: {requests} in {seconds:.1f} s")
    ceiling = 50 / (1 + ratelimit.margin_s(binding))
    rate = requests / seconds
    print(f"   rate seen: {rate:.1f} per s (the limit with its margin: {ceiling:.1f})")
    print(f"   DynamoDB calls per request: {sum(r['calls'] for r in results) / requests:.2f}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        parser = argparse.ArgumentParser()
        for name in ("url", "endpoint", "table"):
            parser.add_argument(name)
        parser.add_argument("count", type=int)
        parser.add_argument("requests", type=int)
        parser.add_argument("per_s", type=float)
        parser.add_argument("threads", type=int)
        parser.add_argument("start_at", type=float)
        worker(parser.parse_args(sys.argv[2:]))
    else:
        parser = argparse.ArgumentParser()
        parser.add_argument("--quick", action="store_true")
        main(parser.parse_args().quick)
