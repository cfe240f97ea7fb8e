"""The fetch function's CPU per record once a page has arrived: parse the body (with its depth
check), map the 6 typed fields of events/fetch_cursor.json, redact the items. No server and no
threads, so unlike fetch_throughput's records/s it hardly moves with the load of a shared machine.

One page of 100 demo orders, timed 5 x 300 times in this interpreter; the best of the 5.
Run: `python -m benchmarks.fetch_page_cpu`.
"""

from __future__ import annotations

import json
import timeit

from apicall.core.redaction import redact
from apicall.fetch.records import RecordMapper
from apicall.fetch.run import parse_job
from apicall.request.decoding import parse_body
from benchmarks.fetch_throughput import job_event
from local.demo_api import API_KEY
from local.demo_pagination import order

RECORDS = 100


def main() -> None:
    job = parse_job(job_event())
    raw = json.dumps({"data": [order(n) for n in range(RECORDS)], "next_cursor": "c"}).encode()
    mapper = RecordMapper(job, "bench")
    secrets = {API_KEY}  # the demo connection's credential, redacted from every item

    def one_page() -> None:
        body, _ = parse_body(raw, "application/json", "json")
        redact(mapper.map_page(body["data"], 1).items, secrets)

    runs = 300
    best = min(timeit.repeat(one_page, number=runs, repeat=5)) / runs
    print(f"{best / RECORDS * 1e6:.2f} us per record (parse + map 6 fields + redact)")


if __name__ == "__main__":
    main()
