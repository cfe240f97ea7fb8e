"""The socket layer under the HTTP client: connect-time address checks and the total deadline.

httpcore (and with it this module) is imported on the first request, as httpx itself does, so a
cold start does not pay for it before the function is invoked.
"""

from __future__ import annotations

import contextvars
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import httpcore

from apicall.guard import Guard


@dataclass(frozen=True)
class Call:
    guard: Guard
    deadline: float


# Set by `send` for the duration of one call; read by the backend in the same thread.
current_call: contextvars.ContextVar[Call | None] = contextvars.ContextVar(
    "apicallcurrent_call", default=None
)
# Set by `_Exchange._open` while a hop's rate-limit permit is still to be taken. The stream takes
# it just before writing the request, so a grant is stamped when the request leaves, not before a
# connect and TLS handshake of unknown length: the API sees the spacing the limiter kept.
permit_due: contextvars.ContextVar[Callable[[], None] | None] = contextvars.ContextVar(
    "apicallpermit_due", default=None
)


def clamp(timeout: float | None) -> float | None:
    call = current_call.get()
    if call is None:
        return timeout
    remaining = call.deadline - time.monotonic()
    if remaining <= 0:
        raise httpcore.ReadTimeout("the request's deadline passed")
    return remaining if timeout is None else min(timeout, remaining)


class DeadlineStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, clamp(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        take_permit = permit_due.get()
        if take_permit is not None:
            permit_due.set(None)
            take_permit()
        self._stream.write(buffer, clamp(timeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        tls = self._stream.start_tls(ssl_context, server_hostname, clamp(timeout))
        return DeadlineStream(tls)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class GuardedBackend(httpcore.SyncBackend):
    """Connects only to addresses the guard allows, resolving once so the check is the connect."""

    def __init__(self, default_guard: Guard, *, check_addresses: bool) -> None:
        self._default_guard = default_guard
        self.check_addresses = check_addresses

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        call = current_call.get()
        guard = call.guard if call else self._default_guard
        if not self.check_addresses or guard.allow_private:
            addresses = [host]
        else:
            addresses = guard.allowed_addresses(host, port)
        for index, address in enumerate(addresses):
            try:
                stream = super().connect_tcp(
                    address, port, clamp(timeout), local_address, socket_options
                )
                return DeadlineStream(stream)
            except httpcore.ConnectError:
                if index == len(addresses) - 1:
                    raise
        raise httpcore.ConnectError(f"no address to connect to for {host}")
