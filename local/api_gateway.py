"""API Gateway (REST, Lambda proxy integration) emulated on 127.0.0.1.

The routes are read from the stack's own RestApi: the OpenAPI `Body` that aws-sam-translator
generated from template.yaml (paths, methods, `security` naming the API key, the aws_proxy
integration naming the function, the mock integration answering CORS preflights). moto creates
the RestApi but ignores its Body, and its CloudFormation does not create the ApiKey, UsagePlan,
UsagePlanKey and Stage; `provision_api_keys` creates the key and usage plan through moto's API
Gateway API from the template's own properties, so the key is a real API Gateway key of the local
account. Usage plan throttling and quotas are not enforced locally.

Each request becomes an API Gateway REST proxy event (resource, path and query parameters, single
and multi-value headers and query, body and isBase64Encoded, requestContext with the stage and
identity.apiKey), the function runs in-process with a Lambda context, and its statusCode, headers,
multiValueHeaders and body (base64 when isBase64Encoded) are written back. Like API Gateway: a
method that requires a key answers 403 {"message": "Forbidden"} without a valid `x-api-key`; an
unknown route answers 403 {"message": "Missing Authentication Token"}; a handler that fails or
answers something that is not a proxy response gives 502 {"message": "Internal server error"}.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

if TYPE_CHECKING:
    from local.stack import LocalStack

ANY_METHOD = "x-amazon-apigateway-any-method"
INTEGRATION = "x-amazon-apigateway-integration"
_FUNCTION_IN_URI = re.compile(r"/functions/arn:aws:lambda:[^/]*:function:([^/:]+)")
_TEXT_TYPES = ("text/", "application/json", "application/x-www-form-urlencoded", "+json", "xml")

Invoke = Callable[[str, dict[str, Any], float], Any]


@dataclass(frozen=True)
class Route:
    """One method of one resource of the RestApi."""

    path: str  # the resource, e.g. /oauth/{connection}/authorize
    method: str  # GET, POST, OPTIONS, ... or ANY
    function: str | None  # logical id of the aws_proxy target; None for a mock integration
    api_key_required: bool
    mock_status: int = 200
    mock_headers: dict[str, str] = field(default_factory=dict)

    @property
    def pattern(self) -> re.Pattern[str]:
        regex = ""
        for part in re.split(r"(\{[^}]+\})", self.path):
            if part.startswith("{"):
                name = part[1:-1]
                greedy = name.endswith("+")
                regex += f"(?P<{name.rstrip('+')}>{'.+' if greedy else '[^/]+'})"
            else:
                regex += re.escape(part)
        return re.compile(f"^{regex}$")


@dataclass
class RestApi:
    logical_id: str
    api_id: str
    stage: str
    routes: list[Route]
    keys: dict[str, str] = field(default_factory=dict)  # key value -> key id

    def match(self, path: str, method: str) -> tuple[Route, dict[str, str]] | None:
        """The route for a request (literal paths before templated ones), with path params."""
        candidates = sorted(self.routes, key=lambda r: (r.path.count("{"), -len(r.path)))
        for route in candidates:
            found = route.pattern.match(path)
            if found and route.method in (method, "ANY"):
                return route, found.groupdict()
        return None


def rest_apis(stack: LocalStack) -> list[RestApi]:
    """Every RestApi of the translated template, with its routes and stage."""
    resources = stack.translated["Resources"]
    function_names = {f.name: f.logical_id for f in stack.functions.values()}
    apis = []
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::ApiGateway::RestApi":
            continue
        body = resource["Properties"].get("Body") or {}
        stage = next(
            (
                stack.resolve(r["Properties"]["StageName"])
                for r in resources.values()
                if r["Type"] == "AWS::ApiGateway::Stage"
                and r["Properties"].get("RestApiId") == {"Ref": logical_id}
            ),
            "prod",
        )
        routes = _routes(stack.resolve(body), function_names)
        apis.append(RestApi(logical_id, stack.physical.get(logical_id, logical_id), stage, routes))
    return apis


def _routes(body: dict[str, Any], function_names: dict[str, str]) -> list[Route]:
    key_schemes = {
        name
        for name, scheme in (body.get("securityDefinitions") or {}).items()
        if scheme.get("type") == "apiKey" and str(scheme.get("name", "")).lower() == "x-api-key"
    } or {"api_key"}
    routes = []
    for path, methods in (body.get("paths") or {}).items():
        for method, operation in methods.items():
            if not isinstance(operation, dict) or INTEGRATION not in operation:
                continue
            integration = operation[INTEGRATION]
            requirements = operation.get("security", body.get("security")) or []
            key_required = any(key_schemes & set(r) for r in requirements)
            verb = "ANY" if method == ANY_METHOD else method.upper()
            if integration.get("type") == "aws_proxy":
                found = _FUNCTION_IN_URI.search(str(integration.get("uri", "")))
                function = function_names.get(found.group(1)) if found else None
                if function:
                    routes.append(Route(path, verb, function, key_required))
            elif integration.get("type") == "mock":
                default = (integration.get("responses") or {}).get("default", {})
                headers = {
                    name.removeprefix("method.response.header."): str(value).strip("'")
                    for name, value in (default.get("responseParameters") or {}).items()
                }
                status = int(default.get("statusCode", 200))
                routes.append(Route(path, verb, None, key_required, status, headers))
    return routes


def provision_api_keys(stack: LocalStack, api: RestApi) -> dict[str, str]:
    """Create the template's usage plans and API keys of `api` through API Gateway's API.

    Returns key value -> key id; also stored in `api.keys`.
    """
    apigateway = stack.client("apigateway")
    resources = stack.translated["Resources"]
    ref = {"Ref": api.logical_id}
    plans: dict[str, str] = {}
    for logical_id, resource in resources.items():
        props = resource.get("Properties", {})
        if resource["Type"] != "AWS::ApiGateway::UsagePlan":
            continue
        if not any(s.get("ApiId") == ref for s in props.get("ApiStages", [])):
            continue
        created = apigateway.create_usage_plan(
            name=f"{stack.stack_name}-{logical_id}",
            description=props.get("Description", ""),
            apiStages=[{"apiId": api.api_id, "stage": api.stage}],
            **_plan_limits(props),
        )
        plans[logical_id] = created["id"]
    for logical_id, resource in resources.items():
        props = resource.get("Properties", {})
        if resource["Type"] != "AWS::ApiGateway::ApiKey":
            continue
        if not any(k.get("RestApiId") == ref for k in props.get("StageKeys", [])):
            continue
        key = apigateway.create_api_key(
            name=f"{stack.stack_name}-{logical_id}",
            enabled=bool(props.get("Enabled", True)),
            stageKeys=[{"restApiId": api.api_id, "stageName": api.stage}],
            **({"value": props["Value"]} if "Value" in props else {}),
        )
        if key.get("enabled", True):
            api.keys[key["value"]] = key["id"]
        for usage in resources.values():
            usage_props = usage.get("Properties", {})
            if usage["Type"] == "AWS::ApiGateway::UsagePlanKey" and usage_props.get("KeyId") == {
                "Ref": logical_id
            }:
                plan = plans.get(usage_props["UsagePlanId"].get("Ref", ""))
                if plan:
                    apigateway.create_usage_plan_key(
                        usagePlanId=plan, keyId=key["id"], keyType="API_KEY"
                    )
    return api.keys


def _plan_limits(props: dict[str, Any]) -> dict[str, Any]:
    limits: dict[str, Any] = {}
    if "Throttle" in props:
        throttle = props["Throttle"]
        limits["throttle"] = {
            "burstLimit": int(throttle.get("BurstLimit", 0)),
            "rateLimit": float(throttle.get("RateLimit", 0)),
        }
    if "Quota" in props:
        quota = props["Quota"]
        limits["quota"] = {"limit": int(quota["Limit"]), "period": quota["Period"]}
    return limits


# --- the server ----------------------------------------------------------------------------------


@dataclass
class ApiGateway:
    """A WSGI app serving one RestApi under `/<stage>`, invoking its functions in-process."""

    api: RestApi
    invoke: Invoke  # (function logical id, event, timeout s) -> proxy response
    integration_timeout_s: float = 29.0
    requests: int = 0

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        self.requests += 1
        return self.respond(request)(environ, start_response)

    def respond(self, request: Request) -> Response:
        prefix = f"/{self.api.stage}"
        path = request.path
        if not (path == prefix or path.startswith(prefix + "/")):
            return _message(403, "Missing Authentication Token")
        resource_path = path[len(prefix) :] or "/"
        matched = self.api.match(resource_path, request.method)
        if matched is None:
            return _message(403, "Missing Authentication Token")
        route, path_parameters = matched
        api_key = request.headers.get("x-api-key")
        if route.api_key_required and api_key not in self.api.keys:
            return _message(403, "Forbidden")
        if route.function is None:
            return Response(b"", route.mock_status, headers=route.mock_headers)
        event = self.event(request, route, resource_path, path_parameters, api_key)
        try:
            answer = self.invoke(route.function, event, self.integration_timeout_s)
            return _proxy_response(answer)
        except Exception:  # API Gateway answers 502 whatever the function did
            import logging

            logging.getLogger(__name__).exception("%s failed", route.function)
            return _message(502, "Internal server error")

    def event(
        self,
        request: Request,
        route: Route,
        resource_path: str,
        path_parameters: dict[str, str],
        api_key: str | None,
    ) -> dict[str, Any]:
        """The REST API Lambda proxy event for this request."""
        headers: dict[str, list[str]] = {}
        for name, value in request.headers.items():
            headers.setdefault(name, []).append(value)
        query = {name: request.args.getlist(name) for name in request.args}
        body_bytes = request.get_data()
        body, is_base64 = _event_body(body_bytes, request.content_type or "")
        request_id = str(uuid.uuid4())
        host = request.host
        key_id = self.api.keys.get(api_key or "") if route.api_key_required else None
        return {
            "resource": route.path,
            "path": resource_path,
            "httpMethod": request.method,
            "headers": {name: values[-1] for name, values in headers.items()} or None,
            "multiValueHeaders": headers or None,
            "queryStringParameters": {n: v[-1] for n, v in query.items()} or None,
            "multiValueQueryStringParameters": query or None,
            "pathParameters": path_parameters or None,
            "stageVariables": None,
            "requestContext": {
                "resourceId": uuid.uuid5(uuid.NAMESPACE_URL, route.path).hex[:6],
                "resourcePath": route.path,
                "httpMethod": request.method,
                "path": f"/{self.api.stage}{resource_path}",
                "accountId": "123456789012",
                "apiId": self.api.api_id,
                "stage": self.api.stage,
                "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
                "requestId": request_id,
                "extendedRequestId": request_id,
                "requestTimeEpoch": int(time.time() * 1000),
                "identity": {
                    "apiKey": api_key if route.api_key_required else None,
                    "apiKeyId": key_id,
                    "sourceIp": request.remote_addr or "127.0.0.1",
                    "userAgent": request.user_agent.string or None,
                },
                "domainName": host,
            },
            "body": body,
            "isBase64Encoded": is_base64,
        }


def _event_body(data: bytes, content_type: str) -> tuple[str | None, bool]:
    if not data:
        return None, False
    if any(kind in content_type for kind in _TEXT_TYPES) or not content_type:
        try:
            return data.decode(), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(data).decode(), True


def _proxy_response(answer: Any) -> Response:
    if not isinstance(answer, dict) or not isinstance(answer.get("statusCode"), int):
        raise ValueError("the function's answer is not a Lambda proxy response")
    body = answer.get("body") or ""
    content = base64.b64decode(body) if answer.get("isBase64Encoded") else str(body).encode()
    response = Response(content, answer["statusCode"])
    response.headers.clear()
    for name, value in (answer.get("headers") or {}).items():
        response.headers[name] = str(value)
    for name, values in (answer.get("multiValueHeaders") or {}).items():
        response.headers.remove(name)
        for value in values:
            response.headers.add(name, str(value))
    return response


def _message(status: int, message: str) -> Response:
    return Response(json.dumps({"message": message}), status, mimetype="application/json")


@dataclass
class RunningApi:
    gateway: ApiGateway
    server: BaseWSGIServer

    @property
    def url(self) -> str:
        """The stage's base URL, like the stack's TestApiUrl output."""
        return f"http://127.0.0.1:{self.server.port}/{self.gateway.api.stage}"

    @property
    def api_key(self) -> str:
        return next(iter(self.gateway.api.keys))


@contextmanager
def serve_api(
    stack: LocalStack, logical_id: str | None = None, *, port: int = 0
) -> Iterator[RunningApi]:
    """Serve one RestApi of the stack (the only one by default) until the block ends."""
    apis = {api.logical_id: api for api in rest_apis(stack)}
    api = apis[logical_id] if logical_id else next(iter(apis.values()))
    provision_api_keys(stack, api)

    def invoke(function: str, event: dict[str, Any], timeout_s: float) -> Any:
        from local.stack import LocalContext

        deployed = stack.functions[function]
        context = LocalContext(deployed.name, min(timeout_s, deployed.timeout_s))
        return stack.run(function, event, context)

    gateway = ApiGateway(api, invoke)
    server = make_server("127.0.0.1", port, gateway, threaded=True)
    server.log = lambda *args, **kwargs: None  # type: ignore[method-assign]
    thread = threading.Thread(target=server.serve_forever, name="api-gateway", daemon=True)
    thread.start()
    try:
        yield RunningApi(gateway, server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
