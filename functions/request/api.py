"""The test API (API Gateway REST): test a request, infer a schema, import OpenAPI or curl, run
OAuth consent, and describe itself at /openapi.json and /docs. Each route is one call into
`apicall.builder.testapi` or `apicall.builder.consent`; API Gateway checks the API key before the
event gets here.
"""

import functools
import json
import os
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError, ServiceError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from apicall.builder import connections, consent, entities, history, testapi
from apicall.core import settings
from apicall.core.catalog import default_catalog_store
from apicall.core.errors import ApicallError, named_problems
from apicall.core.models import ENTITY_PATTERN, MAX_ENTITY_CHARS
from apicall.core.observability import logger, metrics, tracer
from apicall.core.store import DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT

# A deployment without what this function needs fails here, naming the variable.
SETTINGS = settings.load(settings.ApiSettings)

TITLE = "apicall test API"
DESCRIPTION = "Test requests, infer response schemas, import OpenAPI and curl, OAuth consent."
DOCS = "/docs"
_SOURCES = {("body",), ("query",), ("path",), ("header",)}
# One path segment of a connection name (apicall.core.connections.check_name's alphabet, no "..").
CONNECTION_SEGMENT = r"^(\.?[A-Za-z0-9_-])+\.?$"
# What consent.start accepts as a redirect URI.
ABSOLUTE_HTTP_URL = r"^https?://[^/]"

_WHY = {
    400: "An OAuth provider or token endpoint refused (the message says why).",
    404: "No connection, entity, execution, push, job or record of that name in the workspace.",
    409: "A connection or entity of that name already exists in the workspace.",
    415: "The body is not declared as application/json.",
    422: "Invalid input; `fields` names every field at fault.",
}


def _answers(ok: type, *refusals: int) -> dict[int, OpenAPIResponse]:
    """The statuses a route answers: its own, the function's refusals and API Gateway's."""
    answers: dict[int, OpenAPIResponse] = {
        200: {"description": "OK", "content": {"application/json": {"model": ok}}}
    }
    for status in refusals:
        answers[status] = {
            "description": _WHY[status],
            "content": {"application/json": {"model": testapi.ErrorAnswer}},
        }
    for status, why in (
        (403, "API Gateway: no valid x-api-key."),
        (429, "API Gateway: the usage plan's rate or quota is exhausted."),
    ):
        answers[status] = {
            "description": why,
            "content": {"application/json": {"model": testapi.GatewayMessage}},
        }
    return dict(sorted(answers.items()))


def _json_body(text: str) -> Any:
    refusal = app.context.get("body_refusal")
    if refusal is not None:
        raise refusal
    return testapi.read_json(text)


app = APIGatewayRestResolver(
    enable_validation=True,
    json_body_deserializer=_json_body,
    # BUILDER_ORIGIN is set by template.yaml; CORSConfig is built once, when the module loads.
    cors=CORSConfig(allow_origin=os.environ.get("BUILDER_ORIGIN", "*"), max_age=600),
)


@functools.cache
def _describe_self() -> None:
    """Powertools' OpenAPI settings and its Swagger UI route at DOCS, set up on the first request
    that needs them: they load Powertools' OpenAPI models, which every other cold start would pay
    for (about 0.1 s)."""
    from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn

    app.configure_openapi(
        title=TITLE,
        description=DESCRIPTION,
        security_schemes={"api_key": APIKey(name="x-api-key", in_=APIKeyIn.header)},
        security=[{"api_key": []}],
    )
    app.enable_swagger(path=DOCS, compress=True)


def _workspace() -> str:
    """The caller's workspace, from its API key (API Gateway checked the key; a key with no
    mapping in CatalogTable is the default workspace). Never from anything the caller sends."""
    identity = app.current_event.raw_event["requestContext"]["identity"]
    key_id = identity.get("apiKeyId")
    return default_catalog_store().workspace_for_api_key(
        key_id if isinstance(key_id, str) else None
    )


@app.post("/test", responses=_answers(testapi.TestAnswer, 404, 415, 422))
def test(body: Annotated[testapi.TestRequestBody, Body()]) -> dict[str, Any]:
    return testapi.run_test(
        body, time_left_ms=app.context.get("time_left_ms"), workspace=_workspace()
    )


@app.post("/schema", responses=_answers(testapi.SchemaAnswer, 415, 422))
def schema(body: Annotated[testapi.SchemaBody, Body()]) -> dict[str, Any]:
    return testapi.infer_schema(body)


@app.post("/discover", responses=_answers(testapi.DiscoverAnswer, 400, 404, 415, 422))
def discover(body: Annotated[testapi.DiscoverBody, Body()]) -> dict[str, Any]:
    return testapi.discover(body, workspace=_workspace())


@app.post("/curl", responses=_answers(testapi.CurlAnswer, 415, 422))
def curl(body: Annotated[testapi.CurlBody, Body()]) -> dict[str, Any]:
    return testapi.import_curl(body)


@app.get("/oauth/<connection>/authorize", responses=_answers(testapi.AuthorizeAnswer, 404, 422))
def oauth_authorize(
    connection: Annotated[str, Path(max_length=256, pattern=CONNECTION_SEGMENT)],
    redirect_uri: Annotated[str | None, Query(max_length=2048, pattern=ABSOLUTE_HTTP_URL)] = None,
) -> dict[str, Any]:
    return consent.start(connection, redirect_uri=redirect_uri, workspace=_workspace())


@app.get("/oauth/callback", responses=_answers(testapi.CallbackAnswer, 400, 404, 422))
def oauth_callback(
    state: Annotated[str, Query(min_length=1, max_length=512)],
    code: Annotated[str | None, Query(max_length=4096)] = None,
    error: Annotated[str | None, Query(max_length=512)] = None,
) -> dict[str, Any]:
    return consent.finish(state, code, error=error)


# Every list's paging: `limit`, and `next` as apicall.core.store.encode_next makes it.
PageLimit = Annotated[int, Query(ge=1, le=MAX_PAGE_LIMIT)]
NextToken = Annotated[str | None, Query(max_length=4096, pattern=r"^[A-Za-z0-9_-]+$")]


# --- connections (builder/connections.py) -------------------------------------------------------

ConnectionName = Annotated[str, Path(max_length=256, pattern=CONNECTION_SEGMENT)]


def _answered_with(status: int, answers: dict[int, OpenAPIResponse]) -> dict[int, OpenAPIResponse]:
    """`answers` with its 200 made `status`: 201 (created) keeps the body, 204 has none."""
    ok = answers.pop(200)
    answers[status] = (
        {**ok, "description": "Created"}
        if status == 201
        else {"description": "Deleted", "content": {}}
    )
    return dict(sorted(answers.items()))


@app.post(
    "/connections",
    responses=_answered_with(201, _answers(connections.ConnectionView, 409, 415, 422)),
)
def create_connection(
    body: Annotated[connections.ConnectionBody, Body()],
) -> Response[dict[str, Any]]:
    return Response(201, "application/json", connections.create(body, workspace=_workspace()))


@app.get("/connections", responses=_answers(connections.ConnectionPage, 422))
def list_connections(
    limit: PageLimit = DEFAULT_PAGE_LIMIT,
    next: NextToken = None,
) -> dict[str, Any]:
    return connections.list_page(workspace=_workspace(), limit=limit, next_token=next)


@app.post("/connections/test", responses=_answers(connections.ConnectionTestAnswer, 409, 415, 422))
def test_unsaved_connection(
    body: Annotated[connections.UnsavedTestBody, Body()],
) -> dict[str, Any]:
    return connections.test_unsaved(
        body, workspace=_workspace(), time_left_ms=app.context.get("time_left_ms")
    )


@app.get("/connections/<name>", responses=_answers(connections.ConnectionView, 404, 422))
def get_connection(name: ConnectionName) -> dict[str, Any]:
    return connections.get(name, workspace=_workspace())


@app.put("/connections/<name>", responses=_answers(connections.ConnectionView, 404, 415, 422))
def replace_connection(
    name: ConnectionName, body: Annotated[connections.ConnectionChanges, Body()]
) -> dict[str, Any]:
    return connections.replace(name, body, workspace=_workspace())


@app.delete("/connections/<name>", responses=_answered_with(204, _answers(dict, 404, 422)))
def delete_connection(name: ConnectionName) -> Response[str]:
    connections.delete(name, workspace=_workspace())
    return Response(204, None, "")


@app.post(
    "/connections/<name>/test",
    responses=_answers(connections.ConnectionTestAnswer, 404, 415, 422),
)
def test_connection(
    name: ConnectionName, body: Annotated[connections.ConnectionTestBody, Body()]
) -> dict[str, Any]:
    return connections.test_saved(
        name, body, workspace=_workspace(), time_left_ms=app.context.get("time_left_ms")
    )


# --- entities and preview (builder/entities.py) --------------------------------------------------

# One path segment (apicall.core.models.ENTITY_PATTERN).
EntityName = Annotated[str, Path(max_length=MAX_ENTITY_CHARS, pattern=ENTITY_PATTERN)]


@app.post(
    "/connections/<name>/entities",
    responses=_answered_with(201, _answers(entities.EntityAnswer, 404, 409, 415, 422)),
)
def create_entity(
    name: ConnectionName, body: Annotated[entities.EntityBody, Body()]
) -> Response[dict[str, Any]]:
    return Response(201, "application/json", entities.create(_workspace(), name, body))


@app.get("/connections/<name>/entities", responses=_answers(entities.EntityPage, 404, 422))
def list_entities(
    name: ConnectionName,
    limit: PageLimit = DEFAULT_PAGE_LIMIT,
    next: NextToken = None,
) -> dict[str, Any]:
    return entities.list_page(_workspace(), name, limit=limit, next_token=next)


@app.get(
    "/connections/<name>/entities/<entity>", responses=_answers(entities.EntityAnswer, 404, 422)
)
def get_entity(name: ConnectionName, entity: EntityName) -> dict[str, Any]:
    return entities.get(_workspace(), name, entity)


@app.put(
    "/connections/<name>/entities/<entity>",
    responses=_answers(entities.EntityAnswer, 404, 415, 422),
)
def update_entity(
    name: ConnectionName, entity: EntityName, body: Annotated[entities.EntityChanges, Body()]
) -> dict[str, Any]:
    return entities.update(_workspace(), name, entity, body)


@app.delete(
    "/connections/<name>/entities/<entity>",
    responses=_answered_with(204, _answers(dict, 404, 422)),
)
def delete_entity(name: ConnectionName, entity: EntityName) -> Response[str]:
    entities.delete(_workspace(), name, entity)
    return Response(204, None, "")


@app.post("/preview", responses=_answers(testapi.PreviewAnswer, 404, 415, 422))
def preview(body: Annotated[testapi.PreviewBody, Body()]) -> dict[str, Any]:
    return testapi.preview(body, workspace=_workspace())


# --- history, pushes, fetches and records (builder/history.py) -----------------------------------

# A fetch job's name (FetchJob.job) and a run id (apicall.request.execute.new_run_id).
JOB_NAME = r"^[A-Za-z0-9_.:-]+$"
RUN_ID = r"^[0-9a-f]{32}$"
# An RFC 3339 date-time, its offset optional (then UTC).
DATE_TIME = r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})?$"


def _accepted(ok: type, *refusals: int) -> dict[int, OpenAPIResponse]:
    """A route that answers 202: the work is queued."""
    answers = _answers(ok, *refusals)
    answers[202] = {**answers.pop(200), "description": "Accepted: queued"}
    return dict(sorted(answers.items()))


@app.get("/history", responses=_answers(history.HistoryPage, 422))
def list_history(
    connection: Annotated[str | None, Query(min_length=1, max_length=256)] = None,
    route: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    since: Annotated[str | None, Query(pattern=DATE_TIME, description="inclusive")] = None,
    until: Annotated[str | None, Query(pattern=DATE_TIME, description="inclusive")] = None,
    limit: PageLimit = DEFAULT_PAGE_LIMIT,
    next: NextToken = None,
) -> dict[str, Any]:
    return history.list_history(
        _workspace(),
        connection=connection,
        route=route,
        since=since,
        until=until,
        limit=limit,
        next_token=next,
    )


@app.get("/history/<run_id>", responses=_answers(history.Execution, 404, 422))
def get_execution(run_id: Annotated[str, Path(pattern=RUN_ID)]) -> dict[str, Any]:
    return history.execution(_workspace(), run_id)


# `id`, as the Push message names it (a builtin's name, shadowed in these two routes only).
@app.get("/pushes/<id>", responses=_answers(history.PushView, 404, 422))
def get_push(id: Annotated[str, Path(min_length=1, max_length=256)]) -> dict[str, Any]:
    return history.push_status(_workspace(), id)


@app.post("/pushes/<id>/replay", responses=_accepted(history.ReplayAnswer, 404, 422))
def replay_push(id: Annotated[str, Path(min_length=1, max_length=256)]) -> Response[dict[str, Any]]:
    answer = history.replay_push(_workspace(), id, time_left_ms=app.context.get("time_left_ms"))
    return Response(202, "application/json", answer)


@app.get("/fetches/<job>", responses=_answers(history.FetchView, 404, 422))
def get_fetch(job: Annotated[str, Path(max_length=200, pattern=JOB_NAME)]) -> dict[str, Any]:
    return history.fetch_status(_workspace(), job)


@app.post("/fetches/<job>/run", responses=_accepted(history.FetchRunAnswer, 404, 415, 422))
def run_fetch(
    job: Annotated[str, Path(max_length=200, pattern=JOB_NAME)],
    body: Annotated[history.FetchRunBody, Body()],
) -> Response[dict[str, Any]]:
    return Response(202, "application/json", history.run_fetch_now(_workspace(), job, body))


# 404 here too: a job segment with a character no route takes matches no route.
@app.get("/records/<job>", responses=_answers(history.RecordsPage, 404, 422))
def list_records(
    job: Annotated[str, Path(max_length=200, pattern=JOB_NAME)],
    limit: PageLimit = DEFAULT_PAGE_LIMIT,
    next: NextToken = None,
) -> dict[str, Any]:
    return history.list_records(_workspace(), job, limit=limit, next_token=next)


@app.get("/records/<job>/<key>", responses=_answers(history.StoredRecord, 404, 422))
def get_record(
    job: Annotated[str, Path(max_length=200, pattern=JOB_NAME)],
    key: Annotated[str, Path(min_length=1, max_length=1024)],
) -> dict[str, Any]:
    return history.record(_workspace(), job, key)


@app.get("/openapi.json", include_in_schema=False)
def openapi_json() -> Response[str]:
    return Response(
        200, "application/json", _document(testapi.server_url(app.current_event.raw_event))
    )


@functools.lru_cache(maxsize=16)
def _document(server: str) -> str:
    """The document for one base URL; building it takes most of a request's time."""
    from aws_lambda_powertools.event_handler.openapi.models import Server

    _describe_self()
    return app.get_openapi_json_schema(servers=[Server(url=server)])


def _body() -> Any:
    """The JSON body being validated (it was readable, or validation would not have run)."""
    try:
        return app.current_event.json_body
    except ApicallError:
        return None


@app.exception_handler(RequestValidationError)
def invalid_input(exc: RequestValidationError) -> Response:
    # ("body", "request", "url") -> request.url; ("query", "state") -> state. The body is walked
    # alongside its errors, which leaves out the union tags pydantic adds (`request.body.json`).
    by_source: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for err in exc.errors():
        loc = tuple(err.get("loc", ()))
        source = loc[:1] if loc[:1] in _SOURCES else ()
        by_source.setdefault(source, []).append({**err, "loc": loc[len(source) :]})
    problems: list[tuple[str, str]] = []
    for source, errors in by_source.items():
        named = (
            named_problems(errors, data=_body()) if source == ("body",) else named_problems(errors)
        )
        for name, message in named:
            problems.append((name or str(source[0] if source else "body"), message))
    fields = list(dict.fromkeys(name for name, _ in problems))
    message = "; ".join(f"{name}: {why}" for name, why in problems)
    answer = testapi.error_body("invalid_request", message, fields)
    return Response(422, "application/json", answer)


@app.exception_handler(ApicallError)
def apicall_error(exc: ApicallError) -> Response:
    status, answer = testapi.error_answer(exc)
    return Response(status, "application/json", answer)


@app.not_found
def no_route(exc: NotFoundError) -> Response:
    return Response(
        404, "application/json", testapi.error_body("not_found", "no such route", ["path"])
    )


@app.exception_handler(ServiceError)
def service_error(exc: ServiceError) -> Response:
    answer = testapi.error_body("invalid_request", str(exc.msg), [])
    return Response(exc.status_code, "application/json", answer)


@app.exception_handler(Exception)
def unexpected(exc: Exception) -> Response:
    logger.exception("test API route failed")
    answer = testapi.error_body("internal", "internal error; see the function's logs", [])
    return Response(500, "application/json", answer)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        routable, refusal = testapi.routable_event(event)
    except ApicallError as exc:  # not an API Gateway event: nothing to route
        status, answer = testapi.error_answer(exc)
        return {
            "statusCode": status,
            "multiValueHeaders": {"Content-Type": ["application/json"]},
            "body": json.dumps(answer),
            "isBase64Encoded": False,
        }
    if routable["path"] == DOCS:
        _describe_self()  # registers the route, on its first request
    app.append_context(time_left_ms=testapi.answer_time_left(context))
    if refusal is not None:
        # Raised by _json_body when a route reads the body, so the answer goes through the
        # resolver's error handlers and CORS like any other.
        app.append_context(body_refusal=refusal)
    return app.resolve(routable, context)
