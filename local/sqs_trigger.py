"""Lambda's SQS event source mapping, emulated over a real (moto) queue.

`SqsTrigger.poll()` does what the mapping does once: receive up to a batch, build the SQS Lambda
event, invoke the handler in this process, delete the records that succeeded and leave the ones
in `batchItemFailures` for their visibility timeout (which the handler may have changed). A
handler that raises, or answers a failure without a valid id, fails the whole batch, as on AWS.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from local.stack import LocalContext

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class SqsTrigger:
    sqs: Any  # a boto3 SQS client
    queue_url: str
    handler: Handler
    batch_size: int = 10
    function_timeout_s: float = 120
    function_name: str = "PushFunction"
    invocations: int = 0
    errors: list[BaseException] = field(default_factory=list)

    def __post_init__(self) -> None:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]
        self.queue_arn = attributes["QueueArn"]
        self.region = self.queue_arn.split(":")[3]

    def poll(self, *, wait_s: int = 0) -> int:
        """Receive and process one batch; returns how many records it held."""
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=wait_s,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if messages:
            self.invoke([self.lambda_record(message) for message in messages])
        return len(messages)

    def invoke(self, records: list[dict[str, Any]]) -> None:
        """Invoke the handler with these records and settle them as the mapping does."""
        self.invocations += 1
        context = LocalContext(self.function_name, self.function_timeout_s)
        try:
            response = self.handler({"Records": records}, context)
        except Exception as exc:  # the whole batch returns after its visibility timeout
            self.errors.append(exc)
            return
        failed_ids = self._failed_ids(response, records)
        if failed_ids is None:
            return
        done = [
            {"Id": str(index), "ReceiptHandle": record["receiptHandle"]}
            for index, record in enumerate(records)
            if record["messageId"] not in failed_ids
        ]
        for start in range(0, len(done), 10):
            self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=done[start : start + 10])

    def _failed_ids(self, response: Any, records: list[dict[str, Any]]) -> set[str] | None:
        """The ids reported as failed, or None when the answer fails the whole batch."""
        if not isinstance(response, dict):
            return set()
        ids = {record["messageId"] for record in records}
        failed = set()
        for item in response.get("batchItemFailures") or []:
            identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
            if not identifier or identifier not in ids:
                return None
            failed.add(identifier)
        return failed

    def drain(self, *, timeout_s: float = 60, idle_sleep_s: float = 0.05) -> None:
        """Poll until the queue holds no message, visible or in flight; TimeoutError after that."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.poll():
                continue
            if self.pending() == 0:
                return
            time.sleep(idle_sleep_s)
        raise TimeoutError(f"{self.queue_url} still holds {self.pending()} messages")

    def pending(self) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )

    def lambda_record(self, message: dict[str, Any]) -> dict[str, Any]:
        """One record of the SQS event Lambda sends, from a ReceiveMessage message."""
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": dict(message.get("Attributes", {})),
            "messageAttributes": {
                name: _lambda_attribute(value)
                for name, value in message.get("MessageAttributes", {}).items()
            },
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": self.region,
        }


def _lambda_attribute(value: dict[str, Any]) -> dict[str, Any]:
    import base64

    binary = value.get("BinaryValue")
    return {
        "stringValue": value.get("StringValue"),
        "binaryValue": base64.b64encode(binary).decode() if binary is not None else None,
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": value["DataType"],
    }


def peek_messages(sqs: Any, queue_url: str, *, passes: int = 3) -> list[dict[str, Any]]:
    """Every message in a queue, left there: received, then made visible again at once.

    Several passes, because one empty receive does not prove an SQS queue empty.
    """
    found: dict[str, dict[str, Any]] = {}
    for _ in range(passes):
        while True:
            batch = sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=30,
                MessageAttributeNames=["All"],
                AttributeNames=["All"],
            ).get("Messages", [])
            if not batch:
                break
            for message in batch:
                found[message["MessageId"]] = message
    for message in found.values():
        sqs.change_message_visibility(
            QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )
    return list(found.values())
