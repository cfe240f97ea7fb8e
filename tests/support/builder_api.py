"""Calling the test API's handler as API Gateway would, for the builder API's tests: any route,
any body or query, a caller's API key id (which CatalogTable may map to a workspace), and every
answer searched for the secrets it must never hold."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from typing import Any

from functions.request import api
from local.stack import LocalContext
from tests.support.demo import load_event


def api_event(
    method: str,
    path: str,
    *,
    resource: str | None = None,
    body: Any = None,
    query: dict[str, str] | None = None,
    api_key_id: str = "key1",
) -> dict[str, Any]:
    """An API Gateway proxy event for `method path` (stage `dev`) from a caller whose API key
    has the id `api_key_id`."""
    event = copy.deepcopy(load_event("api_test.json"))
    event["httpMethod"] = method
    event["path"] = path
    event["resource"] = resource or path
    context = event["requestContext"]
    context.update(httpMethod=method, path=f"/dev{path}", resourcePath=resource or path)
    context["identity"]["apiKeyId"] = api_key_id
    event["body"] = None if body is None else json.dumps(body)
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()} if query else None
    return event


def call(event: dict[str, Any], *, secrets: Iterable[str] = ()) -> tuple[int, Any]:
    """(status, JSON answer or text) of the handler; fails if any of `secrets` is in the answer."""
    answer = api.handler(event, LocalContext("ApiFunction", 30))
    text = answer["body"]
    for secret in secrets:
        assert secret not in text, f"a secret is in the answer to {event['path']}"
    content_type = (answer.get("multiValueHeaders") or {}).get("Content-Type", [""])[0]
    return answer["statusCode"], json.loads(text) if content_type == "application/json" else text
