"""Fetch function: a scheduled FetchJob, or a continuation message from FetchContinuationQueue."""

import functools
import sys
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from apicall.fetching import fetch_continuation, fetch_scheduled, is_sqs_event
from apicall.observability import logger, metrics, tracer
from apicall.settings import get_settings

processor = BatchProcessor(event_type=EventType.SQS)


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    set_switch_interval()
    if is_sqs_event(event):

        def resume(record: SQSRecord) -> dict[str, Any]:
            # The raw record: a missing body is the layer's typed error, not a KeyError here.
            raw = record.raw_event
            return fetch_continuation(raw.get("body"), context, message_id=raw.get("messageId"))

        return dict(
            process_partial_response(
                event=event, record_handler=resume, processor=processor, context=context
            )
        )
    return fetch_scheduled(event, context)


@functools.cache
def set_switch_interval() -> None:
    """Once per container, which runs one fetch at a time: FETCH_SWITCH_INTERVAL_MS for the
    process (a library must not change it; benchmarks/README.md, "Fetch")."""
    sys.setswitchinterval(get_settings().fetch_switch_interval_ms / 1000)
