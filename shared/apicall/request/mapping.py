"""Response mapping: the typed fields and rows a RequestSpec's `response` asks for.

Values are picked by JSONPath (`apicall.request.jsonpath`) and typed by `coerce`; a value that does
not fit its type is skipped with a warning naming the field, never a failure of the request.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from apicall.core.errors import InvalidResponse
from apicall.core.models import FieldSpec, FieldType, ResponseSpec
from apicall.request.decoding import json_container
from apicall.request.jsonpath import extract, is_singular, member_names, walk_members

_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_ISO_DATE = re.compile(
    r"^\d{4}-\d{2}-\d{2}"
    r"([Tt ]\d{2}:\d{2}(:\d{2}([.,]\d+)?)?([Zz]|[+-]\d{2}(:?\d{2})?)?)?$"
)
# Epoch values at or above this are milliseconds: as seconds they would be past the year 5000.
_EPOCH_MS_FROM = 100_000_000_000
_TRUE = frozenset({"true", "1", "yes", "y", "on"})
_FALSE = frozenset({"false", "0", "no", "n", "off"})


SHORTHAND_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


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
    if isinstance(value, str):
        text = value.strip()
        if _ISO_DATE.match(text):
            parsed = _parse_iso(text)
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
    return _parse_iso(text) if _ISO_DATE.match(text) else None


def _parse_iso(text: str) -> datetime | None:
    """`parse_iso_datetime` of text `_ISO_DATE` has matched."""
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
    parsed = json_container(value) if isinstance(value, str) else None
    if isinstance(parsed, dict):
        return parsed
    raise FieldMisfit(f"is {_kind(value)}, not an object")


def _to_array(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    parsed = json_container(value) if isinstance(value, str) else None
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
    name: str = ""
    # `members` when the field takes the one value such a path finds (every type but array)
    single: tuple[str, ...] | None = None


_ABSENT = object()


class FieldMapper:
    """Field specs made ready once to map many objects: every row of a response or a page."""

    def __init__(self, fields: list[FieldSpec], *, where: str = "request.response.fields") -> None:
        self.fields = []
        for index, spec in enumerate(fields):
            members = member_names(spec.path)
            single = members if spec.type != "array" else None
            where_path = f"{where}[{index}].path"
            coerce = _COERCERS[spec.type]
            self.fields.append(_PreparedField(spec, members, coerce, where_path, spec.name, single))

    def map(self, obj: Any) -> MappedFields:
        """Each field's value in `obj`, typed. Data problems become skipped fields and warnings.

        A bad JSONPath is a ConfigError naming `<where>[i].path`: that is the spec's fault.
        """
        mapped = MappedFields()
        values = mapped.values
        for prepared in self.fields:
            if prepared.single is not None:
                # The common case, inline (a fetch maps every field of 100,000 records): a plain
                # member path to a value that fits its type. Anything else takes `_value`, which
                # words the warning.
                value = obj
                for member in prepared.single:
                    if not isinstance(value, dict) or member not in value:
                        value = _ABSENT
                        break
                    value = value[member]
                if value is None:
                    values[prepared.name] = None
                    continue
                if value is not _ABSENT:
                    try:
                        values[prepared.name] = prepared.coerce(value)
                        continue
                    except FieldMisfit:
                        pass
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
            matches = walk_members(obj, prepared.members)
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
