"""The OAuth 2.0 authorization-code consent flow of an `oauth2_authorization_code` connection.

`start` answers the provider's authorization URL with a fresh state and a PKCE (S256) challenge;
the state and its code verifier wait in RunsTable for a few minutes. `finish` takes the state
(once: a replayed or unknown state is refused), exchanges the code with Authlib and stores the
refresh token in the connection's secret. No token ever appears in an answer or a log.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from typing import Any

from apicall.core.connections import load_connection, update_connection
from apicall.core.errors import AuthError, ConfigError
from apicall.core.models import Connection, OAuth2AuthorizationCode
from apicall.core.observability import logger
from apicall.core.settings import get_settings
from apicall.core.store import RunsStore, default_runs_store
from apicall.core.workspaces import DEFAULT_WORKSPACE, scoped, unscoped
from apicall.http.guard import check_url
from apicall.http.oauth import call_token_endpoint, safe_error_code, token_client

STATE_TTL_S = 600


class UnknownState(ConfigError):
    """No pending consent has that state: never started, expired, or already used."""

    kind = "not_found"


ConnectionLoader = Callable[[str], Connection]


def start(
    name: str,
    *,
    redirect_uri: str | None = None,
    store: RunsStore | None = None,
    connections: ConnectionLoader = load_connection,
    workspace: str = DEFAULT_WORKSPACE,
) -> dict[str, Any]:
    """`{"authorization_url", "state", "redirect_uri", "expires_in"}` for the user to visit."""
    auth = _code_auth(name, connections(scoped(workspace, name)))
    redirect = redirect_uri or get_settings().oauth_redirect_uri
    if not redirect or not re.match(r"^https?://[^/]", redirect):
        raise ConfigError(
            "redirect_uri must be an absolute http(s) URL (or set OAUTH_REDIRECT_URI)",
            field="redirect_uri",
        )
    from authlib.common.security import generate_token

    state = secrets.token_urlsafe(32)
    verifier = generate_token(64)
    with _code_client(Connection(), auth, redirect) as oauth:
        url, _ = oauth.create_authorization_url(
            auth.authorize_url, state=state, code_verifier=verifier
        )
    (store or default_runs_store()).put_oauth_state(
        state,
        # The callback comes from the user's browser without an API key: the state alone says
        # which workspace's connection the consent is for.
        {
            "connection": scoped(workspace, name),
            "code_verifier": verifier,
            "redirect_uri": redirect,
        },
        ttl_s=STATE_TTL_S,
    )
    return {
        "connection": name,
        "authorization_url": url,
        "state": state,
        "redirect_uri": redirect,
        "expires_in": STATE_TTL_S,
    }


def finish(
    state: str,
    code: str | None,
    *,
    error: str | None = None,
    store: RunsStore | None = None,
    connections: ConnectionLoader = load_connection,
) -> dict[str, Any]:
    """Exchange the code of a pending flow and store the refresh token in the connection."""
    pending = (store or default_runs_store()).take_oauth_state(state)
    if pending is None:
        raise UnknownState(
            "unknown, expired or already used state: start the consent again", field="state"
        )
    qualified = str(pending["connection"])
    name = unscoped(qualified)[1]
    if error:
        refused = safe_error_code(error) or "error"
        raise AuthError(f"the provider refused consent for connection '{name}': {refused}")
    if not code:
        raise ConfigError("the callback carries no code", field="code")
    connection = connections(qualified)
    auth = _code_auth(name, connection)
    check_url(auth.token_url, allow_private=connection.allow_private_network)
    token = _exchange(name, auth, connection, code, pending)
    refresh_token = token.get("refresh_token")
    if not isinstance(refresh_token, str) or not refresh_token:
        raise AuthError(
            f"the token endpoint of connection '{name}' answered without a refresh_token "
            "(the provider may need an offline-access scope)"
        )
    update_connection(qualified, {"auth": {"refresh_token": refresh_token}})
    logger.info("OAuth consent completed", extra={"connection": name})
    return {"connection": name, "stored": True, "scope": token.get("scope")}


def _code_auth(name: str, connection: Connection) -> OAuth2AuthorizationCode:
    if not isinstance(connection.auth, OAuth2AuthorizationCode):
        raise ConfigError(
            f"connection '{name}' is not an oauth2_authorization_code connection",
            field="connection",
        )
    return connection.auth


def _code_client(connection: Connection, auth: OAuth2AuthorizationCode, redirect_uri: str) -> Any:
    return token_client(
        connection,
        auth,
        scope=auth.scope,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
    )


def _exchange(
    name: str,
    auth: OAuth2AuthorizationCode,
    connection: Connection,
    code: str,
    pending: dict[str, Any],
) -> dict[str, Any]:
    with _code_client(connection, auth, str(pending["redirect_uri"])) as oauth:
        token = call_token_endpoint(
            name,
            lambda: oauth.fetch_token(
                auth.token_url,
                grant_type="authorization_code",
                code=code,
                code_verifier=str(pending["code_verifier"]),
            ),
        )
    if "access_token" not in token:
        raise AuthError(f"token endpoint of connection '{name}' answered without an access_token")
    return token
