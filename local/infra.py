"""template.yaml as the single source of infrastructure for tests and the local stack.

The template is packaged the way `sam package` does it (local CodeUri/ContentUri folders zipped
and uploaded to an artifacts bucket), translated with aws-sam-translator, and either created
through (moto's) CloudFormation or, for fast tests, read for the properties of single resources.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import zipfile
from functools import lru_cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = ROOT / "template.yaml"
ARTIFACTS_BUCKET = "apicall-local-artifacts"

_CODE_PROPERTIES = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
}


@lru_cache(maxsize=4)
def _load(path: str) -> str:
    return Path(path).read_text()


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """The template as a dict, with short-form intrinsics (!Ref, !Sub) in their long form."""
    from samtranslator.yaml_helper import yaml_parse

    return yaml_parse(_load(str(path)))


def code_folders(template: dict[str, Any]) -> dict[str, str]:
    """Logical id -> local code folder, for every function and layer with a local CodeUri."""
    folders = {}
    for logical_id, resource in template["Resources"].items():
        prop = _CODE_PROPERTIES.get(resource["Type"])
        uri = resource.get("Properties", {}).get(prop) if prop else None
        if isinstance(uri, str) and not uri.startswith("s3://"):
            folders[logical_id] = uri
    return folders


def packaged(template: dict[str, Any], bucket: str = ARTIFACTS_BUCKET) -> dict[str, Any]:
    """A copy whose local code folders point at `s3://<bucket>/<logical id>.zip`."""
    out = copy.deepcopy(template)
    for logical_id in code_folders(template):
        resource = out["Resources"][logical_id]
        prop = _CODE_PROPERTIES[resource["Type"]]
        resource["Properties"][prop] = f"s3://{bucket}/{logical_id}.zip"
    return out


def zip_folder(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(folder.rglob("*")):
            if file.is_file() and "__pycache__" not in file.parts:
                archive.write(file, file.relative_to(folder).as_posix())
    return buffer.getvalue()


def upload_code(s3: Any, template: dict[str, Any], bucket: str = ARTIFACTS_BUCKET) -> None:
    """Zip each local code folder into the artifacts bucket, as `sam package` would."""
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=bucket)
    for logical_id, folder in code_folders(template).items():
        s3.put_object(Bucket=bucket, Key=f"{logical_id}.zip", Body=zip_folder(ROOT / folder))


class _NoManagedPolicies:
    """samtranslator asks IAM for AWS managed policy ARNs; the template names none by short name."""

    def load(self) -> dict[str, str]:
        return {}


def translate(
    template: dict[str, Any] | None = None, parameters: dict[str, str] | None = None
) -> dict[str, Any]:
    """The plain CloudFormation template that AWS would create from template.yaml."""
    from samtranslator.translator.transform import transform

    source = packaged(template if template is not None else load_template())
    return transform(source, parameters or {}, _NoManagedPolicies())


def without_moto_gaps(translated: dict[str, Any]) -> dict[str, Any]:
    """A copy without the resources moto's CloudFormation cannot create.

    moto creates a RestApi but ignores its OpenAPI `Body`, so a Deployment of it fails with "The
    REST API doesn't contain any methods"; the local stack serves the API's routes itself.
    """
    out = copy.deepcopy(translated)
    for logical_id, resource in translated["Resources"].items():
        if resource["Type"] == "AWS::ApiGateway::Deployment":
            del out["Resources"][logical_id]
    return out


def deploy_stack(
    session: Any, stack_name: str = "apicall", parameters: dict[str, str] | None = None
) -> dict[str, Any]:
    """Package, translate and create the stack through CloudFormation; returns its outputs."""
    template = load_template()
    upload_code(session.client("s3"), template)
    translated = without_moto_gaps(translate(template, parameters))
    cloudformation = session.client("cloudformation")
    cloudformation.create_stack(
        StackName=stack_name,
        TemplateBody=json.dumps(translated),
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
        Parameters=[
            {"ParameterKey": key, "ParameterValue": value}
            for key, value in (parameters or {}).items()
        ],
    )
    stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    return {
        "status": stack["StackStatus"],
        "outputs": {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])},
    }


def table_definitions(template: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Logical id -> DynamoDB table properties, as the template declares them."""
    template = template if template is not None else load_template()
    return {
        logical_id: resource["Properties"]
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::DynamoDB::Table"
    }


def create_table(dynamodb_client: Any, name: str, properties: dict[str, Any]) -> None:
    """Create one table from its template properties (key schema, indexes, billing, TTL)."""
    kwargs: dict[str, Any] = {
        "TableName": name,
        "KeySchema": properties["KeySchema"],
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "BillingMode": properties.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if "GlobalSecondaryIndexes" in properties:
        kwargs["GlobalSecondaryIndexes"] = properties["GlobalSecondaryIndexes"]
    dynamodb_client.create_table(**kwargs)
    ttl = properties.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        dynamodb_client.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
        )
