"""The production settings of template.yaml, checked on the translated template and in moto."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import boto3
import pytest

from local import infra

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ("RequestFunction", "ApiFunction", "FetchFunction", "PushFunction")
DEAD_LETTER_QUEUES = ("PushDeadLetterQueue", "FetchContinuationDLQ")
NO_VALUE = {"Ref": "AWS::NoValue"}
TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:apicall-alarms"


@pytest.fixture(scope="module")
def translated() -> dict[str, Any]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        return infra.translate(parameters={})


def resources(translated: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in translated["Resources"].items() if r["Type"] == kind}


def alarms_on(translated: dict[str, Any], metric: str) -> dict[str, dict[str, Any]]:
    return {
        k: r["Properties"]
        for k, r in resources(translated, "AWS::CloudWatch::Alarm").items()
        if r["Properties"]["MetricName"] == metric
    }


def notifies_topic_if_given(alarm: dict[str, Any]) -> bool:
    expected = {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], NO_VALUE]}
    return alarm["AlarmActions"] == expected and alarm["OKActions"] == expected


# --- alarms ---------------------------------------------------------------------------------


def test_a_message_in_any_dead_letter_queue_raises_an_alarm(translated: dict[str, Any]) -> None:
    alarms = alarms_on(translated, "ApproximateNumberOfMessagesVisible").values()
    watched = {a["Dimensions"][0]["Value"]["Fn::GetAtt"][0] for a in alarms}

    assert watched == set(DEAD_LETTER_QUEUES)
    for alarm in alarms:
        assert alarm["Namespace"] == "AWS/SQS"
        assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)
        assert notifies_topic_if_given(alarm)


@pytest.mark.parametrize("metric", ["Errors", "Throttles"])
def test_every_function_alarms_on_errors_and_throttles(
    translated: dict[str, Any], metric: str
) -> None:
    alarms = alarms_on(translated, metric).values()
    watched = {a["Dimensions"][0]["Value"]["Ref"] for a in alarms}

    assert watched == set(FUNCTIONS)
    for alarm in alarms:
        assert alarm["Namespace"] == "AWS/Lambda"
        assert (alarm["Statistic"], alarm["Threshold"]) == ("Sum", 0)
        assert notifies_topic_if_given(alarm)


def test_the_alarm_topic_is_optional(translated: dict[str, Any]) -> None:
    assert translated["Parameters"]["AlarmTopicArn"]["Default"] == ""
    assert translated["Conditions"]["HasAlarmTopic"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}]
    }


# --- logs, tracing, metrics -----------------------------------------------------------------


def test_every_function_logs_to_a_group_with_the_retention_parameter(
    translated: dict[str, Any],
) -> None:
    groups = resources(translated, "AWS::Logs::LogGroup")
    for name in FUNCTIONS:
        group_id = translated["Resources"][name]["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert groups[group_id]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert 30 in translated["Parameters"]["LogRetentionDays"]["AllowedValues"]


def test_xray_tracing_is_active_everywhere(translated: dict[str, Any]) -> None:
    for name in FUNCTIONS:
        assert translated["Resources"][name]["Properties"]["TracingConfig"] == {"Mode": "Active"}
    for stage in resources(translated, "AWS::ApiGateway::Stage").values():
        assert stage["Properties"]["TracingEnabled"] is True


def test_the_metrics_namespace_is_per_stage(translated: dict[str, Any]) -> None:
    for name in FUNCTIONS:
        variables = translated["Resources"][name]["Properties"]["Environment"]["Variables"]
        assert variables["POWERTOOLS_METRICS_NAMESPACE"] == {"Fn::Sub": "apicall-${Stage}"}


# --- data at rest -----------------------------------------------------------------------------


def test_every_queue_is_encrypted_at_rest(translated: dict[str, Any]) -> None:
    queues = resources(translated, "AWS::SQS::Queue")
    assert set(DEAD_LETTER_QUEUES) <= set(queues)
    for queue in queues.values():
        properties = queue["Properties"]
        assert properties.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in properties


def test_every_table_is_encrypted_at_rest(translated: dict[str, Any]) -> None:
    tables = resources(translated, "AWS::DynamoDB::Table")
    assert {"RunsTable", "RecordsTable", "IdempotencyTable", "CatalogTable"} <= set(tables)
    for table in tables.values():
        assert table["Properties"]["SSESpecification"] == {"SSEEnabled": True}


@pytest.mark.parametrize("table", ["RecordsTable", "CatalogTable"])
def test_records_and_the_catalog_survive_deletion_and_can_be_restored_to_any_point(
    translated: dict[str, Any], table: str
) -> None:
    kept = translated["Resources"][table]

    assert kept["DeletionPolicy"] == "Retain"
    assert kept["UpdateReplacePolicy"] == "Retain"
    assert kept["Properties"]["PointInTimeRecoverySpecification"] == {
        "PointInTimeRecoveryEnabled": True
    }


def test_only_the_test_api_writes_the_catalog_and_the_request_function_reads_it(
    translated: dict[str, Any],
) -> None:
    def catalog_actions(function: str) -> set[str]:
        role = translated["Resources"][f"{function}Role"]["Properties"]
        return {
            action
            for policy in role.get("Policies", [])
            for statement in policy["PolicyDocument"]["Statement"]
            if '"CatalogTable"' in json.dumps(statement["Resource"])
            for action in _listed(statement["Action"])
        }

    writes = {
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:BatchWriteItem",
    }
    api, request = catalog_actions("ApiFunction"), catalog_actions("RequestFunction")
    assert writes | {"dynamodb:GetItem", "dynamodb:Query"} <= api
    assert {"dynamodb:GetItem", "dynamodb:Query"} <= request and not request & writes
    assert catalog_actions("PushFunction") == catalog_actions("FetchFunction") == set()
    for function in ("ApiFunction", "RequestFunction"):
        variables = translated["Resources"][function]["Properties"]["Environment"]["Variables"]
        assert variables["CATALOG_TABLE"] == {"Ref": "CatalogTable"}


def _listed(action: str | list[str]) -> list[str]:
    return [action] if isinstance(action, str) else action


# --- network and concurrency ----------------------------------------------------------------


def test_functions_join_the_vpc_only_when_subnets_are_given(translated: dict[str, Any]) -> None:
    assert translated["Parameters"]["VpcSubnetIds"]["Default"] == ""
    assert translated["Conditions"]["UseVpc"] == {
        "Fn::Not": [{"Fn::Equals": [{"Fn::Join": ["", {"Ref": "VpcSubnetIds"}]}, ""]}]
    }
    in_vpc = {
        "SubnetIds": {"Ref": "VpcSubnetIds"},
        "SecurityGroupIds": {"Ref": "VpcSecurityGroupIds"},
    }
    for name in FUNCTIONS:
        properties = translated["Resources"][name]["Properties"]
        assert properties["VpcConfig"] == {"Fn::If": ["UseVpc", in_vpc, NO_VALUE]}
        role = translated["Resources"][f"{name}Role"]["Properties"]
        assert any("AWSLambdaVPCAccessExecutionRole" in arn for arn in role["ManagedPolicyArns"])


@pytest.mark.parametrize(
    ("function", "parameter", "condition"),
    [
        ("RequestFunction", "RequestReservedConcurrency", "ReserveRequest"),
        ("ApiFunction", "ApiReservedConcurrency", "ReserveApi"),
        ("FetchFunction", "FetchReservedConcurrency", "ReserveFetch"),
        ("PushFunction", "PushReservedConcurrency", "ReservePush"),
    ],
)
def test_reserved_concurrency_is_a_parameter_where_0_means_unreserved(
    translated: dict[str, Any], function: str, parameter: str, condition: str
) -> None:
    properties = translated["Resources"][function]["Properties"]

    assert properties["ReservedConcurrentExecutions"] == {
        "Fn::If": [condition, {"Ref": parameter}, NO_VALUE]
    }
    assert translated["Conditions"][condition] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": parameter}, 0]}]
    }
    assert translated["Parameters"][parameter]["Default"] == 0


def test_push_may_update_the_rate_limiter_item(translated: dict[str, Any]) -> None:
    role = translated["Resources"]["PushFunctionRole"]["Properties"]
    statements = [
        statement
        for policy in role["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
        if statement["Resource"] == {"Fn::GetAtt": ["RunsTable", "Arn"]}
    ]
    assert any("dynamodb:UpdateItem" in statement["Action"] for statement in statements)


# --- stages -----------------------------------------------------------------------------------


def test_samconfig_deploys_dev_and_prod_stages() -> None:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())

    dev = config["default"]["deploy"]["parameters"]["parameter_overrides"]
    prod = config["prod"]["deploy"]["parameters"]["parameter_overrides"]
    assert "Stage=dev" in dev
    assert "Stage=prod" in prod
    assert "LogRetentionDays=365" in prod
    assert config["prod"]["global"]["parameters"]["stack_name"] == "apicall-prod"


def test_a_prod_stack_deploys_with_its_retention_namespace_and_concurrency(
    aws: boto3.Session,
) -> None:
    # moto's CloudFormation skips CloudWatch alarms; their shape is checked on the template above.
    parameters = {
        "Stage": "prod",
        "AlarmTopicArn": TOPIC_ARN,
        "LogRetentionDays": "365",
        "PushReservedConcurrency": "50",
    }
    result = infra.deploy_stack(aws, "apicall-prod", parameters)

    assert result["status"] == "CREATE_COMPLETE"
    logs = aws.client("logs").describe_log_groups(logGroupNamePrefix="/aws/lambda/apicall-prod-")
    assert {g["retentionInDays"] for g in logs["logGroups"]} == {365}
    assert len(logs["logGroups"]) == len(FUNCTIONS)
    lambdas = aws.client("lambda")
    functions = {f["FunctionName"]: f for f in lambdas.list_functions()["Functions"]}
    namespaces = {
        f["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"] for f in functions.values()
    }
    assert namespaces == {"apicall-prod"}
    reserved = {
        name: lambdas.get_function_concurrency(FunctionName=name).get(
            "ReservedConcurrentExecutions"
        )
        for name in functions
    }
    assert sorted(reserved.values(), key=str) == [50, None, None, None]
