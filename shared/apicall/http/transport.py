"""The layer under the HTTP client: connect-time address checks, the total deadline, and the
httpx transport that puts both on every request.

`GuardedTransport` is an `httpx.BaseTransport` over an `httpcore.ConnectionPool` built with
`network_backend=GuardedBackend(...)`: only public constructor arguments of both libraries, so
a renamed private attribute cannot take the address check off the path of a request.

httpcore (and with it this module) is imported on the first request, as httpx itself does, so a
cold start does not pay for it before the function is invoked.
"""

from __future__ import annotations

import contextvars
import os
import ssl
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import certifi
import httpcore
import httpx

from apicall.core.errors import ConfigError
from apicall.core.models import Connection
from apicall.http.guard import Guard, guard_for


@dataclass(frozen=True)
class Call:
    guard: Guard
    deadline: float  # on `clock`
    clock: Callable[[], float] = time.monotonic


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
    remaining = call.deadline - call.clock()
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


# httpcore's errors and the httpx errors of the same name, which the client translates once.
_ERRORS: dict[type[Exception], type[httpx.TransportError]] = {
    getattr(httpcore, name): getattr(httpx, name)
    for name in (
        "TimeoutException",
        "ConnectTimeout",
        "ReadTimeout",
        "WriteTimeout",
        "PoolTimeout",
        "NetworkError",
        "ConnectError",
        "ReadError",
        "WriteError",
        "ProxyError",
        "UnsupportedProtocol",
        "ProtocolError",
        "LocalProtocolError",
        "RemoteProtocolError",
    )
}


@contextmanager
def _as_httpx_errors() -> Iterator[None]:
    """Raise an httpcore error as the httpx error of the same name (the most specific one)."""
    try:
        yield
    except Exception as exc:
        for kind in type(exc).__mro__:
            if kind in _ERRORS:
                raise _ERRORS[kind](str(exc)) from exc
        raise  # the guard's own errors (BlockedURL, ...) and anything else pass as they are


def _core_url(url: httpx.URL) -> httpcore.URL:
    return httpcore.URL(
        scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
    )


class _Body(httpx.SyncByteStream):
    """A response body read from the pool, its errors raised as httpx errors."""

    def __init__(self, stream: Iterable[bytes]) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        with _as_httpx_errors():
            yield from self._stream

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()


class GuardedTransport(httpx.BaseTransport):
    """HTTP/1.1 over one httpcore pool whose sockets all open through `backend`.

    The pool holds at most `max_connections` connections, all kept alive for
    `keepalive_expiry` seconds; waiting longer than the request's pool timeout for one is
    `httpx.PoolTimeout`. With a `proxy` (an http(s) URL whose userinfo is its Basic credentials)
    every socket goes to the proxy: plain http is forwarded, https is tunnelled with CONNECT.
    """

    def __init__(
        self,
        backend: GuardedBackend,
        *,
        ssl_context: ssl.SSLContext,
        proxy: str | None = None,
        max_connections: int,
        keepalive_expiry: float = 5.0,  # httpx's default
    ) -> None:
        self.backend = backend
        self._connections = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            proxy=_core_proxy(proxy) if proxy else None,
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=keepalive_expiry,
            http1=True,
            http2=False,
            network_backend=backend,
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        sent = httpcore.Request(
            method=request.method,
            url=_core_url(request.url),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,  # "timeout": the deadline's remaining seconds
        )
        with _as_httpx_errors():
            received = self._connections.handle_request(sent)
        assert isinstance(received.stream, Iterable)
        return httpx.Response(
            status_code=received.status,
            headers=received.headers,
            stream=_Body(received.stream),
            extensions=received.extensions,
        )

    def close(self) -> None:
        self._connections.close()


def _core_proxy(url: str) -> httpcore.Proxy:
    # httpx.Proxy reads the URL as httpx's own transport would: percent-decoded credentials,
    # taken out of the URL and sent as Proxy-Authorization.
    proxy = httpx.Proxy(url)
    return httpcore.Proxy(url=_core_url(proxy.url), auth=proxy.raw_auth)


def build_transport(connection: Connection) -> GuardedTransport:
    """The connection's TLS (CA bundle, client certificate), proxy and pool, with sockets opened
    through `GuardedBackend`: the API client and the OAuth token client both use it.

    Behind a proxy the socket goes to the proxy (often on a private network), so only the deadline
    applies there and the target is checked by the guard before each hop.
    """

    backend = GuardedBackend(guard_for(connection), check_addresses=connection.proxy is None)
    return GuardedTransport(
        backend,
        ssl_context=ssl_context(connection),
        proxy=connection.proxy,
        max_connections=connection.max_in_flight,
    )


def ssl_context(connection: Connection) -> ssl.SSLContext:
    """The TLS settings `connection` asks for (verify_ssl, ca_bundle, client_cert): what its
    transport uses, and what a connection test's TLS check shakes hands with."""
    if connection.verify_ssl:
        context = ssl.create_default_context(cafile=certifi.where())
        if connection.ca_bundle:
            try:
                context.load_verify_locations(cadata=connection.ca_bundle)
            except (ssl.SSLError, ValueError) as exc:
                raise ConfigError(f"ca_bundle is not valid PEM: {exc}", field="ca_bundle") from exc
    else:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if connection.client_cert:
        _load_client_cert(context, connection)
    return context


def _load_client_cert(context: ssl.SSLContext, connection: Connection) -> None:
    cert = connection.client_cert
    assert cert is not None
    # load_cert_chain only reads files; they live for the call in a private directory.
    with tempfile.TemporaryDirectory() as folder:
        cert_path, key_path = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
        for path, pem in ((cert_path, cert.cert), (key_path, cert.key)):
            with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as file:
                file.write(pem)
        try:
            context.load_cert_chain(cert_path, key_path, password=cert.password)
        except ssl.SSLError as exc:
            raise ConfigError(
                f"client_cert could not be loaded (certificate, key or password): {exc}",
                field="client_cert",
            ) from exc
