"""The test API's OpenAPI document tells the truth: its servers are where the caller reached it,
it documents every status and body the routes answer, and schemathesis, driving the API over
real HTTP from that document alone with every check, finds nothing.

The API is the local stack's (template.yaml in moto, local/api_gateway.py turning HTTP requests
into API Gateway proxy events, the API key checked); schemathesis runs as its CLI. Outbound
requests the generated inputs ask for never leave the machine: name resolution answers only
for loopback names in this process, where the function runs.
"""

from __future__ import annotations

import copy
import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from functions.request import api
from local.api_gateway import RunningApi, serve_api
from local.stack import LocalContext, local_stack
from tests.support.demo import load_event

ROOT = Path(__file__).resolve().parents[2]
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
# Bounded so that the run, stack included, stays well under 90 s on a 2-core machine.
MAX_EXAMPLES = 25
SEED = 20261203

# What schemathesis may not assume from JSON Schema alone. A request that is valid by the schema
# can still be refused (422 naming the field) by rules no schema language states: a RequestSpec's
# cross-field and grammar rules (an absolute url without a connection, success-code lists, error
# keys), an OpenAPI document's validity and a document URL's reachability, a curl command's shell
# syntax. Every other check still holds for those answers (documented status, conforming body).
CONFIG = """
[[operations]]
include-path-regex = "^/(test|discover|curl)$"
checks.positive_data_acceptance.expected-statuses = ["2xx", "404", "422"]

# A `next` token is opaque: one the API did not give is refused, naming it (422). A run's job
# must be the one in its path. Nothing stored under a generated name is 404.
[[operations]]
include-path-regex = "^/(history|pushes|fetches|records)"
checks.positive_data_acceptance.expected-statuses = ["2xx", "404", "422"]

# Entities of a generated connection name: no such connection (404), or a RequestSpec that is
# valid by the schema but not by its grammar (422); the name of one just created (409).
[[operations]]
include-path-regex = "^/(preview|connections/[^/]+/entities)"
checks.positive_data_acceptance.expected-statuses = ["2xx", "404", "409", "422"]

# Connections of a generated name: none stored (404), one just created (409), a name the API
# reserves or a `***` with no stored credential behind it (422), a `next` it did not give (422).
# A test of a generated connection answers 200 whatever happens upstream.
[[operations]]
include-path-regex = "^/connections(/test|/[^/]+(/test)?)?$"
checks.positive_data_acceptance.expected-statuses = ["2xx", "404", "409", "422"]

# OAuth consent for a connection POST /connections made: not an authorization-code connection,
# or no redirect_uri where the stack sets no OAUTH_REDIRECT_URI (422); the callback of a consent
# so started, without a code (422) or with one its generated token endpoint cannot take (400).
[[operations]]
include-path-regex = "^/oauth/"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "404", "422"]
"""

LOOPBACK = {"127.0.0.1", "::1", "localhost"}


@pytest.fixture(autouse=True)
def _isolated_aws_environment() -> Iterator[None]:
    """Replaces the suite-wide fixture: here the local stack owns the AWS environment."""
    yield


@pytest.fixture(scope="module")
def loopback_only() -> Iterator[None]:
    """Names and addresses other than loopback do not resolve in this process."""
    resolve = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name is not None and str(name).strip("[]") not in LOOPBACK:
            raise socket.gaierror(socket.EAI_NONAME, "only loopback resolves in this test")
        return resolve(host, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]
    try:
        yield
    finally:
        socket.getaddrinfo = resolve  # type: ignore[assignment]


@pytest.fixture(scope="module")
def running_api(loopback_only: None) -> Iterator[RunningApi]:
    with local_stack(stack_name="apicall-contract") as stack, serve_api(stack) as running:
        yield running


# --- servers --------------------------------------------------------------------------------------


def _openapi_event(**changes: Any) -> dict[str, Any]:
    event = copy.deepcopy(load_event("api_openapi.json"))
    for key, value in changes.items():
        if key == "headers":
            event["headers"] = {**event["headers"], **value}
            event["multiValueHeaders"] = {k: [v] for k, v in event["headers"].items()}
        else:
            event["requestContext"] = {**event["requestContext"], key: value}
    return event


def _servers(event: dict[str, Any]) -> list[dict[str, Any]]:
    answer = api.handler(event, LocalContext("ApiFunction", 30))
    assert answer["statusCode"] == 200, answer
    return list(json.loads(answer["body"])["servers"])


@pytest.mark.parametrize(
    ("case", "changes", "url"),
    [
        ("execute-api endpoint", {}, "https://abc123.execute-api.us-east-1.amazonaws.com/dev"),
        (
            "custom domain with a base path",
            {"domainName": "api.example.com", "path": "/v1/openapi.json"},
            "https://api.example.com/v1",
        ),
        (
            "custom domain without a base path",
            {"domainName": "api.example.com", "path": "/openapi.json"},
            "https://api.example.com",
        ),
        (
            "local emulator",
            {"domainName": "127.0.0.1:3000", "path": "/dev/openapi.json"},
            "http://127.0.0.1:3000/dev",
        ),
        (
            "X-Forwarded-Proto",
            {"domainName": "localhost:8080", "headers": {"X-Forwarded-Proto": "https"}},
            "https://localhost:8080/dev",
        ),
        (
            "no domain",
            {"domainName": None},
            "https://abc123.execute-api.us-east-1.amazonaws.com/dev",
        ),
        ("no domain, no host", {"domainName": None, "headers": {"Host": ""}}, "/dev"),
        ("a host that is not one", {"domainName": "x.io/evil?"}, "/dev"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_the_server_url_is_where_the_caller_reached_the_api(
    case: str, changes: dict[str, Any], url: str
) -> None:
    assert _servers(_openapi_event(**changes)) == [{"url": url}]


def test_the_server_url_over_the_local_emulator_is_the_stage_url(running_api: RunningApi) -> None:
    answer = httpx.get(
        f"{running_api.url}/openapi.json", headers={"x-api-key": running_api.api_key}
    )

    assert answer.status_code == 200
    assert answer.json()["servers"] == [{"url": running_api.url}]


# --- what the document promises ------------------------------------------------------------------


def _document() -> dict[str, Any]:
    answer = api.handler(load_event("api_openapi.json"), LocalContext("ApiFunction", 30))
    return dict(json.loads(answer["body"]))


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref", "")
    return document["components"]["schemas"][ref.rsplit("/", 1)[-1]] if ref else schema


EXPECTED_STATUSES = {
    ("post", "/test"): {"200", "403", "404", "415", "422", "429"},
    ("post", "/schema"): {"200", "403", "415", "422", "429"},
    ("post", "/discover"): {"200", "400", "403", "404", "415", "422", "429"},
    ("post", "/curl"): {"200", "403", "415", "422", "429"},
    ("get", "/oauth/{connection}/authorize"): {"200", "403", "404", "422", "429"},
    ("get", "/oauth/callback"): {"200", "400", "403", "404", "422", "429"},
    ("post", "/connections"): {"201", "403", "409", "415", "422", "429"},
    ("get", "/connections"): {"200", "403", "422", "429"},
    ("get", "/connections/{name}"): {"200", "403", "404", "422", "429"},
    ("put", "/connections/{name}"): {"200", "403", "404", "415", "422", "429"},
    ("delete", "/connections/{name}"): {"204", "403", "404", "422", "429"},
    ("post", "/connections/{name}/test"): {"200", "403", "404", "415", "422", "429"},
    ("post", "/connections/test"): {"200", "403", "409", "415", "422", "429"},
    ("get", "/history"): {"200", "403", "422", "429"},
    ("get", "/history/{run_id}"): {"200", "403", "404", "422", "429"},
    ("get", "/pushes/{id}"): {"200", "403", "404", "422", "429"},
    ("post", "/pushes/{id}/replay"): {"202", "403", "404", "422", "429"},
    ("get", "/fetches/{job}"): {"200", "403", "404", "422", "429"},
    ("post", "/fetches/{job}/run"): {"202", "403", "404", "415", "422", "429"},
    ("get", "/records/{job}"): {"200", "403", "404", "422", "429"},
    ("get", "/records/{job}/{key}"): {"200", "403", "404", "422", "429"},
    ("post", "/preview"): {"200", "403", "404", "415", "422", "429"},
    ("post", "/connections/{name}/entities"): {"201", "403", "404", "409", "415", "422", "429"},
    ("get", "/connections/{name}/entities"): {"200", "403", "404", "422", "429"},
    ("get", "/connections/{name}/entities/{entity}"): {"200", "403", "404", "422", "429"},
    ("put", "/connections/{name}/entities/{entity}"): {"200", "403", "404", "415", "422", "429"},
    ("delete", "/connections/{name}/entities/{entity}"): {"204", "403", "404", "422", "429"},
}


def test_every_operation_documents_every_status_it_answers_with_the_real_bodies() -> None:
    document = _document()
    operations = {
        (method, path): op
        for path, item in document["paths"].items()
        for method, op in item.items()
    }

    assert {key: set(op["responses"]) for key, op in operations.items()} == EXPECTED_STATUSES
    for key, operation in operations.items():
        for status, response in operation["responses"].items():
            if status == "204":
                assert not response.get("content"), key  # no body
                continue
            schema = _resolve(document, response["content"]["application/json"]["schema"])
            if status in {"403", "429"}:
                assert schema["title"] == "GatewayMessage", key
            elif status not in {"200", "201", "202"}:
                assert schema["title"] == "ErrorAnswer", key
    assert "HTTPValidationError" not in json.dumps(document["paths"])
    error = document["components"]["schemas"]["ErrorDetail"]
    assert error["required"] == ["kind", "message", "fields"]


def test_the_constraints_the_code_enforces_are_in_the_schema() -> None:
    schemas = _document()["components"]["schemas"]

    command = schemas["CurlBody"]["properties"]["command"]
    assert re.search(command["pattern"], "curl https://x.io")
    assert not re.search(command["pattern"], "wget https://x.io")
    assert [sorted(one["required"]) for one in schemas["DiscoverBody"]["oneOf"]] == [
        ["openapi"],
        ["url"],
    ]
    assert schemas["SchemaBody"]["properties"]["data_path"]["format"] == "jsonpath"
    assert schemas["NoBody"]["required"] == ["type"]


# --- schemathesis --------------------------------------------------------------------------------


def test_schemathesis_finds_nothing_with_every_check(
    running_api: RunningApi, tmp_path: Path
) -> None:
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    report = tmp_path / "report.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(SCHEMATHESIS_HOOKS="tests.support.schemathesis_hooks", PYTHONPATH=str(ROOT))
    run = subprocess.run(
        [
            str(SCHEMATHESIS),
            "--config-file",
            str(config),
            "run",
            f"{running_api.url}/openapi.json",
            "--header",
            f"x-api-key: {running_api.api_key}",
            "--checks",
            "all",
            "--max-examples",
            str(MAX_EXAMPLES),
            "--seed",
            str(SEED),
            "--workers",
            "1",
            "--report",
            "json",
            "--report-json-path",
            str(report),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )

    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-3000:]
    result = json.loads(report.read_text())
    print(
        f"schemathesis {result['schemathesis_version']}: {result['operations']['tested']} "
        f"operations, {result['test_cases']['generated']} test cases, every check, "
        f"{len(result['failures'])} failures, {result['running_time']:.0f} s"
    )
    operations = len(EXPECTED_STATUSES)
    assert result["operations"]["tested"] == result["operations"]["total"] == operations
    assert result["complete"] and not result["failures"] and not result["errors"]
    assert result["test_cases"]["generated"] >= operations * MAX_EXAMPLES
