"""`make demo`: the whole suite on this machine, driven the way AWS drives it.

Starts the demo third-party API and a moto server on 127.0.0.1, creates the stack from
template.yaml, stores the demo connections as secrets, starts the stack's triggers (SQS event
source mappings, schedule rules, the REST API), then runs each use of apicall through its trigger
and prints what happened:

1. requests: RequestFunction invoked directly with every events/request_*.json;
2. fetches: one schedule rule per events/fetch_*.json (one per pagination style) put on the
   stack's EventBridge and fired with the template's own rules, records counted in RecordsTable
   against what the demo API served;
3. pushes: messages sent to PushQueue and delivered by the SQS trigger to the demo receiver, some
   after failed attempts, one dead-lettered after 10, one rejected as invalid;
4. the test API: /test, /schema and /discover called over HTTP with the API key, /test without.

Ends by itself and leaves no process behind: everything runs on threads of this process.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local.demo_api import DemoAPI, serve
from local.schedules import Firing
from local.sqs_trigger import peek_messages
from local.stack import (
    CONNECTIONS_DIR,
    LocalSetupError,
    LocalStack,
    local_stack,
    read_connections,
)
from local.triggers import Triggers, running_triggers

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
# The delays before push attempts 2, 3, ... in the demo (the template's start at 10 s).
DEMO_RETRY_SCHEDULE = "1"


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


# --- the environment -----------------------------------------------------------------------------


@dataclass
class Demo:
    app: DemoAPI
    url: str
    stack: LocalStack
    triggers: Triggers
    connections: list[str]


@contextmanager
def running_demo(
    *,
    connections: Path = CONNECTIONS_DIR,
    stack_name: str = "apicall-local",
    parameters: dict[str, str] | None = None,
    moto_in_process: bool = True,
    log_level: str = "WARNING",
    push_retry_schedule: str | None = DEMO_RETRY_SCHEDULE,
    schedules: bool = False,
    api: bool = True,
    api_port: int = 0,
    concurrency: int | dict[str, int] = 2,
    on_fire: Any = None,
) -> Iterator[Demo]:
    """The demo API, the local stack with the connections stored, and the triggers running."""
    app = DemoAPI()
    server = serve(app)
    url = f"http://127.0.0.1:{server.port}"
    try:
        documents = read_connections(connections, {**os.environ, "DEMO_API_URL": url})
        # The template's LogLevel parameter: the functions' JSON logs would drown the summary.
        values = {"LogLevel": log_level, **(parameters or {})}
        with local_stack(
            stack_name=stack_name, parameters=values, moto_in_process=moto_in_process
        ) as stack:
            names = stack.put_connections(documents)
            if push_retry_schedule:
                stack.set_environment("PushFunction", {"PUSH_RETRY_SCHEDULE": push_retry_schedule})
            with running_triggers(
                stack,
                concurrency=concurrency,
                schedules=schedules,
                api=api,
                api_port=api_port,
                on_fire=on_fire,
            ) as triggers:
                yield Demo(app, url, stack, triggers, names)
    finally:
        server.shutdown()
        server.server_close()


def describe_stack(stack: LocalStack) -> list[str]:
    """What the local stack holds, and what moto could not create and how that is covered."""
    lines = []
    mappings = ", ".join(
        f"{m.queue} -> {m.function} (batch {m.batch_size})" for m in stack.queue_mappings
    )
    lines.append(f"SQS event source mappings: {mappings}")
    skipped: dict[str, list[str]] = {}
    for logical_id, kind in stack.not_created.items():
        skipped.setdefault(kind, []).append(logical_id)
    covered = {
        "AWS::ApiGateway::Deployment": "the local API serves the RestApi's routes itself",
        "AWS::ApiGateway::Stage": "the local API serves the stage path",
        "AWS::ApiGateway::ApiKey": "created through API Gateway's API from its properties",
        "AWS::ApiGateway::UsagePlan": "created through API Gateway's API (limits not enforced)",
        "AWS::ApiGateway::UsagePlanKey": "created through API Gateway's API",
        "AWS::CloudWatch::Alarm": "not emulated",
    }
    for kind, ids in sorted(skipped.items()):
        lines.append(
            f"moto's CloudFormation did not create {len(ids)} {kind}: "
            f"{covered.get(kind, 'not emulated')}"
        )
    return lines


# --- 1. requests ---------------------------------------------------------------------------------


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


# --- 2. scheduled fetches ------------------------------------------------------------------------


def put_fetch_schedules(stack: LocalStack, paths: list[Path]) -> list[str]:
    """One EventBridge schedule rule per FetchJob file, targeting FetchFunction with it as Input."""
    events = stack.client("events")
    fetch = stack.functions["FetchFunction"]
    names = []
    for path in paths:
        name = f"demo-{path.stem.replace('_', '-')}"
        events.put_rule(Name=name, ScheduleExpression="rate(1 day)", State="ENABLED")
        events.put_targets(
            Rule=name, Targets=[{"Id": "fetch", "Arn": fetch.arn, "Input": path.read_text()}]
        )
        names.append(name)
    return names


def count_records(stack: LocalStack, job: str) -> int:
    dynamodb = stack.client("dynamodb")
    total, start = 0, None
    while True:
        kwargs: dict[str, Any] = {
            "TableName": stack.table_name("RecordsTable"),
            "KeyConditionExpression": "pk = :job",
            "ExpressionAttributeValues": {":job": {"S": job}},
            "Select": "COUNT",
        }
        if start:
            kwargs["ExclusiveStartKey"] = start
        page = dynamodb.query(**kwargs)
        total += page["Count"]
        start = page.get("LastEvaluatedKey")
        if not start:
            return total


def run_fetches(demo: Demo) -> list[dict[str, Any]]:
    """Fire every schedule rule once (the demo's and the template's) and count what landed."""
    put_fetch_schedules(demo.stack, sorted(EVENTS.glob("fetch_*.json")))
    scheduler = demo.triggers.scheduler
    rules = scheduler.rules()
    rows = []
    for number, rule in enumerate(rules, 1):
        state = "enabled" if rule.enabled else "disabled in the template, fired once by the demo"
        say(f"schedule {number}/{len(rules)}: {rule.name} ({rule.expression}, {state})")
        for firing in scheduler.fire(rule):
            rows.append(_fetch_row(demo, rule.name, firing))
    return rows


def _fetch_row(demo: Demo, rule: str, firing: Firing) -> dict[str, Any]:
    summary = firing.result if isinstance(firing.result, dict) else {}
    job = summary.get("job", "?")
    error = summary.get("error") or (repr(firing.error) if firing.error else None)
    return {
        "rule": rule,
        "job": job,
        "status": summary.get("status", "error"),
        "pages": summary.get("pages"),
        "fetched": summary.get("records"),
        "in table": count_records(demo.stack, job) if job != "?" else 0,
        "served": demo.app.orders.total,
        "s": round(firing.elapsed_s, 1),
        "error": _short(error) if error else "",
    }


# --- 3. pushes -----------------------------------------------------------------------------------


def push_messages() -> list[dict[str, Any]]:
    """Push messages as a workflow sends them, to the demo receiver's hooks."""
    messages: list[dict[str, Any]] = []
    for number in range(1, 13):
        messages.append(
            {
                "id": f"evt_order_{number:02d}",
                "event": "order.paid",
                "target": {"connection": "demo-bearer", "url": "/hooks/orders"},
                "record": {"id": number, "status": "paid", "total": 10.5 * number},
            }
        )
    for number in range(1, 4):
        messages.append(
            {
                "id": f"evt_lead_{number:02d}",
                "event": "lead.created",
                "target": {"connection": "demo-basic", "url": "/hooks/leads", "format": "form"},
                "record": {"email": f"lead{number}@example.com", "score": 80 + number},
            }
        )
    for fail in range(1, 5):
        messages.append(
            {
                "id": f"evt_flaky_{fail}",
                "event": "invoice.paid",
                "target": {"connection": "demo-bearer", "url": f"/hooks/flaky?fail={fail}"},
                "record": {"invoice": f"INV-{1000 + fail}", "fails_first": fail},
            }
        )
    messages.append(
        {
            "id": "evt_broken_1",
            "event": "invoice.paid",
            "target": {"connection": "demo-bearer", "url": "/hooks/broken"},
            "record": {"invoice": "INV-9999"},
        }
    )
    return messages


def invalid_push_body() -> str:
    """The body of events/push_invalid_message.json: no target URL, rejected at once."""
    event = json.loads((EVENTS / "push_invalid_message.json").read_text())
    return str(event["Records"][0]["body"])


def send_pushes(stack: LocalStack, bodies: list[str]) -> None:
    sqs = stack.client("sqs")
    url = stack.queue_url("PushQueue")
    for start in range(0, len(bodies), 10):
        entries = [
            {"Id": str(index), "MessageBody": body}
            for index, body in enumerate(bodies[start : start + 10])
        ]
        sqs.send_message_batch(QueueUrl=url, Entries=entries)


def dead_letters(stack: LocalStack, queue_logical_id: str) -> list[dict[str, Any]]:
    """Every message in a dead-letter queue, left there (received, then made visible again)."""
    return peek_messages(stack.client("sqs"), stack.queue_url(queue_logical_id))


def run_pushes(demo: Demo) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Send the pushes, wait until PushQueue drains, and account for every one of them."""
    from apicall.push.deliverer import attempt_history

    messages = push_messages()
    bodies = [json.dumps(m) for m in messages] + [invalid_push_body()]
    say(f"pushing {len(bodies)} messages to PushQueue (retry delay {DEMO_RETRY_SCHEDULE} s)")
    started = time.monotonic()
    send_pushes(demo.stack, bodies)
    poller = demo.triggers.pollers["PushQueue"]
    last = -1
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        pending = poller.pending()
        if pending != last:
            say(f"  PushQueue: {pending} in the queue, {poller.invocations} batches so far")
            last = pending
        if pending == 0 and poller.busy == 0:
            break
        time.sleep(0.5)
    poller.wait_until_drained(timeout_s=30)
    elapsed = time.monotonic() - started
    dead = dead_letters(demo.stack, "PushDeadLetterQueue")
    dead_ids = {_push_id(m["Body"]) for m in dead}
    hooks = demo.app.receiver
    rows = []
    ids = [m["id"] for m in messages] + [_push_id(bodies[-1])]
    for message_id in ids:
        history = attempt_history(message_id)
        last_outcome = history[-1]["outcome"] if history else "none"
        rows.append(
            {
                "id": message_id,
                "path": hooks.paths.get(message_id, "-"),
                "attempts": len(history),
                "receiver saw": hooks.attempts.get(message_id, 0),
                "accepted": hooks.accepted.get(message_id, 0),
                "outcome": last_outcome,
                "dead letter": "yes" if message_id in dead_ids else "",
            }
        )
    totals = {
        "sent": len(ids),
        "delivered": sum(1 for r in rows if r["accepted"] == 1 and r["outcome"] == "delivered"),
        "dead_lettered": len(dead_ids & set(ids)),
        "attempts": sum(r["attempts"] for r in rows),
        "batches": poller.invocations,
        "seconds": round(elapsed, 1),
    }
    totals["unaccounted"] = [
        r["id"]
        for r in rows
        if not (r["accepted"] == 1 and r["outcome"] == "delivered") and r["dead letter"] != "yes"
    ]
    return rows, totals


def _push_id(body: str) -> str:
    try:
        return str(json.loads(body).get("id"))
    except (ValueError, AttributeError):
        return "?"


# --- 4. the test API -----------------------------------------------------------------------------


def call_api(base_url: str, path: str, body: str, api_key: str | None) -> tuple[int, Any]:
    import httpx

    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["x-api-key"] = api_key
    response = httpx.post(base_url + path, content=body, headers=headers, timeout=60)
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, response.text


def run_test_api(demo: Demo) -> list[dict[str, Any]]:
    api = demo.triggers.api
    assert api is not None
    rows = []
    calls = [
        ("/test", "api_test.json", api.api_key),
        ("/schema", "api_schema.json", api.api_key),
        ("/discover", "api_discover.json", api.api_key),
        ("/test", "api_test.json", None),
    ]
    for path, event_file, key in calls:
        body = json.loads((EVENTS / event_file).read_text())["body"]
        say(f"POST {api.url}{path} {'with' if key else 'without'} the API key")
        status, answer = call_api(api.url, path, body, key)
        rows.append(
            {
                "call": f"POST {path}",
                "api key": "yes" if key else "no",
                "status": status,
                "answer": _short(_api_gist(path, answer), 70),
            }
        )
    return rows


def _api_gist(path: str, answer: Any) -> Any:
    if not isinstance(answer, dict):
        return answer
    if path == "/test" and "outcome" in answer:
        outcome = answer["outcome"]
        return {k: outcome.get(k) for k in ("ok", "route", "status", "data")}
    if path == "/schema" and "fields" in answer:
        return {"fields": [f.get("name") for f in answer["fields"]]}
    if path == "/discover" and "entities" in answer:
        return {"entities": [e.get("name") for e in answer["entities"]]}
    return answer


# --- 5. the builder flow -------------------------------------------------------------------------

BUILDER_CONNECTION = "demo-crm"


def api_call(
    base_url: str, method: str, path: str, body: Any = None, *, api_key: str
) -> tuple[int, Any]:
    import httpx

    response = httpx.request(
        method,
        base_url + path,
        json=body,
        headers={"x-api-key": api_key},
        timeout=60,
    )
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, response.text


def run_builder_flow(demo: Demo, job: str = "demo-orders-cursor") -> list[dict[str, Any]]:
    """What a flow builder does through the API: create a connection and test it, save the
    entities its vendor's OpenAPI document describes, preview and test one, then read the
    history and the records the scheduled fetches stored."""
    from local.demo_api import API_KEY

    api = demo.triggers.api
    assert api is not None
    connection = {
        "base_url": demo.url,
        "auth": {"type": "api_key", "name": "X-API-Key", "value": API_KEY},
        "allow_private_network": True,  # the demo API listens on 127.0.0.1
    }
    request = {
        "connection": BUILDER_CONNECTION,
        "entity": "getCustomer",
        "response": {"fields": [{"name": "name", "type": "string", "path": "$.name"}]},
    }
    steps: list[tuple[str, str, str, Any, Any]] = [
        # (what, method, path, body, what the summary shows of the answer)
        (
            "create a connection",
            "POST",
            "/connections",
            {"name": BUILDER_CONNECTION, "display_name": "Demo CRM", "connection": connection},
            lambda a: {"name": a.get("name"), "auth.value": _at(a, "connection.auth.value")},
        ),
        (
            "test the connection",
            "POST",
            f"/connections/{BUILDER_CONNECTION}/test",
            {"path": "/customers"},
            lambda a: {"ok": a.get("ok"), "checks": [c.get("name") for c in a.get("checks", [])]},
        ),
        (
            "discover and save entities",
            "POST",
            "/discover",
            {"url": f"{demo.url}/openapi.json", "connection": BUILDER_CONNECTION, "save": True},
            lambda a: {"saved": a.get("saved")},
        ),
        (
            "list the entities",
            "GET",
            f"/connections/{BUILDER_CONNECTION}/entities",
            None,
            lambda a: [item.get("name") for item in a.get("items", [])],
        ),
        (
            "preview a request",
            "POST",
            "/preview",
            {"request": request, "values": {"customer_id": "2"}},
            lambda a: {"method": a.get("method"), "url": a.get("url")},
        ),
        (
            "test the request",
            "POST",
            "/test",
            {"request": request, "values": {"customer_id": "2"}},
            lambda a: {"ok": a.get("ok"), "data": a.get("data")},
        ),
        (
            "read the history",
            "GET",
            f"/history?connection={BUILDER_CONNECTION}&limit=5",
            None,
            lambda a: [(i.get("route"), i.get("status")) for i in a.get("items", [])],
        ),
        (
            "a fetch job's runs",
            "GET",
            f"/fetches/{job}",
            None,
            lambda a: {"runs": len(a.get("runs", [])), "checkpoint": bool(a.get("checkpoint"))},
        ),
        (
            "its records",
            "GET",
            f"/records/{job}?limit=3",
            None,
            lambda a: {"records": len(a.get("items", [])), "more": a.get("next") is not None},
        ),
    ]
    rows = []
    for what, method, path, body, gist in steps:
        say(f"{method} {api.url}{path}: {what}")
        status, answer = api_call(api.url, method, path, body, api_key=api.api_key)
        shown = gist(answer) if isinstance(answer, dict) and status < 400 else answer
        rows.append(
            {
                "step": what,
                "call": f"{method} {path.split('?')[0]}",
                "status": status,
                "answer": _short(shown, 70),
            }
        )
    return rows


def _at(value: Any, path: str) -> Any:
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


# --- main ----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--connections", type=Path, default=CONNECTIONS_DIR)
    args = parser.parse_args(argv)
    try:
        read_connections(args.connections, {**os.environ, "DEMO_API_URL": "http://127.0.0.1"})
    except LocalSetupError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 2
    started = time.monotonic()
    say("starting the demo API, moto server, and the stack from template.yaml")
    with running_demo(connections=args.connections) as demo:
        say(f"moto server (AWS) on {demo.stack.endpoint_url}, demo API on {demo.url}")
        for line in describe_stack(demo.stack):
            say(line)
        say(f"stored {len(demo.connections)} demo connections: {', '.join(demo.connections)}")
        assert demo.triggers.api is not None
        say(f"test API on {demo.triggers.api.url} (API key {demo.triggers.api.api_key})")
        request_rows = run_request_events(demo.stack)
        fetch_rows = run_fetches(demo)
        push_rows, push_totals = run_pushes(demo)
        api_rows = run_test_api(demo)
        builder_rows = run_builder_flow(demo)
        say("stopping the triggers, moto and the demo API")
    print()
    print("1. Request function (direct invoke, one per events/request_*.json)")
    print(table(list(request_rows[0]), [list(r.values()) for r in request_rows]))
    print()
    print("2. Scheduled fetches (EventBridge rules fired, records counted in RecordsTable)")
    print(table(list(fetch_rows[0]), [list(r.values()) for r in fetch_rows]))
    print()
    print("3. Pushes (PushQueue -> SQS trigger -> PushFunction -> demo receiver)")
    print(table(list(push_rows[0]), [list(r.values()) for r in push_rows]))
    print(
        f"   {push_totals['sent']} sent: {push_totals['delivered']} delivered, "
        f"{push_totals['dead_lettered']} dead-lettered; {push_totals['attempts']} attempts in "
        f"{push_totals['batches']} batches, drained in {push_totals['seconds']} s"
    )
    print()
    print("4. Test API (HTTP -> API Gateway emulator -> ApiFunction)")
    print(table(list(api_rows[0]), [list(r.values()) for r in api_rows]))
    print()
    print("5. The builder flow (connections, entities, preview, history and records over the API)")
    print(table(list(builder_rows[0]), [list(r.values()) for r in builder_rows]))
    print()
    problems = _problems(request_rows, fetch_rows, push_totals, api_rows)
    problems += [
        f"builder: {row['step']} answered {row['status']}"
        for row in builder_rows
        if row["status"] >= 400
    ]
    say(f"done in {time.monotonic() - started:.1f}s")
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    return 1 if problems else 0


def _problems(
    request_rows: list[dict[str, Any]],
    fetch_rows: list[dict[str, Any]],
    push_totals: dict[str, Any],
    api_rows: list[dict[str, Any]],
) -> list[str]:
    problems = []
    expected_failures = {"not_found_route", "timeout"}
    for row in request_rows:
        if (not row["ok"]) != (row["event"] in expected_failures):
            problems.append(f"request {row['event']}: unexpected outcome {row['route']}")
    for row in fetch_rows:
        complete = row["fetched"] == row["in table"] == row["served"]
        if row["status"] != "succeeded" or not complete:
            problems.append(f"fetch {row['job']}: {row['in table']} of {row['served']} records")
    if push_totals["unaccounted"]:
        problems.append(f"pushes neither delivered nor dead-lettered: {push_totals['unaccounted']}")
    expected_status = [200, 200, 200, 403]
    for row, status in zip(api_rows, expected_status, strict=True):
        if row["status"] != status:
            problems.append(f"{row['call']} (key {row['api key']}): {row['status']}")
    return problems


if __name__ == "__main__":
    sys.exit(main())
