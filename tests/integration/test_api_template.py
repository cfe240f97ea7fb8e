"""The test API in template.yaml, as AWS would create it: every route needs an API key."""

from __future__ import annotations

from typing import Any

import pytest

from local import infra

EXPECTED_OPERATIONS = {
    ("post", "/test"),
    ("post", "/schema"),
    ("post", "/discover"),
    ("post", "/curl"),
    ("get", "/oauth/{connection}/authorize"),
    ("get", "/oauth/callback"),
    ("get", "/openapi.json"),
    ("get", "/docs"),
    ("post", "/connections"),
    ("get", "/connections"),
    ("get", "/connections/{name}"),
    ("put", "/connections/{name}"),
    ("delete", "/connections/{name}"),
    ("post", "/connections/{name}/test"),
    ("post", "/connections/test"),
    ("post", "/preview"),
    ("post", "/connections/{name}/entities"),
    ("get", "/connections/{name}/entities"),
    ("get", "/connections/{name}/entities/{entity}"),
    ("put", "/connections/{name}/entities/{entity}"),
    ("delete", "/connections/{name}/entities/{entity}"),
    ("get", "/history"),
    ("get", "/history/{run_id}"),
    ("get", "/pushes/{id}"),
    ("post", "/pushes/{id}/replay"),
    ("get", "/fetches/{job}"),
    ("post", "/fetches/{job}/run"),
    ("get", "/records/{job}"),
    ("get", "/records/{job}/{key}"),
}


@pytest.fixture(scope="module")
def translated() -> dict[str, Any]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        return infra.translate(parameters={})


def operations(translated: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    body = translated["Resources"]["TestApi"]["Properties"]["Body"]
    return {
        (method, path): operation
        for path, item in body["paths"].items()
        for method, operation in item.items()
    }


def test_every_route_requires_the_api_key(translated: dict[str, Any]) -> None:
    routes = {key: op for key, op in operations(translated).items() if key[0] != "options"}

    assert set(routes) == EXPECTED_OPERATIONS
    for key, operation in routes.items():
        assert operation["security"] == [{"api_key": []}], key
    schemes = translated["Resources"]["TestApi"]["Properties"]["Body"]["securityDefinitions"]
    assert schemes["api_key"] == {"type": "apiKey", "name": "x-api-key", "in": "header"}


def test_cors_preflights_answer_without_a_key(translated: dict[str, Any]) -> None:
    preflights = [op for (method, _), op in operations(translated).items() if method == "options"]

    assert len(preflights) == len({path for _, path in EXPECTED_OPERATIONS})
    assert all("security" not in op for op in preflights)


def test_usage_plan_throttles_and_binds_the_key_to_the_stage(translated: dict[str, Any]) -> None:
    resources = translated["Resources"]
    plan = resources["TestApiUsagePlan"]["Properties"]

    assert plan["Throttle"] == {"BurstLimit": 20, "RateLimit": 10}
    assert plan["Quota"]["Period"] == "DAY"
    assert plan["ApiStages"][0]["ApiId"] == {"Ref": "TestApi"}
    key = resources["TestApiUsagePlanKey"]["Properties"]
    assert key["KeyId"] == {"Ref": "TestApiApiKey"} and key["KeyType"] == "API_KEY"
    assert resources["TestApiApiKey"]["Properties"]["Enabled"] is True
    stage = resources["TestApiStage"]["Properties"]
    assert stage["MethodSettings"][0]["ThrottlingRateLimit"] == 10


def test_api_function_shares_the_request_code_and_outputs_the_url(
    translated: dict[str, Any],
) -> None:
    template = infra.load_template()
    function = template["Resources"]["ApiFunction"]["Properties"]
    request = template["Resources"]["RequestFunction"]["Properties"]

    assert function["CodeUri"] == request["CodeUri"] == "functions/request/"
    assert function["Handler"] == "api.handler"
    assert "TestApiUrl" in translated["Outputs"]
    assert "${TestApi}.execute-api" in translated["Outputs"]["TestApiUrl"]["Value"]["Fn::Sub"]
