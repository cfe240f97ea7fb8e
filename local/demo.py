"""`make demo`: the whole suite on this machine, driven the way AWS drives it.

Starts the demo third-party API and a moto server on 127.0.0.1, creates the stack from
template.yaml, stores the demo connections as secrets, then runs each use of apicall through its
trigger and prints what happened. Ends by itself and leaves no process behind.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from local.demo_api import DemoAPI, serve
from local.stack import LocalStack, local_stack

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 1] + "…"


def run_request_events(stack: LocalStack) -> list[dict[str, Any]]:
    """Invoke the request function with every events/request_*.json; one summary row each."""
    rows = []
    paths = sorted(EVENTS.glob("request_*.json"))
    for number, path in enumerate(paths, 1):
        say(f"request {number}/{len(paths)}: {path.name}")
        event = json.loads(path.read_text())
        outcome = stack.invoke("RequestFunction", event)
        result = outcome.get("rows") if outcome.get("rows") is not None else outcome.get("data")
        rows.append(
            {
                "event": path.stem.removeprefix("request_"),
                "method": event["request"]["method"],
                "ok": outcome["ok"],
                "route": outcome["route"],
                "next": outcome["next"],
                "status": outcome["status"],
                "attempts": outcome["attempts"],
                "ms": outcome["elapsed_ms"],
                "result": _short(outcome["error"]["message"] if outcome["error"] else result),
            }
        )
    return rows


def main() -> int:
    started = time.monotonic()
    say("starting the demo API")
    demo = serve(DemoAPI())
    demo_url = f"http://127.0.0.1:{demo.port}"
    try:
        say("starting moto server and creating the stack from template.yaml")
        with local_stack() as stack:
            names = stack.load_connections({"DEMO_API_URL": demo_url})
            say(f"stored {len(names)} demo connections as secrets: {', '.join(names)}")
            request_rows = run_request_events(stack)
    finally:
        demo.shutdown()
    print()
    print("Request function (direct invoke, one per events/request_*.json)")
    print(table(list(request_rows[0]), [list(r.values()) for r in request_rows]))
    print()
    expected_failures = {"not_found_route", "timeout"}
    unexpected = [
        r["event"] for r in request_rows if (not r["ok"]) != (r["event"] in expected_failures)
    ]
    say(f"done in {time.monotonic() - started:.1f}s")
    if unexpected:
        print(f"unexpected outcomes: {', '.join(unexpected)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
