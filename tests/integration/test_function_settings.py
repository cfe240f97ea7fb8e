"""Each handler checks, when it loads, that its function has the environment it needs.

A function deployed without a variable it needs fails its cold start with an error naming the
variable (`apicall.core.settings.load`), not its first message; and template.yaml gives each
function everything its handler checks.
"""

from __future__ import annotations

import os
import subprocess

import boto3
import pytest

from apicall.core import settings
from local import infra
from tests.support.environment import HANDLER_ENVIRONMENT, in_fresh_interpreter

HANDLERS = {
    "RequestFunction": ("functions.request.app", settings.RequestSettings),
    "ApiFunction": ("functions.request.api", settings.ApiSettings),
    "PushFunction": ("functions.push.app", settings.PushSettings),
    "FetchFunction": ("functions.fetch.app", settings.FetchSettings),
}


def load_handler(module: str, variables: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Import `module` in a fresh interpreter with only `variables` (a new container)."""
    env = {
        **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")},
        **variables,
        "POWERTOOLS_TRACE_DISABLED": "true",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    return in_fresh_interpreter(f"import {module}", env)


def test_every_function_of_the_deployed_stack_loads_with_the_environment_it_is_given(
    aws: boto3.Session,
) -> None:
    infra.deploy_stack(aws)
    functions = aws.client("lambda").list_functions()["Functions"]

    for logical_id, (module, kind) in HANDLERS.items():
        deployed = next(f for f in functions if logical_id in f["FunctionName"])
        variables = deployed["Environment"]["Variables"]
        kind.model_validate(variables)  # raises, naming the field, if one is missing
        loaded = load_handler(module, variables)
        assert loaded.returncode == 0, (logical_id, loaded.stderr[-2000:])


@pytest.mark.parametrize(
    ("module", "missing"),
    [
        ("functions.request.app", "RUNS_TABLE"),
        ("functions.request.app", "CATALOG_TABLE"),
        ("functions.request.app", "RECORDS_TABLE"),
        ("functions.request.api", "RUNS_TABLE"),
        ("functions.request.api", "CATALOG_TABLE"),
        ("functions.request.api", "PUSH_DLQ_URL"),
        ("functions.request.api", "FETCH_CONTINUATION_QUEUE_URL"),
        ("functions.push.app", "IDEMPOTENCY_TABLE"),
        ("functions.push.app", "PUSH_DLQ_URL"),
        ("functions.fetch.app", "RECORDS_TABLE"),
        ("functions.fetch.app", "FETCH_CONTINUATION_QUEUE_URL"),
    ],
)
def test_a_handler_without_a_variable_it_needs_fails_to_load_naming_it(
    module: str, missing: str
) -> None:
    variables = {k: v for k, v in HANDLER_ENVIRONMENT.items() if k != missing}

    loaded = load_handler(module, variables)

    assert loaded.returncode != 0
    last_line = loaded.stderr.strip().splitlines()[-1]
    assert last_line.startswith("apicall.core.errors.ConfigError: invalid environment:")
    assert f"{missing}: Field required" in last_line


def test_an_invalid_value_fails_the_load_naming_the_variable() -> None:
    loaded = load_handler(
        "functions.push.app", {**HANDLER_ENVIRONMENT, "PUSH_RETRY_SCHEDULE": "10,soon"}
    )

    assert loaded.returncode != 0
    assert "PUSH_RETRY_SCHEDULE" in loaded.stderr.strip().splitlines()[-1]
