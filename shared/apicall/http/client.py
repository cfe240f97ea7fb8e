"""One connection's way out: `ConnectionClient.send(request, policy)`.

A `ConnectionClient` is built once per connection per container (`client_for`) and holds all
that applies to every request of that connection: its credentials (`apicall.http.auth`), its
shared rate limit (`apicall.http.ratelimit`), its URL guard and its pooled, guarded transport
(`apicall.http.transport`). `send` adds what is per request (`SendPolicy`): a total deadline,
retries with backoff and Retry-After, guarded redirects and a capped body read. It answers the
response or raises an `ApicallError` carrying the attempts made; it is the only place httpx
errors become apicall errors.
"""

from __future__ import annotations

import email.utils
import functools
import random
import re
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import httpx

from apicall.core.errors import (
    ApicallError,
    BlockedURL,
    CapacityExceeded,
    InvalidRequest,
    InvalidResponse,
    ResponseTooLarge,
    UpstreamConnectionError,
    UpstreamSSLError,
    UpstreamTimeout,
)
from apicall.core.models import (
    Connection,
    RateLimit,
    RetryPolicy,
    StatusSet,
    SuccessCodes,
    status_set,
)
from apicall.core.redaction import (
    SENSITIVE_HEADERS,
    safe_url,
    secret_header_names,
    secret_values,
)
from apicall.core.runtime import RUNTIME, Keyed
from apicall.http.auth import auth_for
from apicall.http.body import read_capped
from apicall.http.guard import Guard, address_problem, guard_for
from apicall.http.ratelimit import RateLimiter

if TYPE_CHECKING:  # the transport (and httpcore) is imported when the first client is built
    from apicall.core.store import RunsStore
    from apicall.http import transport

REDIRECT_STATUSES = frozenset((301, 302, 303, 307, 308))
# Only the codings decoded below (with a size cap) are advertised.
DEFAULT_HEADERS = {"Accept-Encoding": "gzip, deflate", "User-Agent": "apicall/0.1"}
DEFAULT_MAX_REDIRECTS = 5


@dataclass
class OutgoingRequest:
    """A request ready for `ConnectionClient.send`: absolute URL, final headers, encoded body.

    Exactly one of `content`, `json`, `data`/`files` is used, as httpx.Client.build_request
    takes them.
    """

    method: str
    url: str
    params: list[tuple[str, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes | None = None
    json: Any = None
    data: dict[str, Any] | list[tuple[str, str]] | None = None
    files: list[tuple[str, tuple[str, bytes, str]]] | None = None


@dataclass(frozen=True)
class SendPolicy:
    """What one call asks of the client beyond the connection's own settings."""

    timeout_s: float  # the total deadline: every attempt, redirect, wait and byte read
    max_bytes: int
    retry: RetryPolicy | None = None  # None: one attempt
    truncate: bool = False  # a body over max_bytes is cut (True) or refused (ResponseTooLarge)
    follow_redirects: bool = True
    max_redirects: int = DEFAULT_MAX_REDIRECTS


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

# httpx clients (each a connection pool) per TLS, proxy, pool and address settings: connections
# that share them share a pool. ConnectionClients per (name, store), rebuilt when the connection
# they were built for changes (a rotated secret).
_http_clients: Keyed[tuple[Any, ...], _CookielessClient] = RUNTIME.keyed(close=lambda c: c.close())
_connection_clients: Keyed[tuple[str | None, Any], ConnectionClient] = RUNTIME.keyed()


def client_for(
    connection: Connection, name: str | None = None, *, store: RunsStore | None = None
) -> ConnectionClient:
    """This container's client for `connection`, stored as `name` (None: an inline URL)."""
    key = (name, store)
    client = _connection_clients.peek(key)
    if client is None or (client.connection is not connection and client.connection != connection):
        client = ConnectionClient(connection, name=name, store=store)
        _connection_clients.put(key, client)
    return client


class ConnectionClient:
    """Sends requests as one connection: its auth, rate limit, guard, TLS, proxy and pool.

    `guard` replaces the connection's address policy (tests pass `Guard(permit_loopback=True)`
    to reach their servers on 127.0.0.1 while still refusing every other private address).
    `clock` and `sleep` time retries and deadlines; tests inject them.
    """

    def __init__(
        self,
        connection: Connection,
        *,
        name: str | None = None,
        store: RunsStore | None = None,
        guard: Guard | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.connection = connection
        self.name = name
        self.guard = guard or guard_for(connection)
        self.clock = clock
        self.sleep = sleep
        self.http = _http_clients.get(_pool_key(connection), lambda: _build_http(connection))
        self.auth = auth_for(name, connection, store=store) if name else None
        self.permits = None
        if name and connection.rate_limit:
            limiter = RateLimiter(store.table if store is not None else None)
            self.permits = _Permits(limiter, name, connection.rate_limit)

    def secret_values(self, url: str | httpx.URL | None = None) -> set[str]:
        """Every credential this connection sends (and `url`'s userinfo): what to redact."""
        return secret_values(self.connection, url=url)

    def send(self, request: OutgoingRequest, policy: SendPolicy) -> HttpResponse:
        """Send `request` within `policy.timeout_s` in total, retrying, redirecting and reading a
        capped body. Raises an `ApicallError` whose `attempts` counts the attempts made."""
        from apicall.http import transport

        started = self.clock()
        call = transport.Call(self.guard, started + policy.timeout_s, self.clock)
        exchange = _Exchange(
            client=self.http,
            backend=self.http.backend,
            call=call,
            auth=self.auth,
            max_bytes=policy.max_bytes,
            truncate=policy.truncate,
            max_redirects=policy.max_redirects if policy.follow_redirects else 0,
            permits=self.permits,
            clock=self.clock,
            credential_headers=SENSITIVE_HEADERS | secret_header_names(self.connection),
        )
        token = transport.current_call.set(call)
        try:
            received, attempts = _send_with_retries(exchange, request, policy.retry, self.sleep)
        finally:
            transport.current_call.reset(token)
        received.attempts = attempts
        received.elapsed_ms = int((self.clock() - started) * 1000)
        return received


def _pool_key(connection: Connection) -> tuple[Any, ...]:
    cert = connection.client_cert
    return (
        connection.verify_ssl,
        connection.ca_bundle,
        (cert.cert, cert.key, cert.password) if cert else None,
        connection.proxy,
        connection.max_in_flight,
        connection.allow_private_network,
    )


def _build_http(connection: Connection) -> _CookielessClient:
    from apicall.http import transport

    return _CookielessClient(
        transport=transport.build_transport(connection),
        follow_redirects=False,
        trust_env=False,
        headers=DEFAULT_HEADERS,
        event_hooks={"response": [_refuse_unreadable_location]},
    )


class _NoCookies(httpx.Cookies):
    def extract_cookies(self, response: httpx.Response) -> None:
        return None


class _CookielessClient(httpx.Client):
    """A client that never keeps a cookie: it outlives one workflow run, and cookies from one run
    must never reach another. Not storing them at all also saves httpx's per-response pass through
    the standard library's cookie jar.

    Its transport is always a `transport.GuardedTransport`; `send` relies on that transport's
    backend (`backend`) to judge addresses at connect time and to clamp socket operations."""

    _no_cookies = _NoCookies()

    def __init__(self, *, transport: transport.GuardedTransport, **options: Any) -> None:
        super().__init__(transport=transport, **options)
        self.backend = transport.backend

    @property  # type: ignore[misc]  # read-only on purpose
    def cookies(self) -> httpx.Cookies:
        return self._no_cookies


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


def _send_with_retries(
    exchange: _Exchange,
    request: OutgoingRequest,
    retry: RetryPolicy | None,
    sleep: Callable[[float], None],
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
            exc.attempts = attempt
            raise
        if retry is None or attempt >= max_attempts or not _should_retry(response, retry):
            break
        delay = _retry_delay(response, retry, attempt)
        if exchange.clock() + delay >= exchange.call.deadline:
            break
        sleep(delay)
    if response is None:
        assert error is not None
        error.attempts = attempt
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
    # The client's transport.GuardedBackend: it judges addresses when sockets open and clamps
    # every socket operation to the deadline.
    backend: transport.GuardedBackend
    call: transport.Call
    auth: httpx.Auth | None
    max_bytes: int
    truncate: bool
    max_redirects: int
    permits: _Permits | None
    clock: Callable[[], float]
    credential_headers: frozenset[str]  # lowercased names, dropped on a cross-origin redirect

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
                # Credentials are for the connection's origin only (its auth, an api_key header,
                # a credential among its own headers); the rest of the request still applies.
                headers, auth = _without(headers, *self.credential_headers), None
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
        self.call.guard.check_url(url, resolve=not self.backend.check_addresses)
        due = None
        if self.permits:  # every hop counts: a redirect to the same API is one more request
            from apicall.http import transport

            # Taken when the request's first byte is written.
            take_permit = functools.partial(self.permits.acquire, self.call.deadline)
            due = transport.permit_due.set(take_permit)
        try:
            remaining = self.call.deadline - self.clock()
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
                transport.permit_due.reset(due)
        if self.permits:
            self.permits.pause_for(response)
        return response

    def _read(self, response: httpx.Response) -> HttpResponse:
        # The guarded backend clamps every socket read to the deadline, so a body that has
        # already arrived in full is kept even when it is read late (a busy container): a 2xx
        # thrown away would be sent again, and a webhook receiver would see it twice.
        try:
            with _translated(response.url):
                content, truncated = read_capped(response, self.max_bytes)
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


def request_url(request: OutgoingRequest) -> httpx.URL:
    """The URL `request` is sent to: see `_target`."""
    return _target(request)


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
