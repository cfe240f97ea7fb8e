"""A connection's rate limit, shared by every container: a sliding log of grants in DynamoDB.

One RunsTable item per connection (`ratelimit#<connection>` / `bucket`) holds the times of the
grants of the last window and a version number. A caller is granted a request when fewer than
`requests` grants are younger than `per_s`, by a conditional UpdateItem on the version it read;
a lost race answers the current item (ReturnValuesOnConditionCheckFailure), so the happy path is
one DynamoDB call and a conflict costs one more, never a lost update.

Why a log and not a token bucket: a bucket holding `requests` tokens lets a full burst at the end
of one window and another at the start of the next through, twice the limit in one sliding window.
APIs that count "100 per minute" often count over any minute, so a grant here is given only when
the limit holds over every window ending now. The log is kept small by merging grants made within
1/50 of the window into one bucket that expires with its last grant: late, never early.

A 429 with Retry-After stores `paused_until` on the same item, so every caller of the connection
waits, not only the one that was told.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from apicall.core.errors import CapacityExceeded
from apicall.core.models import RateLimit
from apicall.core.runtime import RUNTIME, Keyed

BUCKETS_PER_WINDOW = 50
MAX_JITTER_S = 0.05
# An API may answer any Retry-After; one hour is the longest pause it can impose on everyone.
MAX_PAUSE_S = 3600.0
IDLE_TTL_S = 86400


def margin_s(limit: RateLimit) -> float:
    """Slack added to the window: covers clock skew between containers and the time between a
    grant and the request reaching the API (5% of the window, from 0.05 s to 0.25 s)."""
    return min(0.25, max(0.05, 0.05 * limit.per_s))


@dataclass(frozen=True)
class Bucket:
    first_ms: int
    last_ms: int
    count: int


@dataclass(frozen=True)
class LimiterState:
    """The item as last seen: version 0 means it did not exist."""

    version: int = 0
    buckets: tuple[Bucket, ...] = ()  # oldest first
    paused_until_ms: int = 0

    @classmethod
    def from_item(cls, item: dict[str, Any] | None) -> LimiterState:
        if not item:
            return cls()
        text = str(item.get("grants", ""))
        buckets = []
        for part in text.split(";") if text else ():
            first, last, count = (int(value) for value in part.split(","))
            buckets.append(Bucket(first, last, count))
        return cls(
            version=int(item.get("version", 0)),
            buckets=tuple(buckets),
            paused_until_ms=int(item.get("paused_until", 0)),
        )

    def live(self, now_ms: int, window_ms: int) -> tuple[Bucket, ...]:
        return tuple(b for b in self.buckets if b.last_ms + window_ms > now_ms)

    def ready_ms(self, now_ms: int, requests: int, window_ms: int) -> int:
        """The earliest time a grant is possible (`now_ms` when it is possible now)."""
        ready = max(now_ms, self.paused_until_ms)
        # Sorted, since containers' clocks may disagree by a few milliseconds.
        live = sorted(self.live(now_ms, window_ms), key=lambda b: b.last_ms)
        excess = sum(b.count for b in live) - requests + 1
        for bucket in live:  # the oldest grants leave the window first
            if excess <= 0:
                break
            excess -= bucket.count
            ready = max(ready, bucket.last_ms + window_ms)
        return ready

    def with_grant(self, now_ms: int, window_ms: int) -> tuple[Bucket, ...]:
        live = list(self.live(now_ms, window_ms))
        width_ms = max(1, (window_ms // BUCKETS_PER_WINDOW))
        if live and now_ms - live[-1].first_ms < width_ms and now_ms >= live[-1].last_ms:
            newest = live.pop()
            live.append(Bucket(newest.first_ms, now_ms, newest.count + 1))
        else:
            live.append(Bucket(now_ms, now_ms, 1))
        return tuple(live)


def _encode(buckets: tuple[Bucket, ...]) -> str:
    return ";".join(f"{b.first_ms},{b.last_ms},{b.count}" for b in buckets)


# Last state seen per (table, connection), shared by the threads of a container: a warm caller
# writes on the version it already knows instead of reading first.
_seen: Keyed[tuple[str, str], LimiterState] = RUNTIME.keyed()


# One caller per container and connection asks DynamoDB at a time; the container's other threads
# queue here instead of racing it, which would only add failed conditional writes.
_turns: Keyed[tuple[str, str], threading.Lock] = RUNTIME.keyed()


class RateLimiter:
    """Grants requests under connections' rate limits and pauses them on the API's request.

    `table` is a boto3 Table (resource) of RunsTable's shape; by default the function's RunsTable.
    Its client converts values both ways, except in the item a failed condition answers.
    """

    def __init__(
        self,
        table: Any | None = None,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._table = table
        self._clock = clock
        self._sleep = sleep

    @property
    def table(self) -> Any:
        if self._table is not None:
            return self._table
        from apicall.core.store import default_runs_store

        return default_runs_store().table

    def acquire(self, connection: str, limit: RateLimit, *, deadline: float) -> None:
        """Wait for a grant; CapacityExceeded if none comes before `deadline` (monotonic)."""
        table = self.table
        key = (table.name, connection)
        turn = _turns.get(key, threading.Lock)
        if not turn.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise self._exhausted(connection, limit, paused=False)
        try:
            self._acquire(table, key, limit, deadline)
        finally:
            turn.release()

    def _acquire(self, table: Any, key: tuple[str, str], limit: RateLimit, deadline: float) -> None:
        connection = key[1]
        window_ms = int((limit.per_s + margin_s(limit)) * 1000)
        # A grant is stamped when it is asked for. One answered later than this would reach the
        # API later than its stamp says, eating into the margin: it is left unused (it still
        # counts, so the limit holds) and another is asked for.
        max_late_ms = int(margin_s(limit) * 500)
        while True:
            state = _seen.peek(key) or LimiterState()
            now_ms = self._now_ms()
            ready_ms = state.ready_ms(now_ms, limit.requests, window_ms)
            if ready_ms > now_ms:
                wait_s = (ready_ms - now_ms) / 1000
                remaining_s = deadline - time.monotonic()
                if wait_s > remaining_s:
                    paused = ready_ms == state.paused_until_ms
                    raise self._exhausted(connection, limit, paused=paused)
                # Jitter spreads the callers that wait for the same slot.
                jitter_s = random.uniform(0, min(MAX_JITTER_S, limit.per_s / limit.requests))
                self._sleep(min(wait_s + jitter_s, remaining_s))
                continue
            if time.monotonic() > deadline:
                raise self._exhausted(connection, limit, paused=False)
            granted = self._write_grant(table, key, state, now_ms, window_ms)
            if granted and self._now_ms() - now_ms <= max_late_ms:
                return

    def pause(self, connection: str, seconds: float) -> None:
        """Hold every caller of `connection` for `seconds` (an API's Retry-After)."""
        table = self.table
        until_ms = self._now_ms() + int(min(max(seconds, 0.0), MAX_PAUSE_S) * 1000)
        try:
            conflict, answer = _call(
                connection,
                table.meta.client.update_item,
                TableName=table.name,
                Key=_key(connection),
                # The version moves too, so a grant computed before the pause cannot be written.
                UpdateExpression="SET #paused = :until, #expires = :expires ADD #version :one",
                ConditionExpression="attribute_not_exists(#paused) OR #paused < :until",
                ExpressionAttributeNames=_names("#paused", "#version", "#expires"),
                ExpressionAttributeValues={
                    ":until": until_ms,
                    ":expires": until_ms // 1000 + IDLE_TTL_S,
                    ":one": 1,
                },
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except CapacityExceeded as exc:
            # A lost pause costs the API a few early requests; the 429 itself was answered.
            from apicall.core.observability import logger

            logger.warning("rate limiter pause not stored", extra={"error": exc.message})
            return
        item = answer.get("Attributes") if conflict is None else conflict  # a longer pause holds
        if item:
            _seen.put((table.name, connection), LimiterState.from_item(item))

    def _write_grant(
        self, table: Any, key: tuple[str, str], state: LimiterState, now_ms: int, window_ms: int
    ) -> bool:
        buckets = state.with_grant(now_ms, window_ms)
        values: dict[str, Any] = {
            ":grants": _encode(buckets),
            ":next": state.version + 1,
            ":expires": now_ms // 1000 + window_ms // 1000 + IDLE_TTL_S,
        }
        if state.version:
            condition = "#version = :seen"
            values[":seen"] = state.version
        else:
            condition = "attribute_not_exists(pk)"
        conflict, _answer = _call(
            key[1],
            table.meta.client.update_item,
            TableName=table.name,
            Key=_key(key[1]),
            UpdateExpression="SET #grants = :grants, #version = :next, #expires = :expires",
            ConditionExpression=condition,
            ExpressionAttributeNames=_names("#grants", "#version", "#expires"),
            ExpressionAttributeValues=values,
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
        if conflict is None:
            _seen.put(key, LimiterState(state.version + 1, buckets, state.paused_until_ms))
            return True
        if not conflict:  # a store that does not answer the item on a failed condition
            _, answer = _call(
                key[1],
                table.meta.client.get_item,
                TableName=table.name,
                Key=_key(key[1]),
                ConsistentRead=True,
            )
            conflict = answer.get("Item") or {}
        _seen.put(key, LimiterState.from_item(conflict))
        return False

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    @staticmethod
    def _exhausted(connection: str, limit: RateLimit, *, paused: bool) -> CapacityExceeded:
        why = "is paused by the API's Retry-After" if paused else "has no free slot"
        return CapacityExceeded(
            f"connection {connection!r} (rate limit {limit.requests} requests per "
            f"{limit.per_s:g} s) {why} before the request's deadline",
            field="rate_limit",
        )


# Attribute names go through placeholders: GRANT and others are DynamoDB reserved words.
_NAMES = {
    "#grants": "grants",
    "#version": "version",
    "#paused": "paused_until",
    "#expires": "expires_at",
}


def _names(*placeholders: str) -> dict[str, str]:
    # DynamoDB refuses a name placeholder that the expressions do not use.
    return {placeholder: _NAMES[placeholder] for placeholder in placeholders}


def _key(connection: str) -> dict[str, Any]:
    return {"pk": f"ratelimit#{connection}", "sk": "bucket"}


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    return {name: deserializer.deserialize(value) for name, value in item.items()}


def _call(connection: str, operation: Callable[..., Any], **kwargs: Any) -> tuple[Any, Any]:
    """(None, answer) on success, (current item or {}, None) on a failed condition.

    Any other error (throttling after botocore's retries, an outage) is CapacityExceeded: without
    the shared count the limit cannot be kept, so the request is not sent.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return None, operation(**kwargs)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            # The resource layer converts answers, not errors: this item is still typed JSON.
            item = exc.response.get("Item")
            return (_plain(item) if isinstance(item, dict) else {}), None
        error: Exception = exc
    except BotoCoreError as exc:
        error = exc
    raise CapacityExceeded(
        f"the rate limiter of connection {connection!r} is unavailable: {error}",
        field="rate_limit",
    ) from error
