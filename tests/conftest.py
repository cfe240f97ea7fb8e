"""Fixtures every test layer shares: fake AWS credentials, moto, tables built from template.yaml."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

# Imported here, before tests/unit blocks sockets: with tracing on, importing the layer loads the
# X-Ray SDK, which opens a UDP socket (off, as in these tests, it loads nothing of X-Ray).
from apicall.core.runtime import RUNTIME
from local import infra
from tests.support.environment import handler_environment

# Each handler checks its function's environment when it loads, as in Lambda: loaded once here,
# so that a test module (or a test) importing one later gets it from sys.modules.
with handler_environment():
    import functions.fetch.app
    import functions.push.app
    import functions.request.api
    import functions.request.app  # noqa: F401

REGION = "us-east-1"

# Fixtures for the demo API and its connections, usable from every test layer.
pytest_plugins = ["tests.support.demo"]


@pytest.fixture(autouse=True)
def _isolated_aws_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test can reach real AWS, and no cached setting or client leaks between tests."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "apicall-tests")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "apicall-tests")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    RUNTIME.reset()
    yield
    RUNTIME.reset()


@pytest.fixture
def aws() -> Iterator[boto3.Session]:
    """A moto-backed AWS account for the duration of one test."""
    with mock_aws():
        yield boto3.Session(region_name=REGION)


@pytest.fixture
def tables(aws: boto3.Session, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Every DynamoDB table of template.yaml, created from its own properties.

    Returns logical id -> boto3 Table; the matching environment variables are set.
    """
    client = aws.client("dynamodb")
    resource = aws.resource("dynamodb")
    env_names = {
        "RunsTable": "RUNS_TABLE",
        "RecordsTable": "RECORDS_TABLE",
        "IdempotencyTable": "IDEMPOTENCY_TABLE",
        "CatalogTable": "CATALOG_TABLE",
    }
    created = {}
    for logical_id, properties in infra.table_definitions().items():
        name = f"test-{logical_id}"
        infra.create_table(client, name, properties)
        created[logical_id] = resource.Table(name)
        if logical_id in env_names:
            monkeypatch.setenv(env_names[logical_id], name)
    RUNTIME.reset()
    return created


@pytest.fixture
def runs_table(tables: dict[str, Any]) -> Any:
    return tables["RunsTable"]


@pytest.fixture
def put_connection(aws: boto3.Session) -> Callable[[str, dict[str, Any]], str]:
    """Store a connection secret under the default prefix; returns the secret name."""
    client = aws.client("secretsmanager")

    def put(name: str, connection: dict[str, Any]) -> str:
        secret_name = f"apicall/connections/{name}"
        try:
            client.create_secret(Name=secret_name, SecretString=json.dumps(connection))
        except client.exceptions.ResourceExistsException:
            client.put_secret_value(SecretId=secret_name, SecretString=json.dumps(connection))
        RUNTIME.reset()
        return secret_name

    return put
