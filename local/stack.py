"""The local stack: template.yaml created in a moto server, functions invoked in-process.

No Docker: AWS is emulated by moto's server on 127.0.0.1, the stack is created from the translated
template through moto's CloudFormation, and each function runs in this process with the
environment variables the deployed function was given and a Lambda context whose remaining time
counts down from the function's own timeout. Concurrent invocations of one function run in
separate "containers" (fresh copies of its handler module), as Lambda runs them in separate
execution environments: module-level state such as a batch processor or a route resolver is
never shared by two invocations at once.

What moto's CloudFormation does not create is listed in `LocalStack.not_created`; the local stack
makes up for the parts that matter (see local/api_gateway.py and local/triggers.py).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import re
import socket
import string
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apicall.core.runtime import RUNTIME
from local import infra

CONNECTIONS_DIR = Path(__file__).resolve().parent / "connections"
REGION = "us-east-1"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (for a server started by port)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, *, process: Any = None, timeout_s: float = 30.0) -> None:
    """Return once something accepts connections on 127.0.0.1:`port`; RuntimeError after
    `timeout_s`, or as soon as `process` (a Popen that should be listening there) has exited."""
    deadline = time.monotonic() + timeout_s
    while True:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server for port {port} exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing listens on port {port} after {timeout_s:g} s")
        time.sleep(0.1)


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


Handler = Callable[[Any, Any], Any]


@dataclass
class DeployedFunction:
    logical_id: str
    name: str
    module: str
    handler_name: str
    timeout_s: float
    environment: dict[str, str]
    arn: str = ""
    _handler: Handler | None = field(default=None, repr=False)
    _idle: list[Handler] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    containers: int = 0

    def handler(self) -> Handler:
        """The handler of the first container (the module as `import` gives it)."""
        if self._handler is None:
            self._handler = getattr(importlib.import_module(self.module), self.handler_name)
        return self._handler

    @contextmanager
    def container(self) -> Iterator[Handler]:
        """A warm container's handler, or a new container when every one is busy."""
        with self._lock:
            handler = self._idle.pop() if self._idle else None
            number = self.containers if handler is None else 0
            if handler is None:
                self.containers += 1
        if handler is None:
            handler = self.handler() if number == 0 else self._load_copy(number)
        try:
            yield handler
        finally:
            with self._lock:
                self._idle.append(handler)

    def _load_copy(self, number: int) -> Handler:
        """A fresh copy of the handler module: its globals belong to this container alone."""
        path = importlib.import_module(self.module).__file__
        name = f"{self.module}_container{number}"
        spec = importlib.util.spec_from_file_location(name, path or "")
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {self.module} from {path}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return getattr(module, self.handler_name)


@dataclass(frozen=True)
class QueueMapping:
    """An SQS event source mapping of the stack: the function that reads a queue, and how."""

    uuid: str
    function: str  # logical id
    queue: str  # logical id
    queue_url: str
    queue_arn: str
    batch_size: int
    enabled: bool


@dataclass
class LocalStack:
    endpoint_url: str
    session: Any
    outputs: dict[str, str]
    functions: dict[str, DeployedFunction]
    translated: dict[str, Any]
    stack_name: str = "apicall-local"
    parameters: dict[str, str] = field(default_factory=dict)
    # logical id -> physical id of every resource moto created
    physical: dict[str, str] = field(default_factory=dict)
    # logical id -> resource type of what moto's CloudFormation could not create
    not_created: dict[str, str] = field(default_factory=dict)
    queue_mappings: list[QueueMapping] = field(default_factory=list)

    def client(self, service: str) -> Any:
        return self.session.client(service)

    def invoke(self, logical_id: str, event: Any, *, timeout_s: float | None = None) -> Any:
        """Run a function's handler in-process, as Lambda would invoke it."""
        function = self.functions[logical_id]
        context = LocalContext(function.name, timeout_s or function.timeout_s)
        return self.run(logical_id, event, context)

    def run(self, logical_id: str, event: Any, context: Any) -> Any:
        """Run one invocation in a free container of the function, with the given context."""
        with self.functions[logical_id].container() as handler:
            return handler(event, context)

    def function_by_arn(self, arn: str) -> DeployedFunction:
        for function in self.functions.values():
            if function.arn == arn or arn.startswith(function.arn + ":"):
                return function
        raise KeyError(f"no function of the stack has the ARN {arn}")

    def queue_url(self, logical_id: str) -> str:
        return self.physical[logical_id]

    def table_name(self, logical_id: str) -> str:
        return self.physical[logical_id]

    def set_environment(self, logical_id: str, changes: dict[str, str]) -> None:
        """Change a function's environment variables, in moto's Lambda and in this process."""
        function = self.functions[logical_id]
        function.environment = {**function.environment, **changes}
        self.client("lambda").update_function_configuration(
            FunctionName=function.name, Environment={"Variables": function.environment}
        )
        os.environ.update(changes)
        RUNTIME.reset()  # settings and the clients built from them are per container

    def resolve(self, value: Any) -> Any:
        """A template value with Ref, Fn::GetAtt (Arn) and Fn::Sub filled in from this stack."""
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if set(value) == {"Ref"}:
            return self._ref(value["Ref"])
        if set(value) == {"Fn::GetAtt"}:
            name, attribute = value["Fn::GetAtt"]
            return self._attribute(name, attribute)
        if set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
            return re.sub(r"\$\{([\w:]+)(?:\.(\w+))?\}", self._sub, value["Fn::Sub"])
        return {key: self.resolve(item) for key, item in value.items()}

    def _sub(self, match: re.Match[str]) -> str:
        name, attribute = match.groups()
        return str(self._attribute(name, attribute) if attribute else self._ref(name))

    def _ref(self, name: str) -> Any:
        pseudo = {
            "AWS::Region": REGION,
            "AWS::StackName": self.stack_name,
            "AWS::AccountId": "123456789012",
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        return self.physical.get(name, name)

    def _attribute(self, name: str, attribute: str) -> Any:
        if attribute == "Arn" and name in self.functions:
            return self.functions[name].arn
        if attribute in ("Arn", "QueueName") and name in self.physical:
            url = self.physical[name]
            if url.startswith("http"):
                queue_arn = self.client("sqs").get_queue_attributes(
                    QueueUrl=url, AttributeNames=["QueueArn"]
                )["Attributes"]["QueueArn"]
                return queue_arn if attribute == "Arn" else queue_arn.rsplit(":", 1)[1]
        return f"{name}.{attribute}"

    def put_connection(self, name: str, connection: dict[str, Any]) -> None:
        prefix = os.environ.get("CONNECTIONS_PREFIX", "apicall/connections/")
        secrets = self.client("secretsmanager")
        secret_id = f"{prefix}{name}"
        try:
            secrets.create_secret(Name=secret_id, SecretString=json.dumps(connection))
        except secrets.exceptions.ResourceExistsException:
            secrets.put_secret_value(SecretId=secret_id, SecretString=json.dumps(connection))

    def load_connections(
        self, variables: Mapping[str, str], folder: Path = CONNECTIONS_DIR
    ) -> list[str]:
        """Create a secret for each `<name>.json` in `folder`, filling `${VAR}` from variables."""
        return self.put_connections(read_connections(folder, variables))

    def put_connections(self, connections: Mapping[str, dict[str, Any]]) -> list[str]:
        for name, connection in connections.items():
            self.put_connection(name, connection)
        return list(connections)


class LocalSetupError(Exception):
    """A file or variable the local stack needs is missing or wrong; the message names it."""


def read_connections(folder: Path, variables: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """`<name>.json` of `folder` -> the connection, `${VAR}` filled from `variables`.

    Read before anything starts, so that a typo costs one line, not a stack start-up.
    """
    if not folder.is_dir():
        raise LocalSetupError(f"{folder}: no such connections folder")
    connections = {}
    for path in sorted(folder.glob("*.json")):
        try:
            text = string.Template(path.read_text()).substitute(variables)
        except KeyError as exc:
            raise LocalSetupError(
                f"{path}: ${{{exc.args[0]}}} is not set; export it or take it out of the file"
            ) from exc
        except (ValueError, OSError) as exc:  # a lone `$`, an unreadable file
            raise LocalSetupError(f"{path}: {exc}") from exc
        try:
            connection = json.loads(text)
        except ValueError as exc:
            raise LocalSetupError(f"{path}: not JSON: {exc}") from exc
        if not isinstance(connection, dict):
            raise LocalSetupError(f"{path}: a connection must be a JSON object")
        connections[path.stem] = connection
    return connections


def _stack_resources(session: Any, stack_name: str) -> dict[str, str]:
    """Logical id -> physical id of each resource moto created (an empty id: not created)."""
    cloudformation = session.client("cloudformation")
    return {
        r["LogicalResourceId"]: r.get("PhysicalResourceId") or ""
        for r in cloudformation.list_stack_resources(StackName=stack_name)["StackResourceSummaries"]
    }


def _not_created(translated: dict[str, Any], physical: dict[str, str]) -> dict[str, str]:
    """The resources moto's CloudFormation skipped (no model for the type) or infra dropped."""
    from moto.cloudformation.parsing import get_model_map

    supported = get_model_map()
    return {
        logical_id: resource["Type"]
        for logical_id, resource in translated["Resources"].items()
        if logical_id not in physical or resource["Type"] not in supported
    }


def _queue_mappings(session: Any, stack: LocalStack) -> list[QueueMapping]:
    """The stack's SQS event source mappings, as moto's Lambda holds them.

    moto would run a mapped function itself, in Docker, on every SendMessage; the mappings are
    disabled in moto after they are read, and local/triggers.py polls the queues instead.
    """
    lambda_client = session.client("lambda")
    sqs = session.client("sqs")
    queues = {}
    for logical_id, resource in stack.translated["Resources"].items():
        if resource["Type"] == "AWS::SQS::Queue" and stack.physical.get(logical_id):
            url = stack.physical[logical_id]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
            queues[arn["Attributes"]["QueueArn"]] = (logical_id, url)
    mappings = []
    pages = lambda_client.get_paginator("list_event_source_mappings").paginate()
    for mapping in (m for page in pages for m in page["EventSourceMappings"]):
        if mapping["EventSourceArn"] not in queues:
            continue
        queue, url = queues[mapping["EventSourceArn"]]
        enabled = mapping.get("State", "Enabled") == "Enabled"
        mappings.append(
            QueueMapping(
                uuid=mapping["UUID"],
                function=stack.function_by_arn(mapping["FunctionArn"]).logical_id,
                queue=queue,
                queue_url=url,
                queue_arn=mapping["EventSourceArn"],
                batch_size=int(mapping.get("BatchSize") or 10),
                enabled=enabled,
            )
        )
        if enabled:
            lambda_client.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
    return mappings


def _parameter_values(translated: dict[str, Any], overrides: dict[str, str]) -> dict[str, str]:
    values = {
        name: str(spec["Default"])
        for name, spec in translated.get("Parameters", {}).items()
        if "Default" in spec
    }
    return {**values, **overrides}


def _deployed_functions(
    session: Any, translated: dict[str, Any], physical: dict[str, str]
) -> dict[str, DeployedFunction]:
    lambda_client = session.client("lambda")
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
            arn=config["FunctionArn"],
        )
    return functions


@contextmanager
def moto_server(
    port: int | None = None, *, in_process: bool = True, one_call_at_a_time: bool = False
) -> Iterator[str]:
    """moto's server on 127.0.0.1, from an empty account; yields its endpoint URL.

    The one launcher of a moto server for the local stack, the tests and the benchmarks: a thread
    of this process, or (`in_process=False`) a child process that is always terminated, whose CPU
    work then does not compete with the functions' for this GIL. `one_call_at_a_time` (in process
    only) serves one AWS call at a time: moto applies a conditional UpdateItem as read, check,
    write without a lock, so two threads of its server can both pass the same condition, a lost
    update DynamoDB itself never allows; tests of conditional writes across processes need that.
    """
    import logging
    import warnings

    # moto's server logs every AWS call through werkzeug; the demo prints its own progress, and
    # LocalStack.not_created lists the resources moto's CloudFormation skips.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("moto").setLevel(logging.ERROR)
    logging.getLogger("samtranslator").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="Tried to parse .* not supported by moto")
    if not in_process:
        if one_call_at_a_time:
            raise ValueError("one_call_at_a_time needs the moto server in this process")
        with _moto_process(port or free_port()) as endpoint_url:
            yield endpoint_url
        return
    with _moto_thread(port or 0, one_call_at_a_time) as endpoint_url:
        # moto keeps its state per process: a server in this process would otherwise start with
        # the resources of every stack an earlier one held (tests run several stacks in turn).
        reset = urllib.request.Request(f"{endpoint_url}/moto-api/reset", method="POST")  # noqa: S310
        urllib.request.urlopen(reset, timeout=30).close()  # noqa: S310 (our loopback server)
        yield endpoint_url


class _OneCallAtATime:
    """A WSGI app that lets one request at a time through `app`."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with self._lock:
            return list(self._app(environ, start_response))


@contextmanager
def _moto_thread(port: int, one_call_at_a_time: bool) -> Iterator[str]:
    """moto's WSGI app served by a thread of this process (as moto's ThreadedMotoServer does)."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    app: Callable[..., Any] = DomainDispatcherApplication(create_backend_app)
    if one_call_at_a_time:
        app = _OneCallAtATime(app)
    server = make_server("127.0.0.1", port, app, threaded=True, request_handler=MotoRequestHandler)
    thread = threading.Thread(target=server.serve_forever, name="moto-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextmanager
def _moto_process(port: int) -> Iterator[str]:
    import subprocess
    import sys

    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, process=process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def local_stack(
    *,
    stack_name: str = "apicall-local",
    parameters: dict[str, str] | None = None,
    moto_in_process: bool = True,
) -> Iterator[LocalStack]:
    """Start moto, create the stack from template.yaml, and point this process at it."""
    import boto3

    saved_environ = dict(os.environ)
    with moto_server(in_process=moto_in_process) as endpoint_url:
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
                # A connection secret changed locally (`make invoke` after an edit, a test) is
                # seen by the next invocation, as a deployed one sees it after this many seconds.
                "SECRETS_MAX_AGE_S": "0",
            }
        )
        try:
            session = boto3.Session(region_name=REGION)
            result = infra.deploy_stack(session, stack_name, parameters)
            translated = infra.translate(parameters=parameters)
            physical = _stack_resources(session, stack_name)
            functions = _deployed_functions(session, translated, physical)
            # Every function's environment at once: the names never conflict, and functions
            # invoked concurrently in this one process then see the variables they expect.
            for function in functions.values():
                os.environ.update(function.environment)
            RUNTIME.reset()
            stack = LocalStack(
                endpoint_url,
                session,
                result["outputs"],
                functions,
                translated,
                stack_name=stack_name,
                parameters=_parameter_values(translated, parameters or {}),
                physical={k: v for k, v in physical.items() if v},
                not_created=_not_created(translated, physical),
            )
            stack.queue_mappings = _queue_mappings(session, stack)
            yield stack
        finally:
            os.environ.clear()
            os.environ.update(saved_environ)
            RUNTIME.reset()
