"""The variables each function's handler checks when it loads, as template.yaml gives them.

Handler modules fail to load without them (`apicall.core.settings.load`), as a misconfigured
Lambda function fails its cold start. Tests, subprocesses and benchmarks that import a handler
outside the local stack load it with these: the tables are named as the `tables` fixture names
them; nothing is reached at load.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HANDLER_ENVIRONMENT = {
    "RUNS_TABLE": "test-RunsTable",
    "RECORDS_TABLE": "test-RecordsTable",
    "IDEMPOTENCY_TABLE": "test-IdempotencyTable",
    "CATALOG_TABLE": "test-CatalogTable",
    "PUSH_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/apicall-push",
    "PUSH_DLQ_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/apicall-push-dlq",
    "FETCH_CONTINUATION_QUEUE_URL": (
        "https://sqs.us-east-1.amazonaws.com/123456789012/apicall-fetch-continuation"
    ),
    # CPython's own interval: a test process that loads the fetch handler keeps its default.
    "FETCH_SWITCH_INTERVAL_MS": "5",
}


@contextmanager
def handler_environment() -> Iterator[None]:
    """HANDLER_ENVIRONMENT added to os.environ (where unset) for the duration of the block."""
    added = {name: value for name, value in HANDLER_ENVIRONMENT.items() if name not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


def in_fresh_interpreter(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run `code` in a new interpreter (a new container) with exactly `env`, the layer and the
    repository on its path; its output captured, its exit status left to the caller."""
    root = Path(__file__).resolve().parents[2]
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "PYTHONPATH": os.pathsep.join((str(root / "shared"), str(root)))},
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
