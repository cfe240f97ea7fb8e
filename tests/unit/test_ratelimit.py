"""The shared rate limiter against moto's DynamoDB, on a fake clock (no waiting, no network)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from apicall.core.errors import CapacityExceeded
from apicall.core.models import RateLimit
from apicall.core.runtime import RUNTIME
from apicall.http import ratelimit
from apicall.http.ratelimit import Bucket, LimiterState, RateLimiter


class FakeClock:
    """Epoch seconds that move only when a caller sleeps."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def limiter(runs_table: Any, clock: FakeClock) -> RateLimiter:
    return RateLimiter(runs_table, clock=clock, sleep=clock.sleep)


def far() -> float:
    return time.monotonic() + 3600


def grant_times(limiter: RateLimiter, clock: FakeClock, limit: RateLimit, n: int) -> list[float]:
    times = []
    for _ in range(n):
        limiter.acquire("crm", limit, deadline=far())
        times.append(clock.now)
    return times


def max_in_any_window(times: list[float], window_s: float) -> int:
    return max(sum(1 for t in times if start <= t < start + window_s) for start in times)


def count_calls(table: Any) -> list[str]:
    calls: list[str] = []
    table.meta.client.meta.events.register(
        "before-call.dynamodb.*", lambda model, **_: calls.append(model.name)
    )
    return calls


def test_grants_up_to_the_limit_without_waiting(limiter: RateLimiter, clock: FakeClock) -> None:
    grant_times(limiter, clock, RateLimit(requests=5, per_s=10), 5)

    assert clock.sleeps == []


def test_the_next_request_waits_until_the_oldest_grant_leaves_the_window(
    limiter: RateLimiter, clock: FakeClock
) -> None:
    limit = RateLimit(requests=2, per_s=10)
    first = grant_times(limiter, clock, limit, 2)[0]

    (third,) = grant_times(limiter, clock, limit, 1)

    window = limit.per_s + ratelimit.margin_s(limit)
    assert first + window <= third <= first + window + ratelimit.MAX_JITTER_S


def test_no_sliding_window_holds_more_than_the_limit_across_a_boundary(
    limiter: RateLimiter, clock: FakeClock
) -> None:
    # A token bucket lets a burst at the end of one window and another at the start of the next.
    limit = RateLimit(requests=20, per_s=2)
    clock.now += 1.9
    times = grant_times(limiter, clock, limit, 100)

    assert max_in_any_window(times, 2.0) == 20


def test_a_wait_past_the_deadline_fails_at_once_naming_connection_and_limit(
    limiter: RateLimiter, clock: FakeClock
) -> None:
    limit = RateLimit(requests=1, per_s=60)
    grant_times(limiter, clock, limit, 1)

    with pytest.raises(CapacityExceeded) as caught:
        limiter.acquire("crm", limit, deadline=time.monotonic() + 5)

    assert "'crm'" in caught.value.message
    assert "1 requests per 60 s" in caught.value.message
    assert caught.value.field == "rate_limit"
    assert clock.sleeps == []


def test_a_pause_holds_every_caller_until_it_ends(
    runs_table: Any, limiter: RateLimiter, clock: FakeClock
) -> None:
    other_container = RateLimiter(runs_table, clock=clock, sleep=clock.sleep)
    limit = RateLimit(requests=100, per_s=1)
    grant_times(limiter, clock, limit, 1)
    paused_at = clock.now

    limiter.pause("crm", 2)
    RUNTIME.reset()  # the other container has never seen the pause
    other_container.acquire("crm", limit, deadline=far())

    assert clock.now >= paused_at + 2


def test_a_paused_connection_fails_before_the_deadline_saying_why(
    limiter: RateLimiter, clock: FakeClock
) -> None:
    limiter.pause("crm", 30)

    with pytest.raises(CapacityExceeded, match="paused by the API's Retry-After"):
        limiter.acquire("crm", RateLimit(requests=100, per_s=1), deadline=time.monotonic() + 5)


def test_a_shorter_pause_does_not_cut_a_longer_one(limiter: RateLimiter, clock: FakeClock) -> None:
    limiter.pause("crm", 30)
    limiter.pause("crm", 1)
    start = clock.now

    limiter.acquire("crm", RateLimit(requests=100, per_s=1), deadline=far())

    assert clock.now >= start + 30


def test_a_warm_caller_makes_one_dynamodb_call_per_request(
    runs_table: Any, limiter: RateLimiter, clock: FakeClock
) -> None:
    limit = RateLimit(requests=1000, per_s=60)
    grant_times(limiter, clock, limit, 1)
    calls = count_calls(runs_table)

    grant_times(limiter, clock, limit, 10)

    assert calls == ["UpdateItem"] * 10


def test_a_stale_caller_learns_the_item_from_its_failed_write(
    runs_table: Any, limiter: RateLimiter, clock: FakeClock
) -> None:
    limit = RateLimit(requests=3, per_s=10)
    grant_times(limiter, clock, limit, 1)
    stale = ratelimit._seen.items()
    grant_times(limiter, clock, limit, 2)
    for key, state in stale:  # another container that saw only the first grant
        ratelimit._seen.put(key, state)
    calls = count_calls(runs_table)
    start = clock.now

    grant_times(limiter, clock, limit, 1)

    # The failed write answered the current item: no extra read, and the full window was kept.
    assert calls == ["UpdateItem", "UpdateItem"]
    assert clock.now >= start + limit.per_s


def test_an_unreachable_table_is_capacity_exceeded(aws: Any, clock: FakeClock) -> None:
    missing = aws.resource("dynamodb").Table("no-such-table")
    limiter = RateLimiter(missing, clock=clock, sleep=clock.sleep)

    with pytest.raises(CapacityExceeded, match="rate limiter of connection 'crm' is unavailable"):
        limiter.acquire("crm", RateLimit(requests=1, per_s=1), deadline=far())


def test_a_large_limit_keeps_the_item_small() -> None:
    # 2,000 grants per minute, one every 10 ms: merged into about one bucket per 1/50 window.
    window_ms, state = 60_000, LimiterState()
    start_ms = 1_700_000_000_000
    for now_ms in range(start_ms, start_ms + 20_000, 10):
        state = LimiterState(state.version + 1, state.with_grant(now_ms, window_ms))

    assert sum(b.count for b in state.buckets) == 2000
    assert len(state.buckets) <= ratelimit.BUCKETS_PER_WINDOW + 1
    assert len(ratelimit._encode(state.buckets)) < 1024  # one write capacity unit


def test_merged_grants_leave_the_window_with_their_last_grant() -> None:
    state = LimiterState(version=1, buckets=(Bucket(1000, 1500, 3), Bucket(5000, 5000, 1)))

    assert state.ready_ms(now_ms=6000, requests=4, window_ms=10_000) == 11_500
    assert state.ready_ms(now_ms=6000, requests=5, window_ms=10_000) == 6000
