"""The local stack for end-to-end tests: moto server, the demo API, the triggers running."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from local.demo import Demo, running_demo


@pytest.fixture(autouse=True)
def _isolated_aws_environment() -> Iterator[None]:
    """Replaces the suite-wide fixture: here the local stack owns the AWS environment."""
    yield


@pytest.fixture(scope="module")
def demo() -> Iterator[Demo]:
    """One local stack per test module; push retries immediate so 10 attempts take seconds."""
    with running_demo(push_retry_schedule="0", schedules=False) as running:
        yield running


def wait_for(condition: Callable[[], Any], *, timeout_s: float = 60, every_s: float = 0.2) -> Any:
    """The condition's first truthy value; fails the test after the timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every_s)
    pytest.fail(f"gave up waiting after {timeout_s}s")


def _live_processes(field: int, value: int) -> set[int]:
    """Live (not zombie) pids whose /proc stat field after "(comm)" equals `value`.

    Fields after "(comm)": 0 state, 1 ppid, 2 pgrp, 3 session, ...
    """
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[field]) == value and fields[0] != "Z":
            found.add(int(stat.parent.name))
    return found


def children(pid: int | None = None) -> set[int]:
    """Live processes whose parent is `pid` (this process by default), from /proc."""
    return _live_processes(1, pid or os.getpid())


def in_session(session: int) -> set[int]:
    """Live processes of a session (a child started with start_new_session=True leads one)."""
    return _live_processes(3, session)


def port_open(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0
