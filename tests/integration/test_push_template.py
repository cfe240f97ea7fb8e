"""template.yaml's push resources: the queue contract the delivery code relies on."""

from __future__ import annotations

from local import infra


def resources() -> dict:
    return infra.load_template()["Resources"]


def test_the_push_queue_dead_letters_after_10_receives() -> None:
    queue = resources()["PushQueue"]["Properties"]
    assert queue["RedrivePolicy"]["maxReceiveCount"] == 10
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["PushDeadLetterQueue", "Arn"]
    }
    function = resources()["PushFunction"]["Properties"]
    assert function["Environment"]["Variables"]["PUSH_MAX_ATTEMPTS"] == "10"


def test_the_visibility_timeout_is_at_least_six_times_the_function_timeout() -> None:
    queue = resources()["PushQueue"]["Properties"]
    function = resources()["PushFunction"]["Properties"]
    assert queue["VisibilityTimeout"] >= 6 * function["Timeout"]


def test_the_function_reads_batches_of_10_with_partial_failures() -> None:
    event = resources()["PushFunction"]["Properties"]["Events"]["Push"]["Properties"]
    assert event["BatchSize"] == 10
    assert event["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_sqs_permissions_are_limited_to_the_two_push_queues() -> None:
    translated = infra.translate(parameters={})
    role = translated["Resources"]["PushFunctionRole"]["Properties"]
    grants = {}
    for policy in role["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            actions = statement["Action"]
            for action in [actions] if isinstance(actions, str) else actions:
                if action.startswith("sqs:"):
                    grants.setdefault(action, []).append(statement["Resource"])
    assert grants["sqs:ChangeMessageVisibility"] == [{"Fn::GetAtt": ["PushQueue", "Arn"]}]
    assert grants["sqs:SendMessage"] == [{"Fn::GetAtt": ["PushDeadLetterQueue", "Arn"]}]


def test_the_stack_outputs_both_queue_urls() -> None:
    outputs = infra.load_template()["Outputs"]
    assert outputs["PushQueueUrl"]["Value"] == {"Ref": "PushQueue"}
    assert outputs["PushDeadLetterQueueUrl"]["Value"] == {"Ref": "PushDeadLetterQueue"}
