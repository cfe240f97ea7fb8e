"""Request function: direct invoke `{"request", "values", "record"}` -> Outcome, or
`{"lookup": {"job", "key"}}` -> one record a fetch job stored (reference data)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from apicall.core import settings
from apicall.core.observability import logger, metrics, tracer
from apicall.fetch.lookup import is_lookup_event, lookup_event
from apicall.request.execute import execute_event

# A deployment without what this function needs fails here, naming the variable.
SETTINGS = settings.load(settings.RequestSettings)


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if is_lookup_event(event):
        return lookup_event(event)
    return execute_event(
        event,
        correlation_id=context.aws_request_id,
        time_left_ms=context.get_remaining_time_in_millis,
    )
