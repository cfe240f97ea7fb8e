"""template.yaml is valid SAM, and what it declares deploys."""

from __future__ import annotations

import boto3

from local import infra


def test_template_translates_to_cloudformation() -> None:
    translated = infra.translate(parameters={})
    types = {resource["Type"] for resource in translated["Resources"].values()}
    assert "AWS::Lambda::Function" in types
    assert "AWS::Lambda::LayerVersion" in types
    assert "AWS::Serverless::Function" not in types


def test_translated_template_deploys_into_moto_cloudformation(aws: boto3.Session) -> None:
    result = infra.deploy_stack(aws)

    assert result["status"] == "CREATE_COMPLETE"
    table_name = result["outputs"]["RunsTableName"]
    description = aws.client("dynamodb").describe_table(TableName=table_name)["Table"]
    assert {k["AttributeName"] for k in description["KeySchema"]} == {"pk", "sk"}
    functions = aws.client("lambda").list_functions()["Functions"]
    request_function = next(f for f in functions if "RequestFunction" in f["FunctionName"])
    assert request_function["Handler"] == "app.handler"
    assert request_function["Environment"]["Variables"]["RUNS_TABLE"] == table_name
    catalog_name = result["outputs"]["CatalogTableName"]
    catalog = aws.client("dynamodb").describe_table(TableName=catalog_name)["Table"]
    assert {k["AttributeName"] for k in catalog["KeySchema"]} == {"pk", "sk"}
    api_function = next(f for f in functions if "ApiFunction" in f["FunctionName"])
    for function in (request_function, api_function):
        assert function["Environment"]["Variables"]["CATALOG_TABLE"] == catalog_name


def test_request_function_may_read_only_its_secret_prefix() -> None:
    translated = infra.translate(parameters={})
    role = translated["Resources"]["RequestFunctionRole"]
    statements = [
        statement
        for policy in role["Properties"]["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
    ]
    secret_statements = [s for s in statements if any("secretsmanager" in a for a in _actions(s))]
    assert secret_statements
    for statement in secret_statements:
        resource = statement["Resource"]
        assert "Fn::Sub" in resource and resource["Fn::Sub"].endswith("${ConnectionsPrefix}*")


def test_tables_fixture_builds_runs_table_from_template_key_schema(tables) -> None:
    table = tables["RunsTable"]
    assert {k["AttributeName"] for k in table.key_schema} == {"pk", "sk"}


def _actions(statement: dict) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else action
