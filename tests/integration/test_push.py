"""The push function end to end: moto SQS and DynamoDB, the emulated trigger, a real receiver."""

from __future__ import annotations

import json
from typing import Any

from apicall.delivery import attempt_history

from tests.support.push import PushRig, receiver_connection


def push(message_id: str, path: str = "/hooks", **target: Any) -> dict[str, Any]:
    return {
        "id": message_id,
        "event": "purchase.approved",
        "target": {"connection": "receiver", "url": path, "timeout_s": 2, **target},
        "record": {"id": 7, "status": "approved"},
    }


def test_a_message_is_delivered_once_as_json_with_its_webhook_id(
    push_rig: PushRig, receiver, put_connection
) -> None:
    server = receiver()
    receiver_connection(put_connection, "receiver", server.url)
    push_rig.send(push("evt_1"))

    push_rig.trigger.drain(timeout_s=10)

    assert len(server.requests) == 1
    request = server.requests[0]
    assert request.path == "/hooks"
    assert request.id == "evt_1"
    assert json.loads(request.body) == {"id": 7, "status": "approved"}
    assert request.headers["Content-Type"] == "application/json"
    history = attempt_history("evt_1")
    assert [(a["number"], a["outcome"], a["status"]) for a in history] == [(1, "delivered", 200)]
