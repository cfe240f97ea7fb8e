"""OAuth 2.0 access tokens for a connection: cached, shared, refreshed, applied.

Tokens are looked up in this container's memory (`RUNTIME`), then in RunsTable (shared by all
containers), and only then fetched from the token endpoint, once per connection however many
requests wait for it. Authlib is imported only when a token is really fetched, to keep cold
starts light. `OAuth2` applies the token and retries once with a new one after a 401.
"""

from __future__ import annotations

import re
import threading
import time
import warnings
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from apicall.core.errors import AuthError
from apicall.core.models import (
    Connection,
    OAuth2AuthorizationCode,
    OAuth2ClientCredentials,
)
from apicall.core.observability import logger
from apicall.core.redaction import remember_issued_token
from apicall.core.runtime import RUNTIME, Keyed

if TYPE_CHECKING:
    from apicall.core.store import RunsStore


# A token this close to its expiry counts as expired: it could lapse while the request is in flight.
EXPIRY_MARGIN_S = 60
# When the token endpoint omits expires_in; a shorter real lifetime is caught by the 401 retry.
DEFAULT_TOKEN_LIFETIME_S = 3600


OAuth2Config = OAuth2ClientCredentials | OAuth2AuthorizationCode
TokenKey = tuple[str, str]  # (connection name, client_id)


@dataclass(frozen=True)
class AccessToken:
    access_token: str
    token_type: str
    expires_at: float

    def usable(self, now: float | None = None) -> bool:
        return self.expires_at - EXPIRY_MARGIN_S > (time.time() if now is None else now)

    def header(self) -> str:
        kind = "Bearer" if self.token_type.lower() == "bearer" else self.token_type
        return f"{kind} {self.access_token}"


class OAuth2(httpx.Auth):
    """Bearer token from a TokenSource; on a 401, one new token and one retry."""

    # The body is read up front so the request can be sent a second time after a 401.
    requires_request_body = True

    def __init__(self, tokens: TokenSource) -> None:
        self.tokens = tokens

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self.tokens.get()
        request.headers["Authorization"] = token.header()
        response = yield request
        if response.status_code != 401:
            return
        token = self.tokens.get(stale=token.access_token)
        request.headers["Authorization"] = token.header()
        yield request


# Per-container token cache, and a lock per (connection, client_id) so that concurrent requests
# needing a token cause a single token request.
_tokens: Keyed[TokenKey, AccessToken] = RUNTIME.keyed()
_locks: Keyed[TokenKey, threading.Lock] = RUNTIME.keyed()


class TokenSource:
    """Access tokens of one OAuth connection: memory, then RunsTable, then the token endpoint."""

    def __init__(self, name: str, connection: Connection, *, store: RunsStore | None) -> None:
        if not isinstance(connection.auth, OAuth2ClientCredentials | OAuth2AuthorizationCode):
            raise TypeError("TokenSource needs an OAuth 2.0 connection")
        self.name = name
        self.connection = connection
        self.auth: OAuth2Config = connection.auth
        self.key: TokenKey = (name, connection.auth.client_id)
        self._store = store
        self._refresh_token = getattr(connection.auth, "refresh_token", None)

    @property
    def refresh_token(self) -> str | None:
        """The refresh token this source uses now: the connection's, or the one the provider
        rotated it to."""
        return self._refresh_token

    @property
    def store(self) -> RunsStore:
        if self._store is None:
            from apicall.core.store import default_runs_store

            self._store = default_runs_store()
        return self._store

    def get(self, *, stale: str | None = None) -> AccessToken:
        """A usable token; `stale` is one the API just refused, which is dropped, not reused."""
        token = self._from_memory(stale)
        if token is not None:
            return token
        with _locks.get(self.key, threading.Lock):
            # Another thread may have fetched one while this one waited for the lock.
            token = self._from_memory(stale)
            if token is None:
                token = self._from_table(stale)
            if token is None:
                token = self._from_endpoint()
                self._save_to_table(token)
            return self._keep(token)

    def fetch_new(self) -> AccessToken:
        """A token straight from the token endpoint, kept like any other: a connection test asks
        the endpoint whether the credentials work now, not whether a token is still cached."""
        with _locks.get(self.key, threading.Lock):
            token = self._from_endpoint()
            self._save_to_table(token)
            return self._keep(token)

    def _keep(self, token: AccessToken) -> AccessToken:
        _tokens.put(self.key, token)
        remember_issued_token(self.auth.token_url, self.auth.client_id, token.access_token)
        return token

    def _from_memory(self, stale: str | None) -> AccessToken | None:
        token = _tokens.peek(self.key)
        if token is None or token.access_token == stale or not token.usable():
            return None
        return token

    # the shared cache is an optimisation: when RunsTable fails, fall through to the endpoint

    def _from_table(self, stale: str | None) -> AccessToken | None:
        try:
            item = self.store.get_token(self.name)
            if item is None or item.get("client_id") != self.auth.client_id:
                return None
            if item.get("access_token") == stale:
                self.store.delete_token(self.name)
                return None
            token = AccessToken(
                access_token=str(item["access_token"]),
                token_type=str(item.get("token_type") or "Bearer"),
                expires_at=float(item["expires_at"]),
            )
        except Exception as exc:
            _log_table_problem(self.name, "read", exc)
            return None
        return token if token.usable() else None

    def _save_to_table(self, token: AccessToken) -> None:
        lifetime = int(token.expires_at - time.time())
        if lifetime <= EXPIRY_MARGIN_S:
            return
        try:
            self.store.put_token(
                self.name,
                {
                    "access_token": token.access_token,
                    "token_type": token.token_type,
                    "expires_at": int(token.expires_at),
                    "client_id": self.auth.client_id,
                },
                expires_in_s=lifetime,
            )
        except Exception as exc:
            _log_table_problem(self.name, "write", exc)

    # the token endpoint

    def _from_endpoint(self) -> AccessToken:
        from apicall.http import transport
        from apicall.http.guard import guard_for

        # The token client's sockets judge a name's addresses when they open (see transport.py);
        # behind a proxy only this check sees the token endpoint's host.
        guard = guard_for(self.connection)
        guard.check_url(self.auth.token_url, resolve=self.connection.proxy is not None)
        # A rate-limit permit waiting for the API request's first write is not the token call's.
        pending_permit = transport.permit_due.set(None)
        try:
            if isinstance(self.auth, OAuth2ClientCredentials):
                return self._client_credentials(self.auth)
            return self._refresh(self.auth)
        finally:
            transport.permit_due.reset(pending_permit)

    def _client_credentials(self, auth: OAuth2ClientCredentials) -> AccessToken:
        extra = {"scope": auth.scope, "audience": auth.audience}
        with self._token_client() as oauth:
            data = self._call(
                lambda: oauth.fetch_token(
                    auth.token_url,
                    grant_type="client_credentials",
                    **{key: value for key, value in extra.items() if value},
                )
            )
        return self._accept(data)

    def _refresh(self, auth: OAuth2AuthorizationCode) -> AccessToken:
        if not self._refresh_token:
            raise AuthError(
                f"connection '{self.name}' has no refresh_token yet: "
                "complete the OAuth consent flow first"
            )
        try:
            data = self._refresh_with(auth, self._refresh_token)
        except _EndpointRefused as refused:
            # Another container may have rotated the refresh token since this one cached the
            # connection: retry once with the stored one, if it differs.
            newer = self._stored_refresh_token() if refused.error == "invalid_grant" else None
            if not newer or newer == self._refresh_token:
                raise _auth_error(self.name, refused) from None
            self._refresh_token = newer
            try:
                data = self._refresh_with(auth, newer)
            except _EndpointRefused as again:
                raise _auth_error(self.name, again) from None
        rotated = data.get("refresh_token")
        if isinstance(rotated, str) and rotated and rotated != self._refresh_token:
            self._refresh_token = rotated
            self._write_back_refresh_token(rotated)
        return self._accept(data)

    def _refresh_with(self, auth: OAuth2AuthorizationCode, refresh_token: str) -> dict[str, Any]:
        with self._token_client() as oauth:
            return self._call(
                # Some providers (Microsoft) require the scope again on refresh; RFC 6749
                # allows repeating the scope originally granted.
                lambda: oauth.refresh_token(
                    auth.token_url,
                    refresh_token=refresh_token,
                    **({"scope": auth.scope} if auth.scope else {}),
                ),
                raise_refused=True,
            )

    def _stored_refresh_token(self) -> str | None:
        from apicall.core.connections import load_connection

        try:
            auth = load_connection(self.name, fresh=True).auth
        except Exception:
            return None
        return getattr(auth, "refresh_token", None)

    def _write_back_refresh_token(self, refresh_token: str) -> None:
        from apicall.core.connections import update_connection

        try:
            update_connection(self.name, {"auth": {"refresh_token": refresh_token}})
        except Exception as exc:
            # The new access token is good now; the next refresh will fail clearly if the
            # provider has already revoked the old refresh token.
            logger.error(
                "rotated refresh token not stored",
                extra={"connection": self.name, "error": type(exc).__name__},
            )

    def _token_client(self) -> Any:
        return token_client(self.connection, self.auth)

    def _call(
        self, fetch: Callable[[], Mapping[str, Any]], *, raise_refused: bool = False
    ) -> dict[str, Any]:
        return call_token_endpoint(self.name, fetch, raise_refused=raise_refused)

    def _accept(self, data: Mapping[str, Any]) -> AccessToken:
        access_token = data.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise AuthError(
                f"token endpoint of connection '{self.name}' answered without an access_token"
            )
        token_type = data.get("token_type")
        return AccessToken(
            access_token=access_token,
            token_type=token_type if isinstance(token_type, str) and token_type else "Bearer",
            expires_at=time.time() + _lifetime(data.get("expires_in")),
        )


def token_client(
    connection: Connection, auth: OAuth2ClientCredentials | OAuth2AuthorizationCode, **options: Any
) -> Any:
    """`oauth_client` that raises `_EndpointRefused` for a non-2xx token answer (Authlib would
    read the body as a token), for `call_token_endpoint` to translate."""
    oauth = oauth_client(connection, auth, **options)
    for hook in ("access_token_response", "refresh_token_response"):
        oauth.register_compliance_hook(hook, _refuse_unless_success)
    return oauth


def call_token_endpoint(
    name: str, fetch: Callable[[], Mapping[str, Any]], *, raise_refused: bool = False
) -> dict[str, Any]:
    """Run an Authlib token call of connection `name`, its failures as AuthError: the one
    translation for token requests, refreshes and the consent flow's code exchange."""
    from authlib.integrations.base_client import OAuthError

    try:
        data = fetch()
    except _EndpointRefused as refused:
        if raise_refused:
            raise
        raise _auth_error(name, refused) from None
    except OAuthError as exc:
        raise _auth_error(name, _EndpointRefused(200, safe_error_code(exc.error))) from None
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        # InvalidURL is no HTTPError: httpx raises it for a redirect Location it cannot read.
        raise AuthError(
            f"token endpoint of connection '{name}' could not be reached ({type(exc).__name__})"
        ) from None
    except ValueError:
        raise AuthError(f"token endpoint of connection '{name}' did not answer JSON") from None
    return dict(data)


def _auth_error(name: str, refused: _EndpointRefused) -> AuthError:
    detail = f"HTTP {refused.status}" + (f", error {refused.error}" if refused.error else "")
    return AuthError(f"token endpoint of connection '{name}' refused: {detail}")


class _EndpointRefused(Exception):
    """The token endpoint answered a non-2xx status (raised inside Authlib, caught in _call)."""

    def __init__(self, status: int, error: str | None) -> None:
        super().__init__(status, error)
        self.status = status
        self.error = error


def _refuse_unless_success(response: httpx.Response) -> httpx.Response:
    if response.is_success:
        return response
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    raise _EndpointRefused(response.status_code, safe_error_code(error))


def safe_error_code(error: Any) -> str | None:
    """An OAuth error code fit for a message: RFC 6749 codes are short ASCII words."""
    if isinstance(error, str) and re.fullmatch(r"[A-Za-z0-9_.:-]{1,64}", error):
        return error
    return None


def _lifetime(expires_in: Any) -> float:
    try:
        seconds = float(expires_in)
    except (TypeError, ValueError):
        return DEFAULT_TOKEN_LIFETIME_S
    return seconds if seconds > 0 else DEFAULT_TOKEN_LIFETIME_S


def oauth_client(
    connection: Connection,
    auth: OAuth2ClientCredentials | OAuth2AuthorizationCode,
    **options: Any,
) -> Any:
    """An Authlib OAuth2Client for the token endpoint, over the connection's own transport: its
    TLS settings and client certificate (RFC 8705 endpoints need it), its proxy, the address check
    when the socket opens and, during a request, that request's deadline."""
    from apicall.http import transport

    with warnings.catch_warnings():
        # Authlib warns on import that it fell back from the httpx2 package to httpx, which is
        # what we pin. Its module forces that warning on, so our filter must come after.
        from authlib.deprecate import AuthlibDeprecationWarning

        warnings.simplefilter("ignore", AuthlibDeprecationWarning)
        from authlib.integrations.httpx_client import OAuth2Client

    return OAuth2Client(
        client_id=auth.client_id,
        client_secret=auth.client_secret,
        token_endpoint_auth_method=auth.token_auth_method,
        timeout=connection.timeout_s,
        transport=transport.build_transport(connection),
        # Like the API client: the connection's proxy only, never one from the environment; no
        # redirects, which the URL guard has not checked.
        trust_env=False,
        follow_redirects=False,
        **options,
    )


def _log_table_problem(name: str, action: str, exc: Exception) -> None:
    logger.warning(
        f"token cache {action} failed",
        extra={"connection": name, "error": type(exc).__name__},
    )
