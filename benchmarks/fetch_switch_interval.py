"""Does a short GIL switch interval speed up a fetch against an API with a realistic latency?

While one page is mapped in the main thread, the next is fetched in a worker thread. When the
worker's socket read returns it must take the GIL back from the mapping thread, which CPython
hands over only every `sys.getswitchinterval()` seconds (5 ms by default). Against a local server
that answers at once that wait is most of a page's time; this measures whether it still matters
when every page takes as long as a real API's (20 ms by default).

The demo API's cursor route runs in its own process (no shared GIL) behind a WSGI wrapper that
sleeps `--latency-ms` before each page. For each page size, `run_fetch` (writes going nowhere, as
in `benchmarks.fetch_throughput`) runs interleaved rounds at the default 5 ms interval and at
0.5 ms, in this one process; the figure is the ratio of their median records/s.

Run: `python -m benchmarks.fetch_switch_interval` (`--latency-ms 0` for a server that answers at
once, `--rounds`, `--pages`).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

from benchmarks.fetch_throughput import fetch_nowhere, job_event, start_in_process

DEFAULT_INTERVAL_S = 0.005  # CPython's
SHORT_INTERVAL_S = 0.0005  # what fetching.py used to set while pages overlapped
PAGE_SIZES = (100, 1000)  # the demo API's max_limit is 1000


def serve(port: int, total: int, latency_s: float) -> None:
    import logging

    from werkzeug.serving import make_server

    from local.demo_api import DemoAPI

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    app = DemoAPI()
    app.orders.total = total

    def slow_pages(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ["PATH_INFO"].startswith("/paged/"):
            time.sleep(latency_s)
        return app(environ, start_response)

    make_server("127.0.0.1", port, slow_pages, threaded=True).serve_forever()


def start_server(total: int, latency_s: float) -> tuple[multiprocessing.Process, str]:
    return start_in_process(serve, total, latency_s)


def fetch(url: str, page_size: int, pages: int, interval_s: float, job: str) -> float:
    """Records/s of one run of `pages` pages with the switch interval set to `interval_s`."""
    event = job_event() | {"job": job, "max_pages": pages}
    event["pagination"]["limit"] = page_size
    previous = sys.getswitchinterval()
    sys.setswitchinterval(interval_s)
    try:
        records, elapsed = fetch_nowhere(url, event=event)
    finally:
        sys.setswitchinterval(previous)
    assert records == pages * page_size, records
    return records / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--latency-ms", type=float, default=20.0, help="server time per page")
    parser.add_argument("--pages", type=int, default=50, help="pages per run")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved runs per setting")
    args = parser.parse_args()
    latency_s = args.latency_ms / 1000
    results: dict[str, Any] = {
        "latency_ms": args.latency_ms,
        "pages_per_run": args.pages,
        "rounds": args.rounds,
        "intervals_ms": [DEFAULT_INTERVAL_S * 1000, SHORT_INTERVAL_S * 1000],
    }
    server, url = start_server(max(PAGE_SIZES) * args.pages, latency_s)
    try:
        fetch(url, 100, 5, DEFAULT_INTERVAL_S, "warmup")  # imports, pool, JSONPath caches
        for size in PAGE_SIZES:
            default, short = [], []
            for i in range(args.rounds):  # interleaved: both see the same (shared) machine
                default.append(fetch(url, size, args.pages, DEFAULT_INTERVAL_S, f"d-{size}-{i}"))
                short.append(fetch(url, size, args.pages, SHORT_INTERVAL_S, f"s-{size}-{i}"))
            floor = size / max(latency_s, 1e-9)  # records/s if pages took only the latency
            results[f"page_{size}"] = {
                "records_per_s_5ms": round(statistics.median(default)),
                "records_per_s_0_5ms": round(statistics.median(short)),
                "ratio_0_5ms_to_5ms": round(
                    statistics.median(short) / statistics.median(default), 3
                ),
                "best_ratio": round(max(short) / max(default), 3),
                "latency_bound_records_per_s": round(floor) if latency_s else None,
            }
    finally:
        server.terminate()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
