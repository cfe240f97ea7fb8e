"""A clock for tests where a wait is the behaviour but its length in real time is not."""

from __future__ import annotations

import time


class SkippingClock:
    """Monotonic time that runs with the real clock and jumps ahead on `sleep`: a client that
    waits for a retry waits no real time, and every wait it asked for is in `sleeps`."""

    def __init__(self) -> None:
        self.skipped = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return time.monotonic() + self.skipped

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.skipped += seconds
