"""Tracing as the functions run in Lambda: the X-Ray SDK only when tracing is on, and then a
segment for the handler, apicall's HTTP client and boto3. Each case is a fresh interpreter, as
the decision is made once, when `apicall.core.observability` is first imported."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.stack import free_port
from tests.support.environment import HANDLER_ENVIRONMENT, in_fresh_interpreter

ROOT = Path(__file__).resolve().parents[2]
HANDLERS = [
    "functions.request.app",
    "functions.request.api",
    "functions.push.app",
    "functions.fetch.app",
]
TRACE_ID = "1-5759e988-bd862e3fe1be46a994272793"


def run(script: str, **environment: str) -> dict[str, Any]:
    """Run `script` in a fresh interpreter as Lambda would (LAMBDA_TASK_ROOT set); its last line
    of output is JSON."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("POWERTOOLS_", "_X_AMZN"))},
        **HANDLER_ENVIRONMENT,
        "LAMBDA_TASK_ROOT": str(ROOT),
        "POWERTOOLS_SERVICE_NAME": "apicall-tests",
        "POWERTOOLS_METRICS_NAMESPACE": "apicall-tests",
        **environment,
    }
    done = in_fresh_interpreter(script, env)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.parametrize("handler", HANDLERS)
def test_tracing_disabled_never_imports_the_xray_sdk(handler: str) -> None:
    script = (
        f"import json, sys, {handler}\n"
        "from apicall.core.observability import tracer\n"
        "print(json.dumps({'sdk': 'aws_xray_sdk' in sys.modules, 'tracer': type(tracer).__name__}))"
    )

    loaded = run(script, POWERTOOLS_TRACE_DISABLED="true")

    assert loaded == {"sdk": False, "tracer": "Untraced"}


@pytest.fixture
def daemon() -> Iterator[socket.socket]:
    """A UDP socket where the X-Ray SDK sends segments, as it would to the X-Ray daemon."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(5)
        yield sock


def received(daemon: socket.socket) -> list[dict[str, Any]]:
    documents = []
    daemon.settimeout(1)
    try:
        while True:
            datagram, _ = daemon.recvfrom(65536)
            _header, document = datagram.decode().split("\n", 1)
            documents.append(json.loads(document))
    except TimeoutError:
        return documents


TRACED_INVOCATION = """
from functions.request import app  # first, as in Lambda

import json, boto3, botocore.config, httpx
from apicall.http import client
from apicall.core.models import Connection
from local.stack import LocalContext

# Refused by the guard (no connection allows a private network): nothing is sent.
event = {"request": {"method": "GET", "url": "http://127.0.0.1:%(port)d/orders"}}
outcome = app.handler(event, LocalContext("RequestFunction", 30))
try:  # apicall's client, to a port nothing listens on
    client.client_for(Connection(allow_private_network=True)).http.get("http://127.0.0.1:%(port)d/")
except httpx.HTTPError:
    pass
dynamodb = boto3.client(
    "dynamodb", endpoint_url="http://127.0.0.1:%(port)d", region_name="us-east-1",
    aws_access_key_id="testing", aws_secret_access_key="testing",
    config=botocore.config.Config(retries={"max_attempts": 1}, connect_timeout=1),
)
try:
    dynamodb.list_tables()
except Exception:
    pass
print(json.dumps({"route": outcome["route"]}))
"""


def test_tracing_enabled_records_the_handler_its_http_calls_and_aws_calls(
    daemon: socket.socket,
) -> None:
    # GIVEN tracing on in Lambda, with the SDK sending to our socket (context missing only logs)
    environment = {
        "POWERTOOLS_TRACE_DISABLED": "false",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{daemon.getsockname()[1]}",
        "_X_AMZN_TRACE_ID": f"Root={TRACE_ID};Parent=53995c3f42cd8ad8;Sampled=1",
    }

    # WHEN the request handler runs, then apicall's client and boto3 make a call each
    outcome = run(TRACED_INVOCATION % {"port": free_port()}, **environment)

    # THEN each is a subsegment of the invocation's trace
    documents = received(daemon)
    by_name = {document["name"]: document for document in documents}
    assert outcome == {"route": "error"}
    assert {document["trace_id"] for document in documents} == {TRACE_ID}
    handler = by_name["## handler"]
    assert handler["annotations"] == {"ColdStart": True, "Service": "apicall-tests"}
    assert by_name["127.0.0.1"]["namespace"] == "remote"
    assert by_name["dynamodb"]["aws"]["operation"] == "ListTables"
