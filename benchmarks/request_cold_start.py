"""Cold start: importing the request handler vs importing only the libraries it stands on.

Each sample is a fresh Python process that imports one thing and prints how long the import took.
The two kinds of sample alternate, so both see the same machine load. Run: `python -m
benchmarks.request_cold_start [samples]`.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The dependencies the handler module imports, as a Lambda cold start would pay for them.
# pydantic resolves its public names lazily, so the ones the layer uses are imported by name.
BASELINE = (
    "import boto3, httpx, pydantic\n"
    "from pydantic import BaseModel, ConfigDict, Field, ValidationError\n"
    "from pydantic import field_validator, model_validator\n"
    "from aws_lambda_powertools import Logger, Metrics, Tracer\n"
    "from aws_lambda_powertools.utilities import parameters\n"
    "from aws_lambda_powertools.utilities.typing import LambdaContext\n"
    "Logger(); Metrics(); Tracer()\n"
)
HANDLER = "import functions.request.app\n"


def sample(code: str) -> float:
    program = (
        f"import time\nstarted = time.perf_counter()\n{code}print(time.perf_counter() - started)\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'shared'}{os.pathsep}{ROOT}",
        "POWERTOOLS_SERVICE_NAME": "apicall",
        "POWERTOOLS_METRICS_NAMESPACE": "apicall-bench",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "AWS_DEFAULT_REGION": "us-east-1",
        "PYTHONDONTWRITEBYTECODE": "0",
    }
    out = subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=ROOT,
    )
    return float(out.stdout.strip().splitlines()[-1])


def main(samples: int = 20) -> None:
    sample(BASELINE)  # warm the bytecode caches once for both
    sample(HANDLER)
    baseline, handler = [], []
    for _ in range(samples):
        baseline.append(sample(BASELINE))
        handler.append(sample(HANDLER))
    base_ms = statistics.median(baseline) * 1000
    handler_ms = statistics.median(handler) * 1000
    print(f"samples: {samples} fresh processes each, alternating")
    print(f"import dependencies only (baseline): median {base_ms:.1f} ms")
    print(f"import functions/request/app.py:     median {handler_ms:.1f} ms")
    print(f"ratio handler / baseline: {handler_ms / base_ms:.3f} (target <= 1.15)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
