"""Response decoding, JSONPath extraction, typed fields and the data/rows shape of a response."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apicall.core.errors import ConfigError, InvalidResponse
from apicall.core.models import FieldSpec, ResponseSpec
from apicall.request.decoding import (
    MAX_RESPONSE_DEPTH,
    depth_exceeds,
    parse_body,
)
from apicall.request.jsonpath import extract
from apicall.request.mapping import FieldMisfit, coerce, map_fields, map_response


def fields(*specs: tuple[str, str, str]) -> list[FieldSpec]:
    return [FieldSpec(name=name, type=type_, path=path) for name, type_, path in specs]  # type: ignore[arg-type]


def response(**spec: Any) -> ResponseSpec:
    return ResponseSpec.model_validate(spec)


# --- parse_body ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/problem+json",
        "APPLICATION/JSON",
    ],
)
def test_auto_reads_json_content_types_as_json(content_type: str) -> None:
    assert parse_body(b'{"a": 1}', content_type, "auto") == ({"a": 1}, "json")


def test_auto_reads_json_scalars_when_the_content_type_says_json() -> None:
    assert parse_body(b"42", "application/json", "auto") == (42, "json")


def test_auto_reads_unlabelled_json_objects_and_arrays() -> None:
    assert parse_body(b' [1, {"a": null}] ', None, "auto") == ([1, {"a": None}], "json")
    assert parse_body(b'{"a": 1}', "text/plain", "auto") == ({"a": 1}, "json")


def test_auto_keeps_unlabelled_json_scalars_as_text() -> None:
    assert parse_body(b"42", "text/plain", "auto") == ("42", "text")


def test_auto_reads_text_and_xml_as_text() -> None:
    assert parse_body(b"<a>1</a>", "application/xml", "auto") == ("<a>1</a>", "text")
    assert parse_body(b"hello", "text/plain", "auto") == ("hello", "text")
    assert parse_body(b"<feed/>", "application/atom+xml", "auto") == ("<feed/>", "text")


def test_auto_respects_the_charset() -> None:
    assert parse_body("Zoë".encode("latin-1"), "text/plain; charset=ISO-8859-1", "auto") == (
        "Zoë",
        "text",
    )


def test_auto_drops_a_utf8_byte_order_mark() -> None:
    assert parse_body(b'\xef\xbb\xbf{"a": 1}', "application/json", "auto") == ({"a": 1}, "json")


def test_auto_reads_undecodable_bytes_as_base64() -> None:
    content = b"\x89PNG\r\n\x1a\n\xff\xfe"
    assert parse_body(content, None, "auto") == (base64.b64encode(content).decode(), "binary")


def test_auto_reads_binary_media_types_as_base64_even_when_decodable() -> None:
    assert parse_body(b"abc", "application/octet-stream", "auto") == ("YWJj", "binary")
    assert parse_body(b"abc", "image/png", "auto") == ("YWJj", "binary")


def test_auto_shows_mislabelled_json_as_text() -> None:
    assert parse_body(b"<html>oops</html>", "application/json", "auto") == (
        "<html>oops</html>",
        "text",
    )


@pytest.mark.parametrize("fmt", ["auto", "json", "text", "binary"])
def test_empty_body_is_none(fmt: str) -> None:
    body, _kind = parse_body(b"", "application/json", fmt)  # type: ignore[arg-type]
    assert body is None


def test_json_format_parses_whatever_the_content_type() -> None:
    assert parse_body(b'{"a": [1]}', "text/html", "json") == ({"a": [1]}, "json")


def test_json_format_on_non_json_is_invalid_response_without_the_body() -> None:
    with pytest.raises(InvalidResponse) as caught:
        parse_body(b"secret-token-123 not json", "text/plain", "json")
    assert "secret-token-123" not in caught.value.message
    assert caught.value.kind == "invalid_response"


def test_text_format_keeps_json_as_text() -> None:
    assert parse_body(b'{"a": 1}', "application/json", "text") == ('{"a": 1}', "text")


def test_binary_format_is_base64() -> None:
    assert parse_body(b"\x00\x01", "application/json", "binary") == ("AAE=", "binary")


# --- JSONPath -----------------------------------------------------------------------------------


def test_extract_returns_every_match() -> None:
    document = {"items": [{"id": 1}, {"id": 2}]}
    assert extract(document, "$.items[*].id", field="f") == [1, 2]


def test_rfc9535_filter_expressions_work() -> None:
    document = {"items": [{"price": 5}, {"price": 20}, {"price": 11.5}]}
    assert extract(document, "$.items[?@.price > 10]", field="f") == [
        {"price": 20},
        {"price": 11.5},
    ]


def test_rfc9535_functions_work() -> None:
    document = {"items": [{"tags": ["a", "b"]}, {"tags": []}]}
    assert extract(document, "$.items[?length(@.tags) > 0]", field="f") == [{"tags": ["a", "b"]}]


@pytest.mark.parametrize("path", ["$.[", "items", "$.items[?@.price >]", "$..", "$[?foo(@)]"])
def test_bad_jsonpath_is_a_config_error_naming_the_field(path: str) -> None:
    with pytest.raises(ConfigError) as caught:
        extract({}, path, field="request.response.data_path")
    assert caught.value.field == "request.response.data_path"


def test_jsonpath_is_imported_only_when_a_path_is_compiled() -> None:
    code = (
        "import sys, apicall.request.mapping, apicall.request.jsonpath, apicall.request.schema; "
        "print('jsonpath' in sys.modules, 'genson' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="shared"
    )
    assert result.stdout.strip() == "False False"


# --- coerce -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "type_", "expected"),
    [
        ("42", "integer", 42),
        (42.0, "integer", 42),
        ("42.0", "integer", 42),
        (" 7 ", "integer", 7),
        ("2.5", "number", 2.5),
        ("1e3", "number", 1000.0),
        (3, "number", 3),
        ("true", "boolean", True),
        ("FALSE", "boolean", False),
        (1, "boolean", True),
        (0, "boolean", False),
        ("yes", "boolean", True),
        (42, "string", "42"),
        (2.5, "string", "2.5"),
        (True, "string", "true"),
        ({"a": 1}, "string", '{"a":1}'),
        ("2024-01-15T10:30:00Z", "datetime", "2024-01-15T10:30:00+00:00"),
        ("2024-01-15T10:30:00+02:00", "datetime", "2024-01-15T10:30:00+02:00"),
        ("2024-01-15 10:30:00", "datetime", "2024-01-15T10:30:00+00:00"),
        ("2024-01-15", "datetime", "2024-01-15T00:00:00+00:00"),
        (1705314600, "datetime", "2024-01-15T10:30:00+00:00"),
        (1705314600000, "datetime", "2024-01-15T10:30:00+00:00"),
        ("1705314600", "datetime", "2024-01-15T10:30:00+00:00"),
        ({"a": 1}, "object", {"a": 1}),
        ('{"a": 1}', "object", {"a": 1}),
        ([1, 2], "array", [1, 2]),
        ("[1, 2]", "array", [1, 2]),
        (None, "integer", None),
    ],
)
def test_coerce_is_lenient_where_the_meaning_is_clear(
    value: Any, type_: str, expected: Any
) -> None:
    assert coerce(value, type_) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "type_"),
    [
        ("abc", "integer"),
        (2.5, "integer"),
        (True, "integer"),
        ("nan", "number"),
        ("1_000", "number"),
        (float("inf"), "number"),
        ("maybe", "boolean"),
        (2, "boolean"),
        ("15/01/2024", "datetime"),
        ("2024-13-45", "datetime"),
        (True, "datetime"),
        (10**20, "datetime"),
        ("text", "object"),
        ([1], "object"),
        ("text", "array"),
        ({"a": 1}, "array"),
    ],
)
def test_coerce_refuses_values_that_do_not_fit(value: Any, type_: str) -> None:
    with pytest.raises(FieldMisfit):
        coerce(value, type_)  # type: ignore[arg-type]


# --- map_fields ---------------------------------------------------------------------------------


def test_map_fields_types_each_value() -> None:
    obj = {
        "id": "42",
        "total": "9.5",
        "paid": "true",
        "at": 1705314600,
        "customer": {"name": "Ada"},
    }
    mapped = map_fields(
        obj,
        fields(
            ("id", "integer", "$.id"),
            ("total", "number", "$.total"),
            ("paid", "boolean", "$.paid"),
            ("at", "datetime", "$.at"),
            ("name", "string", "$.customer.name"),
            ("customer", "object", "$.customer"),
        ),
    )
    assert mapped.values == {
        "id": 42,
        "total": 9.5,
        "paid": True,
        "at": "2024-01-15T10:30:00+00:00",
        "name": "Ada",
        "customer": {"name": "Ada"},
    }
    assert mapped.skipped == [] and mapped.warnings == []


def test_missing_path_is_skipped_with_a_warning_naming_the_field() -> None:
    mapped = map_fields({"id": 1}, fields(("email", "string", "$.email")))
    assert mapped.values == {"email": None}
    assert mapped.skipped == ["email"]
    assert "email" in mapped.warnings[0] and "matched nothing" in mapped.warnings[0]


def test_type_misfit_is_skipped_with_a_warning_but_not_the_value() -> None:
    mapped = map_fields({"age": "secret-ish"}, fields(("age", "integer", "$.age")))
    assert mapped.values == {"age": None}
    assert mapped.skipped == ["age"]
    assert "integer" in mapped.warnings[0] and "secret-ish" not in mapped.warnings[0]


def test_null_value_is_kept_not_skipped() -> None:
    mapped = map_fields({"note": None}, fields(("note", "string", "$.note")))
    assert mapped.values == {"note": None} and mapped.skipped == []


def test_several_matches_for_a_scalar_field_take_the_first_with_a_warning() -> None:
    mapped = map_fields(
        {"items": [{"id": 1}, {"id": 2}]}, fields(("id", "integer", "$.items[*].id"))
    )
    assert mapped.values == {"id": 1}
    assert mapped.skipped == []
    assert "matched 2 values" in mapped.warnings[0]


def test_array_field_takes_every_match() -> None:
    mapped = map_fields(
        {"items": [{"id": 1}, {"id": 2}]}, fields(("ids", "array", "$.items[*].id"))
    )
    assert mapped.values == {"ids": [1, 2]}


def test_array_field_on_one_list_takes_that_list() -> None:
    mapped = map_fields({"tags": ["a", "b"]}, fields(("tags", "array", "$.tags")))
    assert mapped.values == {"tags": ["a", "b"]}


def test_bad_field_path_is_a_config_error_naming_the_field_path() -> None:
    with pytest.raises(ConfigError) as caught:
        map_fields({}, fields(("ok", "string", "$.a"), ("bad", "string", "$.[")))
    assert caught.value.field == "request.response.fields[1].path"


def test_field_paths_with_bracket_names_work() -> None:
    mapped = map_fields(
        {"first name": "Ada", "a.b": 1},
        fields(("n", "string", "$['first name']"), ("ab", "integer", "$['a.b']")),
    )
    assert mapped.values == {"n": "Ada", "ab": 1}


# --- map_response -------------------------------------------------------------------------------


def test_object_at_data_path_gives_mapped_data() -> None:
    body = {"data": {"customer": {"id": 7, "name": "Ada"}}}
    mapped = map_response(
        body,
        response(
            data_path="$.data.customer", fields=[{"name": "id", "type": "string", "path": "$.id"}]
        ),
    )
    assert mapped.data == {"id": "7"}
    assert mapped.rows is None


def test_object_without_fields_is_data_as_is() -> None:
    mapped = map_response({"a": 1}, response())
    assert mapped.data == {"a": 1} and mapped.rows is None


def test_list_at_data_path_gives_rows() -> None:
    body = {"data": {"customers": [{"id": 1, "name": "Ada"}, {"id": 2}]}}
    mapped = map_response(
        body,
        response(
            data_path="$.data.customers",
            fields=[
                {"name": "id", "type": "integer", "path": "$.id"},
                {"name": "name", "type": "string", "path": "$.name"},
            ],
        ),
    )
    assert mapped.data is None
    assert mapped.rows == [{"id": 1, "name": "Ada"}, {"id": 2, "name": None}]
    assert mapped.skipped_fields == ["name"]
    assert mapped.warnings == ["field 'name': $.name matched nothing (in 1 of 2 rows)"]


def test_rows_without_fields_are_the_items_with_scalars_wrapped() -> None:
    mapped = map_response([{"a": 1}, 2, "x"], response())
    assert mapped.rows == [{"a": 1}, {"value": 2}, {"value": "x"}]


def test_empty_list_gives_no_rows_and_no_skipped_fields() -> None:
    mapped = map_response(
        {"items": []}, response(data_path="$.items", fields=[{"name": "id", "path": "$.id"}])
    )
    assert mapped.rows == [] and mapped.skipped_fields == []


def test_filter_data_path_gives_rows_even_for_one_match() -> None:
    body = {"items": [{"price": 5}, {"price": 20}]}
    mapped = map_response(body, response(data_path="$.items[?@.price > 10]"))
    assert mapped.rows == [{"price": 20}]


def test_wildcard_data_path_gives_the_matches_as_rows() -> None:
    body = {"pages": [{"items": [1]}, {"items": [2]}]}
    mapped = map_response(body, response(data_path="$.pages[*].items[0]"))
    assert mapped.rows == [{"value": 1}, {"value": 2}]


def test_data_path_matching_nothing_skips_every_field_with_a_warning() -> None:
    mapped = map_response(
        {"other": 1},
        response(
            data_path="$.data", fields=[{"name": "a", "path": "$.a"}, {"name": "b", "path": "$.b"}]
        ),
    )
    assert mapped.data is None and mapped.rows is None
    assert mapped.skipped_fields == ["a", "b"]
    assert mapped.warnings == ["data_path $.data matched nothing in the response"]


def test_field_skipped_in_several_rows_is_listed_once() -> None:
    mapped = map_response(
        [{}, {}, {"a": "1"}], response(fields=[{"name": "a", "type": "integer", "path": "$.a"}])
    )
    assert mapped.skipped_fields == ["a"]
    assert len(mapped.warnings) == 1 and "2 of 3 rows" in mapped.warnings[0]


def test_bad_data_path_is_a_config_error_naming_data_path() -> None:
    with pytest.raises(ConfigError) as caught:
        map_response({}, response(data_path="$.["))
    assert caught.value.field == "request.response.data_path"


def test_text_body_with_fields_skips_them_without_raising() -> None:
    mapped = map_response("plain text", response(fields=[{"name": "id", "path": "$.id"}]))
    assert mapped.data == {"id": None} and mapped.skipped_fields == ["id"]


def test_empty_body_with_fields_skips_them() -> None:
    mapped = map_response(None, response(fields=[{"name": "id", "path": "$.id"}]))
    assert mapped.data is None and mapped.skipped_fields == ["id"]


def test_text_body_without_fields_is_wrapped_as_value() -> None:
    assert map_response("ok", response()).data == {"value": "ok"}


def test_deeply_nested_response_does_not_crash_mapping() -> None:
    body: Any = "leaf"
    for _ in range(3000):
        body = {"a": body}
    mapped = map_fields(body, fields(("deep", "string", "$..missing")))
    assert mapped.skipped == ["deep"]


def test_mapped_output_is_json_serialisable() -> None:
    mapped = map_response(
        {"a": [1, 2]}, response(fields=[{"name": "a", "type": "array", "path": "$.a"}])
    )
    json.dumps(mapped.data)


# --- how deep a response nests, read from its text ----------------------------------------------

_NESTED_JSON = st.recursive(
    st.none() | st.integers() | st.text(alphabet='[]{}"\\ab\n,:'),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=20,
)


def nesting(value: Any) -> int:
    """Levels of containers in `value`, the plain recursive way: [] is 1, [[1]] is 2."""
    if isinstance(value, dict):
        return 1 + max(map(nesting, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(nesting, value), default=0)
    return 0


@settings(max_examples=500, deadline=None)
@given(_NESTED_JSON, st.integers(min_value=0, max_value=6))
def test_depth_exceeds_answers_as_the_recursive_definition(value: Any, limit: int) -> None:
    assert depth_exceeds(value, limit) == (nesting(value) > limit)


def test_a_response_nesting_deeper_than_the_limit_is_refused_as_json() -> None:
    deep = "[" * (MAX_RESPONSE_DEPTH + 1) + "]" * (MAX_RESPONSE_DEPTH + 1)
    at_limit = "[" * MAX_RESPONSE_DEPTH + "]" * MAX_RESPONSE_DEPTH

    with pytest.raises(InvalidResponse):
        parse_body(deep.encode(), "application/json", "json")
    assert parse_body(at_limit.encode(), "application/json", "json")[1] == "json"


def test_the_response_depth_limit_is_the_one_the_parser_enforces() -> None:
    # decoding trusts pydantic-core's parser to refuse what nests deeper than the limit, and skips
    # its own walk of what it accepts: an upgrade that moves the parser's limit must fail here.
    import pydantic_core

    pydantic_core.from_json("[" * MAX_RESPONSE_DEPTH + "]" * MAX_RESPONSE_DEPTH)
    with pytest.raises(ValueError, match="recursion limit"):
        pydantic_core.from_json("[" * (MAX_RESPONSE_DEPTH + 1) + "]" * (MAX_RESPONSE_DEPTH + 1))


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)


@settings(max_examples=500, deadline=None)
@given(_JSON_VALUES, st.booleans())
def test_a_json_body_reads_as_the_standard_library_reads_it(value: Any, ascii_only: bool) -> None:
    # Escaped and raw text, lone surrogates, big integers, floats at the edges of precision,
    # duplicate keys aside: the fast parser must not change one value.
    text = json.dumps(value, ensure_ascii=ascii_only)
    assert parse_body(text.encode("utf-8", "surrogatepass"), "application/json", "json")[0] == (
        json.loads(text)
    )


@pytest.mark.parametrize(
    "text",
    ['{"a": 1, "a": 2, "b": 3}', '"\\ud800"', '["\\udc00x", 1e400, -0.0, 12345678901234567890123]'],
)
def test_json_bodies_the_parsers_could_read_apart_read_as_the_standard_library_reads_them(
    text: str,
) -> None:
    parsed = parse_body(text.encode(), "application/json", "json")[0]
    assert json.dumps(parsed) == json.dumps(json.loads(text))
