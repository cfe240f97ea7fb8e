"""A local API that timestamps every request it receives, run in its own process.

`python -m tests.support.arrivals PORT` serves:
  /limited       429 with `Retry-After: 2`
  /arrivals      the JSON list of [epoch seconds, path, X-Request-Id] of every other request
  anything else  200 `{"ok": true}`
Its own process keeps the timestamps free of the callers' GIL contention.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from werkzeug import Request, Response
from werkzeug.serving import make_server

from local.stack import free_port, wait_for_port

_arrivals: list[list[object]] = []
_lock = threading.Lock()


@Request.application
def app(request: Request) -> Response:
    if request.path == "/arrivals":
        with _lock:
            return Response(json.dumps(_arrivals), mimetype="application/json")
    with _lock:
        _arrivals.append([time.time(), request.path, request.headers.get("X-Request-Id")])
    if request.path == "/limited":
        return Response("slow down", status=429, headers={"Retry-After": "2"})
    return Response('{"ok": true}', mimetype="application/json")


@contextmanager
def arrivals_server() -> Iterator[str]:
    """Start the server in a subprocess; yields its base URL."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "tests.support.arrivals", str(port)])
    try:
        wait_for_port(port, process=process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def arrivals(base_url: str) -> list[tuple[float, str, str | None]]:
    answer = httpx.get(f"{base_url}/arrivals", timeout=10).json()
    return [(float(at), str(path), request_id) for at, path, request_id in answer]


if __name__ == "__main__":
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    make_server("127.0.0.1", int(sys.argv[1]), app, threaded=True).serve_forever()
