"""`make invoke FN=request EVENT=events/request_get_query_api_key.json`: one invocation, like
`sam local invoke`, in the local stack (moto, the demo API and its connections).

FN is a function's logical id in template.yaml or its short name (request, api, push, fetch).
The answer is printed as JSON on stdout and is the only thing there: progress and the functions'
logs go to stderr, so `make invoke ... | jq` works. A mistake (an unknown function, a missing or
malformed event file, a connection file naming an unset variable, a push event that is not an
SQS batch) is one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from pathlib import Path
from typing import IO, Any

from local.stack import CONNECTIONS_DIR, LocalSetupError, read_connections


class UsageError(Exception):
    """The command line names something that is not there or not usable."""


def function_id(name: str, logical_ids: list[str]) -> str:
    """`push` -> PushFunction; a logical id is taken as it is."""
    if name in logical_ids:
        return name
    candidate = f"{name[:1].upper()}{name[1:]}Function"
    if candidate in logical_ids:
        return candidate
    raise UsageError(f"unknown function {name!r}; one of: {', '.join(sorted(logical_ids))}")


def template_functions() -> list[str]:
    """The logical ids of template.yaml's functions, without starting anything."""
    from local import infra

    resources = infra.load_template()["Resources"]
    return [name for name, r in resources.items() if r["Type"] == "AWS::Serverless::Function"]


def read_event(path: Path) -> Any:
    try:
        text = path.read_text()
    except FileNotFoundError as exc:
        raise UsageError(f"{path}: no such event file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot be read: {exc}") from exc
    try:
        return json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{path}: not JSON: {exc}") from exc


def check_event(logical_id: str, event: Any, path: Path) -> None:
    """Refuse before start-up what the function could only answer with an error."""
    if logical_id == "PushFunction":
        from apicall.push.deliverer import sqs_event_problem

        problem = sqs_event_problem(event)
        if problem is not None:
            raise UsageError(f"{path}: {problem.message} ({problem.field})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("function", help="request, api, push, fetch or a logical id")
    parser.add_argument("event", type=Path, help="a JSON event file, e.g. events/request_head.json")
    parser.add_argument("--connections", type=Path, default=CONNECTIONS_DIR)
    parser.add_argument("--log-level", default="INFO", help="the template's LogLevel parameter")
    args = parser.parse_args(argv)
    answer_to = sys.stdout
    # Everything the stack, the layer and the functions print goes to stderr; the layer's logger
    # is created on first import, inside this block, with stdout already pointing there.
    with contextlib.redirect_stdout(sys.stderr):
        try:
            logical_id = function_id(args.function, template_functions())
            event = read_event(args.event)
            check_event(logical_id, event, args.event)
            # The demo API's URL is known only once it runs; any value checks the files.
            read_connections(args.connections, {**os.environ, "DEMO_API_URL": "http://127.0.0.1"})
        except (UsageError, LocalSetupError) as exc:
            print(f"invoke: {exc}", file=sys.stderr)
            return 2
        answer = _invoke(logical_id, event, args)
    print(json.dumps(answer, indent=2, default=str), file=answer_to)
    return 0


def _invoke(logical_id: str, event: Any, args: argparse.Namespace) -> Any:
    from local.demo import running_demo

    with running_demo(
        connections=args.connections,
        log_level=args.log_level,
        push_retry_schedule=None,
        schedules=False,
        api=False,
    ) as demo:
        _logs_to(sys.stderr, instead_of=sys.__stdout__)
        print(f"invoking {logical_id} with {args.event}", file=sys.stderr, flush=True)
        return demo.stack.invoke(logical_id, event)


def _logs_to(stream: IO[str], *, instead_of: IO[str] | None) -> None:
    """Point every log handler that writes to the real stdout at `stream` (a logger created
    before stdout was redirected holds the real one)."""
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for logger in loggers:
        for handler in getattr(logger, "handlers", []):
            if isinstance(handler, logging.StreamHandler) and handler.stream is instead_of:
                handler.setStream(stream)


if __name__ == "__main__":
    sys.exit(main())
