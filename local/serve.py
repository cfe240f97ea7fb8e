"""`make serve`: the local stack kept running until Ctrl-C.

The demo API, moto and the stack from template.yaml, with every trigger live: the SQS event
source mappings polled, the schedule rules firing on their rate, the test API answering on a
printed port. `--now` fires every schedule rule once at start (disabled ones included).

    python -m local.serve [--port 3000] [--now] [--connections DIR] [--log-level INFO]
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from local.demo import running_demo, say
from local.schedules import Firing
from local.stack import CONNECTIONS_DIR, LocalSetupError, read_connections


def _report(firing: Firing) -> None:
    result = firing.result if isinstance(firing.result, dict) else {}
    detail = f"{result.get('status')}, {result.get('records')} records" if result else ""
    error = f" error: {firing.error!r}" if firing.error else ""
    say(f"schedule {firing.rule} -> {firing.function}: {detail}{error} ({firing.elapsed_s:.1f}s)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=3000, help="the test API's port (0: any)")
    parser.add_argument("--now", action="store_true", help="fire every schedule rule once now")
    parser.add_argument("--connections", type=Path, default=CONNECTIONS_DIR)
    parser.add_argument("--log-level", default="INFO", help="the template's LogLevel parameter")
    args = parser.parse_args(argv)
    try:
        read_connections(args.connections, {**os.environ, "DEMO_API_URL": "http://127.0.0.1"})
    except LocalSetupError as exc:
        print(f"serve: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    say("starting the demo API, moto server, and the stack from template.yaml")
    with running_demo(
        connections=args.connections,
        log_level=args.log_level,
        push_retry_schedule=None,
        schedules=True,
        api_port=args.port,
        on_fire=_report,
    ) as demo:
        api = demo.triggers.api
        assert api is not None
        stack = demo.stack
        say(f"moto (AWS) endpoint: {stack.endpoint_url}  (export AWS_ENDPOINT_URL to use it)")
        say(f"demo API: {demo.url}; connections: {', '.join(demo.connections)}")
        say(f"test API: {api.url}  x-api-key: {api.api_key}")
        for mapping in stack.queue_mappings:
            say(f"polling {mapping.queue} -> {mapping.function}: {mapping.queue_url}")
        for rule in demo.triggers.scheduler.rules():
            state = "enabled" if rule.enabled else "disabled (fires with --now only)"
            say(f"schedule {rule.name}: {rule.expression}, {state}")
        if args.now:
            demo.triggers.scheduler.fire_all()
        say("running; Ctrl-C stops everything")
        stop.wait()
        say("stopping")
    return 0


if __name__ == "__main__":
    sys.exit(main())
