"""The builder's connections: create, list, read, replace and delete them, and test one.

A connection is its Secrets Manager secret (apicall.core.connections), which workflows read; the
builder keeps a display name, a description and two times beside it in CatalogTable
(apicall.core.catalog). Credentials are write-only: every answer shows the connection's JSON as
stored with each credential as `***` (apicall.core.redaction says what is one), and a replace
that sends `***` back where a credential was keeps the stored one.

A connection written outside the builder (a secret created with the AWS CLI) has no metadata: it
is read, replaced, tested and deleted like any other, shown with null display name, description
and times, and listed once a replace (PUT) has given it metadata. A list is one Query of
CatalogTable per page, which cannot see secrets that have none.

A test runs five checks in order (url, dns, tls, auth, request) and stops at the first that
fails: `checks` holds those that ran, so the last one is the failure when `ok` is false. Every
message is in words a builder can show, and holds no credential.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http import HTTPStatus
from typing import Any, Literal

import httpx
from pydantic import Field, ValidationError

from apicall.core.catalog import CatalogStore, ConnectionMeta, default_catalog_store
from apicall.core.connections import (
    create_connection,
    delete_connection,
    load_connection,
    read_connection_data,
    replace_connection,
)
from apicall.core.errors import (
    AlreadyExists,
    ApicallError,
    AuthError,
    ConfigError,
    ConnectionNotFound,
    InvalidRequest,
    NotFound,
    SecretUnavailable,
    UpstreamConnectionError,
    UpstreamSSLError,
    UpstreamTimeout,
    config_error_from,
)
from apicall.core.models import (
    Connection,
    Contract,
    OAuth2AuthorizationCode,
    OAuth2ClientCredentials,
    RequestSpec,
)
from apicall.core.observability import logger
from apicall.core.redaction import (
    REDACTED,
    mask_connection,
    redact,
    restore_masked,
    safe_url,
    secret_values,
)
from apicall.core.store import DEFAULT_PAGE_LIMIT, default_runs_store
from apicall.core.workspaces import DEFAULT_WORKSPACE, scoped
from apicall.http import transport
from apicall.http.client import ConnectionClient, OutgoingRequest, SendPolicy, client_for
from apicall.http.guard import guard_for, parse_ip, resolve_host
from apicall.http.oauth import OAuth2
from apicall.request.templating import render_request

# One path segment of letters, digits, `_-` and single dots: the alphabet of
# apicall.core.connections.check_name without `/`, so that every name is one segment of
# /connections/{name} (functions/request/api.py's CONNECTION_SEGMENT) and never holds `#`.
NAME_PATTERN = r"^(\.?[A-Za-z0-9_-])+\.?$"
# `POST /connections/test` is the route that tests an unsaved connection; API Gateway routes the
# literal segment before {name}, so a connection of that name could never be read by the builder.
RESERVED_NAMES = frozenset(("test",))
# The name an unsaved connection is tested under: no connection can have it (check_name refuses
# parentheses), so its token cache is its own and a rotated refresh token is never written into
# a stored connection.
UNSAVED = "(unsaved)"
# A test asks for one cheap answer: it waits at most this long in all and reads at most this much.
TEST_TIMEOUT_S = 10.0
TEST_MAX_BYTES = 64 * 1024
# Left of the API's answer time for writing the answer.
_ANSWER_MARGIN_S = 1.0

TestMethod = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]


# --- request bodies and answers ------------------------------------------------------------------


class ConnectionBody(Contract):
    """`POST /connections`."""

    name: str = Field(min_length=1, max_length=256, pattern=NAME_PATTERN)
    display_name: str | None = Field(None, max_length=256)
    description: str | None = Field(None, max_length=4096)
    # repr=False: Powertools logs a route's arguments at DEBUG; a connection holds credentials.
    connection: Connection = Field(repr=False)


class ConnectionChanges(Contract):
    """`PUT /connections/{name}`: the whole connection (`***` keeps a stored credential);
    `display_name` and `description` change when given (null clears one)."""

    display_name: str | None = Field(None, max_length=256)
    description: str | None = Field(None, max_length=4096)
    connection: Connection = Field(repr=False)


class ConnectionTestBody(Contract):
    """`POST /connections/{name}/test`: what to send; `connection` tests edits before they are
    saved (`***` keeps a stored credential), instead of the stored connection."""

    __test__ = False  # not a pytest test class

    path: str = Field(
        "/", max_length=2048, pattern=r"^/", description="under the connection's base_url"
    )
    method: TestMethod = "GET"
    connection: Connection | None = Field(None, repr=False)


class UnsavedTestBody(Contract):
    """`POST /connections/test`: a connection not saved yet; with `"save": true` it is saved as
    `name` (with `display_name` and `description`) when every check passes."""

    __test__ = False

    connection: Connection = Field(repr=False)
    path: str = Field("/", max_length=2048, pattern=r"^/")
    method: TestMethod = "GET"
    save: bool = False
    name: str | None = Field(None, min_length=1, max_length=256, pattern=NAME_PATTERN)
    display_name: str | None = Field(None, max_length=256)
    description: str | None = Field(None, max_length=4096)


class ConnectionView(Contract):
    name: str
    display_name: str | None
    description: str | None
    connection: dict[str, Any] | None = Field(
        description="the stored JSON, every credential as ***; null when no secret holds it"
    )
    created_at: str | None
    updated_at: str | None


class ConnectionPage(Contract):
    items: list[ConnectionView]
    next: str | None


class Check(Contract):
    name: Literal["url", "dns", "tls", "auth", "request"]
    ok: bool
    message: str


class ConnectionTestAnswer(Contract):
    ok: bool
    checks: list[Check] = Field(description="the checks that ran, in order; a failure is last")
    status: int | None = Field(description="the HTTP status of the request check, if it got one")
    elapsed_ms: int
    saved: ConnectionView | None = Field(
        None, description="POST /connections/test: the connection saved by save: true"
    )


# --- routes --------------------------------------------------------------------------------------


def create(
    body: ConnectionBody,
    *,
    workspace: str = DEFAULT_WORKSPACE,
    catalog: CatalogStore | None = None,
) -> dict[str, Any]:
    """Store a new connection (its secret, then its metadata): its ConnectionView."""
    data = _stored_form(body.connection)
    return _create(body.name, data, body.display_name, body.description, workspace, catalog)


def list_page(
    *,
    workspace: str = DEFAULT_WORKSPACE,
    limit: int = DEFAULT_PAGE_LIMIT,
    next_token: str | None = None,
    catalog: CatalogStore | None = None,
) -> dict[str, Any]:
    """One page of the workspace's connections by name: one Query, then each secret through
    the container's cache (`SECRETS_MAX_AGE_S`), so a page may show a connection as it was up
    to that long ago when another container changed it."""
    catalog = catalog or default_catalog_store()
    page = catalog.list_connections(workspace, limit=limit, next_token=next_token)
    items = [_view(meta.name, meta, _listed(workspace, meta.name)) for meta in page.items]
    return {"items": items, "next": page.next}


def get(
    name: str, *, workspace: str = DEFAULT_WORKSPACE, catalog: CatalogStore | None = None
) -> dict[str, Any]:
    """The ConnectionView of `name`, read fresh; NotFound when neither a secret nor metadata
    holds it."""
    catalog = catalog or default_catalog_store()
    meta = catalog.get_connection_meta(workspace, name)
    found, data = _read(workspace, name)
    if not found and meta is None:
        raise _not_found(name)
    return _view(name, meta, data)


def replace(
    name: str,
    body: ConnectionChanges,
    *,
    workspace: str = DEFAULT_WORKSPACE,
    catalog: CatalogStore | None = None,
) -> dict[str, Any]:
    """Write `body.connection` as the whole of connection `name` (each `***` at a credential's
    place keeps the stored value) and update its metadata, creating the metadata of a
    connection made outside the builder."""
    catalog = catalog or default_catalog_store()
    meta = catalog.get_connection_meta(workspace, name)
    found, stored = _read(workspace, name)
    if not found and meta is None:
        raise _not_found(name)
    data = _with_stored_secrets(body.connection, stored or {}, name)
    qualified = scoped(workspace, name)
    try:
        if found:
            replace_connection(qualified, data)
        else:  # metadata whose secret was deleted outside the builder: the secret is written anew
            create_connection(qualified, data)
    except ConnectionNotFound as exc:  # deleted meanwhile
        raise _not_found(name) from exc
    changes = {key: getattr(body, key) for key in ("display_name", "description")}
    changes = {key: value for key, value in changes.items() if key in body.model_fields_set}
    if meta is None:
        meta = catalog.put_connection_meta(workspace, name, **changes)
    else:
        meta = catalog.update_connection_meta(workspace, name, **changes)
    return _view(name, meta, data)


def delete(
    name: str, *, workspace: str = DEFAULT_WORKSPACE, catalog: CatalogStore | None = None
) -> None:
    """Delete the connection's secret (at once: see apicall.core.connections.delete_connection),
    its entities and metadata, and its cached access token; NotFound when none was there."""
    catalog = catalog or default_catalog_store()
    qualified = scoped(workspace, name)
    had_secret = delete_connection(qualified)
    had_meta = catalog.delete_connection_meta(workspace, name)
    if not (had_secret or had_meta):
        raise _not_found(name)
    try:
        default_runs_store().delete_token(qualified)
    except Exception as exc:  # the token expires on its own; a new client_id never reuses it
        logger.warning("cached token not deleted", extra={"error": type(exc).__name__})
    logger.info("connection deleted", extra={"connection": name, "workspace": workspace})


def test_saved(
    name: str,
    body: ConnectionTestBody,
    *,
    workspace: str = DEFAULT_WORKSPACE,
    time_left_ms: Callable[[], int] | None = None,
) -> dict[str, Any]:
    """Test the stored connection `name`, or `body.connection` as an edit of it."""
    qualified = scoped(workspace, name)
    if body.connection is None:
        try:
            connection = load_connection(qualified, fresh=True)
        except ConnectionNotFound as exc:
            raise _not_found(name) from exc
        except ConfigError as exc:  # stored content that is no valid connection
            raise InvalidRequest(exc.message, field="name") from exc
    else:
        found, stored = _read(workspace, name)
        if not found:
            raise _not_found(name)
        data = _with_stored_secrets(body.connection, stored or {}, name)
        connection = _validated(data)
    # Edits too are tested as the connection itself: an OAuth token its client gets is a token
    # of that client, and a refresh token the provider rotates during the test must be written
    # back into the stored connection, whose old one the provider no longer takes.
    tester = _Tester(connection, qualified, lambda: client_for(connection, qualified), shown=name)
    return tester.run(body.path, body.method, time_left_ms)


def test_unsaved(
    body: UnsavedTestBody,
    *,
    workspace: str = DEFAULT_WORKSPACE,
    time_left_ms: Callable[[], int] | None = None,
    catalog: CatalogStore | None = None,
) -> dict[str, Any]:
    """Test a connection that is not saved; with `save`, save it as `name` if every check
    passes (`saved` is then its ConnectionView, else null)."""
    data = _stored_form(body.connection)
    name = body.name
    if body.save:
        if name is None:
            raise InvalidRequest("name: required to save the connection", field="name")
        _refuse_taken(workspace, name)
    # A test's one request does not take from a rate limit shared under a name nobody has.
    connection = body.connection.model_copy(update={"rate_limit": None})
    unsaved = scoped(workspace, UNSAVED)
    tester = _Tester(
        connection,
        unsaved,
        lambda: ConnectionClient(connection, name=unsaved),
        shown=name or UNSAVED,
    )
    answer = tester.run(body.path, body.method, time_left_ms)
    answer["saved"] = None
    if body.save and answer["ok"] and name is not None:
        refreshed = tester.refresh_token()
        if refreshed is not None:  # the provider rotated it during the test: keep the new one
            data["auth"] = {**data["auth"], "refresh_token": refreshed}
        answer["saved"] = _create(
            name, data, body.display_name, body.description, workspace, catalog
        )
    return answer


# --- storing -------------------------------------------------------------------------------------


def _stored_form(connection: Connection) -> dict[str, Any]:
    """A validated connection as its secret holds it: the fields the caller gave, aliases as
    the contract spells them (`in`). A `***` at a credential's place is refused: it would be
    stored, and sent, as the credential."""
    data = connection.model_dump(mode="json", by_alias=True, exclude_unset=True)
    _, masked = restore_masked(data, {})
    if masked:
        field = f"connection.{masked[0]}"
        raise InvalidRequest(
            f"{field}: {REDACTED!r} stands for a stored credential, and a new connection has "
            "none: send the value",
            field=field,
        )
    return data


def _with_stored_secrets(
    connection: Connection, stored: dict[str, Any], name: str
) -> dict[str, Any]:
    edited = connection.model_dump(mode="json", by_alias=True, exclude_unset=True)
    data, missing = restore_masked(edited, stored)
    if missing:
        field = f"connection.{missing[0]}"
        raise InvalidRequest(
            f"{field}: {REDACTED!r} keeps a stored credential, and connection '{name}' has "
            "none there (or its auth is of another type, or the URL's user changed): send "
            "the value",
            field=field,
        )
    return data


def _validated(data: dict[str, Any]) -> Connection:
    try:
        return Connection.model_validate(data)
    except ValidationError as exc:
        raise config_error_from(exc, data=data, prefix="connection", what="connection") from exc


def _create(
    name: str,
    data: dict[str, Any],
    display_name: str | None,
    description: str | None,
    workspace: str,
    catalog: CatalogStore | None,
) -> dict[str, Any]:
    _check_new_name(name)
    catalog = catalog or default_catalog_store()
    qualified = scoped(workspace, name)
    create_connection(qualified, data)
    try:
        meta = _create_meta(catalog, workspace, name, display_name, description)
    except Exception:
        # Without metadata the connection would exist but never be listed: take it back.
        delete_connection(qualified)
        raise
    logger.info("connection created", extra={"connection": name, "workspace": workspace})
    return _view(name, meta, data)


def _create_meta(
    catalog: CatalogStore,
    workspace: str,
    name: str,
    display_name: str | None,
    description: str | None,
) -> ConnectionMeta:
    try:
        return catalog.put_connection_meta(
            workspace, name, display_name=display_name, description=description
        )
    except AlreadyExists:
        # Metadata left by a connection whose secret was deleted outside the builder (the secret
        # did not exist, or the create would have failed): it and its entities go, so the new
        # connection inherits nothing of the old one.
        catalog.delete_connection_meta(workspace, name)
        return catalog.put_connection_meta(
            workspace, name, display_name=display_name, description=description
        )


def _check_new_name(name: str) -> None:
    if name in RESERVED_NAMES:
        raise InvalidRequest(
            f"name: '{name}' is reserved (POST /connections/test tests an unsaved connection)",
            field="name",
        )


def _refuse_taken(workspace: str, name: str) -> None:
    """Refuse `name` before a test-and-save tests anything: reserved, or taken (AlreadyExists)."""
    _check_new_name(name)
    found, _ = _read(workspace, name)
    if found:
        raise AlreadyExists(f"connection '{name}' already exists", field="name")


def _read(workspace: str, name: str) -> tuple[bool, dict[str, Any] | None]:
    """(whether a secret holds connection `name`, its JSON object or None when the secret
    holds something else), read fresh."""
    try:
        return True, read_connection_data(scoped(workspace, name), fresh=True)
    except ConnectionNotFound:
        return False, None
    except SecretUnavailable:
        raise
    except ConfigError:  # not a JSON object: shown as null, replaced by a PUT
        return True, None


def _listed(workspace: str, name: str) -> dict[str, Any] | None:
    try:
        return read_connection_data(scoped(workspace, name))
    except ConfigError as exc:
        # One unreadable secret must not fail the page: the item shows null.
        logger.warning(
            "connection not read for a list",
            extra={"connection": name, "error": type(exc).__name__},
        )
        return None


def _view(name: str, meta: ConnectionMeta | None, data: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "name": name,
        "display_name": meta.display_name if meta else None,
        "description": meta.description if meta else None,
        "connection": mask_connection(data) if data is not None else None,
        "created_at": meta.created_at if meta else None,
        "updated_at": meta.updated_at if meta else None,
    }


def _not_found(name: str) -> NotFound:
    return NotFound(f"connection '{name}' does not exist", field="name")


# --- testing -------------------------------------------------------------------------------------


class _Failed(Exception):
    """A check failed; its message is the check's."""


class _Tester:
    """One test of one connection through its client: the checks, their messages, the answer."""

    def __init__(
        self,
        connection: Connection,
        client_name: str,
        make_client: Callable[[], ConnectionClient],
        *,
        shown: str,
    ) -> None:
        self.connection = connection
        self.client_name = client_name
        self.make_client = make_client
        self._client: ConnectionClient | None = None
        self.guard = guard_for(connection)
        self.shown = shown
        self.checks: list[dict[str, Any]] = []
        self.status: int | None = None
        self.deadline = 0.0
        self.clock = time.monotonic

    def run(self, path: str, method: str, time_left_ms: Callable[[], int] | None) -> dict[str, Any]:
        started = self.clock()
        budget = min(TEST_TIMEOUT_S, self.connection.timeout_s)
        if time_left_ms is not None:
            budget = min(budget, max(time_left_ms() / 1000 - _ANSWER_MARGIN_S, 0.5))
        self.deadline = started + budget
        request: OutgoingRequest | None = None
        try:
            request = self._check("url", lambda: self._url(path, method))
            url = httpx.URL(request.url)
            addresses = self._check("dns", lambda: self._dns(url))
            self._check("tls", lambda: self._tls(url, addresses))
            self._check("auth", self._auth)
            self._check("request", lambda: self._request(request))
        except _Failed:
            pass
        ok = all(check["ok"] for check in self.checks)
        # Known only now: the access token the auth check fetched is a secret too.
        secrets = secret_values(self.connection, url=request.url if request else None)
        for check in self.checks:
            check["message"] = redact(self._named(check["message"]), secrets)
        failed = next((c["name"] for c in self.checks if not c["ok"]), None)
        logger.info(
            "connection tested", extra={"connection": self.shown, "ok": ok, "failed": failed}
        )
        return {
            "ok": ok,
            "checks": self.checks,
            "status": self.status,
            "elapsed_ms": int((self.clock() - started) * 1000),
        }

    def refresh_token(self) -> str | None:
        """The refresh token an authorization-code test left the connection with, when the
        provider rotated the one it was given."""
        auth = self._client.auth if self._client is not None else None
        given = getattr(self.connection.auth, "refresh_token", None)
        if isinstance(auth, OAuth2) and auth.tokens.refresh_token not in (None, given):
            return auth.tokens.refresh_token
        return None

    def _connection_client(self) -> ConnectionClient:
        """The client, built on first use: building it loads the connection's TLS settings,
        whose problems (a bad ca_bundle, a key its password does not open) are a check's
        failure, not the route's."""
        if self._client is None:
            try:
                self._client = self.make_client()
            except ConfigError as exc:
                raise _Failed(exc.message) from None
        return self._client

    def _check(self, name: str, run: Callable[[], tuple[Any, str]]) -> Any:
        try:
            value, message = run()
        except _Failed as failure:
            self.checks.append({"name": name, "ok": False, "message": str(failure)})
            raise
        self.checks.append({"name": name, "ok": True, "message": message})
        return value

    def _named(self, message: str) -> str:
        # Layer messages name the connection as the client knows it (`team#crm`, `(unsaved)`).
        return message.replace(f"connection '{self.client_name}'", "the connection")

    def _left(self) -> float:
        left = self.deadline - self.clock()
        if left <= 0:
            raise _Failed(f"no time left: the test takes at most {TEST_TIMEOUT_S:g} s")
        return left

    # url: the URL is well formed and the guard allows what it spells -------------------------

    def _url(self, path: str, method: str) -> tuple[OutgoingRequest, str]:
        if self.connection.base_url is None:
            raise _Failed("the connection has no base_url to test")
        try:
            spec = RequestSpec(connection=self.shown, method=method, url=path)
            request = render_request(spec, {}, None, self.connection, missing="empty")
            self.guard.check_url(request.url, resolve=False)
        except ValidationError as exc:
            raise _Failed(f"the path cannot be sent: {exc.errors()[0]['msg']}") from None
        except ApicallError as exc:
            raise _Failed(exc.message) from None
        return request, f"{method} {safe_url(request.url)}"

    # dns: the host resolves, to addresses the guard allows ------------------------------------

    def _dns(self, url: httpx.URL) -> tuple[list[str], str]:
        host, port = url.raw_host.decode("ascii"), _port(url)
        if parse_ip(host) is not None:
            return [host], f"{host} is an address: nothing to resolve"
        guard = self.guard
        try:
            if guard.allow_private:
                addresses = list(resolve_host(host, port))
            else:
                addresses = guard.allowed_addresses(host, port)
        except OSError as exc:
            raise _Failed(f"could not resolve host {host} ({exc.strerror or exc})") from None
        except UpstreamConnectionError:
            raise _Failed(f"could not resolve host {host}") from None
        except ApicallError as exc:  # BlockedURL: a private address, with the setting to allow it
            raise _Failed(exc.message) from None
        shown = ", ".join(dict.fromkeys(addresses))
        return addresses, f"{host} resolves to {shown}"

    # tls: a handshake with the connection's own TLS settings ----------------------------------

    def _tls(self, url: httpx.URL, addresses: list[str]) -> tuple[None, str]:
        if url.scheme == "http":
            return None, "plain http: no TLS"
        if self.connection.proxy is not None:
            return None, "through the proxy: TLS is checked by the request"
        host, port = url.raw_host.decode("ascii"), _port(url)
        try:
            context = transport.ssl_context(self.connection)
        except ConfigError as exc:
            raise _Failed(exc.message) from None
        with self._connected(host, port, addresses) as sock:
            try:
                with context.wrap_socket(sock, server_hostname=host) as tls:
                    version = tls.version() or "TLS"
            except ssl.SSLCertVerificationError as exc:
                raise _Failed(f"SSL certificate problem: {exc.verify_message}") from None
            except ssl.SSLError as exc:
                raise _Failed(f"TLS handshake failed: {exc.reason or exc}") from None
            except OSError as exc:
                raise _Failed(f"could not connect: TLS handshake with {host}: {exc}") from None
        checked = (
            "certificate verified"
            if self.connection.verify_ssl
            else "certificate not verified (verify_ssl is false)"
        )
        sent = ", client certificate sent" if self.connection.client_cert else ""
        return None, f"{version} with {host}, {checked}{sent}"

    @contextmanager
    def _connected(self, host: str, port: int, addresses: list[str]) -> Iterator[socket.socket]:
        """A TCP connection to the first of `addresses` (those the dns check allowed) that
        answers."""
        problem: OSError | None = None
        for address in addresses:
            try:
                sock = socket.create_connection((address, port), timeout=self._left())
            except OSError as exc:
                problem = exc
                continue
            with sock:
                yield sock
            return
        reason = (problem.strerror if problem else None) or str(problem or "no address")
        raise _Failed(f"could not connect to {host} port {port} ({reason})")

    # auth: an OAuth token from the token endpoint, now -----------------------------------------

    def _auth(self) -> tuple[None, str]:
        auth = self.connection.auth
        if not isinstance(auth, OAuth2ClientCredentials | OAuth2AuthorizationCode):
            return None, f"no token to fetch ({auth.type})"
        client = self._connection_client()
        tokens = client.auth.tokens if isinstance(client.auth, OAuth2) else None
        if tokens is None:  # pragma: no cover - an OAuth connection's client has OAuth2 auth
            raise _Failed("the connection has no token source")
        # The token client's sockets take the test's deadline and the connection's guard.
        call = transport.Call(self.guard, self.deadline, self.clock)
        token = transport.current_call.set(call)
        try:
            tokens.fetch_new()
        except ApicallError as exc:
            raise _Failed(exc.message) from None
        finally:
            transport.current_call.reset(token)
        return None, f"got an access token from {safe_url(auth.token_url)}"

    # request: one request, no retries, redirects not followed ----------------------------------

    def _request(self, request: OutgoingRequest) -> tuple[None, str]:
        policy = SendPolicy(
            timeout_s=self._left(),
            max_bytes=TEST_MAX_BYTES,
            retry=None,
            truncate=True,
            follow_redirects=False,
            max_redirects=0,
        )
        try:
            response = self._connection_client().send(request, policy)
        except ApicallError as exc:
            raise _Failed(_request_problem(exc, policy.timeout_s)) from None
        self.status = status = response.status
        answered = f"{status} {_phrase(status) or response.reason_phrase}".rstrip()
        if status in (401, 403):
            raise _Failed(f"authentication failed ({answered})")
        if status == 404:
            raise _Failed(f"wrong URL: {answered} ({request.method} {safe_url(request.url)})")
        if status >= 400:
            raise _Failed(f"the API answered {answered}")
        return None, answered


def _request_problem(exc: ApicallError, timeout_s: float) -> str:
    if isinstance(exc, UpstreamTimeout):
        return f"no answer within {timeout_s:.1f} s"
    if isinstance(exc, UpstreamSSLError):
        return exc.message
    if isinstance(exc, UpstreamConnectionError):
        return f"could not connect: {exc.message}"
    if isinstance(exc, AuthError):
        return f"authentication failed: {exc.message}"
    return exc.message


def _port(url: httpx.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""
