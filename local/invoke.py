"""`make invoke FN=request EVENT=events/request_get_query_api_key.json`: one invocation, like
`sam local invoke`, in the local stack (moto, the demo API and its connections).

FN is a function's logical id in template.yaml or its short name (request, api, push, fetch).
The answer is printed as JSON on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from local.demo import running_demo
from local.stack import CONNECTIONS_DIR


def function_id(name: str, logical_ids: list[str]) -> str:
    """`push` -> PushFunction; a logical id is taken as it is."""
    if name in logical_ids:
        return name
    candidate = f"{name[:1].upper()}{name[1:]}Function"
    if candidate in logical_ids:
        return candidate
    raise SystemExit(f"unknown function {name!r}; one of: {', '.join(sorted(logical_ids))}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("function", help="request, api, push, fetch or a logical id")
    parser.add_argument("event", type=Path, help="a JSON event file, e.g. events/request_head.json")
    parser.add_argument("--connections", type=Path, default=CONNECTIONS_DIR)
    parser.add_argument("--log-level", default="INFO", help="the template's LogLevel parameter")
    args = parser.parse_args(argv)
    event = json.loads(args.event.read_text())
    with running_demo(
        connections=args.connections,
        log_level=args.log_level,
        push_retry_schedule=None,
        schedules=False,
        api=False,
    ) as demo:
        logical_id = function_id(args.function, list(demo.stack.functions))
        print(f"invoking {logical_id} with {args.event}", file=sys.stderr, flush=True)
        answer = demo.stack.invoke(logical_id, event)
    print(json.dumps(answer, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
