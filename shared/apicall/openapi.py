"""Discovery: an OpenAPI 3.0/3.1 or Swagger 2.0 document becomes a list of request entities.

openapi-spec-validator checks the document (its reason is the error a user sees) and jsonref
resolves local `$ref`s. External references (other files, URLs) are refused before either library
sees the document: both would otherwise read files or fetch URLs without the URL guard.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

import httpx

from apicall.errors import BlockedURL, ConfigError, UpstreamError
from apicall.models import Connection

HTTP_METHODS = ("get", "post", "put", "patch", "delete", "head")
MAX_DOCUMENT_BYTES = 10 * 1024 * 1024
# Nesting kept in body schemas and walked for response fields; recursive schemas stop here.
MAX_DEPTH = 8
_SCALAR_TYPES = {"string", "number", "integer", "boolean"}
# Property names under which APIs commonly wrap a page of rows.
COLLECTION_PROPERTIES = ("data", "items", "results", "records", "entries")


def load_document(source: Any, *, field: str = "openapi") -> dict[str, Any]:
    """A document given as an object, or as JSON or YAML text."""
    if isinstance(source, Mapping):
        return dict(source)
    if isinstance(source, bytes):
        source = source.decode("utf-8", errors="replace")
    if not isinstance(source, str):
        raise ConfigError("the OpenAPI document must be an object or JSON/YAML text", field=field)
    try:
        document = json.loads(source)
    except ValueError:
        import yaml

        try:
            document = yaml.safe_load(source)
        except yaml.YAMLError as exc:
            raise ConfigError(
                f"the document is neither JSON nor YAML: {exc}", field=field
            ) from None
    if not isinstance(document, dict):
        raise ConfigError("the OpenAPI document must be an object", field=field)
    return document


def fetch_document(
    url: str,
    connection: Connection | None,
    *,
    auth: httpx.Auth | None = None,
    http_client: httpx.Client | None = None,
) -> dict[str, Any]:
    """GET the document through `client.send`, so the URL guard and the size cap apply."""
    from apicall import client
    from apicall.templating import OutgoingRequest

    if not re.match(r"^https?://", url):
        raise ConfigError("url must be an absolute http(s) URL", field="url")
    conn = connection or Connection()
    try:
        response = client.send(
            OutgoingRequest(method="GET", url=url, headers={"Accept": "application/json, */*"}),
            conn,
            auth=auth,
            timeout_s=conn.timeout_s,
            retry=None,
            max_bytes=MAX_DOCUMENT_BYTES,
            truncate=False,
            client=http_client,
        )
    except (UpstreamError, BlockedURL) as exc:
        raise ConfigError(
            f"the document could not be fetched: {exc.message}", field="url"
        ) from None
    if not 200 <= response.status < 300:
        raise ConfigError(f"the document URL answered HTTP {response.status}", field="url")
    return load_document(response.content, field="url")


def discover(document: Mapping[str, Any], *, connection: str | None = None) -> dict[str, Any]:
    """Validate `document` and answer its entities: one per operation, ready to be RequestSpecs."""
    version = _version(document)
    _refuse_external_refs(document)
    _validate(document)
    resolved = _resolve_refs(document)
    base_url = _base_url(resolved, version)
    entities = [
        _entity(resolved, version, path, method, operation, path_item, connection, base_url)
        for path, method, operation, path_item in _operations(resolved)
    ]
    info = resolved.get("info") or {}
    return {
        "title": info.get("title"),
        "version": info.get("version"),
        "spec_version": version,
        "base_url": base_url,
        "entities": entities,
    }


# --- validation and references ------------------------------------------------------------


def _version(document: Mapping[str, Any]) -> str:
    swagger, openapi = document.get("swagger"), document.get("openapi")
    if swagger is not None:
        if str(swagger) != "2.0":
            raise ConfigError(f"unsupported swagger version {swagger!r}", field="openapi.swagger")
        return "2.0"
    if isinstance(openapi, str) and re.match(r"^3\.[01]\.\d+", openapi):
        return openapi
    raise ConfigError(
        "not an OpenAPI 3.0/3.1 or Swagger 2.0 document (no 'openapi: 3.x' or 'swagger: 2.0')",
        field="openapi.openapi",
    )


def _refs(value: Any) -> Iterator[str]:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, Mapping):
            ref = item.get("$ref")
            if isinstance(ref, str):
                yield ref
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _refuse_external_refs(document: Mapping[str, Any]) -> None:
    for ref in _refs(document):
        if not ref.startswith("#"):
            raise ConfigError(
                f"external $ref {ref[:200]!r} is not supported: bundle the document first",
                field="openapi",
            )


def _validate(document: Mapping[str, Any]) -> None:
    from openapi_spec_validator import validate
    from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

    try:
        validate(document)
    except OpenAPIValidationError as exc:
        where = "/".join(str(part) for part in exc.absolute_path)
        location = f" at {where}" if where else ""
        raise ConfigError(
            f"invalid OpenAPI document{location}: {exc.message[:500]}", field="openapi"
        ) from None
    except Exception as exc:  # a $ref the validator cannot resolve, a bad structure
        raise ConfigError(
            f"invalid OpenAPI document: {type(exc).__name__}: {str(exc)[:500]}", field="openapi"
        ) from None


def _resolve_refs(document: Mapping[str, Any]) -> dict[str, Any]:
    import jsonref

    def no_remote(uri: str) -> Any:
        raise ConfigError(f"external $ref {uri[:200]!r} is not supported", field="openapi")

    try:
        resolved = jsonref.replace_refs(dict(document), loader=no_remote, lazy_load=True)
    except jsonref.JsonRefError as exc:
        raise ConfigError(f"unresolvable $ref: {exc.message}", field="openapi") from None
    return dict(resolved)


def _plain(value: Any, depth: int = 0, trail: tuple[str, ...] = ()) -> Any:
    """A JSON-serialisable copy; a recursive reference is left as its `$ref` string."""
    import jsonref

    if isinstance(value, jsonref.JsonRef):
        ref = value.__reference__.get("$ref", "")
        if ref in trail or depth > MAX_DEPTH:
            return {"$ref": ref}
        try:
            target = value.__subject__
        except jsonref.JsonRefError as exc:
            raise ConfigError(
                f"unresolvable $ref {ref!r}: {exc.message}", field="openapi"
            ) from None
        return _plain(target, depth, (*trail, ref))
    if isinstance(value, Mapping):
        if depth > MAX_DEPTH:
            return {}
        return {str(key): _plain(item, depth + 1, trail) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item, depth + 1, trail) for item in value]
    return value


# --- operations -----------------------------------------------------------------------------


def _operations(document: Mapping[str, Any]) -> Iterator[tuple[str, str, Mapping, Mapping]]:
    for path, path_item in (document.get("paths") or {}).items():
        if not isinstance(path_item, Mapping):
            continue
        for method in HTTP_METHODS:
            operation = path_item.get(method)
            if isinstance(operation, Mapping):
                yield path, method, operation, path_item


def _base_url(document: Mapping[str, Any], version: str) -> str | None:
    if version == "2.0":
        host = document.get("host")
        if not host:
            return None
        schemes = document.get("schemes") or ["https"]
        scheme = "https" if "https" in schemes else schemes[0]
        return f"{scheme}://{host}{(document.get('basePath') or '').rstrip('/')}"
    servers = document.get("servers") or []
    if not servers or not isinstance(servers[0], Mapping):
        return None
    url = str(servers[0].get("url") or "")
    # Server variables take their defaults.
    for name, variable in (servers[0].get("variables") or {}).items():
        url = url.replace("{" + name + "}", str(variable.get("default", "")))
    return url.rstrip("/") or None


def _parameters(operation: Mapping, path_item: Mapping) -> list[Mapping]:
    """Path-level parameters overridden by operation-level ones of the same name and place."""
    merged: dict[tuple[str, str], Mapping] = {}
    for param in [*(path_item.get("parameters") or []), *(operation.get("parameters") or [])]:
        if isinstance(param, Mapping) and "name" in param:
            merged[(str(param["name"]), str(param.get("in")))] = param
    return list(merged.values())


def _param_info(param: Mapping) -> dict[str, Any]:
    schema = param.get("schema") if "schema" in param else param
    return {
        "name": param["name"],
        "type": _field_type(schema if isinstance(schema, Mapping) else {}),
        "required": bool(param.get("required", False)),
        "description": param.get("description"),
    }


def _entity(
    document: Mapping[str, Any],
    version: str,
    path: str,
    method: str,
    operation: Mapping,
    path_item: Mapping,
    connection: str | None,
    base_url: str | None,
) -> dict[str, Any]:
    params = _parameters(operation, path_item)
    path_params = [_param_info(p) for p in params if p.get("in") == "path"]
    query_params = [_param_info(p) for p in params if p.get("in") == "query"]
    body_schema, body_type = _request_body(operation, params, version)
    response_schema = _success_schema(operation, version)
    data_path, fields = _response_fields(response_schema)
    name = operation.get("operationId") or f"{method.upper()} {path}"
    return {
        "name": name,
        "summary": operation.get("summary"),
        "method": method.upper(),
        "path": path,
        "path_params": path_params,
        "query_params": query_params,
        "body_schema": _plain(body_schema) if body_schema is not None else None,
        "response_fields": fields,
        "request": _request(
            method, path, path_params, query_params, body_type, data_path, fields,
            connection, base_url,
        ),
    }  # fmt: skip


def _request_body(
    operation: Mapping, params: list[Mapping], version: str
) -> tuple[Mapping | None, str]:
    """The body's schema and the RequestSpec body type it calls for."""
    if version == "2.0":
        for param in params:
            if param.get("in") == "body":
                return param.get("schema") or {}, "json"
        form = [p for p in params if p.get("in") == "formData"]
        if form:
            has_file = any(p.get("type") == "file" for p in form)
            properties = {p["name"]: _swagger2_form_schema(p) for p in form}
            required = [p["name"] for p in form if p.get("required")]
            schema = {"type": "object", "properties": properties, "required": required}
            return schema, "multipart" if has_file else "form"
        return None, "none"
    body = operation.get("requestBody")
    if not isinstance(body, Mapping):
        return None, "none"
    content = body.get("content") or {}
    for media, body_type in _MEDIA_BODY_TYPES:
        for key, item in content.items():
            if _media_matches(str(key), media) and isinstance(item, Mapping):
                return item.get("schema") or {}, body_type
    return None, "raw" if content else "none"


_MEDIA_BODY_TYPES = (
    ("json", "json"),
    ("application/x-www-form-urlencoded", "form"),
    ("multipart/form-data", "multipart"),
)


def _media_matches(key: str, media: str) -> bool:
    key = key.split(";")[0].strip().lower()
    if media == "json":
        return key == "application/json" or key.endswith("+json")
    return key == media


def _swagger2_form_schema(param: Mapping) -> dict[str, Any]:
    if param.get("type") == "file":
        return {"type": "string", "format": "binary"}
    return {k: param[k] for k in ("type", "format", "description", "items", "enum") if k in param}


def _success_schema(operation: Mapping, version: str) -> Mapping | None:
    responses = operation.get("responses") or {}
    codes = sorted(str(code) for code in responses if str(code).upper().startswith("2"))
    # "default" describes errors as often as success: it counts only when no 2xx is declared.
    for code in codes or ["default"]:
        response = responses.get(code) or responses.get(int(code) if code.isdigit() else code)
        if not isinstance(response, Mapping):
            continue
        if version == "2.0":
            schema = response.get("schema")
            if isinstance(schema, Mapping):
                return schema
            continue
        for key, item in (response.get("content") or {}).items():
            if _media_matches(str(key), "json") and isinstance(item, Mapping):
                schema = item.get("schema")
                if isinstance(schema, Mapping):
                    return schema
    return None


# --- schemas to fields --------------------------------------------------------------------------


def _merged(schema: Mapping) -> Mapping:
    """allOf merged into one schema; the first choice of oneOf/anyOf stands for the rest."""
    if "allOf" in schema:
        out: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        properties: dict[str, Any] = dict(out.get("properties") or {})
        for part in schema["allOf"]:
            if isinstance(part, Mapping):
                part = _merged(part)
                properties.update(part.get("properties") or {})
                for key in ("type", "items", "format"):
                    if key in part:
                        out.setdefault(key, part[key])
        if properties:
            out["properties"] = properties
        return out
    for key in ("oneOf", "anyOf"):
        choices = [c for c in schema.get(key) or [] if isinstance(c, Mapping)]
        non_null = [c for c in choices if c.get("type") != "null"]
        if non_null:
            return _merged({**{k: v for k, v in schema.items() if k != key}, **non_null[0]})
    return schema


def _schema_type(schema: Mapping) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):  # 3.1: ["string", "null"]
        kinds = [k for k in kind if k != "null"]
        kind = kinds[0] if kinds else None
    if kind is None:
        if "properties" in schema:
            return "object"
        if "items" in schema:
            return "array"
    return kind if isinstance(kind, str) else None


def _field_type(schema: Mapping) -> str:
    schema = _merged(schema)
    kind = _schema_type(schema)
    if kind == "string" and schema.get("format") in ("date-time", "date"):
        return "datetime"
    if kind in _SCALAR_TYPES or kind in ("object", "array"):
        return str(kind)
    return "string"


def _response_fields(schema: Mapping | None) -> tuple[str | None, list[dict[str, str]]]:
    """(data_path, fields): an array answer maps rows at `$[*]`; an object maps its fields."""
    if schema is None:
        return None, []
    schema = _merged(schema)
    if _schema_type(schema) == "array" and isinstance(schema.get("items"), Mapping):
        return "$[*]", _flatten(schema["items"], "$", "", 0)
    wrapped = _collection_property(schema)
    if wrapped is not None:
        name, items = wrapped
        return f"$.{name}[*]", _flatten(items, "$", "", 0)
    if _schema_type(schema) in ("object", None):
        return None, _flatten(schema, "$", "", 0)
    return None, [{"name": "value", "type": _field_type(schema), "path": "$"}]


def _collection_property(schema: Mapping) -> tuple[str, Mapping] | None:
    """`{"data": [{...}], "links": ...}`: the array of objects a collection wraps its rows in."""
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return None
    for name in COLLECTION_PROPERTIES:
        sub = properties.get(name)
        if not isinstance(sub, Mapping):
            continue
        sub = _merged(sub)
        items = sub.get("items")
        if _schema_type(sub) == "array" and isinstance(items, Mapping):
            items = _merged(items)
            if isinstance(items.get("properties"), Mapping) and items["properties"]:
                return name, items
    return None


def _flatten(schema: Mapping, path: str, prefix: str, depth: int) -> list[dict[str, str]]:
    schema = _merged(schema)
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return []
    fields: list[dict[str, str]] = []
    for key, sub in properties.items():
        if not isinstance(sub, Mapping):
            continue
        sub = _merged(sub)
        name = f"{prefix}.{key}" if prefix else str(key)
        sub_path = (
            f"{path}.{key}"
            if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(key))
            else (f"{path}[{json.dumps(str(key))}]")
        )
        kind = _field_type(sub)
        if kind == "object" and isinstance(sub.get("properties"), Mapping) and depth < MAX_DEPTH:
            nested = _flatten(sub, sub_path, name, depth + 1)
            if nested:
                fields.extend(nested)
                continue
        fields.append({"name": name, "type": kind, "path": sub_path})
    return fields


def _request(
    method: str,
    path: str,
    path_params: list[dict[str, Any]],
    query_params: list[dict[str, Any]],
    body_type: str,
    data_path: str | None,
    fields: list[dict[str, str]],
    connection: str | None,
    base_url: str | None,
) -> dict[str, Any]:
    """A RequestSpec draft: path params and required query params as placeholders."""
    relative = connection is not None or not base_url
    spec: dict[str, Any] = {
        "method": method.upper(),
        "url": path if relative else f"{base_url}{path}",
        "path_params": {p["name"]: _placeholder(p["name"]) for p in path_params},
        "query": [[q["name"], _placeholder(q["name"])] for q in query_params if q["required"]],
        "response": {"data_path": data_path, "fields": fields},
    }
    if connection is not None:
        spec["connection"] = connection
    if body_type == "json":
        spec["body"] = {"type": "json", "value": "{body}"}
    elif body_type in ("form", "multipart"):
        spec["body"] = {"type": body_type}
    return spec


def _placeholder(name: str) -> str:
    """`{name}`, with characters a placeholder cannot hold (`filter[status]`) as underscores."""
    return "{" + re.sub(r"[^\w-]", "_", name) + "}"
