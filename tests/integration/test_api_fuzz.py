"""Generated bodies against every POST route of the test API: never a 5xx, every 4xx names a field.

Requests that validate are really executed; their URLs are loopback or metadata addresses without
a connection, which the URL guard refuses before any socket opens.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.request import api
from local.stack import LocalContext
from tests.support import strategies
from tests.support.demo import load_event

pytestmark = pytest.mark.usefixtures("tables")

EXAMPLES_PER_ROUTE = 130  # 4 routes: 520 bodies

json_values = strategies.json_values()
blocked_urls = st.sampled_from(
    [
        "http://127.0.0.1:9/x",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]:9/",
        "http://0x7f.1/",
    ]
)


def mostly(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`valid` three times in four, any JSON otherwise: most bodies get past validation."""
    return st.one_of(valid, valid, valid, json_values)


request_specs = st.fixed_dictionaries(
    {
        "url": mostly(blocked_urls)
        | st.sampled_from(["/relative/{id}", "ftp://x", "http://127.0.0.1:9/{a.b[0]}"])
    },
    optional={
        "method": mostly(st.sampled_from(["GET", "post", "HEAD", "DELETE"])),
        "connection": st.sampled_from(["nope", "../etc", ""]) | json_values,
        "query": mostly(st.lists(st.tuples(st.text(max_size=5), st.text(max_size=5)), max_size=3)),
        "headers": mostly(st.dictionaries(st.text(max_size=6), st.text(max_size=6), max_size=3)),
        "body": mostly(
            st.fixed_dictionaries(
                {"type": st.sampled_from(["json", "form", "raw", "record", "none"])},
                optional={"value": json_values},
            )
        ),
        "response": mostly(
            st.fixed_dictionaries({"data_path": st.sampled_from(["$.x", "$[", "$"])})
        ),
        "routes": mostly(st.lists(st.sampled_from(["200", "404", "503"]), max_size=3)),
        "success_codes": mostly(st.sampled_from(["2xx", "2xx,3xx", [200, 201]])),
        "timeout_s": mostly(st.floats(0.001, 2)),
    },
)
test_bodies = mostly(
    st.fixed_dictionaries(
        {"request": mostly(request_specs)},
        optional={
            "values": mostly(
                st.dictionaries(st.sampled_from(["id", "a"]), json_values, max_size=2)
            ),
            "record": mostly(st.dictionaries(st.text(max_size=4), json_values, max_size=2)),
            "remember": mostly(st.booleans()),
        },
    )
)
schema_bodies = json_values | st.fixed_dictionaries(
    {"sample": json_values},
    optional={"data_path": st.sampled_from(["$.data[*]", "$", "$..x", "$[", "data"]) | json_values},
)
documents = json_values | st.fixed_dictionaries(
    {
        "openapi": st.sampled_from(["3.0.3", "3.1.0", "2.0", "4"]) | json_values,
        "info": json_values | st.just({"title": "t", "version": "1"}),
        "paths": json_values
        | st.dictionaries(st.sampled_from(["/a", "/b/{id}", "x"]), json_values, max_size=2),
    },
    optional={"components": json_values, "servers": json_values},
)
discover_bodies = json_values | st.fixed_dictionaries(
    {},
    optional={
        "openapi": documents | st.text(max_size=30),
        "url": blocked_urls | json_values,
        "connection": st.sampled_from(["nope", "a/../b"]) | json_values,
    },
)
curl_bodies = json_values | st.fixed_dictionaries(
    {
        "command": st.text(max_size=40)
        | st.builds(
            lambda flags, tail: "curl " + " ".join(flags) + " " + tail,
            st.lists(
                st.sampled_from(
                    [
                        "-X",
                        "-H",
                        "-d",
                        "-F",
                        "-u",
                        "-G",
                        "-m",
                        "--json",
                        "-sSL",
                        "'",
                        '"',
                        "--bogus",
                        "-k",
                    ]
                ),
                max_size=5,
            ),
            st.text(max_size=20) | blocked_urls,
        )
    }
)


def post(path: str, body: Any, *, raw: bool = False) -> tuple[int, Any]:
    event = json.loads(json.dumps(load_event("api_curl.json")))
    event["path"] = event["resource"] = event["requestContext"]["resourcePath"] = path
    event["body"] = body if raw else json.dumps(body)
    answer = api.handler(event, LocalContext("ApiFunction", 30))
    return answer["statusCode"], json.loads(answer["body"])


def check(status: int, answer: Any) -> None:
    assert status < 500, answer
    if status >= 400:
        assert answer["error"]["fields"], answer
        assert "Traceback" not in answer["error"]["message"]


FUZZ = settings(
    max_examples=EXAMPLES_PER_ROUTE,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(body=test_bodies)
def test_fuzz_test_route(body: Any) -> None:
    check(*post("/test", body))


@FUZZ
@given(body=schema_bodies)
def test_fuzz_schema_route(body: Any) -> None:
    check(*post("/schema", body))


@FUZZ
@given(body=discover_bodies)
def test_fuzz_discover_route(body: Any) -> None:
    check(*post("/discover", body))


@FUZZ
@given(body=curl_bodies)
def test_fuzz_curl_route(body: Any) -> None:
    check(*post("/curl", body))


@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(text=st.text(max_size=40), path=st.sampled_from(["/test", "/schema", "/discover", "/curl"]))
def test_fuzz_bodies_that_are_not_json(text: str, path: str) -> None:
    check(*post(path, text, raw=True))


# --- malformed API Gateway events ---------------------------------------------------------------

EVENTS_PER_FAMILY = 300
FAMILIES = {
    "test": ["api_test.json"],
    "schema": ["api_schema.json"],
    "discover": ["api_discover.json"],
    "curl": ["api_curl.json"],
    "oauth": ["api_oauth_authorize.json", "api_oauth_callback.json"],
    "self-description": ["api_openapi.json", "api_docs.json"],
}
EVENT_FUZZ = settings(
    max_examples=EVENTS_PER_FAMILY,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def answer_of(event: dict[str, Any]) -> tuple[int, Any]:
    """The handler's answer to `event`; any exception it lets out fails the test."""
    answer = api.handler(event, LocalContext("ApiFunction", 30))
    status = answer["statusCode"]
    assert isinstance(status, int) and status < 500, answer
    content_type = (answer.get("multiValueHeaders") or {}).get("Content-Type", [""])[0]
    if status >= 400 or content_type == "application/json":
        body = answer["body"]
        assert not answer.get("isBase64Encoded"), answer
        return status, json.loads(body)
    return status, None


@pytest.mark.parametrize("family", list(FAMILIES))
def test_malformed_events_never_answer_5xx_and_name_the_field(family: str) -> None:
    statuses: Counter[int] = Counter()
    bases = st.sampled_from([load_event(name) for name in FAMILIES[family]])

    @EVENT_FUZZ
    @given(event=bases.flatmap(strategies.mutated_event))
    def answer(event: dict[str, Any]) -> None:
        status, body = answer_of(event)
        statuses[status] += 1
        check(status, body)
        json.dumps(body, ensure_ascii=False).encode()  # no lone surrogate echoed back

    answer()

    print(f"{family}: {sum(statuses.values())} events, statuses {dict(sorted(statuses.items()))}")
    assert sum(statuses.values()) >= EVENTS_PER_FAMILY
    assert 500 not in statuses


@pytest.mark.parametrize(
    "event",
    [None, [], "x", {}, {"httpMethod": "POST"}, {"path": "/test"}, {"httpMethod": 1, "path": 2}],
    ids=["none", "list", "text", "empty", "no path", "no method", "ill-typed"],
)
def test_an_event_that_is_not_an_api_gateway_event_is_a_400_naming_what_is_missing(
    event: Any,
) -> None:
    status, body = answer_of(event)

    assert status in (400, 422) and body["error"]["fields"], body
