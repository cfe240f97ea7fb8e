"""The local stack: template.yaml created in a moto server, functions invoked in-process.

No Docker: AWS is emulated by moto's server on 127.0.0.1, the stack is created from the translated
template through moto's CloudFormation, and each function runs in this process with the
environment variables the deployed function was given and a Lambda context whose remaining time
counts down from the function's own timeout.
"""

from __future__ import annotations

import importlib
import json
import os
import socket
import string
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local import infra

CONNECTIONS_DIR = Path(__file__).resolve().parent / "connections"
REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalContext:
    """A Lambda context whose remaining time counts down from the function's timeout."""

    def __init__(self, function_name: str, timeout_s: float, memory_mb: int = 512) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:{function_name}"
        self.memory_limit_in_mb = memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = time.strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass
class DeployedFunction:
    logical_id: str
    name: str
    module: str
    handler_name: str
    timeout_s: float
    environment: dict[str, str]
    _handler: Callable[..., Any] | None = field(default=None, repr=False)

    def handler(self) -> Callable[..., Any]:
        if self._handler is None:
            self._handler = getattr(importlib.import_module(self.module), self.handler_name)
        return self._handler


@dataclass
class LocalStack:
    endpoint_url: str
    session: Any
    outputs: dict[str, str]
    functions: dict[str, DeployedFunction]
    translated: dict[str, Any]

    def client(self, service: str) -> Any:
        return self.session.client(service)

    def invoke(self, logical_id: str, event: Any, *, timeout_s: float | None = None) -> Any:
        """Run a function's handler in-process, as Lambda would invoke it."""
        function = self.functions[logical_id]
        _clear_layer_caches()
        context = LocalContext(function.name, timeout_s or function.timeout_s)
        return function.handler()(event, context)

    def put_connection(self, name: str, connection: dict[str, Any]) -> None:
        prefix = os.environ.get("CONNECTIONS_PREFIX", "apicall/connections/")
        secrets = self.client("secretsmanager")
        secret_id = f"{prefix}{name}"
        try:
            secrets.create_secret(Name=secret_id, SecretString=json.dumps(connection))
        except secrets.exceptions.ResourceExistsException:
            secrets.put_secret_value(SecretId=secret_id, SecretString=json.dumps(connection))

    def load_connections(
        self, variables: dict[str, str], folder: Path = CONNECTIONS_DIR
    ) -> list[str]:
        """Create a secret for each `<name>.json` in `folder`, filling `${VAR}` from variables."""
        names = []
        for path in sorted(folder.glob("*.json")):
            text = string.Template(path.read_text()).substitute(variables)
            self.put_connection(path.stem, json.loads(text))
            names.append(path.stem)
        return names


def _clear_layer_caches() -> None:
    """Settings and secrets are cached per container; a local re-invoke must see changes."""
    from aws_lambda_powertools.utilities import parameters

    from apicall import settings

    settings.get_settings.cache_clear()
    parameters.clear_caches()


def _deployed_functions(
    session: Any, translated: dict[str, Any], stack_name: str
) -> dict[str, DeployedFunction]:
    cloudformation = session.client("cloudformation")
    lambda_client = session.client("lambda")
    physical = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cloudformation.list_stack_resources(StackName=stack_name)["StackResourceSummaries"]
    }
    sources = infra.code_folders(infra.load_template())
    functions = {}
    for logical_id, resource in translated["Resources"].items():
        if resource["Type"] != "AWS::Lambda::Function" or logical_id not in sources:
            continue
        config = lambda_client.get_function_configuration(FunctionName=physical[logical_id])
        module_file, handler_name = config["Handler"].rsplit(".", 1)
        package = sources[logical_id].strip("/").replace("/", ".")
        functions[logical_id] = DeployedFunction(
            logical_id=logical_id,
            name=config["FunctionName"],
            module=f"{package}.{module_file}",
            handler_name=handler_name,
            timeout_s=float(config.get("Timeout", 3)),
            environment=config.get("Environment", {}).get("Variables", {}),
        )
    return functions


@contextmanager
def moto_server(port: int | None = None) -> Iterator[str]:
    import logging

    from moto.server import ThreadedMotoServer

    # moto's server logs every AWS call through werkzeug; the demo prints its own progress.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    port = port or free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@contextmanager
def local_stack(
    *, stack_name: str = "apicall-local", parameters: dict[str, str] | None = None
) -> Iterator[LocalStack]:
    """Start moto, create the stack from template.yaml, and point this process at it."""
    import boto3

    saved_environ = dict(os.environ)
    with moto_server() as endpoint_url:
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": endpoint_url,
                "AWS_ACCESS_KEY_ID": "local",
                "AWS_SECRET_ACCESS_KEY": "local",
                "AWS_DEFAULT_REGION": REGION,
                "POWERTOOLS_TRACE_DISABLED": "true",
                "POWERTOOLS_METRICS_NAMESPACE": "apicall-local",
                # EMF metric lines are for CloudWatch; locally they would drown the output.
                "POWERTOOLS_METRICS_DISABLED": "true",
            }
        )
        try:
            session = boto3.Session(region_name=REGION)
            result = infra.deploy_stack(session, stack_name, parameters)
            translated = infra.translate(parameters=parameters)
            functions = _deployed_functions(session, translated, stack_name)
            # Every function's environment at once: the names never conflict, and functions
            # invoked concurrently in this one process then see the variables they expect.
            for function in functions.values():
                os.environ.update(function.environment)
            _reset_layer_clients()
            yield LocalStack(endpoint_url, session, result["outputs"], functions, translated)
        finally:
            os.environ.clear()
            os.environ.update(saved_environ)
            _reset_layer_clients()


def _reset_layer_clients() -> None:
    from apicall import store

    store._dynamodb.cache_clear()
    store.default_runs_store.cache_clear()
    _clear_layer_caches()
