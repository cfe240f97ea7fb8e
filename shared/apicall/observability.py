"""The Powertools logger, tracer and metrics every function shares.

Service name and metrics namespace come from POWERTOOLS_SERVICE_NAME and
POWERTOOLS_METRICS_NAMESPACE (set in template.yaml Globals).
"""

from __future__ import annotations

import logging

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger()
tracer = Tracer()
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
