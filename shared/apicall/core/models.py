"""The JSON contracts (docs/contracts.md) as pydantic models.

Every model forbids unknown fields, so a typo is a clear error naming the field rather than a
silent default. Fields are only ever added here, never renamed: workflow engines, schedules and
queue producers are written against these shapes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from apicall.core.workspaces import DEFAULT_WORKSPACE, WORKSPACE_PATTERN

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
STATUS_CLASS = re.compile(r"^[1-5]xx$")
# The routes of an Outcome that has no status: `errors` may give each a message.
ERROR_ROUTES = ("timeout", "error", "max-connection")


# What an input's optional `workspace` may be; everything it names is looked up in it.
Workspace = Annotated[
    str,
    Field(
        pattern=WORKSPACE_PATTERN,
        description="the workspace whose connections and data this uses (default `default`)",
    ),
]


class Contract(BaseModel):
    # Schemas are built on first use: a function pays only for the contracts it validates.
    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)


# --- Connection ---------------------------------------------------------------------------------


class NoAuth(Contract):
    type: Literal["none"] = "none"


class ApiKeyAuth(Contract):
    type: Literal["api_key"]
    name: str = Field(min_length=1)
    value: str = Field(min_length=1)
    location: Literal["header", "query"] = Field("header", alias="in")


class BasicAuth(Contract):
    type: Literal["basic"]
    username: str
    password: str


class BearerAuth(Contract):
    type: Literal["bearer"]
    token: str = Field(min_length=1)


class OAuth2ClientCredentials(Contract):
    type: Literal["oauth2_client_credentials"]
    token_url: str = Field(min_length=1)
    client_id: str = Field(min_length=1)
    client_secret: str = Field(min_length=1)
    scope: str | None = None
    audience: str | None = None
    # How the client authenticates at the token endpoint (RFC 6749 section 2.3.1).
    token_auth_method: Literal["client_secret_basic", "client_secret_post"] = "client_secret_basic"


class OAuth2AuthorizationCode(Contract):
    type: Literal["oauth2_authorization_code"]
    authorize_url: str = Field(min_length=1)
    token_url: str = Field(min_length=1)
    client_id: str = Field(min_length=1)
    client_secret: str = Field(min_length=1)
    scope: str | None = None
    refresh_token: str | None = None
    token_auth_method: Literal["client_secret_basic", "client_secret_post"] = "client_secret_basic"


Auth = Annotated[
    NoAuth
    | ApiKeyAuth
    | BasicAuth
    | BearerAuth
    | OAuth2ClientCredentials
    | OAuth2AuthorizationCode,
    Field(discriminator="type"),
]


class RetryPolicy(Contract):
    attempts: int = Field(3, ge=1, le=10)
    backoff: Literal["exponential", "fixed", "none"] = "exponential"
    base_s: float = Field(1.0, ge=0, le=60)
    max_s: float = Field(30.0, ge=0, le=900)
    on: list[int] = Field(default_factory=lambda: [429, 500, 502, 503, 504])


class RateLimit(Contract):
    requests: int = Field(ge=1)
    per_s: float = Field(gt=0)


class ClientCert(Contract):
    cert: str = Field(min_length=1, description="PEM certificate (chain)")
    key: str = Field(min_length=1, description="PEM private key")
    password: str | None = None


class Connection(Contract):
    base_url: str | None = None
    auth: Auth = Field(default_factory=NoAuth)
    headers: dict[str, str] = Field(default_factory=dict)
    query: dict[str, str] = Field(default_factory=dict)
    timeout_s: float = Field(10.0, gt=0, le=900)
    verify_ssl: bool = True
    ca_bundle: str | None = Field(None, description="PEM text of extra trusted CA certificates")
    client_cert: ClientCert | None = None
    proxy: str | None = None
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    rate_limit: RateLimit | None = None
    max_in_flight: int = Field(
        10, ge=1, le=1000, description="requests in flight per container for this connection"
    )
    allow_private_network: bool = False

    @field_validator("base_url", "proxy")
    @classmethod
    def _absolute_http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/]", value):
            raise ValueError("must be an absolute http(s) URL")
        return value


@cache
def no_connection() -> Connection:
    """What a request that names no connection gets: public targets only, no credentials. Made on
    first use, not at import: making it builds Connection's schema."""
    return Connection()


# --- RequestSpec --------------------------------------------------------------------------------

Scalar = str | int | float | bool


class NoBody(Contract):
    # The body union is told apart by `type`: a body given as `{}` is refused, so the documented
    # schema requires it too (a body left out is still NoBody).
    model_config = ConfigDict(json_schema_extra={"required": ["type"]})

    type: Literal["none"] = "none"


class JsonBody(Contract):
    type: Literal["json"]
    value: Any = None


class FormBody(Contract):
    type: Literal["form"]
    fields: dict[str, Scalar] | list[tuple[str, Scalar]] = Field(default_factory=dict)


class UploadFile(Contract):
    name: str = Field(min_length=1, description="form field name")
    filename: str = Field(min_length=1)
    content_type: str = "application/octet-stream"
    content_base64: str | None = None
    text: str | None = None

    @model_validator(mode="after")
    def _one_content(self) -> UploadFile:
        if (self.content_base64 is None) == (self.text is None):
            raise ValueError("give exactly one of content_base64 or text")
        return self


class MultipartBody(Contract):
    type: Literal["multipart"]
    fields: dict[str, Scalar] = Field(default_factory=dict)
    files: list[UploadFile] = Field(default_factory=list)


class RawBody(Contract):
    type: Literal["raw"]
    content_type: str = "text/plain"
    content: str = ""


class BinaryBody(Contract):
    type: Literal["binary"]
    content_type: str = "application/octet-stream"
    content_base64: str
    filename: str | None = None


class RecordBody(Contract):
    """The invocation's `record`, sent as JSON."""

    type: Literal["record"]


Body = Annotated[
    NoBody | JsonBody | FormBody | MultipartBody | RawBody | BinaryBody | RecordBody,
    Field(discriminator="type"),
]

FieldType = Literal["string", "number", "integer", "boolean", "datetime", "object", "array"]


class FieldSpec(Contract):
    name: str = Field(min_length=1)
    type: FieldType = "string"
    path: str = Field(min_length=1)


class ResponseSpec(Contract):
    format: Literal["auto", "json", "text", "binary"] = "auto"
    data_path: str | None = None
    fields: list[FieldSpec] = Field(default_factory=list)
    max_bytes: int = Field(5 * 1024 * 1024, ge=1, le=50 * 1024 * 1024)


SuccessCodes = str | list[int | str]


@dataclass(frozen=True)
class StatusSet:
    """Status codes and classes (2 for `2xx`): what `success_codes` names."""

    codes: frozenset[int]
    classes: frozenset[int]

    def __contains__(self, status: object) -> bool:
        return isinstance(status, int) and (status in self.codes or status // 100 in self.classes)


def status_set(value: str | list[int | str] | tuple[int | str, ...]) -> StatusSet:
    """`"2xx"`, `"200,201"`, `"2xx,304"` or a list of codes and classes, as a StatusSet.

    Raises ValueError naming the part that is neither a code (100-599) nor a class (`1xx`-`5xx`).
    """
    parts = value.split(",") if isinstance(value, str) else list(value)
    if not parts:
        raise ValueError("must name at least one status code or class")
    codes: set[int] = set()
    classes: set[int] = set()
    for part in parts:
        text = part.strip().lower() if isinstance(part, str) else part
        if isinstance(text, str) and STATUS_CLASS.match(text):
            classes.add(int(text[0]))
        elif _is_status(text):
            codes.add(int(text))
        else:
            raise ValueError(
                f"{part!r} is neither a status code (100-599) nor a class like '2xx';"
                " write codes and classes as '2xx,304' or a list"
            )
    return StatusSet(frozenset(codes), frozenset(classes))


def _is_status(value: object) -> bool:
    if isinstance(value, str):
        return value.isdigit() and len(value) == 3 and 100 <= int(value) <= 599
    return type(value) is int and 100 <= value <= 599


def _check_success_codes(value: SuccessCodes) -> SuccessCodes:
    status_set(value)
    return value


def _check_error_keys(errors: dict[str, str]) -> dict[str, str]:
    """`errors` keyed by a status code, a class (`4xx`) or an error route, classes lowercased."""
    checked: dict[str, str] = {}
    for key, message in errors.items():
        name = key.strip().lower()
        if not (_is_status(name) or STATUS_CLASS.match(name) or name in ERROR_ROUTES):
            raise ValueError(
                f"key {key!r} is neither a status code, a class like '4xx', nor one of"
                f" {', '.join(ERROR_ROUTES)}"
            )
        checked[name] = message
    return checked


class HttpCall(Contract):
    """What a RequestSpec and a PushTarget share: a method, a URL, a connection, success codes."""

    connection: str | None = None
    url: str = Field(min_length=1)
    success_codes: SuccessCodes = "2xx"

    @field_validator("method", mode="before", check_fields=False)
    @classmethod
    def _upper_method(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("success_codes")
    @classmethod
    def _valid_success_codes(cls, value: SuccessCodes) -> SuccessCodes:
        return _check_success_codes(value)

    @model_validator(mode="after")
    def _absolute_url_without_connection(self) -> HttpCall:
        # An empty url is a RequestSpec's that names an entity (see RequestSpec._url_or_entity).
        if self.connection is None and self.url and not re.match(r"^https?://", self.url):
            raise ValueError("url must be absolute (http or https) when no connection is given")
        return self


# An entity's name: one URL path segment of letters, digits and `_-.` (no `..`), so it can be
# addressed as /connections/{name}/entities/{entity} and never holds CatalogTable's `#`.
ENTITY_PATTERN = r"^(\.?[A-Za-z0-9_-])+\.?$"
MAX_ENTITY_CHARS = 256


class RequestSpec(HttpCall):
    # Not required when the spec names an entity: the entity's request has one.
    url: str = Field(
        "", min_length=1, description="required unless `entity` names a request that has one"
    )
    entity: str | None = Field(
        None,
        min_length=1,
        max_length=MAX_ENTITY_CHARS,
        pattern=ENTITY_PATTERN,
        description="a saved request of `connection` (needs it) this spec starts from: the "
        "fields given here replace the entity's",
    )
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] = "GET"
    path_params: dict[str, Scalar] = Field(default_factory=dict)
    query: list[tuple[str, Scalar]] | dict[str, Scalar] = Field(default_factory=list)
    headers: dict[str, str] = Field(default_factory=dict)
    body: Body = Field(default_factory=NoBody)
    timeout_s: float | None = Field(None, gt=0, le=900)
    errors: dict[str, str] = Field(default_factory=dict)
    on_failure: Literal["continue", "terminate"] = "terminate"
    response: ResponseSpec = Field(default_factory=ResponseSpec)
    routes: list[str] = Field(default_factory=list)
    follow_redirects: bool = True
    max_redirects: int = Field(5, ge=0, le=20)

    @model_validator(mode="wrap")
    @classmethod
    def _url_or_entity(cls, data: Any, handler: ModelWrapValidatorHandler[RequestSpec]) -> Any:
        """`url` is required unless an entity is named, and an entity needs its connection: each
        reported at its field, beside every other problem, as a missing field would be."""
        problems: list[InitErrorDetails] = []
        if isinstance(data, dict):
            entity = data.get("entity")
            if entity is None and "url" not in data:
                problems.append({"type": "missing", "loc": ("url",), "input": data})
            if entity is not None and data.get("connection") is None:
                problems.append(
                    {
                        "type": PydanticCustomError(
                            "entity_without_connection",
                            "an entity is a saved request of a connection: name the connection",
                        ),
                        "loc": ("connection",),
                        "input": data,
                    }
                )
        try:
            spec = handler(data)
        except ValidationError as exc:
            if not problems:
                raise
            try:
                combined = ValidationError.from_exception_data(
                    exc.title, [*_init_details(exc), *problems]
                )
            except KeyError:  # an error type pydantic-core cannot rebuild: report the others
                raise exc from None
            raise combined from None
        if problems:
            raise ValidationError.from_exception_data(cls.__name__, problems)
        return spec

    @field_validator("routes")
    @classmethod
    def _valid_routes(cls, value: list[str]) -> list[str]:
        for route in value:
            if not (route.isdigit() and 100 <= int(route) <= 599):
                raise ValueError(f"route {route!r} is not an HTTP status code")
        return value

    @field_validator("errors")
    @classmethod
    def _valid_error_keys(cls, value: dict[str, str]) -> dict[str, str]:
        return _check_error_keys(value)

    def error_message(self, answer: int | str) -> str | None:
        """The `errors` message for a status (its exact code wins over its class) or for an
        error route (`timeout`, `error`, `max-connection`); None when none is configured."""
        if isinstance(answer, str):
            return self.errors.get(answer)
        return self.errors.get(str(answer)) or self.errors.get(f"{answer // 100}xx")

    def query_pairs(self) -> list[tuple[str, Scalar]]:
        return list(self.query.items()) if isinstance(self.query, dict) else list(self.query)


def _init_details(exc: ValidationError) -> list[InitErrorDetails]:
    """`exc`'s errors as pydantic-core builds them, to raise them again beside others."""
    details: list[InitErrorDetails] = []
    for error in exc.errors(include_url=False):
        detail: InitErrorDetails = {
            "type": error["type"],
            "loc": error["loc"],
            "input": error["input"],
        }
        if "ctx" in error:
            detail["ctx"] = error["ctx"]
        details.append(detail)
    return details


# --- Outcome ------------------------------------------------------------------------------------

ErrorKind = Literal[
    "timeout",
    "connection",
    "ssl",
    "status",
    "blocked",
    "too_large",
    "invalid_response",
    "invalid_request",
    "auth",
]


class ErrorInfo(Contract):
    kind: ErrorKind
    message: str
    status: int | None = None
    field: str | None = Field(None, description="the input field at fault, for invalid input")


class Outcome(Contract):
    ok: bool
    route: str
    next: Literal["continue", "terminate"]
    status: int | None = None
    attempts: int = 0
    elapsed_ms: int = 0
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = None
    truncated: bool = False
    data: dict[str, Any] | None = None
    rows: list[dict[str, Any]] | None = None
    skipped_fields: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    error: ErrorInfo | None = None
    run_id: str


class InvokeEvent(Contract):
    """Direct invoke of the request function."""

    request: RequestSpec
    values: dict[str, Any] = Field(default_factory=dict)
    record: dict[str, Any] | None = None
    correlation_id: str | None = Field(None, max_length=256)
    workspace: Workspace = DEFAULT_WORKSPACE


# --- Push ---------------------------------------------------------------------------------------


class PushTarget(HttpCall):
    url: str = Field(min_length=1, description="absolute, or a path under the connection")
    method: Literal["POST", "PUT", "PATCH"] = "POST"
    headers: dict[str, str] = Field(default_factory=dict)
    format: Literal["json", "form"] = "json"
    signing_secret: str | None = None
    timeout_s: float = Field(10.0, gt=0, le=60)


class PushMessage(Contract):
    id: str = Field(min_length=1, max_length=256)
    event: str | None = None
    target: PushTarget
    record: dict[str, Any]
    workspace: Workspace = DEFAULT_WORKSPACE


# --- FetchJob -----------------------------------------------------------------------------------

ParamLocation = Literal["query", "body"]


class NoPagination(Contract):
    type: Literal["none"] = "none"


class OffsetPagination(Contract):
    type: Literal["offset"]
    offset_param: str = "offset"
    limit_param: str = "limit"
    limit: int = Field(100, ge=1, le=10_000)
    start: int = Field(0, ge=0)
    location: ParamLocation = Field("query", alias="in")


class PagePagination(Contract):
    type: Literal["page"]
    page_param: str = "page"
    size_param: str | None = "size"
    size: int = Field(100, ge=1, le=10_000)
    start: int = Field(1, ge=0)
    total_pages_path: str | None = None
    location: ParamLocation = Field("query", alias="in")


class CursorPagination(Contract):
    type: Literal["cursor"]
    cursor_param: str = "cursor"
    cursor_path: str = Field(min_length=1)
    limit_param: str | None = None
    limit: int | None = Field(None, ge=1, le=10_000)
    location: ParamLocation = Field("query", alias="in")


class NextUrlPagination(Contract):
    type: Literal["next_url"]
    next_url_path: str = Field(min_length=1)


class LinkHeaderPagination(Contract):
    type: Literal["link_header"]


Pagination = Annotated[
    NoPagination
    | OffsetPagination
    | PagePagination
    | CursorPagination
    | NextUrlPagination
    | LinkHeaderPagination,
    Field(discriminator="type"),
]


class RecordsSpec(Contract):
    path: str = Field("$[*]", min_length=1)
    key: str = Field(min_length=1)
    fields: list[FieldSpec] = Field(default_factory=list)


class Incremental(Contract):
    param: str = Field(min_length=1)
    field: str = Field(min_length=1)
    location: ParamLocation = Field("query", alias="in")


class FetchJob(Contract):
    job: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:-]+$")
    request: RequestSpec
    pagination: Pagination = Field(default_factory=NoPagination)
    max_pages: int = Field(1000, ge=1, le=1_000_000)
    records: RecordsSpec
    incremental: Incremental | None = None
    workspace: Workspace = DEFAULT_WORKSPACE


# --- Lookup -------------------------------------------------------------------------------------

# DynamoDB's limit for a sort key, which a record key is.
MAX_RECORD_KEY_BYTES = 1024


class RecordRef(Contract):
    """One record a fetch job stored: the job's name and the record's key."""

    job: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:-]+$")
    # A key is stored as text; a number is the key it was fetched as (42 is "42").
    key: StrictStr | StrictInt

    @field_validator("key")
    @classmethod
    def _storable_key(cls, key: str | int) -> str | int:
        if (
            isinstance(key, str)
            and not 0 < len(key.encode(errors="replace")) <= MAX_RECORD_KEY_BYTES
        ):
            raise ValueError(f"give 1 to {MAX_RECORD_KEY_BYTES} bytes of text")
        return key


class LookupEvent(Contract):
    """Direct invoke of the request function that reads one fetched record (reference data)."""

    lookup: RecordRef
    workspace: Workspace = DEFAULT_WORKSPACE
