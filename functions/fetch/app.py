"""Fetch function: a scheduled FetchJob, or a continuation message from FetchContinuationQueue."""

import sys
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from apicall.core import settings
from apicall.core.observability import logger, metrics, tracer
from apicall.fetch.run import fetch_continuation, fetch_scheduled, is_sqs_event

# A deployment without what this function needs fails here, naming the variable.
SETTINGS = settings.load(settings.FetchSettings)
# For the whole process, once per container (which runs one fetch at a time); a library must
# not change it. benchmarks/README.md, "Fetch": +8-12% records/s at 0.5 ms.
sys.setswitchinterval(SETTINGS.fetch_switch_interval_ms / 1000)

processor = BatchProcessor(event_type=EventType.SQS)


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
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
