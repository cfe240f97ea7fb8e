"""Send one request with a total deadline, retries, guarded redirects and a capped body read.

`send` is the only place httpx errors become apicall errors. Clients are built once per container
per TLS/proxy configuration (`get_client`); their network backend resolves and judges the target
address when a socket is opened (so DNS rebinding has no window, and a kept-alive connection costs
no lookup) and clamps every socket operation to the request's deadline, so slow headers are cut as
surely as a slow body.
"""

from __future__ import annotations

import email.utils
import functools
import os
import random
import re
import ssl
import tempfile
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import certifi
import httpx

from apicall.errors import (
    ApicallError,
    BlockedURL,
    CapacityExceeded,
    ConfigError,
    InvalidRequest,
    InvalidResponse,
    ResponseTooLarge,
    UpstreamConnectionError,
    UpstreamSSLError,
    UpstreamTimeout,
)
from apicall.guard import Guard, address_problem, safe_url
from apicall.models import (
    Connection,
    RateLimit,
    RetryPolicy,
    StatusSet,
    SuccessCodes,
    status_set,
)
from apicall.ratelimit import RateLimiter

if TYPE_CHECKING:  # templating is not needed to send, only to describe what is sent
    from apicall import network
    from apicall.templating import OutgoingRequest

REDIRECT_STATUSES = frozenset((301, 302, 303, 307, 308))
# Only the codings decoded below (with a size cap) are advertised.
DEFAULT_HEADERS = {"Accept-Encoding": "gzip, deflate", "User-Agent": "apicall/0.1"}
_GUARDS = {allow: Guard(allow_private=allow) for allow in (False, True)}


@dataclass
class HttpResponse:
    status: int
    headers: httpx.Headers
    content: bytes  # decoded from gzip/deflate, at most max_bytes
    truncated: bool
    url: str  # the final URL, unredacted (a Link header may be relative to it); see safe_url
    attempts: int
    elapsed_ms: int
    reason_phrase: str = ""


def is_success(status: int, success_codes: SuccessCodes) -> bool:
    """`status` is in `success_codes`: "2xx", "200,201", "2xx,304" or a list of codes and
    classes, read as the contracts validate them (`models.status_set`)."""
    key = success_codes if isinstance(success_codes, str) else tuple(success_codes)
    return status in _status_classes(key)


@functools.lru_cache(maxsize=64)
def _status_classes(success_codes: str | tuple[int | str, ...]) -> StatusSet:
    return status_set(success_codes)


# --- clients ------------------------------------------------------------------------------------

_clients: dict[tuple[Any, ...], httpx.Client] = {}
_clients_lock = threading.Lock()


def get_client(connection: Connection) -> httpx.Client:
    """The container's client for this connection's TLS, proxy, pool and address settings."""
    key = _client_key(connection)
    client = _clients.get(key)
    if client is None:
        with _clients_lock:
            client = _clients.get(key)
            if client is None:
                client = _clients[key] = _build_client(connection)
    return client


def _client_key(connection: Connection) -> tuple[Any, ...]:
    cert = connection.client_cert
    return (
        connection.verify_ssl,
        connection.ca_bundle,
        (cert.cert, cert.key, cert.password) if cert else None,
        connection.proxy,
        connection.max_in_flight,
        connection.allow_private_network,
    )


def _build_client(connection: Connection) -> httpx.Client:
    return _CookielessClient(
        transport=build_transport(connection),
        follow_redirects=False,
        trust_env=False,
        headers=DEFAULT_HEADERS,
        event_hooks={"response": [_refuse_unreadable_location]},
    )


def build_transport(connection: Connection) -> network.GuardedTransport:
    """The connection's TLS (CA bundle, client certificate), proxy and pool, with sockets opened
    through `network.GuardedBackend`: the API client and the OAuth token client both use it.

    Behind a proxy the socket goes to the proxy (often on a private network), so only the deadline
    applies there and the target is checked by the guard before each hop.
    """
    from apicall import network

    backend = network.GuardedBackend(
        _GUARDS[connection.allow_private_network], check_addresses=connection.proxy is None
    )
    return network.GuardedTransport(
        backend,
        ssl_context=_ssl_context(connection),
        proxy=connection.proxy,
        max_connections=connection.max_in_flight,
    )


class _NoCookies(httpx.Cookies):
    def extract_cookies(self, response: httpx.Response) -> None:
        return None


class _CookielessClient(httpx.Client):
    """A client that never keeps a cookie: it outlives one workflow run, and cookies from one run
    must never reach another. Not storing them at all also saves httpx's per-response pass through
    the standard library's cookie jar.

    Its transport is always a `network.GuardedTransport`; `send` relies on that transport's
    backend (`backend`) to judge addresses at connect time and to clamp socket operations."""

    _no_cookies = _NoCookies()

    def __init__(self, *, transport: network.GuardedTransport, **options: Any) -> None:
        super().__init__(transport=transport, **options)
        self.backend = transport.backend

    @property  # type: ignore[misc]  # read-only on purpose
    def cookies(self) -> httpx.Cookies:
        return self._no_cookies


def _ssl_context(connection: Connection) -> ssl.SSLContext:
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


@dataclass(frozen=True)
class _Permits:
    """The shared rate limit of a named connection, asked before every request sent."""

    limiter: RateLimiter
    connection: str
    limit: RateLimit

    def acquire(self, deadline: float) -> None:
        self.limiter.acquire(self.connection, self.limit, deadline=deadline)

    def pause_for(self, response: httpx.Response) -> None:
        # A 429's Retry-After speaks for the API's limit on the whole connection.
        if response.status_code == 429:
            after = retry_after_s(response.headers.get("retry-after"))
            if after:
                self.limiter.pause(self.connection, after)


# --- send ---------------------------------------------------------------------------------------


def send(
    request: OutgoingRequest,
    connection: Connection,
    *,
    auth: httpx.Auth | None = None,
    timeout_s: float,
    retry: RetryPolicy | None,
    max_bytes: int,
    truncate: bool,
    follow_redirects: bool = True,
    max_redirects: int = 5,
    client: httpx.Client | None = None,
    guard: Guard | None = None,
    connection_name: str | None = None,
    limiter: RateLimiter | None = None,
) -> HttpResponse:
    """Send `request` within `timeout_s` in total, retrying, redirecting and reading a capped body.

    `guard` defaults to the connection's policy; tests pass `Guard(permit_loopback=True)`.
    A connection with a `rate_limit` is limited when it is named (`connection_name`): every
    request waits for a grant of `limiter` (RunsTable's by default) within the deadline.
    """
    started = time.monotonic()
    from apicall import network

    call = network.Call(guard or _GUARDS[connection.allow_private_network], started + timeout_s)
    permits = None
    if connection_name and connection.rate_limit:
        permits = _Permits(limiter or RateLimiter(), connection_name, connection.rate_limit)
    client = client or get_client(connection)
    exchange = _Exchange(
        client=client,
        backend=_guarded_backend(client),
        call=call,
        auth=auth,
        max_bytes=max_bytes,
        truncate=truncate,
        max_redirects=max_redirects if follow_redirects else 0,
        permits=permits,
    )
    token = network.current_call.set(call)
    try:
        received, attempts = _send_with_retries(exchange, request, retry)
    finally:
        network.current_call.reset(token)
    received.attempts = attempts
    received.elapsed_ms = int((time.monotonic() - started) * 1000)
    return received


def _send_with_retries(
    exchange: _Exchange, request: OutgoingRequest, retry: RetryPolicy | None
) -> tuple[HttpResponse, int]:
    max_attempts = retry.attempts if retry else 1
    attempt = 0
    while True:
        attempt += 1
        response: HttpResponse | None = None
        error: UpstreamConnectionError | None = None
        try:
            response = exchange.run(request)
        except UpstreamConnectionError as exc:  # resets, refused connections; not TLS, not timeouts
            error = exc
        except ApicallError as exc:
            exc.attempts = attempt  # type: ignore[attr-defined]  # read by execute's Outcome
            raise
        if retry is None or attempt >= max_attempts or not _should_retry(response, retry):
            break
        delay = _retry_delay(response, retry, attempt)
        if time.monotonic() + delay >= exchange.call.deadline:
            break
        time.sleep(delay)
    if response is None:
        assert error is not None
        error.attempts = attempt  # type: ignore[attr-defined]
        raise error
    return response, attempt


def _should_retry(response: HttpResponse | None, retry: RetryPolicy) -> bool:
    return response is None or response.status in retry.on


def _retry_delay(response: HttpResponse | None, retry: RetryPolicy, attempt: int) -> float:
    if response is not None:
        after = retry_after_s(response.headers.get("retry-after"))
        if after is not None:
            return after
    if retry.backoff == "none":
        return 0.0
    if retry.backoff == "fixed":
        return min(retry.base_s, retry.max_s)
    return random.uniform(0, min(retry.max_s, retry.base_s * 2 ** (attempt - 1)))


def retry_after_s(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), None if absent."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass
class _Exchange:
    """One attempt: the first hop and every redirect, each checked by the guard."""

    client: httpx.Client
    # The client's network.GuardedBackend: it judges addresses when sockets open and clamps every
    # socket operation to the deadline. An injected client may have none.
    backend: network.GuardedBackend | None
    call: network.Call
    auth: httpx.Auth | None
    max_bytes: int
    truncate: bool
    max_redirects: int
    permits: _Permits | None = None

    def run(self, request: OutgoingRequest) -> HttpResponse:
        url = _target(request)
        method, headers, auth = request.method.upper(), dict(request.headers), self.auth
        body = httpx_body(request)
        for hop in range(self.max_redirects + 1):
            response = self._open(method, url, headers, body, auth)
            if response.status_code not in REDIRECT_STATUSES:
                return self._read(response)
            location = response.headers.get("location")
            if not location:
                return self._read(response)
            if hop == self.max_redirects:
                return self._read(response)
            response.close()
            next_url = redirect_target(response)
            if response.status_code not in (307, 308):
                method = "HEAD" if method == "HEAD" else "GET"
                body = {}
                headers = _without(headers, "content-type", "content-length")
            if _origin(next_url) != _origin(url):
                headers, auth = _without(headers, "authorization", "cookie"), None
            url = next_url
        raise AssertionError("unreachable")  # pragma: no cover

    def _open(
        self,
        method: str,
        url: httpx.URL,
        headers: dict[str, str],
        body: dict[str, Any],
        auth: httpx.Auth | None,
    ) -> httpx.Response:
        # A name is resolved once, when a socket opens, where the backend judges addresses; behind
        # a proxy the socket goes to the proxy, so only this check sees the target.
        checked_at_connect = self.backend is not None and self.backend.check_addresses
        self.call.guard.check_url(url, resolve=not checked_at_connect)
        due = None
        if self.permits:  # every hop counts: a redirect to the same API is one more request
            from apicall import network

            take_permit = functools.partial(self.permits.acquire, self.call.deadline)
            if self.backend is not None:  # taken when the request's first byte is written
                due = network.permit_due.set(take_permit)
            else:
                take_permit()
        try:
            remaining = self.call.deadline - time.monotonic()
            if remaining <= 0:
                raise UpstreamTimeout("the request's deadline passed", url=safe_url(url))
            timeout = dict.fromkeys(("connect", "read", "write", "pool"), remaining)
            with _translated(url):
                built = self.client.build_request(
                    method, url, headers=headers, extensions={"timeout": timeout}, **body
                )
                response = self.client.send(built, auth=auth, stream=True, follow_redirects=False)
        finally:
            if due is not None:  # not taken when no byte was written (the connect failed)
                network.permit_due.reset(due)
        if self.permits:
            self.permits.pause_for(response)
        return response

    def _read(self, response: httpx.Response) -> HttpResponse:
        # The guarded backend clamps every socket read to the deadline, so a body that has
        # already arrived in full is kept even when it is read late (a busy container): a 2xx
        # thrown away would be sent again, and a webhook receiver would see it twice. Only an
        # injected client without that backend needs the clock checked between chunks.
        between_chunks = None if self.backend is not None else self.call.deadline
        try:
            with _translated(response.url):
                content, truncated = read_capped(response, self.max_bytes, deadline=between_chunks)
        finally:
            response.close()
        if truncated and not self.truncate:
            raise ResponseTooLarge(
                f"the response body is larger than {self.max_bytes} bytes",
                status=response.status_code,
                url=safe_url(response.url),
            )
        return HttpResponse(
            status=response.status_code,
            headers=response.headers,
            content=content,
            truncated=truncated,
            url=str(response.url),
            attempts=0,
            elapsed_ms=0,
            reason_phrase=response.reason_phrase,
        )


def _guarded_backend(client: httpx.Client) -> network.GuardedBackend | None:
    """The client's `network.GuardedBackend`; None for an injected client without one."""
    return client.backend if isinstance(client, _CookielessClient) else None


def _target(request: OutgoingRequest) -> httpx.URL:
    """The URL to send: `request.url` with `request.params` added to the query it already has.

    httpx 0.28 replaces a URL's query with `params=` instead of merging them, so every caller (a
    next-page link, a spec url written with `?a=1`, a push target) gets the merge here: the URL's
    own pairs first, as written, then the params in their order (httpx's QueryParams would group
    them by name), spelled as httpx spells them. A name in both is sent twice, as both sides asked
    for it. httpx parses the result once.
    """
    if not request.params:
        return _url(request.url)
    head, hash_sign, fragment = request.url.partition("#")
    if "?" not in head:
        head += "?"
    elif not head.endswith(("?", "&")):
        head += "&"
    return _url(f"{head}{urlencode(request.params)}{hash_sign}{fragment}")


def httpx_body(request: OutgoingRequest) -> dict[str, Any]:
    """The body arguments of httpx's `build_request` for `request`.

    httpx encodes `data` as a form unless `files` holds something, so the fields of a multipart
    body without files go as parts without a filename: how multipart spells a plain field.
    """
    if request.files is not None and not request.files and request.data:
        fields = request.data.items() if isinstance(request.data, dict) else request.data
        return {"files": [(name, (None, str(text).encode())) for name, text in fields]}
    return {
        "content": request.content,
        "json": request.json,
        "data": request.data,
        "files": request.files,
    }


def _url(value: str) -> httpx.URL:
    try:
        return httpx.URL(value)
    except (httpx.InvalidURL, UnicodeError) as exc:  # UnicodeError: a host IDNA cannot encode
        raise InvalidRequest(f"invalid URL: {exc}", field="url", url=safe_url(value)) from exc


# An RFC 3986 scheme at the start of a Location; anything else is a relative reference.
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")


def redirect_target(response: httpx.Response) -> httpx.URL:
    """Where a redirect's Location points, or a refusal naming the Location header.

    Only an http(s) URL with a host a socket can use is followed; anything else is refused for
    good (a retry would get the same Location).
    """
    location = response.headers["location"]
    facts = _location_facts(response)
    scheme = _SCHEME.match(location.strip())
    if scheme and scheme.group(1).lower() not in ("http", "https"):
        raise BlockedURL(
            f"the redirect's Location is a {scheme.group(1).lower()!r} URL; "
            "only http and https redirects are followed",
            **facts,
        )
    try:
        spelled = httpx.URL(location)
        hostless = bool(spelled.scheme) and not spelled.host  # .host decodes IDNA: it may raise
        target = response.url.join(spelled)
    except (httpx.InvalidURL, UnicodeError) as exc:
        raise InvalidResponse(
            f"the redirect's Location is not a valid URL: {exc}", **facts
        ) from exc
    problem = "has no host" if hostless else None
    problem = problem or address_problem(target.raw_host.decode("ascii"), target.port)
    if problem is not None:
        raise InvalidResponse(f"the redirect's Location {problem}", **facts)
    return target


def _refuse_unreadable_location(response: httpx.Response) -> None:
    """A response hook: httpx builds the next request from Location on every redirect response,
    followed or not, and raises untyped errors on one it cannot read (`jar:http://127.0.0.1!/`,
    `http://[::1`). This takes the same public steps first and refuses such a Location as an
    invalid response; a readable one is left to `redirect_target` when the redirect is followed,
    and a 3xx that is not followed comes back whatever scheme its Location names."""
    if response.status_code not in REDIRECT_STATUSES or "location" not in response.headers:
        return
    request_url = response.request.url
    try:
        url = httpx.URL(response.headers["location"])
        if url.scheme and not url.host:  # .host decodes IDNA: it may raise
            url = url.copy_with(host=request_url.host)
        if url.is_relative_url:
            request_url.join(url)
    except (httpx.InvalidURL, UnicodeError) as exc:
        raise InvalidResponse(
            f"the redirect's Location is not a URL that can be read: {exc}",
            **_location_facts(response),
        ) from exc


def _location_facts(response: httpx.Response) -> dict[str, Any]:
    return {"field": "Location", "status": response.status_code, "url": safe_url(response.url)}


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port


def _without(headers: dict[str, str], *names: str) -> dict[str, str]:
    return {name: value for name, value in headers.items() if name.lower() not in names}


# --- the body -----------------------------------------------------------------------------------


def read_capped(
    response: httpx.Response, max_bytes: int, *, deadline: float | None = None
) -> tuple[bytes, bool]:
    """Up to `max_bytes` of the decoded body and whether there was more.

    Decompression output is capped too, so a small gzip bomb never expands in memory.
    """
    decoder = _decoder(response.headers.get("content-encoding", ""))
    limit = max_bytes + 1  # one byte more than allowed tells "exactly full" from "too large"
    parts: list[bytes] = []
    size = 0
    for chunk in _raw_chunks(response, deadline):
        for piece in decoder.feed(chunk, limit - size):
            parts.append(piece)
            size += len(piece)
        if size >= limit:
            break
    else:
        tail = decoder.flush(limit - size)
        parts.append(tail)
        size += len(tail)
    content = b"".join(parts)
    return content[:max_bytes], size > max_bytes


def _raw_chunks(response: httpx.Response, deadline: float | None) -> Iterator[bytes]:
    # For clients whose socket reads are not clamped to the deadline (see `_Exchange._read`).
    # No chunk_size: httpx would buffer up to it, hiding a trickle from the clock.
    for chunk in response.iter_raw():
        if deadline is not None and time.monotonic() > deadline:
            raise UpstreamTimeout("the request's deadline passed while reading the body")
        yield chunk


class _Identity:
    def feed(self, data: bytes, room: int) -> Iterator[bytes]:
        yield data

    def flush(self, room: int) -> bytes:
        return b""


class _Zlib:
    def __init__(self, wbits: int, *, raw_fallback: bool = False) -> None:
        self._inflate = zlib.decompressobj(wbits)
        # "deflate" should be zlib-wrapped, yet some servers send raw deflate.
        self._raw_fallback = raw_fallback

    def feed(self, data: bytes, room: int) -> Iterator[bytes]:
        while data and room > 0:
            try:
                out = self._inflate.decompress(data, room)
            except zlib.error as exc:
                if not self._raw_fallback:
                    raise InvalidResponse(f"the compressed body is corrupt: {exc}") from exc
                self._inflate, self._raw_fallback = zlib.decompressobj(-zlib.MAX_WBITS), False
                continue
            self._raw_fallback = False
            room -= len(out)
            data = self._inflate.unconsumed_tail
            yield out

    def flush(self, room: int) -> bytes:
        try:
            return self._inflate.flush()[: max(room, 0)]
        except zlib.error as exc:
            raise InvalidResponse(f"the compressed body is corrupt: {exc}") from exc


def _decoder(content_encoding: str) -> _Identity | _Zlib:
    # Stacked codings ("gzip, gzip") are rare enough to be passed through undecoded.
    coding = content_encoding.strip().lower()
    if coding in ("gzip", "x-gzip"):
        return _Zlib(16 + zlib.MAX_WBITS)
    if coding == "deflate":
        return _Zlib(zlib.MAX_WBITS, raw_fallback=True)
    return _Identity()


# --- errors -------------------------------------------------------------------------------------


@contextmanager
def _translated(url: httpx.URL) -> Iterator[None]:
    """Turn an httpx error raised inside the block into the apicall error it means."""
    try:
        yield
    except httpx.HTTPError as exc:
        raise translate_error(exc, url) from exc
    except httpx.InvalidURL as exc:
        # The URL sent was parsed before; httpx raises this from a redirect's Location, which it
        # reads even when not following, on a client without apicall's redirect hook.
        raise InvalidResponse(
            f"the redirect's Location is not a URL that can be followed: {exc}",
            field="Location",
            url=safe_url(url),
        ) from exc
    except ApicallError as exc:  # raised by the backend or the redirect hook
        exc.url = exc.url or safe_url(url)
        raise


def translate_error(exc: httpx.HTTPError, url: httpx.URL | str) -> ApicallError:
    shown = safe_url(url)
    detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if isinstance(exc, httpx.RemoteProtocolError) and isinstance(
        exc.__context__, httpx.InvalidURL
    ):  # httpx could not parse a redirect's Location (a client without apicall's redirect hook)
        return InvalidResponse(
            f"the redirect's Location is not a valid URL: {exc.__context__}",
            field="Location",
            url=shown,
        )
    if isinstance(exc, httpx.PoolTimeout):
        return CapacityExceeded(
            "no connection became free before the deadline (max_in_flight reached)", url=shown
        )
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamTimeout(f"timed out: {detail}", url=shown)
    if _ssl_cause(exc) is not None:
        return UpstreamSSLError(f"TLS failed: {_ssl_cause(exc)}", url=shown)
    if isinstance(exc, httpx.ProxyError):
        return UpstreamConnectionError(f"the proxy refused the request: {detail}", url=shown)
    if isinstance(exc, httpx.LocalProtocolError | httpx.UnsupportedProtocol):
        return InvalidRequest(f"the request cannot be sent: {detail}", url=shown)
    return UpstreamConnectionError(f"connection failed: {detail}", url=shown)


def _ssl_cause(exc: BaseException) -> ssl.SSLError | None:
    # An unexpected EOF during TLS is a dropped connection, worth a retry, not a TLS failure.
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError) and not isinstance(
            seen, ssl.SSLEOFError | ssl.SSLZeroReturnError
        ):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None
