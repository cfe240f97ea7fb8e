from __future__ import annotations

import email.utils
import gzip
import resource
import select
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import trustme
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from apicall.core.errors import (
    BlockedURL,
    CapacityExceeded,
    InvalidResponse,
    ResponseTooLarge,
    UpstreamConnectionError,
    UpstreamSSLError,
    UpstreamTimeout,
)
from apicall.core.models import ApiKeyAuth, BasicAuth, Connection, RetryPolicy
from apicall.http import client as client_module
from apicall.http.client import ConnectionClient, OutgoingRequest, SendPolicy, is_success
from apicall.http.guard import Guard
from local.stack import free_port
from tests.support.clock import SkippingClock
from tests.support.servers import (
    PROXY_PASSWORD,
    PROXY_USER,
    ScriptedServer,
    client_cert,
    read_request_head,
    reset,
    trickle_body,
    trickle_headers,
)

LOCAL = Connection(allow_private_network=True)
# What a loaded machine may add to a deadline before the call returns, in tests where the deadline
# is the behaviour: far below what the servers there would take if the deadline did not cut them.
DEADLINE_SLACK_S = 4.0
# The strict policy, except that the test servers on 127.0.0.1 may be reached.
LOOPBACK_ONLY = Guard(permit_loopback=True)
MB = 1024 * 1024


def fetch(
    url: str,
    connection: Connection = LOCAL,
    *,
    method: str = "GET",
    timeout_s: float = 5.0,
    retry: RetryPolicy | None = None,
    max_bytes: int = MB,
    truncate: bool = False,
    guard: Guard | None = None,
    name: str | None = None,
    clock: SkippingClock | None = None,
    **options: Any,
) -> Any:
    request_options = {
        key: options.pop(key) for key in ("headers", "content", "json") if key in options
    }
    policy = SendPolicy(
        timeout_s=timeout_s, retry=retry, max_bytes=max_bytes, truncate=truncate, **options
    )
    timing = {"clock": clock, "sleep": clock.sleep} if clock else {}
    client = ConnectionClient(connection, name=name, guard=guard, **timing)
    return client.send(OutgoingRequest(method, url, **request_options), policy)


def quick_retry(attempts: int = 3, on: list[int] | None = None) -> RetryPolicy:
    return RetryPolicy(attempts=attempts, backoff="fixed", base_s=0.01, on=on or [429, 503])


def arrival_recorder(
    arrivals: list[float], responses: list[Response]
) -> Callable[[Request], Response]:
    def handler(request: Request) -> Response:
        arrivals.append(time.monotonic())
        return responses[min(len(arrivals), len(responses)) - 1]

    return handler


# --- retries ------------------------------------------------------------------------------------


def test_429_is_retried_after_retry_after_seconds(server: HTTPServer) -> None:
    arrivals: list[float] = []
    responses = [Response("slow down", 429, {"Retry-After": "1"}), Response("ok", 200)]
    server.expect_request("/r").respond_with_handler(arrival_recorder(arrivals, responses))

    clock = SkippingClock()

    response = fetch(server.url_for("/r"), retry=quick_retry(), clock=clock)

    assert (response.status, response.attempts, response.content) == (200, 2, b"ok")
    assert clock.sleeps == [1.0] and len(arrivals) == 2


def test_503_is_retried_after_retry_after_http_date(server: HTTPServer) -> None:
    arrivals: list[float] = []
    retry_at = email.utils.formatdate(time.time() + 2, usegmt=True)
    responses = [Response("busy", 503, {"Retry-After": retry_at}), Response("ok", 200)]
    server.expect_request("/r").respond_with_handler(arrival_recorder(arrivals, responses))

    clock = SkippingClock()

    response = fetch(server.url_for("/r"), retry=quick_retry(), timeout_s=6, clock=clock)

    assert (response.status, response.attempts) == (200, 2)
    # HTTP dates have whole seconds: "now + 2 s" is between 1 and 2 s away.
    assert len(clock.sleeps) == 1 and 0.9 <= clock.sleeps[0] <= 2.0


def test_retries_stop_at_attempts_and_return_the_last_response(server: HTTPServer) -> None:
    server.expect_request("/r").respond_with_data("busy", status=503)

    response = fetch(server.url_for("/r"), retry=quick_retry(attempts=3))

    assert (response.status, response.attempts) == (503, 3)
    assert len(server.log) == 3


def test_400_is_not_retried(server: HTTPServer) -> None:
    server.expect_request("/r").respond_with_data("bad", status=400)

    response = fetch(server.url_for("/r"), retry=quick_retry(attempts=5))

    assert (response.status, response.attempts) == (400, 1)
    assert len(server.log) == 1


def test_no_retry_policy_means_one_attempt(server: HTTPServer) -> None:
    server.expect_request("/r").respond_with_data("busy", status=503)

    assert fetch(server.url_for("/r"), retry=None).attempts == 1


def test_retry_after_beyond_the_deadline_returns_the_response_at_once(server: HTTPServer) -> None:
    server.expect_request("/r").respond_with_data("busy", status=503, headers={"Retry-After": "30"})
    clock = SkippingClock()

    response = fetch(server.url_for("/r"), retry=quick_retry(), timeout_s=10, clock=clock)

    assert (response.status, response.attempts) == (503, 1)
    assert clock.sleeps == []  # not after sleeping until the deadline


def test_backoff_sleeps_count_against_the_deadline(server: HTTPServer) -> None:
    server.expect_request("/r").respond_with_data("busy", status=503)
    retry = RetryPolicy(attempts=10, backoff="fixed", base_s=1.0, on=[503])
    clock = SkippingClock()

    response = fetch(server.url_for("/r"), retry=retry, timeout_s=2.5, clock=clock)

    assert response.status == 503
    # 10 attempts 1 s apart would take 9 s: a third wait would end past the 2.5 s deadline
    assert (response.attempts, clock.sleeps) == (3, [1.0, 1.0])


def test_connection_reset_is_retried(scripted_server: Callable[..., ScriptedServer]) -> None:
    def script(conn: socket.socket, index: int) -> None:
        read_request_head(conn)
        if index == 0:
            reset(conn)
        else:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")

    target = scripted_server(script)

    response = fetch(target.url + "/", retry=quick_retry())

    assert (response.status, response.attempts, response.content) == (200, 2, b"ok")


def test_refused_connection_after_all_attempts_raises_with_the_count() -> None:
    with pytest.raises(UpstreamConnectionError) as caught:
        fetch(f"http://127.0.0.1:{free_port()}/", retry=quick_retry(attempts=2))
    assert caught.value.attempts == 2  # type: ignore[attr-defined]


# --- the total deadline and timeouts ------------------------------------------------------------


def test_deadline_cuts_a_server_that_trickles_the_body(
    scripted_server: Callable[..., ScriptedServer],
) -> None:
    target = scripted_server(trickle_body(interval_s=0.2))
    started = time.monotonic()

    with pytest.raises(UpstreamTimeout):
        fetch(target.url + "/", timeout_s=1.0)

    assert time.monotonic() - started < 1.0 + DEADLINE_SLACK_S


def test_deadline_cuts_a_server_that_trickles_the_headers(
    scripted_server: Callable[..., ScriptedServer],
) -> None:
    target = scripted_server(trickle_headers(interval_s=0.2))
    started = time.monotonic()

    with pytest.raises(UpstreamTimeout):
        fetch(target.url + "/", timeout_s=1.0)

    assert time.monotonic() - started < 1.0 + DEADLINE_SLACK_S


def test_deadline_cuts_a_trickling_body(
    scripted_server: Callable[..., ScriptedServer],
) -> None:
    target = scripted_server(trickle_body(interval_s=0.2))
    started = time.monotonic()

    with pytest.raises(UpstreamTimeout):
        fetch(target.url + "/", timeout_s=1.0)

    assert time.monotonic() - started < 1.0 + DEADLINE_SLACK_S


def test_a_response_already_received_is_kept_when_it_is_read_after_the_deadline(
    scripted_server: Callable[..., ScriptedServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The whole answer arrives at once; the container is then too busy to read it before the
    # deadline. Throwing the 200 away would make the caller send it again.
    test_over = threading.Event()

    def whole_answer(conn: socket.socket, index: int) -> None:
        read_request_head(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\ndelivered")
        test_over.wait(30)  # the connection stays open

    target = scripted_server(whole_answer)
    read_on_time = client_module.read_capped
    timeout_s = 2.0
    # The client's clock, which the transport's socket reads are clamped by too: the container
    # is "busy" by jumping it past the deadline just before the body is read.
    clock = SkippingClock()
    started = clock()  # the client's deadline is at most timeout_s after this
    read_at: list[float] = []

    def busy_then_read(*args: Any, **kwargs: Any) -> tuple[bytes, bool]:
        clock.skipped += timeout_s + 0.2
        read_at.append(clock())
        return read_on_time(*args, **kwargs)

    monkeypatch.setattr(client_module, "read_capped", busy_then_read)

    try:
        response = fetch(target.url + "/", timeout_s=timeout_s, clock=clock)
    finally:
        test_over.set()

    assert read_at and read_at[0] > started + timeout_s  # read after the deadline
    assert (response.status, response.content) == (200, b"delivered")


def test_silent_server_is_a_read_timeout(scripted_server: Callable[..., ScriptedServer]) -> None:
    test_over = threading.Event()
    target = scripted_server(lambda conn, index: test_over.wait(30))  # silent until the end

    try:
        with pytest.raises(UpstreamTimeout):
            fetch(target.url + "/", timeout_s=0.5)
    finally:
        test_over.set()


def test_connect_that_never_completes_is_a_timeout() -> None:
    # A listener that never accepts: once its backlog is full the kernel drops further SYNs.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        # The first filler's handshake completes (it fills the backlog); the others' SYNs drop.
        _, connected, _ = select.select([], fillers[:1], [], 10)
        assert connected == fillers[:1]
        started = time.monotonic()
        with pytest.raises(UpstreamTimeout):
            fetch(f"http://127.0.0.1:{port}/", timeout_s=0.5)
        assert time.monotonic() - started < 0.5 + DEADLINE_SLACK_S
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


def test_refused_connection_is_a_connection_error_without_credentials() -> None:
    url = f"http://user:secret@127.0.0.1:{free_port()}/x?token=abc"

    with pytest.raises(UpstreamConnectionError) as caught:
        fetch(url)

    error = caught.value
    assert error.kind == "connection"
    assert "secret" not in f"{error.message} {error.url}"
    assert "abc" not in f"{error.message} {error.url}"


# --- redirects ----------------------------------------------------------------------------------


def test_301_turns_post_into_get_without_body(server: HTTPServer) -> None:
    server.expect_request("/old", method="POST").respond_with_data(
        "", status=301, headers={"Location": "/new"}
    )
    server.expect_request("/new", method="GET").respond_with_data("arrived")

    response = fetch(server.url_for("/old"), method="POST", json={"a": 1})

    assert (response.status, response.content) == (200, b"arrived")
    final = server.log[-1][0]
    assert final.method == "GET" and final.get_data() == b""
    assert "content-type" not in final.headers
    assert response.url == server.url_for("/new")


def test_307_keeps_method_and_body(server: HTTPServer) -> None:
    server.expect_request("/old", method="POST").respond_with_data(
        "", status=307, headers={"Location": "/new"}
    )
    server.expect_request("/new", method="POST").respond_with_data("arrived")

    response = fetch(server.url_for("/old"), method="POST", json={"a": 1})

    assert response.status == 200
    assert server.log[-1][0].get_json() == {"a": 1}


def test_redirects_stop_at_max_redirects_with_the_3xx(server: HTTPServer) -> None:
    server.expect_request("/loop").respond_with_data("", status=302, headers={"Location": "/loop"})

    response = fetch(server.url_for("/loop"), max_redirects=3)

    assert response.status == 302
    assert len(server.log) == 4


def test_follow_redirects_false_returns_the_3xx(server: HTTPServer) -> None:
    server.expect_request("/old").respond_with_data("", status=302, headers={"Location": "/new"})

    response = fetch(server.url_for("/old"), follow_redirects=False)

    assert (response.status, response.headers["location"]) == (302, "/new")
    assert len(server.log) == 1


@pytest.fixture
def other_origin(server: HTTPServer) -> Iterator[HTTPServer]:
    """A second server, where `server`'s /go redirects (to /landing, which answers "there")."""
    other = HTTPServer(host="127.0.0.1", port=0)
    other.start()
    other.expect_request("/landing").respond_with_data("there")
    server.expect_request("/go").respond_with_data(
        "", status=302, headers={"Location": other.url_for("/landing")}
    )
    yield other
    other.stop()


def test_authorization_is_dropped_on_a_cross_origin_redirect(
    server: HTTPServer, other_origin: HTTPServer
) -> None:
    basic = {"type": "basic", "username": "user", "password": "pw"}
    response = fetch(
        server.url_for("/go"),
        LOCAL.model_copy(update={"auth": BasicAuth.model_validate(basic)}),
        name="with-basic-auth",
        headers={"Authorization": "Bearer t0ken"},
    )

    assert response.content == b"there"
    assert "authorization" in server.log[0][0].headers
    assert "authorization" not in other_origin.log[0][0].headers


def test_every_credential_header_is_dropped_on_a_cross_origin_redirect(
    server: HTTPServer, other_origin: HTTPServer
) -> None:
    # An api_key auth header, and a credential among the connection's own headers, are for its
    # origin only; its other headers still go along.
    api_key = {"type": "api_key", "name": "X-Service-Key", "value": "k3y-auth"}
    connection = LOCAL.model_copy(update={"auth": ApiKeyAuth.model_validate(api_key)})
    # As rendering sends them: the connection's headers merged into the request's.
    headers = {"X-Api-Key": "k3y-header", "X-Organization-ID": "org-1"}

    response = fetch(server.url_for("/go"), connection, name="with-api-key", headers=headers)

    assert response.content == b"there"
    first, second = server.log[0][0].headers, other_origin.log[0][0].headers
    assert first["x-service-key"] == "k3y-auth" and first["x-api-key"] == "k3y-header"
    assert "x-service-key" not in second and "x-api-key" not in second
    assert second["x-organization-id"] == "org-1"


def test_authorization_is_kept_on_a_same_origin_redirect(server: HTTPServer) -> None:
    server.expect_request("/go").respond_with_data("", status=302, headers={"Location": "/here"})
    server.expect_request("/here").respond_with_data("here")

    fetch(server.url_for("/go"), headers={"Authorization": "Bearer t0ken"})

    assert server.log[-1][0].headers["authorization"] == "Bearer t0ken"


@pytest.mark.parametrize(
    "target", ["http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/", "http://0xa9fea9fe/"]
)
def test_redirect_to_a_private_address_is_refused(server: HTTPServer, target: str) -> None:
    server.expect_request("/go").respond_with_data("", status=302, headers={"Location": target})

    with pytest.raises(BlockedURL):
        fetch(server.url_for("/go"), Connection(), guard=LOOPBACK_ONLY)

    assert len(server.log) == 1


def redirect_to(location: bytes) -> Callable[[socket.socket, int], None]:
    """A server script answering every request with a 302 to `location`, sent byte for byte."""

    def script(conn: socket.socket, index: int) -> None:
        read_request_head(conn)
        conn.sendall(
            b"HTTP/1.1 302 Found\r\nLocation: " + location + b"\r\n"
            b"Content-Length: 0\r\nConnection: close\r\n\r\n"
        )

    return script


UNFOLLOWABLE_LOCATIONS = [
    # not http(s): refused as a target, whatever the address
    (b"file:///etc/passwd", BlockedURL),
    (b"file://\\/\\/etc/passwd", BlockedURL),
    (b"gopher://127.0.0.1:70/_x", BlockedURL),
    (b"dict://127.0.0.1:11211/stat", BlockedURL),
    (b"ftp://127.0.0.1/pub", BlockedURL),
    (b"FTP://127.0.0.1/pub", BlockedURL),
    # not a URL httpx can read (it builds the next request even when not following), or no
    # host or port to go to
    (b"jar:http://127.0.0.1!/", InvalidResponse),
    (b"mailto:ops@example.com", InvalidResponse),
    (b"javascript:alert(1)", InvalidResponse),
    (b"http://[::1", InvalidResponse),
    (b"http://a:b:c/", InvalidResponse),
    (b"http://xn--/", InvalidResponse),
    (b"http:foo", InvalidResponse),
    (b"https:", InvalidResponse),
    (b"http://../", InvalidResponse),
    (b"http://exa mple.com/", InvalidResponse),
    (b"http://%zz/", InvalidResponse),
    (b"//127.0.0.1:99999/", InvalidResponse),
]


@pytest.mark.parametrize(("location", "error"), UNFOLLOWABLE_LOCATIONS)
@pytest.mark.parametrize("allow_private", [False, True])
def test_an_unfollowable_location_is_a_typed_refusal_that_is_not_retried(
    scripted_server: Callable[..., ScriptedServer],
    location: bytes,
    error: type[Exception],
    allow_private: bool,
) -> None:
    target = scripted_server(redirect_to(location))
    connection = Connection(allow_private_network=allow_private)
    guard = None if allow_private else LOOPBACK_ONLY

    with pytest.raises(error) as caught:
        fetch(f"{target.url}/go", connection, guard=guard, retry=quick_retry(5, on=[302]))

    refusal = caught.value
    assert isinstance(refusal, BlockedURL | InvalidResponse)
    assert refusal.field == "Location" and refusal.status == 302
    assert refusal.attempts == 1  # type: ignore[attr-defined]
    assert len(target.arrivals) == 1


@pytest.mark.parametrize(
    "location",
    [b"jar:http://127.0.0.1!/", b"mailto:ops@example.com", b"http://[::1", b"http://xn--/"],
)
def test_a_location_httpx_cannot_read_is_refused_even_when_not_following(
    scripted_server: Callable[..., ScriptedServer], location: bytes
) -> None:
    target = scripted_server(redirect_to(location))

    with pytest.raises(InvalidResponse) as caught:
        fetch(f"{target.url}/go", follow_redirects=False, retry=quick_retry(5, on=[302]))

    assert (caught.value.field, caught.value.status) == ("Location", 302)
    assert len(target.arrivals) == 1


@pytest.mark.parametrize(
    "location",
    [b"ftp://files.example.com/report.csv", b"file:///etc/passwd", b"//127.0.0.1:99999/"],
)
def test_a_redirect_not_followed_comes_back_whatever_its_location_names(
    scripted_server: Callable[..., ScriptedServer], location: bytes
) -> None:
    target = scripted_server(redirect_to(location))

    response = fetch(f"{target.url}/go", Connection(), guard=LOOPBACK_ONLY, follow_redirects=False)

    assert (response.status, response.headers["location"]) == (302, location.decode())
    assert len(target.arrivals) == 1


@pytest.mark.parametrize(
    "location",
    [b"jar:http://127.0.0.1!/", b"http:foo", b"mailto:x@y", b"http://[::1", b"http://a:b:c/"],
)
def test_a_location_error_is_never_retried_and_never_escapes_raw(
    scripted_server: Callable[..., ScriptedServer], location: bytes
) -> None:
    # httpx builds the next request from Location even when not following; what httpx would
    # raise comes out typed, and a retry policy that covers 302 does not send it again.
    target = scripted_server(redirect_to(location))

    with pytest.raises(InvalidResponse) as caught:
        fetch(f"{target.url}/go", retry=quick_retry(5, on=[302]))

    assert caught.value.field == "Location"
    assert len(target.arrivals) == 1


def test_a_refused_redirect_names_the_url_that_redirected_without_credentials(
    scripted_server: Callable[..., ScriptedServer],
) -> None:
    target = scripted_server(redirect_to(b"gopher://u:hunter2@127.0.0.1:70/_x?token=t0ken"))

    with pytest.raises(BlockedURL) as caught:
        fetch(f"http://admin:s3cret@127.0.0.1:{target.port}/go?key=abc")

    error = caught.value
    assert error.url == f"http://127.0.0.1:{target.port}/go?key=***"
    shown = f"{error.message} {error.url}"
    assert all(secret not in shown for secret in ("hunter2", "t0ken", "s3cret", "abc"))


def test_a_refused_redirect_tells_how_to_allow_private_targets(server: HTTPServer) -> None:
    server.expect_request("/go").respond_with_data(
        "", status=302, headers={"Location": "http://10.0.0.1/"}
    )

    with pytest.raises(BlockedURL, match="set allow_private_network on the connection"):
        fetch(server.url_for("/go"), Connection(), guard=LOOPBACK_ONLY)


def test_private_target_is_refused_by_default(server: HTTPServer) -> None:
    server.expect_request("/x").respond_with_data("secret")

    with pytest.raises(BlockedURL):
        fetch(server.url_for("/x"), Connection())

    assert server.log == []


def test_a_name_is_judged_by_the_address_the_socket_opens_to(server: HTTPServer) -> None:
    # DNS rebinding has no window: the one lookup is the one the socket connects to.
    lookups: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        lookups.append(host)
        return ["127.0.0.1"]

    server.expect_request("/x").respond_with_data("secret")

    with pytest.raises(BlockedURL, match="loopback"):
        fetch(f"http://rebind.test:{server.port}/x", Connection(), guard=Guard(resolver=resolver))

    assert server.log == []
    assert lookups == ["rebind.test"]


def test_a_kept_alive_connection_is_not_looked_up_again(
    scripted_server: Callable[..., ScriptedServer],
) -> None:
    lookups: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        lookups.append(host)
        return ["127.0.0.1"]

    def keep_alive(conn: socket.socket, index: int) -> None:
        while read_request_head(conn):
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    target = scripted_server(keep_alive)
    guard = Guard(permit_loopback=True, resolver=resolver)

    for _ in range(3):
        assert fetch(f"http://api.test:{target.port}/x", Connection(), guard=guard).status == 200

    assert len(target.arrivals) == 1
    assert lookups == ["api.test"]  # the connect's, once; none per request


def test_behind_a_proxy_the_target_is_resolved_before_each_request(server: HTTPServer) -> None:
    # The socket goes to the proxy, so the pre-request check is the only one that sees the target.
    lookups: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        lookups.append(host)
        return ["10.0.0.7"]

    with pytest.raises(BlockedURL, match="private"):
        fetch(
            "http://internal.test/x",
            Connection(proxy=f"http://127.0.0.1:{server.port}"),
            guard=Guard(resolver=resolver),
        )

    assert lookups == ["internal.test"]
    assert server.log == []


AWKWARD_PARAMS = [
    ("q", "a b&c=d"),
    ("q", "ümlaut/ü?#"),
    ("empty", ""),
    ("plus", "1+1"),
    ("pct", "100%"),
    ("key with space", "x"),
]


@pytest.mark.parametrize("own_query", ["", "?page=2&q=url"])
def test_query_is_sent_exactly_as_httpx_params_would_send_it(
    server: HTTPServer, own_query: str
) -> None:
    # Params join the URL as a pre-encoded query (one parse instead of two), spelled as httpx
    # spells them, after the URL's own pairs (httpx itself would drop those: it replaces a URL's
    # query with `params=`).
    server.expect_request("/q").respond_with_data("ok")
    url = server.url_for("/q") + own_query
    with httpx.Client() as plain:
        plain.get(server.url_for("/q"), params=AWKWARD_PARAMS)
    params_query = server.log[-1][0].query_string.decode()
    expected = f"/q{own_query}&{params_query}" if own_query else f"/q?{params_query}"

    ConnectionClient(LOCAL).send(
        OutgoingRequest("GET", url, params=AWKWARD_PARAMS), SendPolicy(timeout_s=5, max_bytes=MB)
    )

    assert server.log[-1][0].full_path == expected
    assert server.log[-1][0].args.getlist("q")[-1] == "ümlaut/ü?#"


def test_cookies_do_not_carry_over_between_sends(server: HTTPServer) -> None:
    server.expect_request("/set").respond_with_data("", headers={"Set-Cookie": "session=abc"})
    server.expect_request("/check").respond_with_data("")

    fetch(server.url_for("/set"))
    fetch(server.url_for("/check"))

    assert "cookie" not in server.log[-1][0].headers


# --- TLS ----------------------------------------------------------------------------------------


def test_untrusted_certificate_is_an_ssl_error(https_server: HTTPServer) -> None:
    https_server.expect_request("/").respond_with_data("ok")

    with pytest.raises(UpstreamSSLError) as caught:
        fetch(https_server.url_for("/"), retry=quick_retry())

    assert caught.value.kind == "ssl"
    assert caught.value.attempts == 1  # type: ignore[attr-defined]


def test_ca_bundle_makes_the_certificate_trusted(
    https_server: HTTPServer, tls_ca: trustme.CA
) -> None:
    https_server.expect_request("/").respond_with_data("ok")
    connection = Connection(allow_private_network=True, ca_bundle=tls_ca.cert_pem.bytes().decode())

    assert fetch(https_server.url_for("/"), connection).content == b"ok"


def test_verify_ssl_false_accepts_any_certificate(https_server: HTTPServer) -> None:
    https_server.expect_request("/").respond_with_data("ok")
    connection = Connection(allow_private_network=True, verify_ssl=False)

    assert fetch(https_server.url_for("/"), connection).status == 200


def test_server_requiring_a_client_certificate_refuses_without_one(
    mtls_server: HTTPServer, tls_ca: trustme.CA
) -> None:
    mtls_server.expect_request("/").respond_with_data("ok")
    connection = Connection(allow_private_network=True, ca_bundle=tls_ca.cert_pem.bytes().decode())

    with pytest.raises(UpstreamSSLError, match="certificate required"):
        fetch(mtls_server.url_for("/"), connection)


@pytest.mark.parametrize("password", [None, "s3cret"])
def test_client_certificate_is_presented(
    mtls_server: HTTPServer, tls_ca: trustme.CA, password: str | None
) -> None:
    mtls_server.expect_request("/").respond_with_data("ok")
    connection = Connection(
        allow_private_network=True,
        ca_bundle=tls_ca.cert_pem.bytes().decode(),
        client_cert=client_cert(tls_ca, password),
    )

    assert fetch(mtls_server.url_for("/"), connection).content == b"ok"


# --- proxy --------------------------------------------------------------------------------------


def test_proxy_without_credentials_answers_407(server: HTTPServer, auth_proxy: int) -> None:
    server.expect_request("/via").respond_with_data("proxied")
    connection = Connection(allow_private_network=True, proxy=f"http://127.0.0.1:{auth_proxy}")

    response = fetch(server.url_for("/via"), connection)

    assert response.status == 407
    assert server.log == []


def test_request_goes_through_the_proxy_with_credentials(
    server: HTTPServer, auth_proxy: int
) -> None:
    server.expect_request("/via").respond_with_data("proxied")
    proxy = f"http://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:{auth_proxy}"
    connection = Connection(allow_private_network=True, proxy=proxy)

    response = fetch(server.url_for("/via"), connection)

    assert (response.status, response.content) == (200, b"proxied")
    assert len(server.log) == 1


def test_https_tunnel_refused_by_the_proxy_is_a_connection_error(
    https_server: HTTPServer, auth_proxy: int
) -> None:
    https_server.expect_request("/").respond_with_data("ok")
    connection = Connection(
        allow_private_network=True, verify_ssl=False, proxy=f"http://127.0.0.1:{auth_proxy}"
    )

    with pytest.raises(UpstreamConnectionError, match="proxy"):
        fetch(https_server.url_for("/"), connection)


# --- the body size cap --------------------------------------------------------------------------


def test_large_body_is_truncated_when_allowed(server: HTTPServer) -> None:
    server.expect_request("/big").respond_with_data(b"a" * (2 * MB))

    response = fetch(server.url_for("/big"), max_bytes=MB, truncate=True)

    assert response.truncated is True
    assert len(response.content) == MB


def test_large_body_is_too_large_when_truncation_is_not_allowed(server: HTTPServer) -> None:
    server.expect_request("/big").respond_with_data(b"a" * (2 * MB))

    with pytest.raises(ResponseTooLarge) as caught:
        fetch(server.url_for("/big"), max_bytes=MB, truncate=False)

    assert caught.value.kind == "too_large"


def test_body_of_exactly_max_bytes_is_whole(server: HTTPServer) -> None:
    server.expect_request("/exact").respond_with_data(b"a" * 1000)

    response = fetch(server.url_for("/exact"), max_bytes=1000)

    assert (len(response.content), response.truncated) == (1000, False)


def gzip_of_zeros(size: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(MB)
    parts = [compressor.compress(block) for _ in range(size // MB)]
    return b"".join([*parts, compressor.flush()])


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    return gzip_of_zeros(200 * MB)


def test_gzip_bomb_is_cut_at_the_cap_without_expanding(
    server: HTTPServer, gzip_bomb: bytes
) -> None:
    server.expect_request("/bomb").respond_with_data(
        gzip_bomb, headers={"Content-Encoding": "gzip"}
    )
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    started = time.monotonic()

    response = fetch(server.url_for("/bomb"), max_bytes=MB, truncate=True)

    assert response.truncated is True
    assert response.content == bytes(MB)
    assert time.monotonic() - started < 5
    peak_growth_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before
    assert peak_growth_kib < 64 * 1024


def test_gzip_bomb_is_too_large_when_truncation_is_not_allowed(
    server: HTTPServer, gzip_bomb: bytes
) -> None:
    server.expect_request("/bomb").respond_with_data(
        gzip_bomb, headers={"Content-Encoding": "gzip"}
    )

    with pytest.raises(ResponseTooLarge):
        fetch(server.url_for("/bomb"), max_bytes=MB, truncate=False)


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda data: zlib.compress(data, wbits=-zlib.MAX_WBITS)),
    ],
)
def test_compressed_body_is_decoded(
    server: HTTPServer, encoding: str, encode: Callable[[bytes], bytes]
) -> None:
    body = b'{"hello": "world"}' * 100
    server.expect_request("/z").respond_with_data(
        encode(body), headers={"Content-Encoding": encoding}
    )

    response = fetch(server.url_for("/z"))

    assert (response.content, response.truncated) == (body, False)


def test_corrupt_gzip_is_an_invalid_response(server: HTTPServer) -> None:
    server.expect_request("/z").respond_with_data(
        b"not gzip at all", headers={"Content-Encoding": "gzip"}
    )

    with pytest.raises(InvalidResponse):
        fetch(server.url_for("/z"))


# --- pool capacity ------------------------------------------------------------------------------


def test_exhausted_pool_is_capacity_exceeded(server: HTTPServer) -> None:
    arrived, release = threading.Event(), threading.Event()

    def slow(request: Request) -> Response:
        arrived.set()
        release.wait(30)
        return Response("slow")

    server.expect_request("/slow").respond_with_handler(slow)
    connection = Connection(allow_private_network=True, max_in_flight=1, timeout_s=7)
    # Connections with the same TLS, proxy and pool settings share one pool.
    assert ConnectionClient(connection).http is ConnectionClient(connection.model_copy()).http
    first = threading.Thread(
        target=fetch, args=(server.url_for("/slow"), connection), kwargs={"timeout_s": 60}
    )
    first.start()
    try:
        assert arrived.wait(30)  # the one connection of the pool is now busy
        with pytest.raises(CapacityExceeded) as caught:
            fetch(server.url_for("/slow"), connection, timeout_s=0.5)
        assert caught.value.kind == "connection"
    finally:
        release.set()
        first.join()


# --- success codes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "codes", "expected"),
    [
        (200, "2xx", True),
        (204, "2xx", True),
        (302, "2xx", False),
        (302, "2xx,3xx", True),
        (404, "2xx, 4xx", True),
        (201, [200, 201], True),
        (200, [201], False),
    ],
)
def test_is_success(status: int, codes: str | list[int], expected: bool) -> None:
    assert is_success(status, codes) is expected
