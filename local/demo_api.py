"""A demo third-party API on 127.0.0.1 that looks like the ones users meet.

Customers and orders with API-key, bearer and OAuth 2.0 client-credentials auth, uploads, a slow
endpoint, and a 404. The local stack, `make demo`, the e2e tests and the benchmarks talk to it.

Run alone: `python -m local.demo_api --port 8765`.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from local import demo_pagination, demo_receiver

API_KEY = "demo-api-key-7f3a"
BEARER_TOKEN = "demo-bearer-token-91c2"
OAUTH_CLIENT_ID = "demo-client"
OAUTH_CLIENT_SECRET = "demo-client-secret-5d8e"

Handler = Callable[..., Response]


def json_response(
    payload: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        json.dumps(payload), status=status, headers=headers, mimetype="application/json"
    )


_CUSTOMER = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "status": {"type": "string", "enum": ["active", "inactive"]},
        "tags": {"type": "array", "items": {"type": "string"}},
        "balance": {"type": "number"},
        "created_at": {"type": "string", "format": "date-time"},
    },
}
_CUSTOMER_ID = {"name": "customer_id", "in": "path", "required": True, "schema": {"type": "string"}}
CUSTOMERS_OPENAPI: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "Demo customers", "version": "1"},
    "components": {
        "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}},
        "schemas": {"Customer": _CUSTOMER},
    },
    "security": [{"apiKey": []}],
    "paths": {
        "/customers": {
            "get": {
                "operationId": "listCustomers",
                "summary": "Customers, filtered by status and tags",
                "parameters": [
                    {"name": "status", "in": "query", "schema": {"type": "string"}},
                    {"name": "tag", "in": "query", "schema": {"type": "string"}},
                ],
                "responses": {
                    "200": {
                        "description": "the customers",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "data": {
                                            "type": "object",
                                            "properties": {
                                                "customers": {
                                                    "type": "array",
                                                    "items": {
                                                        "$ref": "#/components/schemas/Customer"
                                                    },
                                                }
                                            },
                                        },
                                        "count": {"type": "integer"},
                                    },
                                }
                            }
                        },
                    }
                },
            },
            "post": {
                "operationId": "createCustomer",
                "requestBody": {
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Customer"}}
                    }
                },
                "responses": {"201": {"description": "created"}},
            },
        },
        "/customers/{customer_id}": {
            "get": {
                "operationId": "getCustomer",
                "parameters": [_CUSTOMER_ID],
                "responses": {
                    "200": {
                        "description": "one customer",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/Customer"}
                            }
                        },
                    },
                    "404": {"description": "no such customer"},
                },
            },
            "delete": {
                "operationId": "deleteCustomer",
                "parameters": [_CUSTOMER_ID],
                "responses": {"204": {"description": "deleted"}},
            },
        },
    },
}


@dataclass
class DemoState:
    """What the demo API has seen and handed out, shared across its threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    tokens: set[str] = field(default_factory=set)
    token_requests: int = 0
    customers: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {
            str(i): {
                "id": str(i),
                "name": name,
                "status": "active" if i % 3 else "inactive",
                "tags": ["a", "b"] if i % 2 else ["a"],
                "balance": round(i * 12.5, 2),
                "created_at": f"2026-0{1 + i % 9}-1{i % 10}T08:30:00Z",
            }
            for i, name in enumerate(
                ["Ada", "Grace", "Linus", "Barbara", "Ken", "Margaret", "Dennis", "Frances"], 1
            )
        }
    )


class DemoAPI:
    """The WSGI app. Other parts of the demo (pagination, receivers) register extra rules."""

    def __init__(self) -> None:
        self.state = DemoState()
        self.url_map = Map()
        self.handlers: dict[str, Handler] = {}
        self._add_core_routes()
        self.orders = demo_pagination.register(self)
        self.receiver = demo_receiver.register(self)

    def route(self, path: str, endpoint: str, handler: Handler, methods: Iterable[str]) -> None:
        self.url_map.add(Rule(path, endpoint=endpoint, methods=list(methods)))
        self.handlers[endpoint] = handler

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        adapter = self.url_map.bind_to_environ(environ)
        try:
            endpoint, args = adapter.match()
            response = self.handlers[endpoint](request, **args)
        except NotFound:
            response = json_response({"error": "not_found", "path": request.path}, 404)
        except HTTPException as exc:
            response = json_response({"error": exc.name}, exc.code or 500)
        return response(environ, start_response)

    # --- auth ----------------------------------------------------------------------------------

    def _authorized(self, request: Request) -> bool:
        if request.headers.get("X-API-Key") == API_KEY or request.args.get("api_key") == API_KEY:
            return True
        header = request.headers.get("Authorization", "")
        if header == f"Bearer {BEARER_TOKEN}":
            return True
        if header.startswith("Bearer ") and header[7:] in self.state.tokens:
            return True
        if request.authorization and request.authorization.type == "basic":
            return (request.authorization.username, request.authorization.password) == (
                "demo",
                "demo-password",
            )
        return False

    def _guarded(self, handler: Handler) -> Handler:
        def wrapped(request: Request, **kwargs: Any) -> Response:
            if not self._authorized(request):
                return json_response({"error": "unauthorized"}, 401)
            return handler(request, **kwargs)

        return wrapped

    # --- routes --------------------------------------------------------------------------------

    def _add_core_routes(self) -> None:
        guarded = self._guarded
        self.route("/oauth/token", "token", self.token, ["POST"])
        self.route("/customers", "customers", guarded(self.list_customers), ["GET", "HEAD"])
        self.route("/customers", "create_customer", guarded(self.create_customer), ["POST"])
        self.route(
            "/customers/<customer_id>",
            "customer",
            guarded(self.customer),
            ["GET", "PUT", "PATCH", "DELETE"],
        )
        self.route("/orders", "create_order", guarded(self.create_order), ["POST"])
        self.route("/me", "me", guarded(self.me), ["GET"])
        self.route("/uploads", "uploads", guarded(self.uploads), ["POST"])
        self.route("/binary", "binary", guarded(self.binary), ["POST"])
        self.route("/slow", "slow", self.slow, ["GET"])
        self.route("/health", "health", lambda request: json_response({"ok": True}), ["GET"])
        self.route("/openapi.json", "openapi", self.openapi, ["GET"])

    def openapi(self, request: Request) -> Response:
        """The customers part of this API as OpenAPI 3, what a vendor publishes for discovery."""
        return json_response(CUSTOMERS_OPENAPI)

    def token(self, request: Request) -> Response:
        client_id, client_secret = request.form.get("client_id"), request.form.get("client_secret")
        if request.authorization and request.authorization.type == "basic":
            client_id = request.authorization.username
            client_secret = request.authorization.password
        if (client_id, client_secret) != (OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET):
            return json_response({"error": "invalid_client"}, 401)
        if request.form.get("grant_type") != "client_credentials":
            return json_response({"error": "unsupported_grant_type"}, 400)
        token = secrets.token_urlsafe(24)
        with self.state.lock:
            self.state.tokens.add(token)
            self.state.token_requests += 1
        return json_response({"access_token": token, "token_type": "Bearer", "expires_in": 3600})

    def list_customers(self, request: Request) -> Response:
        status = request.args.get("status")
        tags = request.args.getlist("tag")
        customers = [
            c
            for c in self.state.customers.values()
            if (not status or c["status"] == status) and all(t in c["tags"] for t in tags)
        ]
        return json_response({"data": {"customers": customers}, "count": len(customers)})

    def create_customer(self, request: Request) -> Response:
        payload = request.get_json(silent=True) or {}
        with self.state.lock:
            new_id = str(len(self.state.customers) + 1)
            self.state.customers[new_id] = {"id": new_id, **payload}
        return json_response(self.state.customers[new_id], 201)

    def customer(self, request: Request, customer_id: str) -> Response:
        with self.state.lock:
            current = self.state.customers.get(customer_id)
            if current is None:
                return json_response({"error": "customer_not_found", "id": customer_id}, 404)
            if request.method == "DELETE":
                del self.state.customers[customer_id]
                return Response(status=204)
            if request.method == "PUT":
                current = {"id": customer_id, **(request.get_json(silent=True) or {})}
            elif request.method == "PATCH":
                current = {**current, **request.form.to_dict()}
            self.state.customers[customer_id] = current
        return json_response(current)

    def create_order(self, request: Request) -> Response:
        payload = request.get_json(silent=True)
        if not isinstance(payload, dict):
            return json_response({"error": "invalid_json"}, 400)
        order = {"id": f"ord_{secrets.token_hex(4)}", "status": "created", **payload}
        return json_response({"order": order}, 201)

    def me(self, request: Request) -> Response:
        return json_response({"client_id": OAUTH_CLIENT_ID, "scopes": ["orders:read"]})

    def uploads(self, request: Request) -> Response:
        files = [
            {
                "field": name,
                "filename": upload.filename,
                "content_type": upload.mimetype,
                "size": len(upload.read()),
            }
            for name, upload in request.files.items(multi=True)
        ]
        return json_response({"fields": request.form.to_dict(), "files": files}, 201)

    def binary(self, request: Request) -> Response:
        body = request.get_data()
        return json_response(
            {
                "content_type": request.content_type,
                "size": len(body),
                "sha256": hashlib.sha256(body).hexdigest(),
                "head_base64": base64.b64encode(body[:16]).decode(),
            }
        )

    def slow(self, request: Request) -> Response:
        delay = min(float(request.args.get("seconds", "3")), 30.0)
        time.sleep(delay)
        return json_response({"slept_s": delay})


def serve(app: DemoAPI, port: int = 0, host: str = "127.0.0.1") -> BaseWSGIServer:
    """Start the demo API in a daemon thread; `server.port` tells where, `shutdown()` stops it."""
    server = make_server(host, port, app, threaded=True)
    threading.Thread(target=server.serve_forever, name="demo-api", daemon=True).start()
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    server = make_server("127.0.0.1", args.port, DemoAPI(), threaded=True)
    print(f"demo API on http://127.0.0.1:{server.port}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
