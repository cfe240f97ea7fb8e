"""Inferring typed fields from a sample response (JSON Schema by genson, imported on first use)."""

from __future__ import annotations

import functools
from typing import Any

from apicall.core.errors import ConfigError
from apicall.request.decoding import depth_exceeds
from apicall.request.jsonpath import extract, is_singular
from apicall.request.mapping import SHORTHAND_NAME, parse_iso_datetime

# genson recurses a few frames per level and Python's limit is 1,000 frames: deeper samples are
# refused before inference rather than failing with a RecursionError halfway.
MAX_INFER_DEPTH = 64


def infer_fields(
    sample: Any, data_path: str | None = None, *, field: str = "sample"
) -> list[dict[str, Any]]:
    """The fields of a JSON sample, for a response spec: `[{"name", "type", "path"}]`.

    Records are the sample itself, or the value at data_path; an array of objects is merged
    across its items. Nested objects flatten into dotted names; arrays inside a record are
    `array`. Numbers are `integer` when every sample is integral, 2.0 included: JSON has one
    number type and many serialisers write 2.0 for 2, and `coerce` turns 2.0 into 2. A single
    fractional sample makes the field `number`. Strings are `datetime` when every non-null
    sample is an ISO-8601 date or date-time. A field that is only ever null is `string` with
    `"nullable_only": true`. Order is first seen; the result is deterministic. A sample nested
    deeper than MAX_INFER_DEPTH is a ConfigError naming `field`.
    """
    if depth_exceeds(sample, MAX_INFER_DEPTH):
        raise ConfigError(f"{field}: nests deeper than {MAX_INFER_DEPTH} levels", field=field)
    target = sample
    if data_path is not None:
        matches = extract(sample, data_path, field="data_path")
        if not matches:
            return []
        target = matches[0] if is_singular(data_path, field="data_path") else matches
    items = target if isinstance(target, list) else [target]
    records = [item for item in items if isinstance(item, dict)]
    builder = _builder_class()(schema_uri=None)
    if records:
        for record in records:
            builder.add_object(record)
        fields: list[dict[str, Any]] = []
        _flatten(builder.to_schema(), "", "$", fields)
        return fields
    if not items:
        return []
    # Scalars: map_response wraps each as {"value": item}, and `$` on a scalar is the scalar.
    for item in items:
        builder.add_object(item)
    return [_field("value", "$", builder.to_schema())]


def _flatten(
    schema: dict[str, Any], name_prefix: str, path_prefix: str, out: list[dict[str, Any]]
) -> None:
    for key, sub in _object_part(schema).get("properties", {}).items():
        name = f"{name_prefix}{key}"
        path = path_prefix + _path_segment(key)
        nested = _object_part(sub)
        if _types(sub) - {"null"} == {"object"} and nested.get("properties"):
            _flatten(nested, f"{name}.", path, out)
        else:
            out.append(_field(name, path, sub))


def _field(name: str, path: str, schema: dict[str, Any]) -> dict[str, Any]:
    types = _types(schema) - {"null"}
    if not types:
        return {"name": name, "type": "string", "path": path, "nullable_only": True}
    if len(types) > 1:
        # Mixed kinds (a number here, a text there): text holds them all.
        type_ = "number" if types <= {"integer", "number"} else "string"
    else:
        (type_,) = types
        if type_ == "string" and _string_part(schema).get("format") == "date-time":
            type_ = "datetime"
    return {"name": name, "type": type_, "path": path}


def _subschemas(schema: dict[str, Any]) -> list[dict[str, Any]]:
    if "anyOf" in schema:
        return [part for sub in schema["anyOf"] for part in _subschemas(sub)]
    return [schema]


def _types(schema: dict[str, Any]) -> set[str]:
    found: set[str] = set()
    for sub in _subschemas(schema):
        kind = sub.get("type")
        found.update(kind if isinstance(kind, list) else [kind] if kind else [])
    return found


def _object_part(schema: dict[str, Any]) -> dict[str, Any]:
    return next((sub for sub in _subschemas(schema) if sub.get("type") == "object"), {})


def _string_part(schema: dict[str, Any]) -> dict[str, Any]:
    return next((sub for sub in _subschemas(schema) if sub.get("type") == "string"), {})


def _path_segment(key: str) -> str:
    """`.name` when RFC 9535 shorthand allows it, else `['first name']`."""
    if SHORTHAND_NAME.match(key):
        return f".{key}"
    escaped = []
    for char in key:
        if char in "\\'":
            escaped.append("\\" + char)
        elif ord(char) < 0x20:
            escaped.append(f"\\u{ord(char):04x}")
        else:
            escaped.append(char)
    return "['" + "".join(escaped) + "']"


@functools.cache
def _builder_class() -> Any:
    """genson's SchemaBuilder, with integral floats as integers and date-time strings marked."""
    from genson import SchemaBuilder
    from genson.schema.strategies import Number, String

    class IntegralNumber(Number):
        def add_object(self, obj: Any) -> None:
            if isinstance(obj, float) and not obj.is_integer():
                self._type = "number"

    class DateTimeString(String):
        def __init__(self, node_class: Any) -> None:
            super().__init__(node_class)
            self._all_datetimes = True

        def add_object(self, obj: Any) -> None:
            super().add_object(obj)
            self._all_datetimes = self._all_datetimes and parse_iso_datetime(obj) is not None

        def to_schema(self) -> dict[str, Any]:
            schema: dict[str, Any] = super().to_schema()
            if self._all_datetimes:
                schema["format"] = "date-time"
            return schema

    class FieldSchemaBuilder(SchemaBuilder):
        EXTRA_STRATEGIES = (IntegralNumber, DateTimeString)

    return FieldSchemaBuilder
