"""EventBridge schedule rules emulated: each rule fires its targets with their Input on its rate.

The rules are read from the stack's EventBridge (moto), where CloudFormation created them from
template.yaml's Schedule events, together with any rule put there later (the demo adds one per
events/fetch_*.json). A target whose ARN is a function of the stack is invoked in-process with the
target's constant `Input` as the event, as EventBridge does; without Input it gets a Scheduled
Event. Enabled `rate(...)` rules fire on their rate, the first time one period after start;
`fire_all()` runs every rule once now (`make serve` passes `--now`), disabled ones included so a
template rule that ships disabled can be tried. `cron(...)` rules fire only through `fire_all()`.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from local.stack import LocalStack

_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
_UNIT_S = {"minute": 60, "hour": 3600, "day": 86400}


def rate_seconds(expression: str) -> float | None:
    """Seconds between runs of a `rate(...)` expression; None for `cron(...)`."""
    found = _RATE.match(expression.strip())
    if not found:
        if expression.strip().startswith("cron("):
            return None
        raise ValueError(f"not an EventBridge schedule expression: {expression!r}")
    return int(found.group(1)) * _UNIT_S[found.group(2).rstrip("s")]


@dataclass(frozen=True)
class Target:
    function: str  # logical id
    input: Any  # the event the function receives


@dataclass(frozen=True)
class ScheduleRule:
    name: str
    arn: str
    expression: str
    enabled: bool
    targets: tuple[Target, ...]

    @property
    def period_s(self) -> float | None:
        return rate_seconds(self.expression)


def schedule_rules(stack: LocalStack) -> list[ScheduleRule]:
    """Every schedule rule of the stack's default event bus whose targets are stack functions."""
    events = stack.client("events")
    rules = []
    for page in events.get_paginator("list_rules").paginate():
        for rule in page["Rules"]:
            if not rule.get("ScheduleExpression"):
                continue
            targets = []
            for target in events.list_targets_by_rule(Rule=rule["Name"])["Targets"]:
                try:
                    function = stack.function_by_arn(target["Arn"]).logical_id
                except KeyError:
                    continue
                event = json.loads(target["Input"]) if "Input" in target else None
                targets.append(Target(function, event if event is not None else _scheduled(rule)))
            rules.append(
                ScheduleRule(
                    name=rule["Name"],
                    arn=rule["Arn"],
                    expression=rule["ScheduleExpression"],
                    enabled=rule.get("State") == "ENABLED",
                    targets=tuple(targets),
                )
            )
    return rules


def _scheduled(rule: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "us-east-1",
        "resources": [rule["Arn"]],
        "detail": {},
    }


@dataclass
class Firing:
    rule: str
    function: str
    started: float
    elapsed_s: float
    result: Any = None
    error: BaseException | None = None


OnFire = Callable[[Firing], None]


@dataclass
class Scheduler:
    """Fires the stack's schedule rules; `start()` runs the rate loop on a thread."""

    stack: LocalStack
    on_fire: OnFire | None = None
    firings: list[Firing] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def rules(self) -> list[ScheduleRule]:
        return schedule_rules(self.stack)

    def fire(self, rule: ScheduleRule) -> list[Firing]:
        """Invoke each target of the rule once, now, one after the other."""
        fired = []
        for target in rule.targets:
            started = time.monotonic()
            firing = Firing(rule.name, target.function, time.time(), 0.0)
            try:
                firing.result = self.stack.invoke(target.function, target.input)
            except Exception as exc:  # EventBridge would retry; locally the error is reported
                firing.error = exc
            firing.elapsed_s = time.monotonic() - started
            self.firings.append(firing)
            if self.on_fire:
                self.on_fire(firing)
            fired.append(firing)
        return fired

    def fire_all(self, *, include_disabled: bool = True) -> list[Firing]:
        fired = []
        for rule in self.rules():
            if rule.enabled or include_disabled:
                fired += self.fire(rule)
        return fired

    def start(self, *, tick_s: float = 1.0, speedup: float = 1.0) -> None:
        """Fire each enabled rate rule every period, on a daemon thread, until `stop()`.

        `speedup` divides every period (tests run an hourly rule every second).
        """
        started = time.monotonic()
        due: dict[str, float] = {}

        def loop() -> None:
            while not self._stop.wait(tick_s):
                now = time.monotonic()
                for rule in self.rules():
                    period = rule.period_s
                    if not rule.enabled or period is None:
                        continue
                    period /= speedup
                    due.setdefault(rule.name, started + period)
                    if now >= due[rule.name]:
                        due[rule.name] = now + period
                        self.fire(rule)

        self._thread = threading.Thread(target=loop, name="schedules", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
