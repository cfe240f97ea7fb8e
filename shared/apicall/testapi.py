"""What the test API's routes do: the request bodies they accept, one function per route, and the
one mapping from an error to an HTTP answer.

`POST /test` runs a request once without retries. Values the caller leaves out come from the last
test of the same request (connection, method and url), remembered in RunsTable; the rest are sent
empty, and the answer says which placeholder was filled how.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import httpx
from pydantic import Field, model_validator

from apicall import mapping, templating
from apicall.connections import deep_merge, load_connection
from apicall.errors import ApicallError, AuthError, ConnectionNotFound
from apicall.models import Connection, Contract, InvokeEvent, RequestSpec
from apicall.observability import logger
from apicall.settings import get_settings
from apicall.store import RunsStore, default_runs_store

ConnectionLoader = Callable[[str], Connection]

MAX_COMMAND_CHARS = 100_000


# --- request bodies -----------------------------------------------------------------------------


class TestRequestBody(Contract):
    """`POST /test`."""

    __test__ = False  # not a pytest test class

    request: RequestSpec
    values: dict[str, Any] = Field(default_factory=dict)
    record: dict[str, Any] | None = None
    remember: bool = True


class SchemaBody(Contract):
    """`POST /schema`: a response sample and where its records are."""

    sample: Any = Field(description="any JSON value: an API response")
    data_path: str | None = Field(None, min_length=1, examples=["$.data[*]"])


class DiscoverBody(Contract):
    """`POST /discover`: an OpenAPI/Swagger document, inline or at a URL."""

    openapi: dict[str, Any] | str | None = Field(None, description="the document, or its text")
    url: str | None = Field(None, min_length=1, max_length=2048)
    connection: str | None = Field(None, min_length=1, max_length=256)

    @model_validator(mode="after")
    def _one_source(self) -> DiscoverBody:
        if (self.openapi is None) == (self.url is None):
            raise ValueError("give exactly one of openapi or url")
        return self


class CurlBody(Contract):
    """`POST /curl`."""

    command: str = Field(min_length=1, max_length=MAX_COMMAND_CHARS)


# --- routes -------------------------------------------------------------------------------------


def request_key(spec: RequestSpec) -> str:
    """What makes two tests "the same request": connection, method and url template."""
    identity = json.dumps([spec.connection, spec.method, spec.url])
    return hashlib.sha256(identity.encode()).hexdigest()[:32]


def run_test(
    body: TestRequestBody,
    *,
    store: RunsStore | None = None,
    http_client: httpx.Client | None = None,
    connections: ConnectionLoader = load_connection,
) -> dict[str, Any]:
    """The Outcome of one try, plus `schema` (inferred fields) and `placeholders` (how filled).

    An unknown connection raises ConnectionNotFound (the caller answers 404); everything that
    happens upstream is in the Outcome.
    """
    from apicall.execute import execute

    store = store if store is not None else default_runs_store()
    spec = body.request
    loader = connections
    if spec.connection:
        connection = connections(spec.connection)

        def loader(_name: str) -> Connection:
            return connection

    key = request_key(spec)
    remembered = _remembered(store, key)
    values = deep_merge(remembered, body.values)
    outcome = execute(
        InvokeEvent(request=spec, values=values, record=body.record),
        http_client=http_client,
        store=store,
        connections=loader,
        retries=False,
        missing_values="empty",
        fill_report={},
    )
    answer = outcome.model_dump(mode="json")
    answer["placeholders"] = _fill_sources(spec, body.values, remembered)
    answer["schema"] = _schema(outcome.body, spec, answer["warnings"]) if outcome.ok else None
    if body.remember and values:
        _remember(store, key, values, answer["warnings"])
    return answer


def infer_schema(body: SchemaBody) -> dict[str, Any]:
    """`{"fields": [{"name", "type", "path"}]}` of a sample response."""
    return {"fields": mapping.infer_fields(body.sample, body.data_path)}


def discover(
    body: DiscoverBody,
    *,
    http_client: httpx.Client | None = None,
    connections: ConnectionLoader = load_connection,
) -> dict[str, Any]:
    from apicall import openapi
    from apicall.auth import auth_for

    connection = connections(body.connection) if body.connection else None
    if body.url is not None:
        auth = auth_for(body.connection, connection) if body.connection and connection else None
        document = openapi.fetch_document(body.url, connection, auth=auth, http_client=http_client)
    else:
        document = openapi.load_document(body.openapi)
    return openapi.discover(document, connection=body.connection)


def import_curl(body: CurlBody) -> dict[str, Any]:
    from apicall.curl_import import parse_curl

    return parse_curl(body.command).to_dict()


# --- errors -------------------------------------------------------------------------------------


def error_status(error: ApicallError) -> int:
    """The HTTP status of an error the test API answers with (never a 5xx: it is the input)."""
    if isinstance(error, ConnectionNotFound):
        return 404
    if isinstance(error, AuthError):
        return 400
    return 422


def error_body(kind: str, message: str, fields: list[str]) -> dict[str, Any]:
    return {"error": {"kind": kind, "message": message, "fields": fields}}


def error_answer(error: ApicallError) -> tuple[int, dict[str, Any]]:
    kind = "not_found" if isinstance(error, ConnectionNotFound) else error.kind
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
    return {
        name: "given"
        if _has_value(given, name)
        else "remembered"
        if _has_value(remembered, name)
        else "empty"
        for name in names
    }


def _schema(body: Any, spec: RequestSpec, warnings: list[str]) -> list[dict[str, Any]] | None:
    if not isinstance(body, dict | list):
        return None
    try:
        return mapping.infer_fields(body, spec.response.data_path)
    except ApicallError as error:
        warnings.append(f"no schema: {error.message}")
        return None
