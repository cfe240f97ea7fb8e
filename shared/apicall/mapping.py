"""Response mapping: decode a body, pick values by JSONPath, type them, infer fields from a sample.

JSONPath is RFC 9535 (python-jsonpath in strict mode). The jsonpath and genson packages are imported
on first use, not at import time, because every cold start of every function pays for this module.
"""

from __future__ import annotations

import base64
import codecs
import functools
import json
import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal

from apicall.errors import ConfigError, InvalidResponse
from apicall.models import FieldSpec, FieldType, ResponseSpec

BodyFormat = Literal["auto", "json", "text", "binary"]
BodyKind = Literal["json", "text", "binary"]

# Media types that are bytes even when they happen to decode as UTF-8.
_BINARY_TYPES = re.compile(
    r"^(image|audio|video|font)/|^application/(octet-stream|pdf|zip|gzip|x-tar|x-protobuf"
    r"|vnd\.ms-excel|vnd\.openxmlformats)"
)
_JSON_TYPE = re.compile(r"^application/(json|[\w.+-]+\+json)$")
_TEXT_TYPE = re.compile(
    r"^text/|^application/(xml|[\w.+-]+\+xml|javascript|x-www-form-urlencoded)$"
)
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_ISO_DATE = re.compile(
    r"^\d{4}-\d{2}-\d{2}"
    r"([Tt ]\d{2}:\d{2}(:\d{2}([.,]\d+)?)?([Zz]|[+-]\d{2}(:?\d{2})?)?)?$"
)
# Epoch values at or above this are milliseconds: as seconds they would be past the year 5000.
_EPOCH_MS_FROM = 100_000_000_000
_TRUE = frozenset({"true", "1", "yes", "y", "on"})
_FALSE = frozenset({"false", "0", "no", "n", "off"})
_SHORTHAND_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


# --- Decoding -----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=256)  # an API answers with the same few content types
def _media_type(content_type: str | None) -> tuple[str, str | None]:
    """`Application/JSON; charset=UTF-8` -> (`application/json`, `utf-8`)."""
    if not content_type:
        return "", None
    media, *params = content_type.split(";")
    charset = None
    for param in params:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip('"').lower() or None
    return media.strip().lower(), charset


def _codec(charset: str | None) -> str:
    if charset:
        try:
            return codecs.lookup(charset).name
        except LookupError:
            pass  # an unknown charset is treated as if none were given
    return "utf-8-sig"  # UTF-8, dropping a byte order mark if there is one


def _decode(content: bytes, charset: str | None, *, strict: bool) -> str | None:
    try:
        return content.decode(_codec(charset), errors="strict" if strict else "replace")
    except UnicodeDecodeError:
        return None


def _json_container(text: str) -> Any:
    """The parsed JSON if `text` is a JSON object or array, else None."""
    stripped = text.strip()
    if not stripped or stripped[0] not in "[{":
        return None
    try:
        return _loads(stripped)
    except ValueError:
        return None


# An Outcome carries the body and pydantic refuses to serialise values nested 255 deep; deeper
# documents are refused as JSON here (ValueError, like any unreadable JSON), not later.
MAX_RESPONSE_DEPTH = 200


def _loads(text: str) -> Any:
    try:
        value = json.loads(text)
    except RecursionError:
        raise ValueError(f"nests deeper than {MAX_RESPONSE_DEPTH} levels") from None
    if _depth_exceeds(value, MAX_RESPONSE_DEPTH):
        raise ValueError(f"nests deeper than {MAX_RESPONSE_DEPTH} levels")
    return value


def parse_body(content: bytes, content_type: str | None, fmt: BodyFormat) -> tuple[Any, BodyKind]:
    """Decode a response body as the response spec's format asks; returns (body, kind).

    An empty body is None. Binary bodies are base64 text so that they fit in JSON answers.
    """
    media, charset = _media_type(content_type)
    if fmt == "binary":
        return (base64.b64encode(content).decode("ascii") if content else None), "binary"
    if fmt == "text":
        return (_decode(content, charset, strict=False) if content else None), "text"
    if fmt == "json":
        return _parse_json(content, charset, media), "json"
    return _parse_auto(content, media, charset)


def _parse_json(content: bytes, charset: str | None, media: str) -> Any:
    if not content.strip():
        return None
    text = _decode(content, charset, strict=True)
    try:
        if text is None:
            raise ValueError("not decodable")
        return _loads(text)
    except ValueError as exc:
        # The body is not quoted: it may hold secrets or personal data.
        raise InvalidResponse(
            f"the response is not valid JSON (content type {media or 'not given'})"
        ) from exc


def _parse_auto(content: bytes, media: str, charset: str | None) -> tuple[Any, BodyKind]:
    if not content:
        return None, "json" if _JSON_TYPE.match(media) else "text"
    if _BINARY_TYPES.match(media):
        return base64.b64encode(content).decode("ascii"), "binary"
    declared_json = _JSON_TYPE.match(media) is not None
    declared_text = declared_json or _TEXT_TYPE.match(media) is not None
    text = _decode(content, charset, strict=not declared_text)
    if text is None:
        return base64.b64encode(content).decode("ascii"), "binary"
    if declared_json:
        try:
            return _loads(text), "json"
        except ValueError:
            return text, "text"  # mislabelled: show it as text rather than fail a whole request
    parsed = _json_container(text)
    if parsed is not None:
        return parsed, "json"
    return text, "text"


# --- JSONPath -----------------------------------------------------------------------------------


@functools.cache
def _environment() -> Any:
    import jsonpath

    return jsonpath.JSONPathEnvironment(strict=True)


@functools.lru_cache(maxsize=512)
def _compiled(path: str) -> Any:
    return _environment().compile(path)


def compile_path(path: str, *, field: str) -> Any:
    """The compiled RFC 9535 path; a bad path is a ConfigError naming `field`."""
    import jsonpath

    try:
        return _compiled(path)
    except jsonpath.JSONPathError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(
            f"{field}: {path!r} is not a valid JSONPath: {reason}", field=field
        ) from exc


def check_path(path: str, *, field: str) -> None:
    """Raise ConfigError naming `field` unless `path` is a valid JSONPath. A plain member path
    (`$.a.b`) is valid as written, so checking it does not load the JSONPath engine."""
    if _member_names(path) is None:
        compile_path(path, field=field)


def is_singular(path: str, *, field: str) -> bool:
    """Whether a path names at most one node (`$.data`, `$.a[0]`) rather than a set (`$.a[*]`).

    A singular data_path gives the value it matched; any other gives the list of its matches,
    so that `$.items[?@.price > 10]` gives rows even when one item passes the filter.
    """
    if _member_names(path) is not None:
        return True
    compiled = compile_path(path, field=field)
    return bool(getattr(compiled, "singular_query", lambda: False)())


_MEMBER_PATH = re.compile(r"^\$(\.[A-Za-z_][A-Za-z0-9_]*)*$")


@functools.lru_cache(maxsize=512)
def _member_names(path: str) -> tuple[str, ...] | None:
    """`$.a.b` -> ("a", "b"); None for any path that is not plain member names."""
    return tuple(path.split(".")[1:]) if _MEMBER_PATH.match(path) else None


def extract(document: Any, path: str, *, field: str) -> list[Any]:
    """Every value `path` matches in `document`, in document order.

    Raises ConfigError for a bad path and InvalidResponse when the document cannot be searched
    (too deeply nested, for instance).
    """
    names = _member_names(path)
    if names is not None:
        return _walk_members(document, names)
    import jsonpath

    compiled = compile_path(path, field=field)
    try:
        return list(compiled.findall(document))
    except (jsonpath.JSONPathError, RecursionError) as exc:
        raise InvalidResponse(f"{field}: {path!r} could not be evaluated on the response") from exc


def _walk_members(document: Any, names: tuple[str, ...]) -> list[Any]:
    # `$.a.b` selects member a, then b, of objects only (RFC 9535 name selectors): a walk through
    # dicts gives the same answer without the engine's per-node bookkeeping, which dominates
    # mapping time when a fetch maps 100,000 records.
    value = document
    for name in names:
        if not isinstance(value, dict) or name not in value:
            return []
        value = value[name]
    return [value]


# --- Typed values -------------------------------------------------------------------------------


class FieldMisfit(ValueError):
    """A value does not fit a field's type; mapping records it and moves on."""


def coerce(value: Any, type_: FieldType) -> Any:
    """`value` as the field type asks, leniently ("42" -> 42); raises FieldMisfit otherwise.

    None stays None for every type: a null is a value the API chose to send.
    """
    if value is None:
        return None
    return _COERCERS[type_](value)


def _to_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, float) and not math.isfinite(value):
        raise FieldMisfit("is not a finite number")
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _to_number(value: Any) -> int | float:
    if isinstance(value, bool):
        raise FieldMisfit("is a boolean, not a number")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise FieldMisfit("is not a finite number")
        return value
    if isinstance(value, str) and _NUMBER.match(value.strip()):
        text = value.strip()
        return int(text) if re.fullmatch(r"[+-]?\d+", text) else float(text)
    raise FieldMisfit(f"is {_kind(value)}, not a number")


def _to_integer(value: Any) -> int:
    number = _to_number(value)
    if isinstance(number, float):
        if not number.is_integer():
            raise FieldMisfit(f"{number} is not a whole number")
        return int(number)
    return number


def _to_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise FieldMisfit(f"is {_kind(value)}, not a boolean")


def _to_datetime(value: Any) -> str:
    """ISO-8601 text or epoch seconds/milliseconds -> ISO-8601 with an offset (naive means UTC)."""
    if isinstance(value, str) and _ISO_DATE.match(value.strip()):
        parsed = parse_iso_datetime(value.strip())
        if parsed is not None:
            return parsed.isoformat()
    if isinstance(value, bool):
        raise FieldMisfit("is a boolean, not a date-time")
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.match(value.strip())):
        return _from_epoch(_to_number(value)).isoformat()
    raise FieldMisfit(f"is {_kind(value)}, not an ISO-8601 date-time or epoch time")


def _from_epoch(number: float) -> datetime:
    seconds = number / 1000 if abs(number) >= _EPOCH_MS_FROM else number
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise FieldMisfit(f"{number} is out of range for an epoch time") from exc


def parse_iso_datetime(text: str) -> datetime | None:
    """An ISO-8601 date or date-time as an aware datetime (naive is UTC), or None."""
    if not _ISO_DATE.match(text):
        return None
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        parsed = datetime.fromisoformat(text.upper())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _to_object(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    parsed = _json_container(value) if isinstance(value, str) else None
    if isinstance(parsed, dict):
        return parsed
    raise FieldMisfit(f"is {_kind(value)}, not an object")


def _to_array(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    parsed = _json_container(value) if isinstance(value, str) else None
    if isinstance(parsed, list):
        return parsed
    raise FieldMisfit(f"is {_kind(value)}, not an array")


def _kind(value: Any) -> str:
    """How a value is described in a warning; never the value itself, which may be personal."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a text that does not convert"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return f"a {type(value).__name__}"


_COERCERS: dict[str, Any] = {
    "string": _to_string,
    "number": _to_number,
    "integer": _to_integer,
    "boolean": _to_boolean,
    "datetime": _to_datetime,
    "object": _to_object,
    "array": _to_array,
}


# --- Mapping ------------------------------------------------------------------------------------


@dataclass
class MappedFields:
    values: dict[str, Any] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class MappedResponse:
    data: dict[str, Any] | None = None
    rows: list[dict[str, Any]] | None = None
    skipped_fields: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _PreparedField:
    spec: FieldSpec
    members: tuple[str, ...] | None  # the names of a plain member path, walked without the engine
    coerce: Callable[[Any], Any]
    field: str  # where the path is in the spec, for a bad-path ConfigError


class FieldMapper:
    """Field specs made ready once to map many objects: every row of a response or a page."""

    def __init__(self, fields: list[FieldSpec], *, where: str = "request.response.fields") -> None:
        self.fields = [
            _PreparedField(
                spec, _member_names(spec.path), _COERCERS[spec.type], f"{where}[{index}].path"
            )
            for index, spec in enumerate(fields)
        ]

    def map(self, obj: Any) -> MappedFields:
        """Each field's value in `obj`, typed. Data problems become skipped fields and warnings.

        A bad JSONPath is a ConfigError naming `<where>[i].path`: that is the spec's fault.
        """
        mapped = MappedFields()
        for prepared in self.fields:
            value, problem = self._value(obj, prepared, mapped)
            name = prepared.spec.name
            mapped.values[name] = value
            if problem:
                mapped.skipped.append(name)
                mapped.warnings.append(f"field {name!r}: {problem}")
        return mapped

    @staticmethod
    def _value(obj: Any, prepared: _PreparedField, mapped: MappedFields) -> tuple[Any, str | None]:
        """(value, None) or (None, why the field was skipped)."""
        spec = prepared.spec
        if prepared.members is not None:
            matches = _walk_members(obj, prepared.members)
        else:
            try:
                matches = extract(obj, spec.path, field=prepared.field)
            except InvalidResponse:
                return None, f"{spec.path} could not be evaluated"
        if not matches:
            return None, f"{spec.path} matched nothing"
        if spec.type == "array":
            # `$.tags` matching one list is that list; `$.items[*].id` gives the list of matches.
            value = matches[0] if len(matches) == 1 and isinstance(matches[0], list) else matches
        else:
            if len(matches) > 1:
                mapped.warnings.append(
                    f"field {spec.name!r}: {spec.path} matched {len(matches)} values;"
                    " the first is used"
                )
            value = matches[0]
        if value is None:  # a null is a value the API chose to send, for every type
            return None, None
        try:
            return prepared.coerce(value), None
        except FieldMisfit as misfit:
            return None, f"the value {misfit}, so it does not fit type {spec.type}"


def map_fields(
    obj: Any, fields: list[FieldSpec], *, where: str = "request.response.fields"
) -> MappedFields:
    """Each field's value in `obj`, typed (see FieldMapper, for many objects)."""
    return FieldMapper(fields, where=where).map(obj)


def map_response(
    body: Any, spec: ResponseSpec, *, where: str = "request.response"
) -> MappedResponse:
    """The Outcome's data or rows: an object at data_path gives data, a list gives rows."""
    names = [field_spec.name for field_spec in spec.fields]
    if spec.data_path is None:
        target = body
    else:
        path_field = f"{where}.data_path"
        matches = extract(body, spec.data_path, field=path_field)
        if not matches:
            return MappedResponse(
                skipped_fields=names,
                warnings=[f"data_path {spec.data_path} matched nothing in the response"],
            )
        target = matches[0] if is_singular(spec.data_path, field=path_field) else matches
    if isinstance(target, list):
        return _map_rows(target, spec.fields, where=f"{where}.fields")
    if target is None:
        warnings = ["the response has no data to map"] if spec.fields else []
        return MappedResponse(skipped_fields=names, warnings=warnings)
    if not spec.fields:
        return MappedResponse(data=target if isinstance(target, dict) else {"value": target})
    mapped = map_fields(target, spec.fields, where=f"{where}.fields")
    return MappedResponse(
        data=mapped.values, skipped_fields=mapped.skipped, warnings=mapped.warnings
    )


def _map_rows(items: list[Any], fields: list[FieldSpec], *, where: str) -> MappedResponse:
    if not fields:
        return MappedResponse(
            rows=[item if isinstance(item, dict) else {"value": item} for item in items]
        )
    rows: list[dict[str, Any]] = []
    skipped: dict[str, None] = {}
    warnings: Counter[str] = Counter()
    mapper = FieldMapper(fields, where=where)
    for item in items:
        mapped = mapper.map(item)
        rows.append(mapped.values)
        skipped.update(dict.fromkeys(mapped.skipped))
        warnings.update(dict.fromkeys(mapped.warnings, 1))
    # One line per distinct problem, not one per row: a page can hold thousands of rows.
    notes = [
        message if len(items) == 1 else f"{message} (in {count} of {len(items)} rows)"
        for message, count in warnings.items()
    ]
    return MappedResponse(rows=rows, skipped_fields=list(skipped), warnings=notes)


# --- Schema inference ---------------------------------------------------------------------------


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
    if _depth_exceeds(sample, MAX_INFER_DEPTH):
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


def _depth_exceeds(value: Any, limit: int) -> bool:
    stack = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth >= limit:
                return True
            items = node.values() if isinstance(node, dict) else node
            stack.extend((item, depth + 1) for item in items)
    return False


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
    if _SHORTHAND_NAME.match(key):
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
