"""Callers of one rate-limited connection, as threads of a test or as separate processes.

`python -m tests.support.ratelimit_worker BASE_URL COUNT NAME START_AT [REQUESTS PER_S PACE_S]`
sends COUNT requests from one process (a second container) through RunsTable's limiter, named by
RUNS_TABLE and reached through AWS_ENDPOINT_URL, starting at epoch START_AT, under a rate limit of
REQUESTS per PER_S (20 per 2 s), PACE_S apart at least; it prints the statuses as JSON.
"""

from __future__ import annotations

import json
import sys
import time

from apicall.core.models import Connection, RateLimit
from apicall.core.store import RunsStore
from apicall.http.client import OutgoingRequest, SendPolicy, client_for


def local_connection(requests: int = 20, per_s: float = 2) -> Connection:
    return Connection(
        allow_private_network=True,
        rate_limit=RateLimit(requests=requests, per_s=per_s),
        max_in_flight=2,
    )


def call_many(
    base_url: str,
    count: int,
    name: str,
    *,
    start_at: float,
    store: RunsStore | None = None,
    path: str = "/ok",
    timeout_s: float = 60,
    connection: Connection | None = None,
    pace_s: float = 0.0,
) -> list[int]:
    """Send `count` GETs to `path`, each carrying the id `<name>-<n>`; the statuses."""
    time.sleep(max(0.0, start_at - time.time()))
    # The container's client of the connection "shared": its limiter uses `store`'s table.
    client = client_for(connection or local_connection(), "shared", store=store)
    policy = SendPolicy(timeout_s=timeout_s, max_bytes=1024, truncate=True)
    statuses = []
    for n in range(count):
        if n:
            time.sleep(pace_s)
        request = OutgoingRequest(
            method="GET", url=f"{base_url}{path}", headers={"X-Request-Id": f"{name}-{n}"}
        )
        response = client.send(request, policy)
        statuses.append(response.status)
    return statuses


if __name__ == "__main__":
    base_url, count, name, start_at, *rest = sys.argv[1:]
    requests, per_s, pace_s = (int(rest[0]), float(rest[1]), float(rest[2])) if rest else (20, 2, 0)
    statuses = call_many(
        base_url,
        int(count),
        name,
        start_at=float(start_at),
        connection=local_connection(requests, per_s),
        pace_s=pace_s,
    )
    print(json.dumps(statuses))
