"""Hypothesis strategies shared by the property tests."""

from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import strategies as st


def json_values(*, max_leaves: int = 12, max_text: int = 12) -> st.SearchStrategy[Any]:
    """Any value a JSON document can hold: null, booleans, big integers, finite floats, text,
    and arrays and objects of those."""
    return st.recursive(
        st.none()
        | st.booleans()
        | st.integers(-(2**70), 2**70)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=max_text),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=max_leaves,
    )


# --- API Gateway proxy events, malformed ---------------------------------------------------------

CONTENT_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "APPLICATION/JSON",
    "application/problem+json",
    "text/plain",
    "application/xml",
    "multipart/form-data",
    "multipart/form-data; boundary=x",
    "application/x-www-form-urlencoded",
    "application/octet-stream",
    "",
    ";;;",
    "\u00e9/\u00e8",
]


def deep_json(max_depth: int = 3000) -> st.SearchStrategy[str]:
    """JSON text nested up to `max_depth` levels: arrays, objects, or both, closed or not."""
    return st.builds(
        lambda depth, opener, closed: (
            opener * depth + "1" + ("]" if opener == "[" else "}") * depth
            if opener == "["
            else '{"a":' * depth + "1" + "}" * (depth if closed else depth // 2)
        ),
        st.integers(1, max_depth),
        st.sampled_from(["[", '{"a":']),
        st.booleans(),
    )


def surrogate_json() -> st.SearchStrategy[str]:
    """JSON text with a lone surrogate escape (`"\\ud800"`) in a value or a key."""
    return st.builds(
        lambda key, value, surrogate, in_key: (
            json.dumps({key: value})[:-1] + f', "{surrogate}": 1}}'
            if in_key
            else json.dumps({key: [value, "x"]}).replace('"x"', f'"a{surrogate}b"')
        ),
        st.sampled_from(["sample", "command", "request", "openapi", "values"]),
        json_values(max_leaves=4),
        st.sampled_from(["\\ud800", "\\udfff", "\\udbff\\u0041"]),
        st.booleans(),
    )


def bodies(valid: str | None) -> st.SearchStrategy[Any]:
    """What an event's body can be: the route's valid body, any JSON, text, junk, non-text."""
    return st.one_of(
        st.just(valid),
        json_values().map(json.dumps),
        st.text(max_size=60),
        deep_json(),
        surrogate_json(),
        st.binary(max_size=40).map(lambda raw: raw.decode("latin-1")),
        st.just("\ud800 lone surrogate in the text itself"),
        st.none(),
        st.integers() | st.lists(st.integers(), max_size=2),
    )


def mutated_event(base: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """`base` (an API Gateway REST proxy event) with any of its parts broken: the body, its
    Content-Type and base64 flag, huge or ill-typed headers, requestContext pieces left out or of
    the wrong type, junk query and path parameters."""
    junk = st.none() | st.integers() | st.text(max_size=5) | st.lists(st.none(), max_size=2)

    def build(
        body: Any,
        content_type: str | None,
        base64_flag: Any,
        encode: bool,
        huge_header: int,
        header_shape: str,
        context_drop: list[str],
        context_junk: Any,
        query: Any,
        path_params: Any,
    ) -> dict[str, Any]:
        event = json.loads(json.dumps(base))
        if encode and isinstance(body, str):
            body = base64.b64encode(body.encode("utf-8", "surrogatepass")).decode()
        event["body"] = body
        event["isBase64Encoded"] = base64_flag
        headers = dict(event.get("headers") or {})
        if content_type is None:
            headers.pop("Content-Type", None)
        else:
            headers["Content-Type"] = content_type
        if huge_header:
            headers["X-Huge"] = "h" * huge_header
        event["headers"] = headers
        event["multiValueHeaders"] = {name: [value] for name, value in headers.items()}
        if header_shape == "none":
            event["headers"] = event["multiValueHeaders"] = None
        elif header_shape == "mismatch":
            event["multiValueHeaders"] = {"Content-Type": ["text/plain", "application/json"]}
        elif header_shape == "ill-typed":
            event["headers"] = {"Content-Type": 7, "X-List": ["a"], 3: "x"}
            event["multiValueHeaders"] = {"Content-Type": "application/json", "X": [None]}
        context = event.get("requestContext") or {}
        for key in context_drop:
            context.pop(key, None)
        event["requestContext"] = context if context_junk is None else context_junk
        if query is not None:
            event["queryStringParameters"] = query
            event["multiValueQueryStringParameters"] = (
                {k: [v] for k, v in query.items()} if isinstance(query, dict) else query
            )
        if path_params is not None:
            event["pathParameters"] = path_params
        return event

    context_keys = ["stage", "path", "identity", "domainName", "requestId", "resourcePath"]
    return st.builds(
        build,
        bodies(base.get("body")),
        st.none() | st.sampled_from(CONTENT_TYPES),
        st.sampled_from([False, True, None, "true", 1]),
        st.booleans(),
        st.sampled_from([0, 0, 0, 8_192, 200_000]),
        st.sampled_from(["ok", "ok", "none", "mismatch", "ill-typed"]),
        st.lists(st.sampled_from(context_keys), max_size=3, unique=True),
        st.none() | st.none() | junk,
        st.none()
        | st.dictionaries(
            st.sampled_from(["state", "code", "error", "redirect_uri", "x"]),
            st.text(max_size=20) | st.just("\ud800"),
            max_size=3,
        )
        | junk,
        st.none() | st.dictionaries(st.just("connection"), st.text(max_size=10)) | junk,
    )
