"""Applying a connection's credentials to requests, and keeping those credentials out of echoes.

`auth_for` answers an `httpx.Auth`, so the client passes `auth=` to httpx and httpx runs the flow
(including the one retry after a 401 for OAuth). OAuth access tokens are cached in this container's
memory, then in RunsTable (shared by all containers), and only then fetched from the token
endpoint; Authlib is imported only when a token is really fetched, to keep cold starts light.

`secret_values`, `redact` and `redact_headers` are what history, logs and answers run through.
"""

from __future__ import annotations

import base64
import re
import threading
import time
import warnings
from collections.abc import Callable, Collection, Generator, Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar, cast

import httpx

from apicall.errors import AuthError
from apicall.guard import userinfo
from apicall.models import (
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    Connection,
    OAuth2AuthorizationCode,
    OAuth2ClientCredentials,
)
from apicall.observability import logger

if TYPE_CHECKING:
    from apicall.store import RunsStore

REDACTED = "***"
# A token this close to its expiry counts as expired: it could lapse while the request is in flight.
EXPIRY_MARGIN_S = 60
# When the token endpoint omits expires_in; a shorter real lifetime is caught by the 401 retry.
DEFAULT_TOKEN_LIFETIME_S = 3600
# Shorter secrets are redacted only where a whole string equals them: replacing every "abc"
# inside a response body would destroy the body and hide nothing worth hiding.
MIN_SUBSTRING_SECRET = 4

SENSITIVE_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "x-auth-token",
    }
)

OAuth2Config = OAuth2ClientCredentials | OAuth2AuthorizationCode
TokenKey = tuple[str, str]  # (connection name, client_id)


# --- static credentials -------------------------------------------------------------------------


class ApiKey(httpx.Auth):
    """An API key in a header or a query parameter."""

    def __init__(self, name: str, value: str, location: str) -> None:
        self.name = name
        self.value = value
        self.location = location

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self.location == "query":
            request.url = request.url.copy_set_param(self.name, self.value)
        else:
            request.headers[self.name] = self.value
        yield request


class Bearer(httpx.Auth):
    """A static bearer token."""

    def __init__(self, token: str) -> None:
        self.token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.token}"
        yield request


def auth_for(
    name: str, connection: Connection, *, store: RunsStore | None = None
) -> httpx.Auth | None:
    """The httpx auth that applies `connection`'s credentials; None when it has none.

    `store` holds the shared token cache for OAuth connections (default: the RunsTable store).
    """
    auth = connection.auth
    if isinstance(auth, ApiKeyAuth):
        if auth.location == "header":
            _api_key_headers.add(auth.name.lower())
        return ApiKey(auth.name, auth.value, auth.location)
    if isinstance(auth, BasicAuth):
        return httpx.BasicAuth(auth.username, auth.password)
    if isinstance(auth, BearerAuth):
        return Bearer(auth.token)
    if isinstance(auth, OAuth2ClientCredentials | OAuth2AuthorizationCode):
        return OAuth2(TokenSource(name, connection, store=store))
    return None


# --- OAuth 2.0 ------------------------------------------------------------------------------------


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
_tokens: dict[TokenKey, AccessToken] = {}
_locks: dict[TokenKey, threading.Lock] = {}
_locks_guard = threading.Lock()
# Access tokens handed out recently, per (token_url, client_id), so that secret_values can
# redact them when an API echoes its Authorization header back.
_seen_tokens: dict[tuple[str, str], list[str]] = {}
_SEEN_PER_CLIENT = 4
# Header names that api_key connections of this container use.
_api_key_headers: set[str] = set()


def clear_caches() -> None:
    """Forget the tokens and header names this container learned (tests; Lambda never needs it)."""
    _tokens.clear()
    _seen_tokens.clear()
    _api_key_headers.clear()


def _lock_for(key: TokenKey) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


def _remember_seen(auth: OAuth2Config, access_token: str) -> None:
    seen = _seen_tokens.setdefault((auth.token_url, auth.client_id), [])
    if access_token not in seen:
        seen.append(access_token)
        del seen[:-_SEEN_PER_CLIENT]


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
    def store(self) -> RunsStore:
        if self._store is None:
            from apicall.store import default_runs_store

            self._store = default_runs_store()
        return self._store

    def get(self, *, stale: str | None = None) -> AccessToken:
        """A usable token; `stale` is one the API just refused, which is dropped, not reused."""
        token = self._from_memory(stale)
        if token is not None:
            return token
        with _lock_for(self.key):
            # Another thread may have fetched one while this one waited for the lock.
            token = self._from_memory(stale)
            if token is None:
                token = self._from_table(stale)
            if token is None:
                token = self._from_endpoint()
                self._save_to_table(token)
            _tokens[self.key] = token
            _remember_seen(self.auth, token.access_token)
            return token

    def _from_memory(self, stale: str | None) -> AccessToken | None:
        token = _tokens.get(self.key)
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
        from apicall import network
        from apicall.guard import Guard

        # The token client's sockets judge a name's addresses when they open (see network.py);
        # behind a proxy only this check sees the token endpoint's host.
        guard = Guard(allow_private=self.connection.allow_private_network)
        guard.check_url(self.auth.token_url, resolve=self.connection.proxy is not None)
        # A rate-limit permit waiting for the API request's first write is not the token call's.
        pending_permit = network.permit_due.set(None)
        try:
            if isinstance(self.auth, OAuth2ClientCredentials):
                return self._client_credentials(self.auth)
            return self._refresh(self.auth)
        finally:
            network.permit_due.reset(pending_permit)

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
                raise self._auth_error(refused) from None
            self._refresh_token = newer
            try:
                data = self._refresh_with(auth, newer)
            except _EndpointRefused as again:
                raise self._auth_error(again) from None
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
        from apicall.connections import load_connection

        try:
            auth = load_connection(self.name, fresh=True).auth
        except Exception:
            return None
        return getattr(auth, "refresh_token", None)

    def _write_back_refresh_token(self, refresh_token: str) -> None:
        from apicall.connections import update_connection

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
        oauth = oauth_client(self.connection, self.auth)
        for hook in ("access_token_response", "refresh_token_response"):
            oauth.register_compliance_hook(hook, _refuse_unless_success)
        return oauth

    def _call(
        self, fetch: Callable[[], Mapping[str, Any]], *, raise_refused: bool = False
    ) -> dict[str, Any]:
        """Run an Authlib token call, translating its failures into AuthError."""
        from authlib.integrations.base_client import OAuthError

        try:
            data = fetch()
        except _EndpointRefused as refused:
            if raise_refused:
                raise
            raise self._auth_error(refused) from None
        except OAuthError as exc:
            raise self._auth_error(_EndpointRefused(200, _safe_code(exc.error))) from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            # InvalidURL is no HTTPError: httpx raises it for a redirect Location it cannot read.
            raise AuthError(
                f"token endpoint of connection '{self.name}' could not be reached "
                f"({type(exc).__name__})"
            ) from None
        except ValueError:
            raise AuthError(
                f"token endpoint of connection '{self.name}' did not answer JSON"
            ) from None
        return dict(data)

    def _auth_error(self, refused: _EndpointRefused) -> AuthError:
        detail = f"HTTP {refused.status}" + (f", error {refused.error}" if refused.error else "")
        return AuthError(f"token endpoint of connection '{self.name}' refused: {detail}")

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
    raise _EndpointRefused(response.status_code, _safe_code(error))


def _safe_code(error: Any) -> str | None:
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
    from apicall import client

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
        transport=client.build_transport(connection),
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


# --- redaction ------------------------------------------------------------------------------------

T = TypeVar("T")

# Characters that every encoder a secret passes through leaves as they are (RFC 3986 unreserved,
# less "~", which Java's URLEncoder encodes).
_PLAIN = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._")
_JSON_SHORT = {
    '"': '\\"',
    "\\": "\\\\",
    "/": "\\/",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}


def secret_values(connection: Connection, *, url: str | httpx.URL | None = None) -> set[str]:
    """Every credential of `connection`, and of `url`'s userinfo when the request URL has one.

    `redact` finds each value in every form it travels in, so only the plain values are listed
    here, plus the base64 `user:password` pairs that Basic authentication sends.
    """
    auth = connection.auth
    values: set[str] = set()
    if isinstance(auth, ApiKeyAuth):
        values.add(auth.value)
        if auth.location == "header":
            _api_key_headers.add(auth.name.lower())
    elif isinstance(auth, BasicAuth):
        values |= {auth.password, *_basic_pair(auth.username, auth.password)}
    elif isinstance(auth, BearerAuth):
        values.add(auth.token)
    elif isinstance(auth, OAuth2ClientCredentials | OAuth2AuthorizationCode):
        values.add(auth.client_secret)
        # Only the base64 form: the client id alone is not a secret.
        values.update(_basic_pair(auth.client_id, auth.client_secret)[1:])
        if isinstance(auth, OAuth2AuthorizationCode) and auth.refresh_token:
            values.add(auth.refresh_token)
        values.update(_seen_tokens.get((auth.token_url, auth.client_id), ()))
    if connection.client_cert is not None:
        values.add(connection.client_cert.key)
        if connection.client_cert.password:
            values.add(connection.client_cert.password)
    # Credentials put straight into the connection's headers, or into a URL's userinfo, which
    # httpx sends as Basic authentication.
    values.update(v for k, v in connection.headers.items() if k.lower() in SENSITIVE_HEADERS)
    for with_userinfo in (connection.base_url, url, connection.proxy):
        if with_userinfo is not None and "@" in str(with_userinfo):
            values.update(_userinfo_values(with_userinfo))
    values.discard("")
    return values


def _basic_pair(user: str, password: str) -> list[str]:
    """`user:password` and its base64 forms: UTF-8 as httpx sends it, latin-1 as Authlib does."""
    pair = f"{user}:{password}"
    encoded = [base64.b64encode(pair.encode()).decode()]
    with suppress(UnicodeEncodeError):
        encoded.append(base64.b64encode(pair.encode("latin-1")).decode())
    return [pair, *dict.fromkeys(encoded)]


def _userinfo_values(url: str | httpx.URL) -> list[str]:
    found = userinfo(url)
    if found is None:
        return []
    user, password = found
    if not password:
        # A token given as the user name (https://TOKEN@host) is the whole credential.
        return [user, *_basic_pair(user, "")[1:]] if user else []
    return [password, *_basic_pair(user, password)]


def redact(value: T, secrets: Collection[str]) -> T:
    """`value` with every secret replaced by `***`, walking dicts, lists and tuples.

    A secret is found in every form it travels in, alone or mixed within one occurrence: as it
    is, percent-encoded (either case of hex, "+" or "%20" for a space, UTF-8 or latin-1 bytes),
    JSON-escaped (`\\/`, `\\"`, `\\u00e9`) and as UTF-8 bytes read as latin-1. Dict keys are
    kept; strings, including those nested anywhere, are scrubbed.
    """
    if not secrets:
        return value
    return cast(T, _redact(value, _matcher(frozenset(secrets))))


def redact_headers(
    headers: Mapping[str, str] | Iterable[tuple[str, str]], *, also: Iterable[str] = ()
) -> dict[str, str]:
    """Headers with credential-carrying values masked: the usual auth and cookie headers, the
    header names of api_key connections seen by this container, and any names in `also`."""
    extra = {name.lower() for name in also} | _api_key_headers if also else _api_key_headers
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    return {
        name: REDACTED if _is_sensitive(name.lower(), extra) else value for name, value in pairs
    }


def _is_sensitive(lowered: str, extra: set[str]) -> bool:
    return lowered in SENSITIVE_HEADERS or lowered in extra


@dataclass(frozen=True)
class _Matcher:
    pattern: re.Pattern[str] | None
    whole: frozenset[str]
    # Every form of a secret is at least as long as the secret, so a shorter string holds none.
    shortest: int


@lru_cache(maxsize=256)
def _matcher(secrets: frozenset[str]) -> _Matcher:
    long_ones = sorted(
        (s for s in secrets if len(s) >= MIN_SUBSTRING_SECRET), key=len, reverse=True
    )
    # Longest first, so "user:pass" is replaced whole rather than leaving "user:" behind. Every
    # alternative starts with a literal character, so the regex engine skips ahead to the
    # characters a secret can start with instead of trying each alternative at every position.
    alternatives = [
        first + "".join(map(_group, map(_char_forms, secret[1:])))
        for secret in long_ones
        for first in _char_forms(secret[0])
    ]
    if not alternatives:
        return _Matcher(None, secrets, 0)
    return _Matcher(re.compile("|".join(alternatives)), secrets, len(long_ones[-1]))


def _group(forms: tuple[str, ...]) -> str:
    return forms[0] if len(forms) == 1 else f"(?:{'|'.join(forms)})"


@lru_cache(maxsize=1024)
def _char_forms(char: str) -> tuple[str, ...]:
    """The regex alternatives one character of a secret may be written as, each starting with a
    literal character."""
    if char in _PLAIN:
        return (re.escape(char),)
    utf8 = char.encode()
    forms = [*_json_forms(char), "".join(map(_percent, utf8))]
    if char == " ":
        forms.append(r"\+")
    if len(utf8) > 1:
        if ord(char) < 256:
            forms.append(_percent(ord(char)))
        # A WSGI server decodes header bytes as latin-1, so a UTF-8 "é" is echoed as "Ã©".
        misread = utf8.decode("latin-1")
        rest = "".join(_group(_json_forms(c)) for c in misread[1:])
        forms.extend(start + rest for start in _json_forms(misread[0]))
    return tuple(dict.fromkeys(forms))


def _json_forms(char: str) -> tuple[str, ...]:
    """`char` in a JSON string: as it is, `\\uXXXX` (either case) and a short escape if any."""
    code = ord(char)
    units = (
        [code] if code < 0x10000 else [0xD800 + ((code - 0x10000) >> 10), 0xDC00 + (code & 0x3FF)]
    )
    escaped = "".join(r"\\u" + _hex(unit >> 8) + _hex(unit & 0xFF) for unit in units)
    short = _JSON_SHORT.get(char)
    return (
        (re.escape(char), escaped)
        if short is None
        else (re.escape(char), escaped, re.escape(short))
    )


def _percent(byte: int) -> str:
    return "%" + _hex(byte)


def _hex(byte: int) -> str:
    """Two hex digits matching either case."""
    return "".join(f"[{d.lower()}{d}]" if d.isalpha() else d for d in f"{byte:02X}")


def _redact(value: Any, matcher: _Matcher) -> Any:
    # Exact types first: records and bodies are plain JSON values, and an isinstance check
    # against Mapping costs more than the rest of the walk.
    kind = type(value)
    if kind is str:
        return _scrub(value, matcher)
    if kind is dict:
        return {key: _redact(item, matcher) for key, item in value.items()}
    if kind is list:
        return [_redact(item, matcher) for item in value]
    if kind in _SCALARS:
        return value
    if isinstance(value, str):
        return _scrub(value, matcher)
    if isinstance(value, Mapping):
        return {key: _redact(item, matcher) for key, item in value.items()}
    if isinstance(value, list):
        return [_redact(item, matcher) for item in value]
    if isinstance(value, tuple):
        return tuple(_redact(item, matcher) for item in value)
    return value


_SCALARS = frozenset((int, float, bool, type(None)))


def _scrub(text: str, matcher: _Matcher) -> str:
    if text in matcher.whole:
        return REDACTED
    if matcher.pattern is None or len(text) < matcher.shortest:
        return text
    return matcher.pattern.sub(REDACTED, text)
