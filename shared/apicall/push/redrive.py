"""Move dead-lettered Push messages back to the push queue, once the endpoint is fixed.

    python -m apicall.push.redrive --all
    python -m apicall.push.redrive --id evt_123 --id evt_456
    python -m apicall.push.redrive --all --dry-run

Queue URLs come from PUSH_DLQ_URL and PUSH_QUEUE_URL (or --dlq-url / --queue-url; the stack's
outputs PushDeadLetterQueueUrl and PushQueueUrl). It moves what the DLQ held when it started, once
each, and ends. A moved message keeps its body and attributes, loses the rejection attributes,
and carries `apicall-attempts-before`, so its attempts continue the numbering of its delivery
history instead of starting again at 1.

`replay` moves one dead letter, by its Push id and workspace (the test API's
POST /pushes/{id}/replay).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from apicall.core.settings import get_settings
from apicall.core.workspaces import DEFAULT_WORKSPACE, WORKSPACE_NAME
from apicall.push.deliverer import ATTEMPTS_BEFORE, REJECTED_REASON, SOURCE_MESSAGE_ID

# Long enough to scan the whole queue before the first held message becomes visible again.
SCAN_VISIBILITY_S = 120
_DROPPED = (REJECTED_REASON, "apicall-rejected-field", SOURCE_MESSAGE_ID, ATTEMPTS_BEFORE)


@dataclass
class RedriveResult:
    moved: list[str] = field(default_factory=list)  # Push ids (or SQS ids of unreadable bodies)
    skipped: int = 0  # dead letters that did not match the ids asked for
    dry_run: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "moved": len(self.moved),
            "ids": self.moved,
            "skipped": self.skipped,
            "dry_run": self.dry_run,
        }


def redrive(
    sqs: Any,
    dlq_url: str,
    queue_url: str,
    *,
    ids: Collection[str] | None = None,
    dry_run: bool = False,
    max_attempts: int | None = None,
) -> RedriveResult:
    """Move the dead letters the DLQ held when this started (or those whose Push `id` is in `ids`).

    It looks at no more messages than the DLQ held at the start, and stops earlier when the DLQ
    shows no more. A message it moved that comes back while it runs (the push function rejects
    it again: still invalid) is left in the DLQ, not moved again; otherwise the two would pass it
    back and forth for as long as the redrive ran. Dead letters that arrive meanwhile wait for
    the next redrive.

    A message is sent to the push queue before it is deleted from the DLQ, so a crash in between
    duplicates it (which idempotency absorbs) rather than losing it.
    """
    max_attempts = max_attempts or get_settings().push_max_attempts
    result = RedriveResult(dry_run=dry_run)
    budget = _depth(sqs, dlq_url)
    sent: set[str] = set()  # push-queue message ids of the copies this run sent
    seen: set[str] = set()  # DLQ message ids this run looked at
    held: dict[str, str] = {}  # DLQ message id -> receipt handle, to release at the end
    while len(seen) < budget:
        messages = _receive(sqs, dlq_url, budget - len(seen), SCAN_VISIBILITY_S)
        if not messages:
            break
        for message in messages:
            message_id = message["MessageId"]
            if message_id in seen or len(seen) >= budget or _came_back(message, sent):
                held[message_id] = message["ReceiptHandle"]
                continue
            seen.add(message_id)
            push_id = _push_id(message)
            if dry_run or (ids is not None and push_id not in ids):
                held[message_id] = message["ReceiptHandle"]
                if ids is None or push_id in ids:
                    result.moved.append(push_id)
                else:
                    result.skipped += 1
                continue
            copy = sqs.send_message(
                QueueUrl=queue_url,
                MessageBody=message["Body"],
                MessageAttributes=_attributes_for_retry(message, max_attempts),
            )
            sent.add(copy["MessageId"])
            sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
            result.moved.append(push_id)
    for receipt in held.values():  # let the ones left alone be seen again at once
        sqs.change_message_visibility(QueueUrl=dlq_url, ReceiptHandle=receipt, VisibilityTimeout=0)
    return result


# SQS finds no message by its content, so a replay receives dead letters until it meets the one
# asked for: at most this many (100 receives of 10), well inside API Gateway's 29 s.
REPLAY_SCAN_LIMIT = 1000
# How long a replay holds each dead letter it looks at; it releases them all when it ends, so
# this only matters if it dies first.
REPLAY_VISIBILITY_S = 60
# A replay stops looking with this much of its caller's time left, to release what it holds.
REPLAY_MARGIN_MS = 5000


@dataclass
class ReplayResult:
    found: bool
    looked_at: int  # dead letters received and compared
    depth: int  # what the DLQ held when the replay started (approximately, as SQS counts)
    message_id: str | None = None  # the copy's message id on the push queue

    @property
    def complete(self) -> bool:
        """Whether every dead letter was looked at (a miss then means there is none)."""
        return self.found or self.looked_at >= self.depth


def replay(
    sqs: Any,
    dlq_url: str,
    queue_url: str,
    push_id: str,
    *,
    workspace: str = DEFAULT_WORKSPACE,
    max_looked_at: int = REPLAY_SCAN_LIMIT,
    time_left_ms: Callable[[], int] | None = None,
    max_attempts: int | None = None,
) -> ReplayResult:
    """Move the dead letter of Push message `push_id` of `workspace` back to the push queue, as
    `redrive` moves one: attributes kept, attempt numbering continued.

    It receives dead letters, holding each for REPLAY_VISIBILITY_S, until it meets one whose
    body has that `id` and `workspace` (a body without a valid workspace is `default`'s, as the
    push function records it), and moves that one only. It stops without it after looking at
    what the DLQ held when it started, at `max_looked_at` messages, when a receive finds nothing
    more, or with REPLAY_MARGIN_MS of `time_left_ms` left; then `complete` says whether the DLQ
    was looked through. Every other message it held is released at once (10 per call). While
    it looks, the messages it holds are hidden from another replay or redrive running at the
    same moment, which may then miss them.
    """
    max_attempts = max_attempts or get_settings().push_max_attempts
    result = ReplayResult(found=False, looked_at=0, depth=_depth(sqs, dlq_url))
    budget = min(result.depth, max_looked_at)
    held: dict[str, str] = {}  # DLQ message id -> receipt handle, to release at the end
    try:
        while result.looked_at < budget and not result.found:
            if time_left_ms is not None and time_left_ms() < REPLAY_MARGIN_MS:
                break
            messages = _receive(sqs, dlq_url, budget - result.looked_at, REPLAY_VISIBILITY_S)
            if not messages:
                break
            for message in messages:
                message_id = message["MessageId"]
                if message_id in held:  # received again: its hold ran out while we looked
                    continue
                held[message_id] = message["ReceiptHandle"]
                result.looked_at += 1
                wanted = _push_id(message) == push_id and _workspace(message) == workspace
                if result.found or not wanted:
                    continue
                copy = sqs.send_message(
                    QueueUrl=queue_url,
                    MessageBody=message["Body"],
                    MessageAttributes=_attributes_for_retry(message, max_attempts),
                )
                sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=held.pop(message_id))
                result.found, result.message_id = True, copy["MessageId"]
    finally:
        _release(sqs, dlq_url, list(held.values()))
    return result


def _release(sqs: Any, queue_url: str, receipts: list[str]) -> None:
    """Make held messages visible again at once."""
    for start in range(0, len(receipts), 10):
        entries = [
            {"Id": str(index), "ReceiptHandle": receipt, "VisibilityTimeout": 0}
            for index, receipt in enumerate(receipts[start : start + 10])
        ]
        sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)


def _workspace(message: dict[str, Any]) -> str:
    """The workspace of a dead letter's body, read as the push function reads it (its attempts
    are recorded there): `default` when the body has none, or none that is a workspace name."""
    try:
        value = json.loads(message["Body"]).get("workspace", DEFAULT_WORKSPACE)
    except (ValueError, AttributeError, RecursionError):
        return DEFAULT_WORKSPACE
    return value if isinstance(value, str) and WORKSPACE_NAME.match(value) else DEFAULT_WORKSPACE


def _depth(sqs: Any, queue_url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes.get("ApproximateNumberOfMessages", 0)) + int(
        attributes.get("ApproximateNumberOfMessagesNotVisible", 0)
    )


def _came_back(message: dict[str, Any], sent: set[str]) -> bool:
    """A copy this run sent: rejected again (a new message naming its source) or dead-lettered
    by the queue (the same message id)."""
    source = message.get("MessageAttributes", {}).get(SOURCE_MESSAGE_ID, {}).get("StringValue")
    return message["MessageId"] in sent or source in sent


def _push_id(message: dict[str, Any]) -> str:
    try:
        value = json.loads(message["Body"]).get("id")
    except (ValueError, AttributeError):
        value = None
    return value if isinstance(value, str) and value else f"sqs:{message['MessageId']}"


def _attributes_for_retry(message: dict[str, Any], max_attempts: int) -> dict[str, Any]:
    attributes = message.get("MessageAttributes", {})
    before = attributes.get(ATTEMPTS_BEFORE, {}).get("StringValue", "0")
    before = before if before.isascii() else "0"  # isdigit() accepts '²', int() does not
    # A rejected message had one attempt; one the queue dead-lettered had all of them.
    spent = 1 if REJECTED_REASON in attributes else max_attempts
    kept = {
        name: {key: value for key, value in attribute.items() if key in _ATTRIBUTE_KEYS}
        for name, attribute in attributes.items()
        if name not in _DROPPED
    }
    kept[ATTEMPTS_BEFORE] = {
        "DataType": "Number",
        "StringValue": str(int(before) + spent if before.isdigit() else spent),
    }
    return kept


_ATTRIBUTE_KEYS = ("DataType", "StringValue", "BinaryValue")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m apicall.push.redrive",
        description="Move dead-lettered Push messages back to the push queue.",
    )
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--all", action="store_true", help="every message in the DLQ")
    which.add_argument(
        "--id", action="append", dest="ids", metavar="ID", help="a Push message id (repeatable)"
    )
    settings = get_settings()
    parser.add_argument("--dlq-url", default=settings.push_dlq_url, help="default PUSH_DLQ_URL")
    parser.add_argument(
        "--queue-url", default=settings.push_queue_url, help="default PUSH_QUEUE_URL"
    )
    parser.add_argument("--dry-run", action="store_true", help="list, move nothing")
    parser.add_argument("--endpoint-url", default=None, help="SQS endpoint (the local stack)")
    args = parser.parse_args(argv)
    if not args.dlq_url or not args.queue_url:
        parser.error("give --dlq-url and --queue-url, or set PUSH_DLQ_URL and PUSH_QUEUE_URL")

    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        sqs = boto3.client("sqs", endpoint_url=args.endpoint_url)
        result = redrive(
            sqs,
            args.dlq_url,
            args.queue_url,
            ids=set(args.ids) if args.ids else None,
            dry_run=args.dry_run,
        )
    except (BotoCoreError, ClientError) as exc:  # a wrong URL, no credentials, no network
        print(f"redrive: {exc}", file=sys.stderr)
        return 1
    json.dump(result.to_dict(), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())


def _receive(sqs: Any, dlq_url: str, most: int, visibility_s: int) -> list[dict[str, Any]]:
    """Up to `most` (at most 10) dead letters with their attributes, each held `visibility_s`."""
    answer = sqs.receive_message(
        QueueUrl=dlq_url,
        MaxNumberOfMessages=min(10, most),
        VisibilityTimeout=visibility_s,
        MessageAttributeNames=["All"],
        WaitTimeSeconds=1,
    )
    messages: list[dict[str, Any]] = answer.get("Messages", [])
    return messages
