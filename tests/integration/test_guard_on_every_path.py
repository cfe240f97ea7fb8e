"""The connect-time URL guard is on the path of every request, whichever function sends it.

A host name that resolves to 127.0.0.1 passes every check made before a request (the URL spells
no address, no localhost or metadata name); only the client's guarded transport, which judges the
addresses a socket opens to, can refuse it. So if a caller's request bypassed that transport (a
client built some other way, or a backend that the connection pool no longer uses), it would
reach the local server and these tests would fail. No connection here allows private networks.
"""

from __future__ import annotations

import copy
import json
import socket
from typing import Any

import httpx
import pytest
from pytest_httpserver import HTTPServer

from apicall.push.deliverer import attempt_history
from functions.fetch import app as fetch_app
from functions.request import api
from functions.request import app as request_app
from local.stack import LocalContext
from tests.support.demo import load_event
from tests.support.push import PushRig

pytestmark = pytest.mark.usefixtures("tables")

# A public-looking name that the system resolver answers with a loopback address, as a name an
# attacker controls can (or can rebind to) at any time.
REBOUND = "api.rebound.example"


@pytest.fixture
def rebound_url(server: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """`server`'s base URL spelled with REBOUND, which the system resolver (no /etc/hosts, no
    DNS) answers with 127.0.0.1 for the length of the test; other names resolve as ever."""
    resolve = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in (REBOUND, REBOUND.encode()):
            host = "127.0.0.1"
        return resolve(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    server.expect_request("/x").respond_with_data("reached")
    return f"http://{REBOUND}:{server.port}"


def test_the_name_reaches_the_local_server_without_the_guard(
    rebound_url: str, server: HTTPServer
) -> None:
    # The control: the name really does lead to the server, so a refusal below is the guard's.
    with httpx.Client(trust_env=False) as plain:
        assert plain.get(f"{rebound_url}/x").text == "reached"

    assert len(server.log) == 1


def test_request_function_refuses_a_name_for_a_loopback_address(
    rebound_url: str, server: HTTPServer
) -> None:
    event = load_event("request_delete.json")
    event["request"]["connection"] = None
    event["request"]["url"] = f"{rebound_url}/x"

    outcome = request_app.handler(event, LocalContext("RequestFunction", 30))

    assert outcome["route"] == "error" and outcome["error"]["kind"] == "blocked"
    assert "loopback" in outcome["error"]["message"]
    assert server.log == []


def test_push_function_dead_letters_a_name_for_a_loopback_address(
    rebound_url: str, server: HTTPServer, push_rig: PushRig
) -> None:
    push_rig.send(
        {
            "id": "evt_rebound",
            "event": "purchase.approved",
            "target": {"url": f"{rebound_url}/x", "timeout_s": 2},
            "record": {"id": 7},
        }
    )

    push_rig.trigger.drain(timeout_s=10)

    [dead] = push_rig.dead_letters()
    attributes = dead["MessageAttributes"]
    assert attributes["apicall-rejected-field"]["StringValue"] == "target.url"
    assert "loopback" in attributes["apicall-rejected-reason"]["StringValue"]
    assert [a["outcome"] for a in attempt_history("evt_rebound")] == ["rejected"]
    assert server.log == []


def test_fetch_function_fails_on_a_name_for_a_loopback_address(
    rebound_url: str, server: HTTPServer
) -> None:
    job = {
        "job": "rebound-orders",
        "request": {"method": "GET", "url": f"{rebound_url}/x"},
        "records": {"path": "$.data[*]", "key": "$.id"},
    }

    result = fetch_app.handler(job, LocalContext("FetchFunction", 60))

    assert result["status"] == "failed" and result["error"]["kind"] == "blocked"
    assert "loopback" in result["error"]["message"]
    assert server.log == []


def test_discover_refuses_a_document_url_on_a_name_for_a_loopback_address(
    rebound_url: str, server: HTTPServer
) -> None:
    event = copy.deepcopy(load_event("api_discover.json"))
    body = json.loads(event["body"])
    body.update(openapi=None, url=f"{rebound_url}/x", connection=None)
    event["body"] = json.dumps(body)

    answer = api.handler(event, LocalContext("ApiFunction", 30))

    error = json.loads(answer["body"])["error"]
    assert answer["statusCode"] == 422 and error["fields"] == ["url"]
    assert "loopback" in error["message"]
    assert server.log == []
