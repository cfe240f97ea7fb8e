"""Redrive moves what the DLQ held when it started, once, even when the push function rejects a
moved message straight back into the DLQ while the redrive is still reading it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from apicall.push.deliverer import SOURCE_MESSAGE_ID, attempt_history
from apicall.push.redrive import redrive
from tests.support.push import PushRig

# More sends than this to the push queue can only be the same messages going round again.
SEND_LIMIT = 20


class PushFunctionRunsOnEverySend:
    """The real SQS client, with the push function run on the push queue right after each send:
    a still-invalid message is rejected back into the DLQ before redrive's next receive."""

    def __init__(self, rig: PushRig, *, also: Any = None) -> None:
        self.rig = rig
        self.sends = 0
        self.also = also  # called after each send, to add dead letters while redrive runs

    def __getattr__(self, name: str) -> Any:
        return getattr(self.rig.sqs, name)

    def send_message(self, **kwargs: Any) -> dict[str, Any]:
        answer = self.rig.sqs.send_message(**kwargs)
        if kwargs["QueueUrl"] == self.rig.queue_url:
            self.sends += 1
            if self.sends > SEND_LIMIT:
                raise AssertionError("redrive keeps moving messages it already moved")
            while self.rig.trigger.poll():
                pass
            if self.also:
                self.also()
        return answer


def invalid(push_id: str) -> dict[str, Any]:
    return {"id": push_id, "target": {"connection": "missing", "url": "/in"}, "record": {}}


def rejected_in_dlq(rig: PushRig, ids: list[str]) -> None:
    for push_id in ids:
        rig.send(invalid(push_id))
    rig.trigger.drain(timeout_s=20)
    assert len(rig.dead_letters()) == len(ids)


@pytest.mark.parametrize("count", [1, 3, 12])
def test_a_message_rejected_again_is_not_moved_again_and_redrive_ends(
    push_rig: PushRig, count: int
) -> None:
    ids = [f"evt_{n}" for n in range(count)]
    rejected_in_dlq(push_rig, ids)
    sqs = PushFunctionRunsOnEverySend(push_rig)

    result = redrive(sqs, push_rig.dlq_url, push_rig.queue_url)

    assert sorted(result.moved) == sorted(ids)
    assert sqs.sends == count
    letters = push_rig.dead_letters()
    assert sorted(json.loads(m["Body"])["id"] for m in letters) == sorted(ids)
    for push_id in ids:  # one rejection before the redrive, one after: two attempts each
        history = attempt_history(push_id)
        assert [(a["number"], a["outcome"]) for a in history] == [(1, "rejected"), (2, "rejected")]


def test_dead_letters_that_arrive_during_a_redrive_wait_for_the_next_one(
    push_rig: PushRig,
) -> None:
    rejected_in_dlq(push_rig, ["evt_a", "evt_b"])
    newcomers = iter(range(100))

    def another_failure() -> None:  # an unrelated message dead-lettered while redrive runs
        push_rig.sqs.send_message(
            QueueUrl=push_rig.dlq_url, MessageBody=json.dumps(invalid(f"new_{next(newcomers)}"))
        )

    sqs = PushFunctionRunsOnEverySend(push_rig, also=another_failure)

    result = redrive(sqs, push_rig.dlq_url, push_rig.queue_url)

    assert len(result.moved) == 2 and sqs.sends == 2
    assert len(push_rig.dead_letters()) == 4  # two came back, two arrived


def test_a_dry_run_lists_each_dead_letter_once(push_rig: PushRig) -> None:
    rejected_in_dlq(push_rig, [f"evt_{n}" for n in range(15)])

    result = redrive(push_rig.sqs, push_rig.dlq_url, push_rig.queue_url, dry_run=True)

    assert sorted(result.moved) == sorted(f"evt_{n}" for n in range(15))
    assert len(push_rig.dead_letters()) == 15


def test_a_returned_copy_is_recognised_by_its_source_message_id(push_rig: PushRig) -> None:
    rejected_in_dlq(push_rig, ["evt_a"])
    sqs = PushFunctionRunsOnEverySend(push_rig)

    redrive(sqs, push_rig.dlq_url, push_rig.queue_url)

    [letter] = push_rig.dead_letters()
    assert SOURCE_MESSAGE_ID in letter["MessageAttributes"]
    assert letter["MessageAttributes"]["apicall-attempts-before"]["StringValue"] == "1"


def test_a_queue_that_does_not_exist_is_one_line_and_exit_1(push_rig: PushRig, capsys) -> None:
    from apicall.push.redrive import main

    missing = push_rig.dlq_url + "-missing"

    assert main(["--all", "--dlq-url", missing, "--queue-url", push_rig.queue_url]) == 1
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1
    assert err.startswith("redrive: ") and "Traceback" not in err
