"""Pagination strategies: where the next page is, and when there is none.

Each strategy is one small class with the same three methods:

- `first_position()` -> the position of the first page,
- `request_for(request, position)` -> the page's request (parameters in the query or JSON body,
  or the whole URL for next_url and link_header),
- `next_position(position, page)` -> the next page's position, or None when this was the last.

A position is a small JSON-able dict (`{"offset": 200}`, `{"cursor": "abc"}`, `{"url": ...}`), so
the fetch can checkpoint it after every page and resume from it in another invocation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from apicall.core.errors import ConfigError, InvalidResponse
from apicall.core.models import (
    CursorPagination,
    LinkHeaderPagination,
    NextUrlPagination,
    NoPagination,
    OffsetPagination,
    PagePagination,
    Pagination,
)
from apicall.core.redaction import redact
from apicall.http.client import OutgoingRequest
from apicall.request import jsonpath

Position = dict[str, Any]


@dataclass
class Page:
    """What a strategy may look at in a fetched page."""

    body: Any
    headers: Mapping[str, str]
    url: str  # the URL that answered (after redirects); next links are relative to it
    record_count: int


class Paginator(Protocol):
    def first_position(self) -> Position: ...

    def request_for(self, request: OutgoingRequest, position: Position) -> OutgoingRequest: ...

    def next_position(self, position: Position, page: Page) -> Position | None: ...


def paginator_for(config: Pagination) -> Paginator:
    """The strategy for a FetchJob's `pagination`."""
    strategies: dict[type, type] = {
        NoPagination: SinglePage,
        OffsetPagination: OffsetPaginator,
        PagePagination: PageNumberPaginator,
        CursorPagination: CursorPaginator,
        NextUrlPagination: NextUrlPaginator,
        LinkHeaderPagination: LinkHeaderPaginator,
    }
    paginator: Paginator = strategies[type(config)](config)
    return paginator


def with_params(
    request: OutgoingRequest, params: Mapping[str, Any], location: str, *, field: str
) -> OutgoingRequest:
    """`request` with `params` set (replacing same-named ones) in the query or the JSON body."""
    if location == "query":
        kept = [(name, value) for name, value in request.params if name not in params]
        added = [(name, _query_value(value)) for name, value in params.items()]
        return dataclasses.replace(request, params=kept + added)
    if request.content is not None or request.data is not None or request.files is not None:
        raise ConfigError(
            "parameters can go in the body only when the request body is JSON", field=field
        )
    if request.json is None:
        return dataclasses.replace(request, json=dict(params))
    if not isinstance(request.json, dict):
        raise ConfigError(
            "parameters can go in the body only when the JSON body is an object", field=field
        )
    return dataclasses.replace(request, json={**request.json, **params})


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _first(document: Any, path: str, field: str) -> Any:
    found = jsonpath.extract(document, path, field=field)
    return found[0] if found else None


class SinglePage:
    """`none`: the first page is the only page."""

    def __init__(self, config: NoPagination) -> None:
        self.config = config

    def first_position(self) -> Position:
        return {}

    def request_for(self, request: OutgoingRequest, position: Position) -> OutgoingRequest:
        return request

    def next_position(self, position: Position, page: Page) -> Position | None:
        return None


class OffsetPaginator:
    """`offset`: skip what was read so far.

    An empty page ends the run. A short page ends it only when it is shorter than the pages seen
    before: a server that caps `limit` below what was asked answers every page "short", and
    ending on the first one would silently drop the rest. So a short *first* page costs one more
    request, and the offset advances by what actually arrived, never by `limit`.
    """

    def __init__(self, config: OffsetPagination) -> None:
        self.config = config

    def first_position(self) -> Position:
        return {"offset": self.config.start, "largest_page": 0}

    def request_for(self, request: OutgoingRequest, position: Position) -> OutgoingRequest:
        params = {
            self.config.offset_param: position["offset"],
            self.config.limit_param: self.config.limit,
        }
        return with_params(request, params, self.config.location, field="pagination.in")

    def next_position(self, position: Position, page: Page) -> Position | None:
        count = page.record_count
        largest = int(position.get("largest_page", 0))
        if count == 0 or (largest and count < min(self.config.limit, largest)):
            return None
        return {"offset": int(position["offset"]) + count, "largest_page": max(largest, count)}


class PageNumberPaginator:
    """`page`: page numbers from `start`; ends on an empty page or after `total_pages`."""

    def __init__(self, config: PagePagination) -> None:
        self.config = config

    def first_position(self) -> Position:
        return {"page": self.config.start}

    def request_for(self, request: OutgoingRequest, position: Position) -> OutgoingRequest:
        params: dict[str, Any] = {self.config.page_param: position["page"]}
        if self.config.size_param:
            params[self.config.size_param] = self.config.size
        return with_params(request, params, self.config.location, field="pagination.in")

    def next_position(self, position: Position, page: Page) -> Position | None:
        if page.record_count == 0:
            return None
        number = int(position["page"])
        if self.config.total_pages_path:
            total = self._total_pages(page.body)
            if total is not None and number - self.config.start + 1 >= total:
                return None
        return {"page": number + 1}

    def _total_pages(self, body: Any) -> int | None:
        field = "pagination.total_pages_path"
        value = _first(body, self.config.total_pages_path or "", field)
        if value is None:
            return None
        if isinstance(value, str) and value.strip().isdigit():
            return int(value)
        if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
            raise InvalidResponse(
                f"total pages at {self.config.total_pages_path} is {type(value).__name__} "
                f"{value!r}, not a whole number",
                field=field,
            )
        return int(value)


class CursorPaginator:
    """`cursor`: the next page's cursor is read from the body; no cursor ends the run."""

    def __init__(self, config: CursorPagination) -> None:
        self.config = config

    def first_position(self) -> Position:
        return {"cursor": None}

    def request_for(self, request: OutgoingRequest, position: Position) -> OutgoingRequest:
        params: dict[str, Any] = {}
        if position.get("cursor") is not None:
            params[self.config.cursor_param] = position["cursor"]
        if self.config.limit_param and self.config.limit is not None:
            params[self.config.limit_param] = self.config.limit
        if not params:
            return request
        return with_params(request, params, self.config.location, field="pagination.in")

    def next_position(self, position: Position, page: Page) -> Position | None:
        field = "pagination.cursor_path"
        cursor = _first(page.body, self.config.cursor_path, field)
        if cursor is None or cursor == "":
            return None
        if isinstance(cursor, bool) or not isinstance(cursor, str | int):
            raise InvalidResponse(
                f"the cursor at {self.config.cursor_path} is {_kind(cursor)}, "
                "not a string or an integer",
                field=field,
            )
        if cursor == position.get("cursor"):
            raise InvalidResponse(
                f"the API answered with the cursor it was sent ({self.config.cursor_path}); "
                "stopping instead of fetching the same page forever",
                field=field,
            )
        return {"cursor": cursor}


class _LinkFollower:
    """Both link styles: the first page is the request itself, later ones the link found."""

    def first_position(self) -> Position:
        return {"url": None}

    def request_for(self, request: OutgoingRequest, position: Position) -> OutgoingRequest:
        return follow_url(request, position.get("url"))


class NextUrlPaginator(_LinkFollower):
    """`next_url`: the body names the next page's URL; none ends the run."""

    def __init__(self, config: NextUrlPagination) -> None:
        self.config = config

    def next_position(self, position: Position, page: Page) -> Position | None:
        field = "pagination.next_url_path"
        link = _first(page.body, self.config.next_url_path, field)
        if link is None or link == "":
            return None
        if not isinstance(link, str):
            raise InvalidResponse(
                f"the next URL at {self.config.next_url_path} is {_kind(link)}, not a string",
                field=field,
            )
        return next_url_position(position, page, link, field=field)


class LinkHeaderPaginator(_LinkFollower):
    """`link_header`: RFC 8288 `Link: <...>; rel="next"`; none ends the run."""

    def __init__(self, config: LinkHeaderPagination) -> None:
        self.config = config

    def next_position(self, position: Position, page: Page) -> Position | None:
        link = next_link(page.headers)
        if not link:
            return None
        return next_url_position(position, page, link, field="pagination")


def next_link(headers: Mapping[str, str]) -> str | None:
    """The target of the `rel="next"` link in the Link header(s), if any."""
    import httpx

    value = headers.get("link")
    if not value:
        return None
    # httpx parses Link headers (several link-values, quoted or bare rel) on its Response.
    links = httpx.Response(200, headers={"link": value}).links
    target = links.get("next", {}).get("url")
    return target or None


def follow_url(request: OutgoingRequest, url: str | None) -> OutgoingRequest:
    """`request` sent to `url`; its own query parameters are kept unless the URL names them."""
    if url is None:
        return request
    named = {name for name, _ in parse_qsl(urlsplit(url).query, keep_blank_values=True)}
    kept = [(name, value) for name, value in request.params if name not in named]
    return dataclasses.replace(request, url=url, params=kept)


def next_url_position(position: Position, page: Page, link: str, *, field: str) -> Position:
    """The position of a next-page link, refusing links that leave the API or loop."""
    target = urljoin(page.url, link)
    here = urlsplit(page.url)
    there = urlsplit(target)
    # The connection's credentials go with every page: a link to another origin would hand them
    # to whoever that is.
    if (there.scheme, there.netloc) != (here.scheme, here.netloc):
        raise InvalidResponse(
            f"the next page link points to another origin ({there.scheme}://{there.hostname}); "
            "refusing to send the connection's credentials there",
            field=field,
        )
    if target in (page.url, position.get("url")):
        raise InvalidResponse(
            "the next page link points to the page just fetched; stopping instead of looping",
            field=field,
        )
    return {"url": target}


def storable_position(position: Position, secrets: Collection[str]) -> Position:
    """`position` fit for RunsTable: a link's query pairs that carry a credential are dropped.

    APIs often echo the key they were called with into their next links. The connection's auth
    adds its own credentials to every request, so a run resumed from the scrubbed link still
    authenticates; the in-flight run keeps following the links as sent.
    """
    url = position.get("url")
    if not url or not secrets:
        return position
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(name, value) for name, value in pairs if redact(value, secrets) == value]
    if len(kept) == len(pairs):
        return position
    return {**position, "url": urlunsplit(parts._replace(query=urlencode(kept)))}


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "an array", bool: "a boolean", float: "a number"}
    return names.get(type(value), f"a {type(value).__name__}")
