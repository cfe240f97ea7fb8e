"""Workspaces in the layer: a direct invoke, a Push message and a FetchJob of one workspace use
only that workspace's connections and signing secrets, and what they store is found only there.

Two workspaces, `blue` and `green`, each hold a connection `crm` to a server of its own that
accepts only its own token; the default workspace holds none.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from apicall.core.runtime import RUNTIME
from apicall.core.store import RunsStore
from apicall.fetch.records import records_partition
from apicall.push.deliverer import attempt_history
from functions.fetch import app as fetch_app
from functions.request import app as request_app
from local.stack import LocalContext
from tests.support.push import PushRig

pytestmark = pytest.mark.usefixtures("tables")

WORKSPACES = ("blue", "green")
SIGNING_KEY = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@dataclass
class Tenant:
    workspace: str
    token: str
    server: HTTPServer

    def received(self) -> list[Request]:
        return [request for request, _ in self.server.log]


def _answer(token: str, workspace: str):
    def handler(request: Request) -> Response:
        if request.headers.get("Authorization") != f"Bearer {token}":
            return Response("wrong token", status=401)
        if request.path == "/orders":
            orders = [{"id": f"{workspace}-{n}", "n": n} for n in range(3)]
            return Response(json.dumps({"data": orders}), content_type="application/json")
        return Response(json.dumps({"workspace": workspace}), content_type="application/json")

    return handler


@pytest.fixture
def tenants(aws: boto3.Session) -> Iterator[dict[str, Tenant]]:
    secrets = aws.client("secretsmanager")
    found: dict[str, Tenant] = {}
    for workspace in WORKSPACES:
        server = HTTPServer(host="127.0.0.1", port=0)
        server.start()
        token = f"tok-{workspace}-51c9"
        server.expect_request("/orders").respond_with_handler(_answer(token, workspace))
        server.expect_request("/whoami").respond_with_handler(_answer(token, workspace))
        server.expect_request("/hooks", method="POST").respond_with_handler(
            _answer(token, workspace)
        )
        connection = {
            "base_url": server.url_for("/").rstrip("/"),
            "auth": {"type": "bearer", "token": token},
            "allow_private_network": True,
        }
        secrets.create_secret(
            Name=f"apicall/connections/{workspace}/crm", SecretString=json.dumps(connection)
        )
        found[workspace] = Tenant(workspace, token, server)
    RUNTIME.reset()
    yield found
    for tenant in found.values():
        tenant.server.clear()
        tenant.server.stop()


def invoke(workspace: str | None, url: str = "/whoami") -> dict[str, Any]:
    event: dict[str, Any] = {"request": {"connection": "crm", "url": url}}
    if workspace is not None:
        event["workspace"] = workspace
    return request_app.handler(event, LocalContext("RequestFunction", 30))


# --- direct invokes -------------------------------------------------------------------------------


@pytest.mark.parametrize("workspace", WORKSPACES)
def test_an_invoke_uses_the_connection_of_its_own_workspace(
    tenants: dict[str, Tenant], workspace: str
) -> None:
    outcome = invoke(workspace)

    assert outcome["ok"] is True and outcome["body"] == {"workspace": workspace}
    other = next(t for t in tenants.values() if t.workspace != workspace)
    assert other.received() == []


@pytest.mark.parametrize("workspace", [None, "default", "red"])
def test_a_workspace_without_the_connection_cannot_use_another_workspaces(
    tenants: dict[str, Tenant], workspace: str | None
) -> None:
    outcome = invoke(workspace)

    assert outcome["ok"] is False
    assert outcome["error"]["message"] == "connection 'crm' does not exist"
    assert outcome["error"]["field"] == "request.connection"
    assert all(tenant.received() == [] for tenant in tenants.values())


@pytest.mark.parametrize("connection", ["blue/crm", "../blue/crm", "blue#crm"])
def test_no_connection_name_reaches_into_another_workspace(
    tenants: dict[str, Tenant], connection: str
) -> None:
    event = {"request": {"connection": connection, "url": "/whoami"}, "workspace": "green"}

    outcome = request_app.handler(event, LocalContext("RequestFunction", 30))

    assert outcome["ok"] is False and outcome["error"]["field"] == "request.connection"
    assert tenants["blue"].received() == []


def test_an_invalid_workspace_is_an_invalid_request_naming_the_field() -> None:
    event = {"request": {"url": "https://api.example.com"}, "workspace": "../blue"}

    outcome = request_app.handler(event, LocalContext("RequestFunction", 30))

    assert outcome["ok"] is False
    assert outcome["error"]["kind"] == "invalid_request"
    assert outcome["error"]["field"] == "workspace"


def test_each_execution_is_in_its_own_workspaces_history(
    tenants: dict[str, Tenant], runs_table: Any
) -> None:
    for workspace in WORKSPACES:
        invoke(workspace)

    store = RunsStore(runs_table)
    for workspace in WORKSPACES:
        history = store.executions(workspace)
        assert [item["connection"] for item in history] == ["crm"]
        assert tenants[workspace].server.url_for("/whoami") == history[0]["request"]["url"]
    assert store.executions("default") == []


# --- pushes ---------------------------------------------------------------------------------------


def push(workspace: str, message_id: str = "evt_1", **target: Any) -> dict[str, Any]:
    return {
        "id": message_id,
        "workspace": workspace,
        "target": {"connection": "crm", "url": "/hooks", "timeout_s": 2, **target},
        "record": {"n": 1},
    }


def test_a_push_goes_to_its_own_workspaces_connection_and_one_id_is_two_messages_in_two(
    tenants: dict[str, Tenant], push_rig: PushRig
) -> None:
    push_rig.send(push("blue"))
    push_rig.send(push("green"))

    push_rig.trigger.drain(timeout_s=10)

    for workspace in WORKSPACES:
        assert len(tenants[workspace].received()) == 1
        attempts = attempt_history("evt_1", workspace=workspace)
        assert [a["outcome"] for a in attempts] == ["delivered"]
    assert attempt_history("evt_1") == []
    assert push_rig.dead_letters() == []


def test_a_push_cannot_sign_with_another_workspaces_signing_secret(
    tenants: dict[str, Tenant], push_rig: PushRig, aws: boto3.Session
) -> None:
    aws.client("secretsmanager").create_secret(
        Name="apicall/signing/blue/hooks", SecretString=SIGNING_KEY
    )
    push_rig.send(push("blue", "evt_signed", signing_secret="hooks"))
    push_rig.send(push("green", "evt_stolen", signing_secret="hooks"))

    push_rig.trigger.drain(timeout_s=10)

    signed = tenants["blue"].received()
    assert len(signed) == 1 and signed[0].headers.get("webhook-signature")
    assert tenants["green"].received() == []
    [rejected] = attempt_history("evt_stolen", workspace="green")
    assert rejected["outcome"] == "rejected"
    assert rejected["error"]["field"] == "target.signing_secret"


# --- fetches --------------------------------------------------------------------------------------


def fetch_job(workspace: str) -> dict[str, Any]:
    return {
        "job": "orders",
        "workspace": workspace,
        "request": {"connection": "crm", "url": "/orders"},
        "records": {"path": "$.data[*]", "key": "$.id"},
    }


def test_a_fetch_stores_its_records_and_checkpoint_in_its_own_workspace(
    tenants: dict[str, Tenant], tables: dict[str, Any]
) -> None:
    for workspace in WORKSPACES:
        result = fetch_app.handler(fetch_job(workspace), LocalContext("FetchFunction", 60))
        assert result["status"] == "succeeded", result

    records = RunsStore(tables["RecordsTable"])
    runs = RunsStore(tables["RunsTable"])
    for workspace in WORKSPACES:
        stored = records.query(records_partition(workspace, "orders"))
        assert sorted(item["sk"] for item in stored) == [f"{workspace}-{n}" for n in range(3)]
        assert runs.query(f"fetch#{workspace}#orders", sk_prefix="run#")
    assert records.query("orders") == []
    assert runs.query("fetch#orders") == []
