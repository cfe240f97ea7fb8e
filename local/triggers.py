"""The stack's triggers, running: SQS event source mappings, schedule rules, the REST API.

Everything comes from the stack's own resources (local/stack.py reads them from moto and the
translated template): one poller per SQS event source mapping, with the mapping's batch size and
the function's timeout, built on local/sqs_trigger.py; the schedule rules of local/schedules.py;
the REST API of local/api_gateway.py. All of it runs on threads of this process and stops when the
`running_triggers` block ends.

Lambda reads a queue with several concurrent batches (5 pollers at first, scaling up); locally
each mapping gets `concurrency` poller threads, each invoking the function in its own container.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from local.api_gateway import RunningApi, serve_api
from local.schedules import OnFire, Scheduler
from local.sqs_trigger import SqsTrigger
from local.stack import LocalStack, QueueMapping

DEFAULT_CONCURRENCY = 2


@dataclass
class QueuePoller:
    """Emulates one SQS event source mapping with `concurrency` batches in flight at most."""

    stack: LocalStack
    mapping: QueueMapping
    concurrency: int = DEFAULT_CONCURRENCY
    wait_s: int = 1
    triggers: list[SqsTrigger] = field(default_factory=list)
    busy: int = 0
    peak_busy: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        function = self.stack.functions[self.mapping.function]

        def handler(event: dict[str, Any], context: Any) -> Any:
            with self._lock:
                self.busy += 1
                self.peak_busy = max(self.peak_busy, self.busy)
            try:
                return self.stack.run(self.mapping.function, event, context)
            finally:
                with self._lock:
                    self.busy -= 1

        for number in range(self.concurrency):
            # boto3 clients are made here, on one thread: making them concurrently is not safe.
            trigger = SqsTrigger(
                self.stack.client("sqs"),
                self.mapping.queue_url,
                handler,
                batch_size=self.mapping.batch_size,
                function_timeout_s=function.timeout_s,
                function_name=function.name,
            )
            self.triggers.append(trigger)
            thread = threading.Thread(
                target=self._loop,
                args=(trigger,),
                name=f"poll-{self.mapping.queue}-{number}",
                daemon=True,
            )
            self._threads.append(thread)
            thread.start()

    def _loop(self, trigger: SqsTrigger) -> None:
        while not self._stop.is_set():
            try:
                trigger.poll(wait_s=self.wait_s)
            except Exception as exc:  # moto going away at shutdown, or a passing error
                trigger.errors.append(exc)
                self._stop.wait(0.5)

    @property
    def invocations(self) -> int:
        return sum(trigger.invocations for trigger in self.triggers)

    @property
    def errors(self) -> list[BaseException]:
        return [error for trigger in self.triggers for error in trigger.errors]

    def pending(self) -> int:
        """Messages in the queue, visible or in flight."""
        return self.triggers[0].pending() if self.triggers else 0

    def wait_until_drained(self, *, timeout_s: float = 120, settle_s: float = 0.3) -> None:
        """Block until the queue is empty and no batch is in flight; TimeoutError after that."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.busy == 0 and self.pending() == 0:
                time.sleep(settle_s)
                if self.busy == 0 and self.pending() == 0:
                    return
            time.sleep(0.1)
        raise TimeoutError(f"{self.mapping.queue} still holds {self.pending()} messages")

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.wait_s + 150)


@dataclass
class Triggers:
    pollers: dict[str, QueuePoller]  # by queue logical id
    scheduler: Scheduler
    api: RunningApi | None


@contextlib.contextmanager
def running_triggers(
    stack: LocalStack,
    *,
    concurrency: int | dict[str, int] = DEFAULT_CONCURRENCY,
    schedules: bool = True,
    api: bool = True,
    api_port: int = 0,
    on_fire: OnFire | None = None,
) -> Iterator[Triggers]:
    """Start every enabled queue mapping, the schedule loop and the REST API; stop them after.

    `concurrency` is batches in flight per mapping, or per queue logical id.
    """
    pollers = {}
    for mapping in stack.queue_mappings:
        if not mapping.enabled:
            continue
        count = concurrency if isinstance(concurrency, int) else concurrency.get(mapping.queue, 1)
        pollers[mapping.queue] = QueuePoller(stack, mapping, concurrency=count)
    scheduler = Scheduler(stack, on_fire=on_fire)
    with contextlib.ExitStack() as cleanup:
        for poller in pollers.values():
            poller.start()
            cleanup.callback(poller.stop)
        if schedules:
            scheduler.start()
            cleanup.callback(scheduler.stop)
        running_api = cleanup.enter_context(serve_api(stack, port=api_port)) if api else None
        yield Triggers(pollers, scheduler, running_api)
