"""Request function: direct invoke `{"request", "values", "record"}` -> Outcome."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from apicall.execute import execute_event
from apicall.observability import logger, metrics, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return execute_event(
        event,
        correlation_id=context.aws_request_id,
        time_left_ms=context.get_remaining_time_in_millis,
    )
