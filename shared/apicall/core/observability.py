"""The Powertools logger, tracer and metrics every function shares.

Service name and metrics namespace come from POWERTOOLS_SERVICE_NAME and
POWERTOOLS_METRICS_NAMESPACE (set in template.yaml Globals).

Whether to trace is decided once, when this module is first imported, by Powertools' own rule
(`tracing_enabled`). With tracing off, `tracer` is `Untraced`: its decorators hand the function
back unchanged and the X-Ray SDK is never imported (it costs a cold start about 0.2 s). With
tracing on, it is Powertools' Tracer, built here, before `apicall.http.client` subclasses
`httpx.Client`, so that the SDK's httpx patch reaches apicall's client.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.shared.functions import strtobool

# The libraries X-Ray's SDK instruments that apicall uses; Powertools' default, `patch_all`, also
# imports and patches sqlite3 and tries a dozen database drivers the layer does not ship.
TRACED_LIBRARIES = ("botocore", "httpx")


def tracing_enabled() -> bool:
    """Powertools Tracer's rule: off when POWERTOOLS_TRACE_DISABLED is true, outside Lambda (no
    LAMBDA_TASK_ROOT) and under `sam local` or Chalice's local mode; on otherwise."""
    if strtobool(os.environ.get("POWERTOOLS_TRACE_DISABLED", "false")):
        return False
    in_lambda = "LAMBDA_TASK_ROOT" in os.environ
    emulated = "AWS_SAM_LOCAL" in os.environ or "AWS_CHALICE_CLI_MODE" in os.environ
    return in_lambda and not emulated


class Untraced:
    """The tracer while tracing is off: nothing to record, so nothing is wrapped."""

    disabled = True

    def capture_lambda_handler(
        self, lambda_handler: Callable[..., Any] | None = None, **_options: Any
    ) -> Callable[..., Any]:
        return lambda_handler if lambda_handler is not None else _unchanged

    def capture_method(
        self, method: Callable[..., Any] | None = None, **_options: Any
    ) -> Callable[..., Any]:
        return method if method is not None else _unchanged

    def put_annotation(self, key: str, value: Any) -> None:
        return None

    def put_metadata(self, key: str, value: Any, namespace: str | None = None) -> None:
        return None


def _unchanged(function: Callable[..., Any]) -> Callable[..., Any]:
    return function


logger = Logger()
tracer: Tracer | Untraced = (
    Tracer(patch_modules=TRACED_LIBRARIES) if tracing_enabled() else Untraced()
)
metrics = Metrics()

# These libraries log full URLs (query API keys), headers and AWS response bodies (secret values)
# at INFO and DEBUG, and Powertools' event handler the test API's validated bodies (URLs with
# userinfo, connections). Turning the root logger up to debug apicall must not leak credentials.
for _name in (
    "httpx",
    "httpcore",
    "botocore",
    "boto3",
    "urllib3",
    "authlib",
    "aws_lambda_powertools.event_handler",
):
    logging.getLogger(_name).setLevel(logging.WARNING)

__all__ = ["MetricUnit", "logger", "metrics", "tracer"]
