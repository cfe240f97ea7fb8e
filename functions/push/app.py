"""Push function: deliver each Push message of an SQS batch; failed ones come back later."""

from typing import Any

from aws_lambda_powertools.utilities.batch import (
    AsyncBatchProcessor,
    EventType,
    async_process_partial_response,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from apicall.core import settings
from apicall.core.observability import logger, metrics, tracer
from apicall.push.deliverer import deliver_record, refused_event, sqs_event_problem

# A deployment without what this function needs fails here, naming the variable.
SETTINGS = settings.load(settings.PushSettings)

# A batch whose every record failed is still a partial response, not an error: each failed
# record already has its retry delay set.
processor = AsyncBatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    problem = sqs_event_problem(event)
    if problem is not None:
        return refused_event(event, problem)
    return dict(async_process_partial_response(event, deliver_record, processor, context))
