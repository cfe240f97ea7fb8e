"""template.yaml declares the fetch function: schedule, continuation queue, least privilege."""

from __future__ import annotations

import json
from typing import Any

import boto3

from apicall.core.models import FetchJob
from local import infra


def fetch_resource() -> dict[str, Any]:
    return infra.load_template()["Resources"]["FetchFunction"]["Properties"]


def statements(translated: dict[str, Any]) -> list[dict[str, Any]]:
    role = translated["Resources"]["FetchFunctionRole"]
    return [
        statement
        for policy in role["Properties"]["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
    ]


def test_the_schedule_is_disabled_and_its_input_is_a_valid_fetch_job() -> None:
    schedule = fetch_resource()["Events"]["OrdersSchedule"]["Properties"]

    assert schedule["Enabled"] is False
    job = FetchJob.model_validate(json.loads(schedule["Input"]))
    assert job.request.connection == "demo-apikey" and job.pagination.type == "cursor"


def test_continuations_arrive_one_per_invocation_with_partial_failures() -> None:
    continuation = fetch_resource()["Events"]["Continuation"]["Properties"]

    assert continuation["BatchSize"] == 1
    assert continuation["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    queue = infra.load_template()["Resources"]["FetchContinuationQueue"]["Properties"]
    assert queue["VisibilityTimeout"] >= 6 * fetch_resource()["Timeout"]
    assert "RedrivePolicy" in queue


def test_fetch_function_may_only_do_what_a_fetch_needs() -> None:
    translated = infra.translate(parameters={})
    actions = {
        action
        for statement in statements(translated)
        for action in (
            [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        )
    }

    assert not any(action.endswith("*") for action in actions)
    assert "dynamodb:BatchWriteItem" in actions and "dynamodb:DeleteItem" not in actions
    assert "dynamodb:Scan" not in actions and "sqs:SendMessage" in actions


def test_the_stack_deploys_with_records_table_and_continuation_queue(aws: boto3.Session) -> None:
    result = infra.deploy_stack(aws, "fetch-template")

    outputs = result["outputs"]
    table = aws.client("dynamodb").describe_table(TableName=outputs["RecordsTableName"])["Table"]
    assert [k["AttributeName"] for k in table["KeySchema"]] == ["pk", "sk"]
    function = next(
        f
        for f in aws.client("lambda").list_functions()["Functions"]
        if "FetchFunction" in f["FunctionName"]
    )
    variables = function["Environment"]["Variables"]
    assert variables["RECORDS_TABLE"] == outputs["RecordsTableName"]
    assert variables["FETCH_CONTINUATION_QUEUE_URL"] == outputs["FetchContinuationQueueUrl"]
