"""Demo API routes that receive pushed records, as a workflow's callback URLs would.

    POST /hooks/<name>              accepts every delivery (200)
    POST /hooks/flaky?fail=N        answers 503 to the first N attempts of each webhook-id, then 200
    POST /hooks/broken              always answers 500

`app.receiver` (a HookLog) counts attempts and accepted deliveries per webhook-id, so the demo and
the e2e tests can check every push against what the receiver saw.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from werkzeug.wrappers import Request, Response

if TYPE_CHECKING:
    from local.demo_api import DemoAPI


@dataclass
class HookLog:
    attempts: Counter[str] = field(default_factory=Counter)  # webhook-id -> requests
    accepted: Counter[str] = field(default_factory=Counter)  # webhook-id -> 2xx answers
    paths: dict[str, str] = field(default_factory=dict)  # webhook-id -> path
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, request: Request) -> tuple[str, int]:
        """Count this request; returns its webhook-id and how many came before it."""
        key = request.headers.get("webhook-id") or "-"
        with self.lock:
            before = self.attempts[key]
            self.attempts[key] += 1
            self.paths[key] = request.path
        return key, before

    def accept(self, key: str) -> Response:
        with self.lock:
            self.accepted[key] += 1
        return Response('{"received": true}', 200, mimetype="application/json")


def register(app: DemoAPI) -> HookLog:
    """Add the /hooks routes to `app`; returns their HookLog."""
    log = HookLog()

    def hook(request: Request, name: str) -> Response:
        key, before = log.note(request)
        if name == "broken":
            return Response('{"error": "receiver_down"}', 500, mimetype="application/json")
        if name == "flaky" and before < int(request.args.get("fail", "2")):
            return Response('{"error": "try_again"}', 503, mimetype="application/json")
        return log.accept(key)

    app.route("/hooks/<name>", "hooks", hook, ["POST", "PUT"])
    return log
