"""What the test API's routes do: the request bodies they accept, one function per route, and the
one mapping from an error to an HTTP answer.

`POST /test` runs a request once without retries. Values the caller leaves out come from the last
test of the same request (connection, method and url), remembered in RunsTable; the rest are sent
empty, and the answer says which placeholder was filled how, and what was sent. `POST /preview`
builds the same request the same way and sends nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from apicall.core.connections import deep_merge, load_connection
from apicall.core.errors import (
    ApicallError,
    AuthError,
    ConfigError,
    ConnectionNotFound,
    EntityNotFound,
    InvalidRequest,
    field_path,
)
from apicall.core.models import (
    ApiKeyAuth,
    Connection,
    Contract,
    FieldType,
    InvokeEvent,
    NoAuth,
    Outcome,
    RequestSpec,
    no_connection,
)
from apicall.core.observability import logger
from apicall.core.settings import get_settings
from apicall.core.store import RunsStore, default_runs_store
from apicall.core.workspaces import DEFAULT_WORKSPACE, scoped
from apicall.request import schema, templating

if TYPE_CHECKING:
    from apicall.http.client import OutgoingRequest

ConnectionLoader = Callable[[str], Connection]

MAX_COMMAND_CHARS = 100_000
# Deeper than any real API document, shallow enough for every recursive step after the parse
# (pydantic, genson, templating, DynamoDB's own limit of 32 is handled where values are stored).
MAX_JSON_DEPTH = 64
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class UnsupportedMediaType(ConfigError):
    """The request body is declared as something other than JSON."""

    kind = "unsupported_media_type"


# --- reading an API Gateway event ---------------------------------------------------------------


def routable_event(event: Any) -> tuple[dict[str, Any], ApicallError | None]:
    """The event as the resolver can always route it, and why its body cannot be read, if so.

    API Gateway's own events are well formed, but a direct invoke or a test can send anything:
    every part the resolver reads is made the type it expects, and the body becomes UTF-8 text
    declared as JSON. A body that is not base64 when it says so, not UTF-8, or declared as
    another media type is refused (the returned error) when a route reads it, not before, so
    an unknown route is still 404 and a GET route ignores it.
    """
    if not isinstance(event, Mapping):
        raise InvalidRequest("the event is not an API Gateway proxy event", field="event")
    method, path = event.get("httpMethod"), event.get("path")
    if not isinstance(method, str) or not method:
        raise InvalidRequest("the event has no httpMethod", field="httpMethod")
    if not isinstance(path, str) or not path.startswith("/"):
        raise InvalidRequest("the event has no path", field="path")
    headers = _text_map(event.get("headers"))
    multi_headers = _text_lists(event.get("multiValueHeaders"))
    for name, values in multi_headers.items():
        headers.setdefault(name, values[-1])
    context = event.get("requestContext")
    context = dict(context) if isinstance(context, Mapping) else {}
    for key in ("stage", "path", "domainName", "resourcePath"):
        if not isinstance(context.get(key), str):
            context.pop(key, None)
    # Powertools reads both to find the stage in front of the path; "$default" means none.
    context.setdefault("path", path)
    context.setdefault("stage", "$default")
    if not isinstance(context.get("identity"), Mapping):
        context["identity"] = {}
    text, refusal = _body_text(event, headers)
    content_type = [name for name in headers if name.lower() == "content-type"]
    for name in content_type:
        headers.pop(name)
        multi_headers.pop(name, None)
    if text is not None:
        headers["Content-Type"] = "application/json"
        multi_headers["Content-Type"] = ["application/json"]
    query = _text_map(event.get("queryStringParameters"))
    multi_query = _text_lists(event.get("multiValueQueryStringParameters"))
    routable = {
        **event,
        "httpMethod": method.upper(),
        "path": path,
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": _text_map(event.get("pathParameters")) or None,
        "stageVariables": _text_map(event.get("stageVariables")) or None,
        "requestContext": context,
        "body": text,
        "isBase64Encoded": False,
    }
    if refusal is not None and method.upper() not in _BODY_METHODS:
        refusal = None  # no route of this method reads a body
    return routable, refusal


def server_url(event: Mapping[str, Any]) -> str:
    """The API's base URL as the caller reached it, for the OpenAPI document's `servers`.

    API Gateway puts the stage (or a custom domain's base path) in front of the resource path:
    requestContext.path is `/dev/openapi.json` for the resource `/openapi.json`. The host is
    requestContext.domainName (the local emulator sets it too), the scheme X-Forwarded-Proto;
    without a usable host the URL is relative to the document, which OpenAPI allows.
    """
    context = event.get("requestContext") or {}
    full, resource = context.get("path"), event.get("path")
    if isinstance(full, str) and isinstance(resource, str) and full.endswith(resource):
        prefix = full[: len(full) - len(resource)].rstrip("/")
    else:
        stage = context.get("stage")
        prefix = f"/{stage}" if isinstance(stage, str) and _SEGMENT.match(stage) else ""
    if not _PREFIX.match(prefix):
        prefix = ""
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    host = context.get("domainName") or headers.get("host")
    if not isinstance(host, str) or not _HOST.match(host):
        return prefix or "/"
    scheme = headers.get("x-forwarded-proto")
    if scheme not in ("http", "https"):
        local = host.split(":")[0] in ("127.0.0.1", "localhost", "[::1]")
        scheme = "http" if local else "https"
    return f"{scheme}://{host}{prefix}"


_SEGMENT = re.compile(r"^[A-Za-z0-9_.~-]+$")
_PREFIX = re.compile(r"^(/[A-Za-z0-9_.~-]+)*$")
_HOST = re.compile(r"^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:\d{1,5})?$")


def read_json(text: str) -> Any:
    """The JSON value of a request body, refused (naming the field) when no route can use it.

    Besides syntax: NaN and Infinity (not JSON, and an answer could not carry them back),
    integers beyond Python's digit limit, nesting deeper than MAX_JSON_DEPTH, and text holding a
    lone surrogate (`"\\ud800"` is valid JSON but no UTF-8 text: it could be neither sent,
    stored nor logged).
    """

    def constant(name: str) -> Any:
        raise InvalidRequest(f"body: {name} is not a JSON value", field="body")

    try:
        value = json.loads(text, parse_constant=constant)
    except RecursionError:
        raise InvalidRequest(
            f"body: nests deeper than {MAX_JSON_DEPTH} levels", field="body"
        ) from None
    except ValueError as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "a number too long"
        raise InvalidRequest(f"body: not JSON ({reason})", field="body") from None
    _check_json(value)
    return value


def _check_json(value: Any) -> None:
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        node, loc = stack.pop()
        if isinstance(node, str):
            if _unencodable(node):
                raise InvalidRequest(
                    f"{field_path(loc) or 'body'}: contains a lone surrogate (like \\ud800), "
                    "which is not text",
                    field=field_path(loc) or "body",
                )
            continue
        if not isinstance(node, dict | list):
            continue
        if len(loc) >= MAX_JSON_DEPTH:
            field = field_path(loc[:1]) or "body"
            raise InvalidRequest(f"{field}: nests deeper than {MAX_JSON_DEPTH} levels", field=field)
        if isinstance(node, list):
            stack.extend((item, (*loc, index)) for index, item in enumerate(node))
            continue
        for key, item in node.items():
            if _unencodable(key):
                field = field_path(loc) or "body"
                raise InvalidRequest(
                    f"{field}: a key contains a lone surrogate (like \\ud800), which is not text",
                    field=field,
                )
            stack.append((item, (*loc, key)))


def _unencodable(text: str) -> bool:
    if text.isascii():
        return False
    try:
        text.encode()
    except UnicodeEncodeError:
        return True
    return False


def _body_text(
    event: Mapping[str, Any], headers: dict[str, str]
) -> tuple[str | None, ApicallError | None]:
    body = event.get("body")
    if body is None or body == "":
        return None, None
    if not isinstance(body, str):
        return "null", InvalidRequest("body: the event's body is not text", field="body")
    content_type = next(
        (value for name, value in headers.items() if name.lower() == "content-type"), ""
    )
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type and media_type != "application/json" and not media_type.endswith("+json"):
        refusal = UnsupportedMediaType(
            f"body: send JSON with Content-Type: application/json, not {media_type[:80]!r}",
            field="body",
        )
        return "null", refusal
    if event.get("isBase64Encoded") is True:
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            return "null", InvalidRequest(
                "body: isBase64Encoded is set but the body is not base64", field="body"
            )
    else:
        try:
            raw = body.encode()
        except UnicodeEncodeError:
            return "null", InvalidRequest(
                "body: contains a lone surrogate, which is not text", field="body"
            )
    try:
        return raw.decode(), None
    except UnicodeDecodeError:
        return "null", InvalidRequest("body: not UTF-8 text", field="body")


def _text_map(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {
        _text(k): _text(v) for k, v in value.items() if isinstance(k, str) and isinstance(v, str)
    }


def _text_lists(value: Any) -> dict[str, list[str]]:
    if not isinstance(value, Mapping):
        return {}
    lists = {
        _text(k): [_text(item) for item in v if isinstance(item, str)]
        for k, v in value.items()
        if isinstance(k, str) and isinstance(v, list)
    }
    return {k: v for k, v in lists.items() if v}


def _text(value: str) -> str:
    """Lone surrogates as U+FFFD, as API Gateway decodes bytes that are not UTF-8."""
    if not _unencodable(value):
        return value
    return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in value)


# --- request bodies -----------------------------------------------------------------------------


class TestRequestBody(Contract):
    """`POST /test`."""

    __test__ = False  # not a pytest test class

    request: RequestSpec
    values: dict[str, Any] = Field(default_factory=dict)
    record: dict[str, Any] | None = None
    remember: bool = True


class PreviewBody(Contract):
    """`POST /preview`: what `POST /test` takes; nothing is sent and nothing remembered."""

    request: RequestSpec
    values: dict[str, Any] = Field(default_factory=dict)
    record: dict[str, Any] | None = None


class SchemaBody(Contract):
    """`POST /schema`: a response sample and where its records are."""

    sample: Any = Field(description="any JSON value: an API response")
    data_path: str | None = Field(
        None,
        min_length=1,
        examples=["$.data[*]"],
        description="an RFC 9535 JSONPath",
        json_schema_extra={"format": "jsonpath"},
    )


# Exactly one source; null counts as left out, as DiscoverBody's validator reads it.
_ONE_SOURCE: dict[str, Any] = {
    "oneOf": [
        {
            "required": ["openapi"],
            "properties": {"openapi": {"anyOf": [{"type": "object"}, {"type": "string"}]}},
        },
        {"required": ["url"], "properties": {"url": {"type": "string"}}},
    ]
}


class DiscoverBody(Contract):
    """`POST /discover`: an OpenAPI/Swagger document, inline or at a URL (exactly one)."""

    model_config = ConfigDict(json_schema_extra=_ONE_SOURCE)

    # repr=False: Powertools logs the route's arguments with an eager f-string (1.5 s for a
    # 20 MB document).
    openapi: dict[str, Any] | str | None = Field(
        None, description="the document, or its text", repr=False
    )
    url: str | None = Field(None, min_length=1, max_length=2048)
    connection: str | None = Field(None, min_length=1, max_length=256)
    # Which entities to answer in full (apicall.builder.discover.discover); all given must match.
    entities: list[str] | None = Field(None, max_length=1000, description="names or 'GET /path'")
    operation_ids: list[str] | None = Field(None, max_length=1000)
    tag: str | None = Field(None, min_length=1, max_length=256)
    path_prefix: str | None = Field(None, min_length=1, max_length=2048)
    detail: Literal["auto", "compact", "full"] = "auto"
    next: str | None = Field(None, max_length=32, description="the `next` of a truncated answer")
    save: bool = Field(
        False,
        description="save every chosen entity (not only this page's, at most 200) as an entity "
        "of `connection` in the caller's workspace",
    )

    @model_validator(mode="after")
    def _one_source(self) -> DiscoverBody:
        if (self.openapi is None) == (self.url is None):
            raise ValueError("give exactly one of openapi or url")
        return self


class CurlBody(Contract):
    """`POST /curl`."""

    command: str = Field(
        min_length=1,
        max_length=MAX_COMMAND_CHARS,
        # Necessary, not sufficient: the command must also be one curl invocation a shell splits.
        pattern="[Cc][Uu][Rr][Ll]",
        description="a curl command line, as copied from API docs or a browser",
        json_schema_extra={"format": "curl-command"},
    )


# --- answers (documented in the API's OpenAPI document) -----------------------------------------


class ErrorDetail(Contract):
    kind: str = Field(
        description="invalid_request, not_found, unsupported_media_type, auth, blocked, ..."
    )
    message: str
    fields: list[str] = Field(description="every field at fault, as paths: request.url, body")


class ErrorAnswer(Contract):
    """Every refusal the function answers."""

    error: ErrorDetail


class GatewayMessage(Contract):
    """API Gateway's own answer: 403 without a valid API key, 429 when throttled."""

    message: str


class InferredField(Contract):
    name: str
    type: FieldType
    path: str
    nullable_only: bool = Field(False, description="present (true) when every sample was null")


class SchemaAnswer(Contract):
    fields: list[InferredField]


FillSource = Literal["given", "remembered", "empty"]


class SentRequest(Contract):
    """A request as built to be sent; every credential of the connection `***`."""

    method: str
    url: str = Field(description="the query included; an API key sent in the query as ***")
    headers: dict[str, str] = Field(
        description="as sent: the client's own, the request's, the body's, and the credential "
        "the connection's auth adds (as ***)"
    )
    body: Any = Field(
        description="a JSON body's value; any other as the text sent (binary content as "
        "`<N bytes>`); null without a body"
    )


class TestAnswer(Outcome):
    """The Outcome of the try, with how each placeholder was filled, the inferred fields and the
    request sent."""

    __test__ = False  # not a pytest test class

    placeholders: dict[str, FillSource]
    inferred: list[InferredField] | None = Field(alias="schema")
    sent: SentRequest | None = Field(description="null when the request could not be built")


class PlaceholderUse(Contract):
    name: str
    where: str = Field(
        description="where its value goes: url, path_params.id, query.page, headers.X-Id, "
        "body, body.customer.id"
    )
    value: Any = Field(None, description="left out when the placeholder is sent empty")
    source: FillSource


class PreviewAnswer(SentRequest):
    """The request `POST /test` would send, and each placeholder use."""

    placeholders: list[PlaceholderUse]


class CurlAnswer(Contract):
    request: dict[str, Any] = Field(description="a RequestSpec; fields at their default left out")
    unsupported: list[str]
    ignored: list[str]
    warnings: list[str]
    auth: dict[str, Any] | None
    connection: dict[str, Any] | None = Field(
        description="the Connection settings the command implies, if any"
    )


class DiscoverAnswer(BaseModel):
    """The document's entities as request drafts; paging and warnings beside them."""

    model_config = ConfigDict(extra="allow", defer_build=True)

    title: str | None
    base_url: str | None
    entities: list[dict[str, Any]]
    saved: list[str] | None = Field(
        None, description='with "save": the names of the entities saved, in the entity alphabet'
    )


class AuthorizeAnswer(Contract):
    connection: str
    authorization_url: str
    state: str
    redirect_uri: str
    expires_in: int


class CallbackAnswer(Contract):
    connection: str
    stored: bool
    scope: str | None


# --- routes -------------------------------------------------------------------------------------


def request_key(spec: RequestSpec, workspace: str = DEFAULT_WORKSPACE) -> str:
    """What makes two tests "the same request": workspace, connection, method and url template."""
    parts = [spec.connection, spec.method, spec.url]
    # The default workspace keeps the keys it had before workspaces.
    identity = json.dumps(parts if workspace == DEFAULT_WORKSPACE else [workspace, *parts])
    return hashlib.sha256(identity.encode()).hexdigest()[:32]


# API Gateway's integration timeout for a REST API: an answer later than this is a 504.
API_GATEWAY_TIMEOUT_MS = 29_000


def answer_time_left(
    context: Any, *, clock: Callable[[], float] = time.monotonic
) -> Callable[[], int]:
    """Milliseconds left to answer, counted from now: the invocation's remaining time or API
    Gateway's integration timeout, whichever ends first (a Lambda timeout above 29 s would let
    a slow upstream turn into a 504 instead of the `timeout` route)."""
    started = clock()
    remaining = getattr(context, "get_remaining_time_in_millis", None)

    def left() -> int:
        gateway = API_GATEWAY_TIMEOUT_MS - int((clock() - started) * 1000)
        return min(gateway, remaining()) if callable(remaining) else gateway

    return left


def run_test(
    body: TestRequestBody,
    *,
    store: RunsStore | None = None,
    connections: ConnectionLoader = load_connection,
    time_left_ms: Callable[[], int] | None = None,
    workspace: str = DEFAULT_WORKSPACE,
) -> dict[str, Any]:
    """The Outcome of one try, plus `schema` (inferred fields), `placeholders` (how filled) and
    `sent` (the request as sent, as `preview` shows it).

    An unknown connection or entity raises ConnectionNotFound or EntityNotFound (the caller
    answers 404); everything that happens upstream is in the Outcome. `time_left_ms` caps the
    request's deadline (see `answer_time_left`).
    """
    from apicall.request import entities
    from apicall.request.execute import execute

    store = store if store is not None else default_runs_store()
    connection = _connection(body.request, connections, workspace)
    spec = entities.resolve(body.request, workspace)

    def loader(name: str) -> Connection:
        return connection if connection is not None else connections(name)

    key = request_key(spec, workspace)
    remembered = _remembered(store, key)
    values = deep_merge(remembered, body.values)
    sent: list[OutgoingRequest] = []
    outcome = execute(
        InvokeEvent(request=spec, values=values, record=body.record, workspace=workspace),
        store=store,
        connections=loader,
        retries=False,
        missing_values="empty",
        fill_report={},
        time_left_ms=time_left_ms,
        sent=sent,
    )
    answer = outcome.model_dump(mode="json")
    answer["placeholders"] = _fill_sources(spec, body.values, remembered)
    answer["sent"] = request_view(sent[0], connection) if sent else None
    answer["schema"] = _schema(outcome.body, spec, answer["warnings"]) if outcome.ok else None
    if body.remember and values:
        _remember(store, key, values, answer["warnings"])
    return answer


def preview(
    body: PreviewBody,
    *,
    store: RunsStore | None = None,
    connections: ConnectionLoader = load_connection,
    workspace: str = DEFAULT_WORKSPACE,
) -> dict[str, Any]:
    """The request `run_test` would send for `body`, built the same way (remembered values,
    placeholders sent empty) and not sent: `method`, `url`, `headers`, `body` as `request_view`
    shows them, and `placeholders`, one per use: `name`, `where`, `value` (unless empty) and
    `source` (`given`, `remembered`, `empty`).

    An unknown connection or entity raises ConnectionNotFound or EntityNotFound (404); a spec,
    values or record the request cannot be built from raises a ConfigError naming the field.
    """
    from apicall.core import redaction
    from apicall.request import entities
    from apicall.request.execute import check_spec

    store = store if store is not None else default_runs_store()
    connection = _connection(body.request, connections, workspace)
    spec = entities.resolve(body.request, workspace)
    check_spec(spec)
    remembered = _remembered(store, request_key(spec, workspace))
    values = deep_merge(remembered, body.values)
    outgoing = templating.render_request(spec, values, body.record, connection, missing="empty")
    answer = request_view(outgoing, connection)
    hidden = {name.lower() for name in redaction.SENSITIVE_HEADERS}
    if connection is not None:
        hidden |= redaction.secret_header_names(connection)
    uses: list[dict[str, Any]] = []
    for name, where in templating.placeholder_uses(spec):
        use: dict[str, Any] = {"name": name, "where": where}
        found, value = templating.value_of(values, name)
        if found:
            header = where.partition(".")[2].lower() if where.startswith("headers.") else None
            use["value"] = redaction.REDACTED if header in hidden else value
        use["source"] = _fill_source(name, body.values, remembered)
        uses.append(use)
    answer["placeholders"] = uses
    return redaction.redact(answer, _secrets(outgoing, connection))


# Shown in full up to this size: a preview is read by a person, and the answer must stay far
# below Lambda's 6 MB.
MAX_SHOWN_BODY_CHARS = 64 * 1024
# What httpx.Client sends with every request beside the client's own headers (http.client).
_HTTPX_HEADERS = {"Accept": "*/*", "Connection": "keep-alive"}


def request_view(outgoing: OutgoingRequest, connection: Connection | None) -> dict[str, Any]:
    """`outgoing` as the builder shows what is sent: `method`; `url` with its query; `headers`
    as httpx sends them (the client's own, Host, the body's Content-Type and Content-Length)
    plus the header or query parameter the connection's auth adds, as `***`; and `body` (see
    SentRequest). Every credential of the connection is `***` wherever it appears."""
    import httpx

    from apicall.core import redaction
    from apicall.http import client

    url = str(client.request_url(outgoing))
    headers = {**_HTTPX_HEADERS, **client.DEFAULT_HEADERS}
    for name, value in outgoing.headers.items():
        templating.set_header(headers, name, value)  # a spec's Accept replaces httpx's
    auth = connection.auth if connection is not None else NoAuth()
    if isinstance(auth, ApiKeyAuth) and auth.location == "query":
        url = _with_masked_param(url, auth.name)
    elif isinstance(auth, ApiKeyAuth):
        templating.set_header(headers, auth.name, redaction.REDACTED)
    elif not isinstance(auth, NoAuth):
        templating.set_header(headers, "Authorization", redaction.REDACTED)
    built = httpx.Request(outgoing.method, url, headers=headers, **client.httpx_body(outgoing))
    shown = {name.decode("latin-1"): value.decode("latin-1") for name, value in built.headers.raw}
    also = redaction.secret_header_names(connection) if connection is not None else frozenset()
    view = {
        "method": outgoing.method,
        "url": url,
        "headers": redaction.redact_headers(shown, also=also),
        "body": _body_view(outgoing, built.read()),
    }
    return redaction.redact(view, _secrets(outgoing, connection))


def _secrets(outgoing: OutgoingRequest, connection: Connection | None) -> set[str]:
    """The connection's credentials, and those of a URL's userinfo (httpx sends them)."""
    from apicall.core import redaction

    return redaction.secret_values(connection or no_connection(), url=outgoing.url)


def _with_masked_param(url: str, name: str) -> str:
    from urllib.parse import quote_plus

    head, hash_sign, fragment = url.partition("#")
    joiner = "&" if "?" in head else "?"
    return f"{head}{joiner}{quote_plus(name)}=***{hash_sign}{fragment}"


def _body_view(outgoing: OutgoingRequest, content: bytes) -> Any:
    if outgoing.json is not None:
        return outgoing.json
    if not content:
        return None
    try:
        text = content.decode()
    except UnicodeDecodeError:
        return f"<{len(content)} bytes>"
    if len(text) > MAX_SHOWN_BODY_CHARS:
        return f"{text[:MAX_SHOWN_BODY_CHARS]}... ({len(content)} bytes in all)"
    return text


def infer_schema(body: SchemaBody) -> dict[str, Any]:
    """`{"fields": [{"name", "type", "path"}]}` of a sample response."""
    return {"fields": schema.infer_fields(body.sample, body.data_path)}


def discover(
    body: DiscoverBody,
    *,
    connections: ConnectionLoader = load_connection,
    workspace: str = DEFAULT_WORKSPACE,
) -> dict[str, Any]:
    """The document's entities (apicall.builder.discover); with `save`, every chosen entity is
    also saved under `connection` in `workspace` and `saved` lists the names."""
    from apicall.builder import discover as discovery

    if body.save and body.connection is None:
        raise InvalidRequest(
            "save: name the connection the entities are saved under", field="connection"
        )
    name = scoped(workspace, body.connection) if body.connection else None
    connection = connections(name) if name else None
    if body.url is not None:
        document = discovery.fetch_document(body.url, connection, name)
    else:
        document = discovery.load_document(body.openapi)
    choice: dict[str, Any] = {
        "connection": body.connection,
        "entities": body.entities,
        "operation_ids": body.operation_ids,
        "tag": body.tag,
        "path_prefix": body.path_prefix,
    }
    answer = discovery.discover(document, **choice, detail=body.detail, cursor=body.next)
    if body.save and body.connection is not None:
        _save_discovered(answer, document, choice, body, workspace)
    return answer


def _save_discovered(
    answer: dict[str, Any],
    document: dict[str, Any],
    choice: dict[str, Any],
    body: DiscoverBody,
    workspace: str,
) -> None:
    from apicall.builder import discover as discovery
    from apicall.builder import entities

    entities.check_save_count(answer["total"])  # before every chosen one is built in full
    whole = answer["detail"] == "full" and body.next is None and not answer["truncated"]
    if not whole:  # every chosen entity in full, whatever this page shows
        answer_in_full = discovery.discover(
            document, **choice, detail="full", max_bytes=SAVE_BUDGET_BYTES
        )
        found = answer_in_full["entities"]
    else:
        found = answer["entities"]
    saved, warnings = entities.save_discovered(workspace, str(body.connection), found)
    answer["saved"] = saved
    answer["warnings"] = [*answer["warnings"], *warnings]


# Room for every entity /discover may save (entities.MAX_SAVED_ENTITIES) in full; only built, never
# answered.
SAVE_BUDGET_BYTES = 256 * 1024 * 1024


def import_curl(body: CurlBody) -> dict[str, Any]:
    from apicall.builder.curl import parse_curl

    return parse_curl(body.command).to_dict()


def error_status(error: ApicallError) -> int:
    """The HTTP status of an error the test API answers with (never a 5xx: it is the input)."""
    if isinstance(error, ConnectionNotFound | EntityNotFound) or error.kind == "not_found":
        return 404
    if error.kind == "exists":
        return 409
    if isinstance(error, UnsupportedMediaType):
        return 415
    if isinstance(error, AuthError):
        return 400
    return 422


def error_body(kind: str, message: str, fields: list[str]) -> dict[str, Any]:
    return {"error": {"kind": kind, "message": message, "fields": fields}}


def error_answer(error: ApicallError) -> tuple[int, dict[str, Any]]:
    kind = "not_found" if isinstance(error, ConnectionNotFound | EntityNotFound) else error.kind
    return error_status(error), error_body(
        kind, error.message, [error.field] if error.field else []
    )


# --- helpers ------------------------------------------------------------------------------------


def _remembered(store: RunsStore, key: str) -> dict[str, Any]:
    try:
        return store.get_test_values(key)
    except Exception as exc:  # remembering is a convenience: a test runs without it
        logger.warning("test values not read", extra={"error": type(exc).__name__})
        return {}


def _remember(store: RunsStore, key: str, values: dict[str, Any], warnings: list[str]) -> None:
    try:
        store.put_test_values(key, values, ttl_s=get_settings().history_ttl_days * 86400)
    except Exception as exc:
        logger.warning("test values not stored", extra={"error": type(exc).__name__})
        warnings.append("the values of this test could not be remembered")


def _connection(
    spec: RequestSpec, connections: ConnectionLoader, workspace: str
) -> Connection | None:
    """The spec's connection in the workspace (ConnectionNotFound when there is none)."""
    return connections(scoped(workspace, spec.connection)) if spec.connection else None


def _has_value(values: dict[str, Any], name: str) -> bool:
    report: dict[str, str] = {}
    templating.fill_text("{" + name + "}", values, field="values", missing="empty", report=report)
    return report.get(name) == "value"


def _fill_sources(
    spec: RequestSpec, given: dict[str, Any], remembered: dict[str, Any]
) -> dict[str, str]:
    """placeholder -> "given" | "remembered" | "empty"."""
    try:
        names = templating.placeholders(spec)
    except ApicallError:
        return {}  # a stray brace: the Outcome's error already names where
    return {name: _fill_source(name, given, remembered) for name in names}


def _fill_source(name: str, given: dict[str, Any], remembered: dict[str, Any]) -> str:
    if _has_value(given, name):
        return "given"
    return "remembered" if _has_value(remembered, name) else "empty"


def _schema(body: Any, spec: RequestSpec, warnings: list[str]) -> list[dict[str, Any]] | None:
    if not isinstance(body, dict | list):
        return None
    try:
        return schema.infer_fields(body, spec.response.data_path, field="body")
    except ApicallError as error:
        warnings.append(f"no schema: {error.message}")
        return None
