"""Warm request overhead: apicall's execute() vs a bare reused httpx.Client, same server, same run.

2,000 GETs each to a local server on 127.0.0.1 (a separate process, so server work does not
compete for this interpreter's GIL), interleaved in rounds of 100 so both paths see the same
machine state. execute() does everything a warm invocation does (validate, render, send with
deadline and retry policy, parse, map 3 typed fields, build the Outcome) except the history
write, which is measured on its own against moto. Run: `python -m benchmarks.request_warm_overhead`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import httpx

from apicall.core.models import Connection, InvokeEvent
from apicall.http.client import client_for
from apicall.request.execute import execute
from local.stack import free_port

# A minimal keep-alive HTTP/1.1 server on asyncio: fast and steady, so the figures are about the
# client side. It answers every GET with the same JSON document.
SERVER = """
import asyncio, json, sys
DOC = {"data": {"id": "42", "name": "Ada", "balance": 12.5, "tags": ["a", "b"]}}
BODY = json.dumps(DOC).encode()
HEAD = (
    b"HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\n"
    b"Content-Length: " + str(len(BODY)).encode() + b"\\r\\n\\r\\n"
)
async def serve(reader, writer):
    try:
        while await reader.readuntil(b"\\r\\n\\r\\n"):
            writer.write(HEAD + BODY)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()
async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", int(sys.argv[1]))
    await server.serve_forever()
asyncio.run(main())
"""

SPEC = {
    # A connection that allows the loopback benchmark server past the URL guard.
    "connection": "bench",
    "url": "{base}/customers/{id}",
    "method": "GET",
    "query": [["expand", "tags"]],
    "headers": {"Accept": "application/json"},
    "response": {
        "data_path": "$.data",
        "fields": [
            {"name": "id", "type": "string", "path": "$.id"},
            {"name": "name", "type": "string", "path": "$.name"},
            {"name": "balance", "type": "number", "path": "$.balance"},
        ],
    },
    "routes": ["200"],
}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def wait_until_up(url: str) -> None:
    for _ in range(100):
        try:
            httpx.get(url, timeout=0.5)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError("benchmark server did not start")


def main(total: int = 2000) -> None:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port)])
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base)
        spec: dict[str, Any] = json.loads(json.dumps(SPEC).replace("{base}", base))
        connection = Connection(allow_private_network=True)
        invocation = InvokeEvent.model_validate({"request": spec, "values": {"id": "42"}})
        bare = httpx.Client()
        bare_url = f"{base}/customers/42"
        # httpx used the way apicall uses it: the connection's own client (no cookie jar, the
        # guarded transport) and the query already in the URL (one parse). The gap to this one
        # is apicall's own work per request.
        tuned = client_for(connection).http
        tuned_url = f"{bare_url}?expand=tags"

        def run_bare() -> None:
            response = bare.get(
                bare_url, params=[("expand", "tags")], headers={"Accept": "application/json"}
            )
            response.json()

        def run_tuned() -> None:
            tuned.get(tuned_url, headers={"Accept": "application/json"}).json()

        def run_apicall() -> None:
            outcome = execute(
                invocation,
                connections=lambda name: connection,
                record_history=False,
            )
            assert outcome.ok and outcome.data == {"id": "42", "name": "Ada", "balance": 12.5}

        paths = {"bare": run_bare, "tuned": run_tuned, "apicall": run_apicall}
        for _ in range(50):
            for fn in paths.values():
                fn()
        times: dict[str, list[float]] = {name: [] for name in paths}
        for _ in range(total // 100):
            for name, fn in paths.items():
                sink = times[name]
                for _ in range(100):
                    started = time.perf_counter()
                    fn()
                    sink.append(time.perf_counter() - started)
        for label, q in (("p50", 0.50), ("p99", 0.99)):
            b, t, a = (percentile(times[name], q) * 1000 for name in paths)
            print(
                f"{label}: bare httpx {b:.3f} ms, apicall execute {a:.3f} ms, ratio {a / b:.3f}"
                f" | tuned httpx {t:.3f} ms, ratio to it {a / t:.3f}"
            )
        print(f"requests: {total} per path ({', '.join(paths)}), interleaved by 100")
        print("target: p50 ratio to bare httpx <= 1.20")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
