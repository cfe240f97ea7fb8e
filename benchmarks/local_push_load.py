"""Load through the local stack: pushed messages drain through the emulated SQS trigger.

The whole local stack as `make serve` runs it (moto server, the stack from template.yaml, the
demo API, the triggers): N Push messages are sent to PushQueue with SendMessageBatch while the
PushQueue mapping's pollers run, each invoking PushFunction in its own container with batches of
the mapping's size (10), deliveries going to the demo receiver's /hooks/orders. The run ends
when the queue is empty and no batch is in flight; then every id must have been accepted by the
receiver exactly once, and the dead-letter queue must be empty.

The sender keeps at most `--backlog` messages in the queue, as a producer with back-pressure
would: moto's SQS scans the whole queue on every ReceiveMessage and every deleted receipt handle,
so a backlog of 10,000 makes each call cost what real SQS never charges (the first unpaced run
was still sending after 3 minutes, moto at 96% CPU).

Run: `python -m benchmarks.local_push_load [--messages 10000] [--concurrency 4] [--moto process]`.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import threading
import time
from typing import Any

from local.demo import Demo, dead_letters, running_demo, send_pushes
from local.triggers import QueuePoller


def _messages(count: int) -> list[str]:
    return [
        json.dumps(
            {
                "id": f"load_{number:06d}",
                "event": "order.paid",
                "target": {"connection": "demo-bearer", "url": "/hooks/orders"},
                "record": {"id": number, "status": "paid", "total": number % 500},
            }
        )
        for number in range(count)
    ]


def send_paced(demo: Demo, poller: QueuePoller, bodies: list[str], backlog: int) -> None:
    """Send in chunks of 200, waiting whenever the queue holds more than `backlog`."""
    for start in range(0, len(bodies), 200):
        while poller.pending() > backlog:
            time.sleep(0.1)
        send_pushes(demo.stack, bodies[start : start + 200])


def run(messages: int, concurrency: int, moto_in_process: bool, backlog: int) -> dict[str, Any]:
    bodies = _messages(messages)
    with running_demo(
        schedules=False,
        api=False,
        concurrency={"PushQueue": concurrency, "FetchContinuationQueue": 1},
        moto_in_process=moto_in_process,
        push_retry_schedule="0",
    ) as demo:
        poller = demo.triggers.pollers["PushQueue"]
        started = time.monotonic()
        sender = threading.Thread(
            target=send_paced, args=(demo, poller, bodies, backlog), daemon=True
        )
        sender.start()
        sender.join()
        sent_s = time.monotonic() - started
        print(f"sent {messages} in {sent_s:.1f}s; draining", file=sys.stderr, flush=True)
        poller.wait_until_drained(timeout_s=600, settle_s=1.0)
        # the settle time is not delivery time
        elapsed = time.monotonic() - started - 1.0
        accepted = demo.app.receiver.accepted
        ids = [f"load_{number:06d}" for number in range(messages)]
        lost = [i for i in ids if accepted[i] == 0]
        duplicated = [i for i in ids if accepted[i] > 1]
        dead = dead_letters(demo.stack, "PushDeadLetterQueue")
        return {
            "messages": messages,
            "moto": "in process" if moto_in_process else "own process",
            "pollers": concurrency,
            "backlog_cap": backlog,
            "batch_size": poller.mapping.batch_size,
            "peak_batches_in_flight": poller.peak_busy,
            "containers": demo.stack.functions["PushFunction"].containers,
            "invocations": poller.invocations,
            "mean_batch": round(messages / max(1, poller.invocations), 1),
            "send_s": round(sent_s, 1),
            "elapsed_s": round(elapsed, 1),
            "messages_per_s": round(messages / elapsed, 1),
            "receiver_attempts": sum(demo.app.receiver.attempts[i] for i in ids),
            "lost": len(lost),
            "duplicated": len(duplicated),
            "dead_lettered": len(dead),
            "trigger_errors": len(poller.errors),
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=4, help="PushQueue pollers")
    parser.add_argument("--moto", choices=["process", "thread"], default="process")
    parser.add_argument("--backlog", type=int, default=500, help="most messages queued at once")
    args = parser.parse_args(argv)
    # Powertools prints EMF metric lines every 100 values even with metrics disabled.
    with contextlib.redirect_stdout(io.StringIO()):
        result = run(args.messages, args.concurrency, args.moto == "thread", args.backlog)
    print(json.dumps(result, indent=2))
    return 0 if result["lost"] == result["duplicated"] == result["dead_lettered"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
