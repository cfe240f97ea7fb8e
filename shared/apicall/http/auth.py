"""Applying a connection's credentials to requests.

`auth_for` answers an `httpx.Auth`, so the client passes `auth=` to httpx and httpx runs the flow
(including the one retry after a 401 for OAuth, in `apicall.http.oauth`).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING

import httpx

from apicall.core.models import (
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    Connection,
    OAuth2AuthorizationCode,
    OAuth2ClientCredentials,
)

if TYPE_CHECKING:
    from apicall.core.store import RunsStore


from apicall.http.oauth import OAuth2, TokenSource


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
        return ApiKey(auth.name, auth.value, auth.location)
    if isinstance(auth, BasicAuth):
        return httpx.BasicAuth(auth.username, auth.password)
    if isinstance(auth, BearerAuth):
        return Bearer(auth.token)
    if isinstance(auth, OAuth2ClientCredentials | OAuth2AuthorizationCode):
        return OAuth2(TokenSource(name, connection, store=store))
    return None
