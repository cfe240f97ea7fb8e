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


# --- Lambda events of the push, fetch and request functions, malformed ----------------------------

# Targets the URL guard refuses before a socket opens: fuzzed requests never leave the machine.
REFUSED_URLS = [
    "http://127.0.0.1:9/in",
    "http://169.254.169.254/latest/meta-data",
    "http://[::1]:9/",
    "http://10.0.0.1/x",
    "http://0x7f.1/",
    "https://localhost:9/hook",
]
# A connection the fuzz tests store, its base URL refused the same way; and some that are not.
REFUSED_CONNECTION = "fuzz"
CONNECTION_NAMES = [REFUSED_CONNECTION, "nope", "../etc/passwd", "", "a//b", "x" * 300]
SURROGATES = ["\ud800", "\udfff", "a\udc00b", "\udbff"]


def weighted(valid: st.SearchStrategy[Any], other: st.SearchStrategy[Any], odds: int) -> Any:
    """`valid` `odds` times for each time `other` (one_of would take the two alike: it treats
    repeats of one strategy as one)."""
    return st.integers(0, odds).flatmap(lambda roll: other if roll == 0 else valid)


def mostly(valid: st.SearchStrategy[Any], other: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`valid` three times in four, `other` otherwise: most inputs get past the first check."""
    return weighted(valid, other, 3)


def usually(valid: st.SearchStrategy[Any], other: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`valid` nine times in ten: for each field of a document, so that with a dozen fields a
    good share of documents is valid and reaches the code behind validation."""
    return weighted(valid, other, 9)


def nested(depth: int, leaf: Any = 1) -> Any:
    """`[[[...leaf...]]]`, `depth` lists deep, built without recursion."""
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def odd_text(max_size: int = 12) -> st.SearchStrategy[str]:
    """Text as JSON carries it: ordinary, with a lone surrogate, control characters, or huge."""
    return usually(
        st.text(max_size=max_size),
        st.one_of(
            st.sampled_from(SURROGATES),
            st.text(st.characters(max_codepoint=0x1F), min_size=1, max_size=3),
            st.integers(10_000, 120_000).map(lambda n: "x" * n),
        ),
    )


def odd_values() -> st.SearchStrategy[Any]:
    """JSON values with odd text in them, or nested far deeper than any real document (as deep
    as a Lambda event can be: the runtime's JSON parser stops near 1,000 levels)."""
    return st.one_of(
        json_values(max_leaves=6),
        json_values(max_leaves=6),
        odd_text(),
        st.dictionaries(odd_text(6), json_values(max_leaves=3), max_size=3),
        st.integers(90, 500).map(nested),
    )


def contents() -> st.SearchStrategy[Any]:
    """What a record, a value or a JSON body holds: JSON, now and then odd."""
    return usually(json_values(max_leaves=6), odd_values())


def dropping(document: st.SearchStrategy[dict[str, Any]], keys: list[str]) -> Any:
    """`document` with any of `keys` taken out, most often none."""
    return st.tuples(
        document, mostly(st.just(frozenset()), st.frozensets(st.sampled_from(keys), max_size=2))
    ).map(lambda pair: {k: v for k, v in pair[0].items() if k not in pair[1]})


def refused_urls() -> st.SearchStrategy[str]:
    """URLs the guard refuses, relative ones (for a connection), and ones with a lone surrogate
    or braces in the path; never one that would reach a real host."""
    return mostly(
        st.sampled_from(REFUSED_URLS),
        st.one_of(
            st.sampled_from(["/in", "/orders/{id}", "relative", "", "ftp://x/", "http://"]),
            st.tuples(st.sampled_from(REFUSED_URLS), odd_text(8)).map("".join),
        ),
    )


def request_specs(*, connection: bool = True) -> st.SearchStrategy[dict[str, Any]]:
    """RequestSpec-shaped objects, mostly valid, every field sometimes odd."""
    bodies = st.one_of(
        st.fixed_dictionaries({"type": st.just("json")}, optional={"value": contents()}),
        st.fixed_dictionaries(
            {"type": st.just("form")},
            optional={"fields": st.dictionaries(odd_text(6), contents(), max_size=3)},
        ),
        st.fixed_dictionaries({"type": st.just("raw")}, optional={"content": odd_text()}),
        st.fixed_dictionaries(
            {"type": st.just("binary")},
            optional={
                "content_base64": st.sampled_from(["aGk=", "not base64!", "", "a"]) | odd_text()
            },
        ),
        st.fixed_dictionaries(
            {"type": st.just("multipart")},
            optional={
                "files": st.lists(
                    st.fixed_dictionaries(
                        {"name": odd_text(4), "filename": odd_text(4)},
                        optional={"text": odd_text(), "content_base64": st.just("%%%")},
                    ),
                    max_size=2,
                )
            },
        ),
        st.fixed_dictionaries({"type": st.sampled_from(["record", "none", "xml", ""])}),
    )
    optional: dict[str, st.SearchStrategy[Any]] = {
        "method": usually(st.sampled_from(["GET", "post", "PUT", "HEAD"]), odd_values()),
        "headers": usually(st.dictionaries(odd_text(6), odd_text(8), max_size=3), odd_values()),
        "query": usually(st.lists(st.tuples(odd_text(4), odd_text(4)), max_size=3), odd_values()),
        "path_params": st.dictionaries(st.sampled_from(["id", "x"]), contents(), max_size=2),
        "body": usually(bodies, odd_values()),
        "timeout_s": usually(st.floats(0.01, 2), odd_values()),
        "success_codes": usually(st.sampled_from(["2xx", "200,201", [200]]), odd_values()),
        "routes": usually(st.lists(st.sampled_from(["200", "404"]), max_size=2), odd_values()),
        "response": usually(
            st.fixed_dictionaries(
                {},
                optional={
                    "data_path": st.sampled_from(["$.data", "$[", "data"]),
                    "fields": st.lists(
                        st.fixed_dictionaries(
                            {"name": odd_text(4), "path": st.sampled_from(["$.id", "$["])}
                        ),
                        max_size=2,
                    ),
                },
            ),
            odd_values(),
        ),
    }
    if connection:
        optional["connection"] = usually(st.sampled_from(CONNECTION_NAMES), odd_values())
    return st.fixed_dictionaries({"url": usually(refused_urls(), odd_values())}, optional=optional)


def invoke_events() -> st.SearchStrategy[Any]:
    """Direct invokes of the request function: `{"request", "values", "record"}`, or not."""
    event = st.fixed_dictionaries(
        {"request": usually(request_specs(), odd_values())},
        optional={
            "values": usually(
                st.dictionaries(st.sampled_from(["id", "a"]), contents()), odd_values()
            ),
            "record": usually(st.dictionaries(odd_text(6), contents(), max_size=3), odd_values()),
            "correlation_id": odd_text(),
        },
    )
    return mostly(dropping(event, ["request"]), odd_values())


def push_messages() -> st.SearchStrategy[dict[str, Any]]:
    """Push message objects, mostly valid, every field sometimes odd or missing."""
    target = st.fixed_dictionaries(
        {"url": usually(refused_urls(), odd_values())},
        optional={
            "connection": usually(st.sampled_from(CONNECTION_NAMES), odd_values()),
            "method": usually(st.sampled_from(["POST", "PUT", "patch"]), odd_values()),
            "headers": usually(st.dictionaries(odd_text(6), odd_text(8), max_size=3), odd_values()),
            "format": usually(st.sampled_from(["json", "form"]), odd_values()),
            "signing_secret": usually(st.sampled_from(["nope", "../x", ""]), odd_values()),
            "success_codes": usually(st.sampled_from(["2xx", [200, 201]]), odd_values()),
            "timeout_s": usually(st.floats(0.01, 5), odd_values()),
        },
    )
    message = st.fixed_dictionaries(
        {
            "id": usually(st.text(min_size=1, max_size=20), odd_values()),
            "target": usually(target, odd_values()),
            "record": usually(st.dictionaries(odd_text(6), contents(), max_size=4), odd_values()),
        },
        optional={"event": odd_text()},
    )
    return dropping(message, ["id", "target", "record"])


def deeply_nested_body(document: dict[str, Any], depth: int) -> str:
    """`document` as JSON with one value replaced by `depth` nested lists: deeper than any
    parser's recursion limit, so the text must be built, not dumped."""
    text = json.dumps({**document, "record": {"deep": "HERE"}})
    return text.replace('"HERE"', "[" * depth + "]" * depth)


def sqs_bodies(documents: st.SearchStrategy[Any]) -> st.SearchStrategy[str]:
    """SQS message bodies: `documents` as JSON (lone surrogates escaped, as producers send
    them), any JSON, text that is not JSON, thousands of levels deep, or huge."""
    sqs_characters = st.characters(
        blacklist_categories=("Cs",), blacklist_characters="\x00\x01\x02\x03\x04\x05\x06\x07\x08"
    )
    return mostly(
        documents.map(json.dumps),
        st.one_of(
            json_values().map(json.dumps),
            st.text(sqs_characters, min_size=1, max_size=40),
            deep_json(20_000),
            st.tuples(documents.filter(lambda d: isinstance(d, dict)), st.integers(90, 20_000)).map(
                lambda pair: deeply_nested_body(*pair)
            ),
            surrogate_json(),
            st.integers(100_000, 240_000).map(lambda n: json.dumps({"id": "big", "pad": "x" * n})),
        ),
    )


def sqs_message_attributes() -> st.SearchStrategy[dict[str, Any]]:
    """Message attributes as Lambda's SQS event has them, some as SQS could never send them."""
    attribute = st.one_of(
        st.fixed_dictionaries(
            {"dataType": st.just("String"), "stringValue": odd_text(8)},
            optional={"binaryValue": st.none()},
        ),
        st.fixed_dictionaries(
            {
                "dataType": st.just("Number"),
                "stringValue": st.sampled_from(["1", "12", "²", "-3", "x", ""]),
            }
        ),
        st.fixed_dictionaries(
            {
                "dataType": st.just("Binary"),
                "binaryValue": st.binary(max_size=8).map(lambda b: base64.b64encode(b).decode())
                | st.text(max_size=10),
            }
        ),
        st.fixed_dictionaries({"dataType": st.sampled_from(["String", "", "Weird"])}),
    )
    names = st.sampled_from(["apicall-attempts-before", "apicall-rejected-reason", "trace", "x"])
    return st.dictionaries(names, attribute, max_size=3)


def sqs_records(bodies: st.SearchStrategy[str]) -> st.SearchStrategy[dict[str, Any]]:
    """One record of an SQS Lambda event; `messageId` is the caller's to make unique."""
    return st.builds(
        lambda body, attributes, receive_count: {
            "messageId": "",
            "receiptHandle": "fuzz-receipt",
            "body": body,
            "attributes": {"ApproximateReceiveCount": receive_count, "SentTimestamp": "1"},
            "messageAttributes": attributes,
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:fuzz",
            "awsRegion": "us-east-1",
        },
        bodies,
        sqs_message_attributes(),
        st.sampled_from(["1", "1", "2", "10", "11", "abc", "²", ""]),
    )


def fetch_jobs() -> st.SearchStrategy[dict[str, Any]]:
    """FetchJob objects, mostly valid, every field sometimes odd or missing."""
    paths = st.sampled_from(["$.next", "$[", "next", "$.a.b"]) | odd_text(6)
    limits = usually(st.integers(1, 500), st.integers(-5, 20_000) | odd_values())
    places = usually(st.sampled_from(["query", "body"]), st.just("header"))
    pagination = st.one_of(
        st.fixed_dictionaries({"type": st.sampled_from(["none", "link_header", "sideways"])}),
        st.fixed_dictionaries(
            {"type": st.just("offset")}, optional={"limit": limits, "in": places}
        ),
        st.fixed_dictionaries(
            {"type": st.just("page")},
            optional={"size": limits, "total_pages_path": paths, "in": places},
        ),
        st.fixed_dictionaries(
            {"type": st.just("cursor")},
            optional={"cursor_path": paths, "limit": limits, "in": places},
        ),
        st.fixed_dictionaries({"type": st.just("next_url")}, optional={"next_url_path": paths}),
    )
    records = st.fixed_dictionaries(
        {"key": usually(st.sampled_from(["$.id", "$[", "id"]), odd_values())},
        optional={
            "path": st.sampled_from(["$.data[*]", "$[", "$"]) | odd_text(),
            "fields": st.lists(
                st.fixed_dictionaries(
                    {
                        "name": st.sampled_from(["id", "pk", "_run_id", "total"]) | odd_text(4),
                        "path": st.sampled_from(["$.id", "$["]) | odd_text(4),
                    },
                    optional={"type": st.sampled_from(["string", "number", "uuid"])},
                ),
                max_size=3,
            ),
        },
    )
    job = st.fixed_dictionaries(
        {
            "job": usually(st.sampled_from(["orders", "fuzz-1", "a.b:c"]), odd_values()),
            "request": usually(request_specs(), odd_values()),
            "records": usually(records, odd_values()),
        },
        optional={
            "pagination": usually(pagination, odd_values()),
            "max_pages": usually(st.integers(1, 3), odd_values()),
            "incremental": usually(
                st.fixed_dictionaries(
                    {"param": st.just("since"), "field": st.sampled_from(["$.at", "$["])}
                ),
                odd_values(),
            ),
        },
    )
    return dropping(job, ["job", "request", "records"])


def continuation_messages() -> st.SearchStrategy[Any]:
    """Continuation message objects `{"fetch", "run_id"}`, mostly valid, or anything at all."""
    message = st.fixed_dictionaries(
        {
            "fetch": usually(fetch_jobs(), odd_values()),
            "run_id": usually(st.sampled_from(["0" * 32, "f" * 32]), odd_values()),
        },
    )
    return mostly(dropping(message, ["fetch", "run_id"]), odd_values())
