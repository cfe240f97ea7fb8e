"""What a container keeps between invocations, in one place with one `reset()`.

A Lambda container serves many invocations, so clients, connection pools, access tokens, limiter
locks, AWS clients and the push thread pool are built on first use and kept. Each module that
keeps something declares it here (`RUNTIME.slot` or `RUNTIME.keyed`) instead of in a module global
of its own, so that tests, the local stack and benchmarks start a fresh container with
`RUNTIME.reset()`, which closes what holds sockets or threads and forgets the rest.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)

_EMPTY: object = object()


class Slot(Generic[T]):
    """One value per container, built by `build` on first `get()`."""

    __slots__ = ("_build", "_close", "_lock", "_value")

    def __init__(self, build: Callable[[], T], close: Callable[[T], None] | None) -> None:
        self._build = build
        self._close = close
        self._lock = threading.Lock()
        self._value: object = _EMPTY

    def get(self) -> T:
        value = self._value
        if value is _EMPTY:
            with self._lock:
                value = self._value
                if value is _EMPTY:
                    value = self._value = self._build()
        return value  # type: ignore[return-value]

    def offer(self, value: T) -> None:
        """Keep `value` unless one is already kept (it was built first)."""
        with self._lock:
            if self._value is _EMPTY:
                self._value = value

    def clear(self) -> None:
        with self._lock:
            value, self._value = self._value, _EMPTY
        if value is not _EMPTY and self._close is not None:
            self._close(value)  # type: ignore[arg-type]


class Keyed(Generic[K, T]):
    """Values per key (a client per connection, a lock per token), each built once."""

    __slots__ = ("_close", "_lock", "_values")

    def __init__(self, close: Callable[[T], None] | None) -> None:
        self._close = close
        self._lock = threading.Lock()
        self._values: dict[K, T] = {}

    def get(self, key: K, build: Callable[[], T]) -> T:
        value = self._values.get(key, _EMPTY)
        if value is _EMPTY:
            with self._lock:
                value = self._values.get(key, _EMPTY)
                if value is _EMPTY:
                    value = self._values[key] = build()
        return value  # type: ignore[return-value]

    def peek(self, key: K) -> T | None:
        return self._values.get(key)

    def items(self) -> list[tuple[K, T]]:
        with self._lock:
            return list(self._values.items())

    def put(self, key: K, value: T) -> None:
        with self._lock:
            self._values[key] = value

    def clear(self) -> None:
        with self._lock:
            values, self._values = list(self._values.values()), {}
        if self._close is not None:
            for value in values:
                self._close(value)


class Runtime:
    """Every per-container cache and pool, declared by the module that uses it."""

    def __init__(self) -> None:
        self._parts: list[Slot[object] | Keyed[Hashable, object]] = []
        self._hooks: list[Callable[[], None]] = []

    def slot(self, build: Callable[[], T], *, close: Callable[[T], None] | None = None) -> Slot[T]:
        slot = Slot(build, close)
        self._parts.append(slot)  # type: ignore[arg-type]
        return slot

    def keyed(self, *, close: Callable[[T], None] | None = None) -> Keyed[K, T]:
        keyed: Keyed[K, T] = Keyed(close)
        self._parts.append(keyed)  # type: ignore[arg-type]
        return keyed

    def on_reset(self, hook: Callable[[], None]) -> None:
        """Also run `hook` on reset: for caches a library keeps (Powertools' parameters)."""
        self._hooks.append(hook)

    def reset(self) -> None:
        """Start over as a new container would: close pools and clients, forget every cache."""
        for part in self._parts:
            part.clear()
        for hook in self._hooks:
            hook()


RUNTIME = Runtime()
