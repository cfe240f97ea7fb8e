"""Placeholders and request building: a RequestSpec plus values becomes an OutgoingRequest.

A template is literal text with `{path}` placeholders, where a path is a key followed by `.key`
and `[index]` steps (`{customer.addresses[0].city}`). A `{` opens a placeholder only when a path
and `}` follow it; every other brace is literal, so a pasted JSON body, GraphQL query or script is
sent as written. `{{` and `}}` still write one brace (the spelling earlier specs use), except that
a `}}` closing a single literal `{` is two braces: `{"a":{"b":1}}` keeps its last brace. Nothing is
evaluated: a path only walks dict keys and list indexes of the invocation's `values`.

Text without a UTF-8 encoding (a lone surrogate such as the valid JSON `"\ud800"`), and in a JSON
body a NaN or infinite number, is an InvalidRequest naming the spec field, `values.` path or
`record.` path it came from, never an encoding error while sending.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import math
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

from apicall.core.errors import InvalidRequest
from apicall.core.models import (
    BinaryBody,
    Connection,
    FormBody,
    JsonBody,
    MultipartBody,
    RawBody,
    RecordBody,
    RequestSpec,
    Scalar,
)

# CROSS
from apicall.http.client import OutgoingRequest

_BRACE = re.compile(r"[{}]")
_PLACEHOLDER = re.compile(r"\{([\w-]+(?:\.[\w-]+|\[\d+\])*)\}")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_STEP = re.compile(r"\.?([\w-]+)|\[(\d+)\]")
_HAS_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_HTTP_SCHEME = re.compile(r"^https?://", re.IGNORECASE)
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
# RFC 9110 field values: visible ASCII, space and tab. httpx encodes str headers as ASCII anyway.
_HEADER_VALUE = re.compile(r"^[\t\x20-\x7e]*$")


# --- Placeholders -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Placeholder:
    """One `{a.b[0]}`: its name as written and the dict keys / list indexes it walks."""

    name: str
    steps: tuple[str | int, ...]


TemplatePart = str | Placeholder


class _Absent:
    """The lookup result of a placeholder whose value is not in `values`."""


_ABSENT = _Absent()


def _parse_path(name: str) -> tuple[str | int, ...]:
    return tuple(
        int(match.group(2)) if match.group(2) is not None else match.group(1)
        for match in _STEP.finditer(name)
    )


def parse_template(template: str, *, field: str) -> tuple[TemplatePart, ...]:
    """Split a template into literal text and placeholders; raises InvalidRequest naming `field`
    when the text cannot be sent."""
    parts = _parse_template(template)
    if isinstance(parts, str):
        raise InvalidRequest(f"{field}: {parts}", field=field)
    return parts


# Specs are re-rendered on every invocation of a warm container: parse each template once.
@functools.lru_cache(maxsize=4096)
def _parse_template(template: str) -> tuple[TemplatePart, ...] | str:
    """The template's parts, or why it cannot be sent."""
    if _SURROGATE.search(template):
        return _UNENCODABLE
    parts: list[TemplatePart] = []
    text: list[str] = []
    # One entry per literal `{` still open: True when it was written `{{`. Only the `}}` of a
    # `{{` (or one with nothing open) is an escape, so the `}}` ending nested JSON stays two.
    opened: list[bool] = []
    position = 0
    while (brace := _BRACE.search(template, position)) is not None:
        at = brace.start()
        text.append(template[position:at])
        if template[at] == "}":
            escaped = template.startswith("}}", at) and (not opened or opened[-1])
            text.append("}")
            if opened:
                opened.pop()
            position = at + (2 if escaped else 1)
        elif template.startswith("{{", at):
            text.append("{")
            opened.append(True)
            position = at + 2
        elif placeholder := _PLACEHOLDER.match(template, at):
            if literal := "".join(text):
                parts.append(literal)
            text = []
            name = placeholder.group(1)
            parts.append(Placeholder(name, _parse_path(name)))
            position = placeholder.end()
        else:
            text.append("{")
            opened.append(False)
            position = at + 1
    text.append(template[position:])
    if literal := "".join(text):
        parts.append(literal)
    return tuple(parts)


_UNENCODABLE = "contains a lone surrogate (like \\ud800): it is not text and has no UTF-8 encoding"


def _shown(key: str) -> str:
    """A key as it can appear in a field name, even one holding a lone surrogate."""
    if _SURROGATE.search(key):
        return key.encode("utf-8", "backslashreplace").decode("utf-8")
    return key


def check_text(text: str, *, field: str) -> None:
    """Raise InvalidRequest naming `field` when `text` has no UTF-8 encoding."""
    if _SURROGATE.search(text):
        raise InvalidRequest(f"{field}: {_UNENCODABLE}", field=field)


def check_json(value: Any, *, field: str) -> None:
    """Raise InvalidRequest naming the member of `value` a JSON body cannot carry: text without a
    UTF-8 encoding (in a string or a key), or a NaN or infinite number."""
    problem = _unsendable(value, field, as_json=True)
    if problem is not None:
        raise InvalidRequest(f"{problem[0]}: {problem[1]}", field=problem[0])


def _unsendable(value: Any, field: str, *, as_json: bool) -> tuple[str, str] | None:
    """(where, why) of the first member of `value` that cannot be sent; numbers count only in
    JSON, where NaN has no spelling (as text it is just "NaN")."""
    if isinstance(value, str):
        return (field, _UNENCODABLE) if _SURROGATE.search(value) else None
    if isinstance(value, float):
        if as_json and not math.isfinite(value):
            return field, f"{value} is not a number JSON can carry"
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{field}.{_shown(key) if isinstance(key, str) else key}"
            if isinstance(key, str) and _SURROGATE.search(key):
                return where, f"the key {_UNENCODABLE}"
            if (problem := _unsendable(item, where, as_json=as_json)) is not None:
                return problem
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            if (problem := _unsendable(item, f"{field}[{index}]", as_json=as_json)) is not None:
                return problem
    return None


def _lookup(values: Any, steps: tuple[str | int, ...]) -> Any:
    """Walk dict keys and list indexes only; anything else means the value is absent."""
    current = values
    for step in steps:
        if isinstance(step, int):
            if not isinstance(current, list) or step >= len(current):
                return _ABSENT
        elif not isinstance(current, dict) or step not in current:
            return _ABSENT
        current = current[step]
    return current


def _resolve(
    placeholder: Placeholder,
    values: dict[str, Any],
    *,
    field: str,
    missing: str,
    report: dict[str, str] | None,
    as_json: bool = False,
) -> Any:
    """The placeholder's value, or _ABSENT in lenient mode; raises when `missing` is "error".

    A value that cannot be sent (as JSON when `as_json`) is an InvalidRequest naming its path in
    `values`: that is where the caller has to fix it.
    """
    value = _lookup(values, placeholder.steps)
    if value is _ABSENT and missing != "empty":
        raise InvalidRequest(
            f"{field}: no value for placeholder {{{placeholder.name}}}", field=field
        )
    if isinstance(value, str | float | dict | list):
        problem = _unsendable(value, f"values.{placeholder.name}", as_json=as_json)
        if problem is not None:
            where, why = problem
            raise InvalidRequest(f"{where} (placeholder in {field}): {why}", field=where)
    if report is not None:
        report[placeholder.name] = "empty" if value is _ABSENT else "value"
    return value


def to_text(value: Any) -> str:
    """A value as request text: strings as is, JSON spelling for the rest, None as empty."""
    if value is None or value is _ABSENT:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def fill_text(
    template: str,
    values: dict[str, Any],
    *,
    field: str,
    missing: str = "error",
    report: dict[str, str] | None = None,
    encode: Callable[[str], str] | None = None,
) -> str:
    """Fill every placeholder of `template` as text; `encode`, if given, applies to values only."""
    out: list[str] = []
    for part in parse_template(template, field=field):
        if isinstance(part, str):
            out.append(part)
            continue
        text = to_text(_resolve(part, values, field=field, missing=missing, report=report))
        out.append(encode(text) if encode else text)
    return "".join(out)


def fill_json(
    document: Any,
    values: dict[str, Any],
    *,
    field: str,
    missing: str = "error",
    report: dict[str, str] | None = None,
) -> Any:
    """Fill placeholders in every string of a JSON value; keys are left alone.

    A string that is exactly one placeholder becomes the value itself (number, object, null...);
    in lenient mode a missing one becomes null.
    """
    if isinstance(document, dict):
        filled = {}
        for key, item in document.items():
            where = f"{field}.{_shown(key)}"
            if _SURROGATE.search(key):
                raise InvalidRequest(f"{where}: the key {_UNENCODABLE}", field=where)
            filled[key] = fill_json(item, values, field=where, missing=missing, report=report)
        return filled
    if isinstance(document, list):
        return [
            fill_json(item, values, field=f"{field}[{index}]", missing=missing, report=report)
            for index, item in enumerate(document)
        ]
    if not isinstance(document, str):
        if isinstance(document, float):
            check_json(document, field=field)
        return document
    parts = parse_template(document, field=field)
    if len(parts) == 1 and isinstance(parts[0], Placeholder):
        value = _resolve(
            parts[0], values, field=field, missing=missing, report=report, as_json=True
        )
        return None if value is _ABSENT else value
    return fill_text(document, values, field=field, missing=missing, report=report)


def _scalar_text(
    value: Scalar,
    values: dict[str, Any],
    *,
    field: str,
    missing: str,
    report: dict[str, str] | None,
) -> str:
    """A spec scalar as text: strings are templates, numbers and booleans JSON-spelled."""
    if isinstance(value, str):
        return fill_text(value, values, field=field, missing=missing, report=report)
    return to_text(value)


# --- Which placeholders a spec uses -------------------------------------------------------------


def placeholders(spec: RequestSpec) -> list[str]:
    """Every placeholder name a spec uses, in order of appearance, each once.

    A url placeholder that names a path param is not a value; the placeholders inside that path
    param are. A stray brace is an InvalidRequest naming where it is.
    """
    return list(dict.fromkeys(name for name, _ in placeholder_uses(spec)))


def placeholder_uses(spec: RequestSpec) -> list[tuple[str, str]]:
    """(name, where) of every use of a placeholder, in order of appearance: where in the request
    its value goes, as the builder shows it (`url`, `path_params.id`, `query.page`,
    `headers.X-Id`, `body` for a whole raw or JSON body, `body.customer.id`, `body.items[0]`).

    A stray brace is an InvalidRequest naming the spec field it is in.
    """
    uses: list[tuple[str, str]] = []
    for part in parse_template(spec.url, field="request.url"):
        if not isinstance(part, Placeholder):
            continue
        if part.name not in spec.path_params:
            uses.append((part.name, "url"))
        elif isinstance(param := spec.path_params[part.name], str):
            where = f"path_params.{part.name}"
            _collect(param, f"request.{where}", where, uses)
    for index, (key, value) in enumerate(spec.query_pairs()):
        if isinstance(value, str):
            _collect(value, f"request.query[{index}][1]", f"query.{key}", uses)
    for name, value in spec.headers.items():
        _collect(value, f"request.headers.{name}", f"headers.{name}", uses)
    for field, where, text in _body_templates(spec):
        _collect(text, field, where, uses)
    return uses


def _collect(text: str, field: str, where: str, uses: list[tuple[str, str]]) -> None:
    for part in parse_template(text, field=field):
        if isinstance(part, Placeholder):
            uses.append((part.name, where))


def _json_strings(value: Any, field: str, where: str) -> list[tuple[str, str, str]]:
    """(field, where, text) of every string in a JSON body value."""
    if isinstance(value, str):
        return [(field, where, value)]
    if isinstance(value, dict):
        return [
            found
            for k, v in value.items()
            for found in _json_strings(v, f"{field}.{k}", f"{where}.{k}")
        ]
    if isinstance(value, list):
        return [
            found
            for i, v in enumerate(value)
            for found in _json_strings(v, f"{field}[{i}]", f"{where}[{i}]")
        ]
    return []


def _body_templates(spec: RequestSpec) -> list[tuple[str, str, str]]:
    """(field, where, text) of every text of the body that may hold placeholders."""
    body = spec.body
    if isinstance(body, JsonBody):
        return _json_strings(body.value, "request.body.value", "body")
    if isinstance(body, FormBody | MultipartBody):
        return [
            (f"request.body.fields.{key}", f"body.{key}", value)
            for key, value in _pairs(body.fields)
            if isinstance(value, str)
        ]
    if isinstance(body, RawBody):
        return [("request.body.content", "body", body.content)]
    return []


def value_of(values: dict[str, Any], name: str) -> tuple[bool, Any]:
    """(found, value) of placeholder `name` (`customer.id`, `items[0]`) in `values`."""
    value = _lookup(values, _parse_path(name))
    return (False, None) if value is _ABSENT else (True, value)


# --- The URL ------------------------------------------------------------------------------------


def encode_segment(text: str) -> str:
    """Percent-encode a value as one path segment, so it can never add or climb a segment.

    `quote(safe="")` encodes `/ ? # %`; `.` and `..` are encoded too because a client or server
    that normalises the path would otherwise resolve them.
    """
    encoded = quote(text, safe="")
    if encoded and set(encoded) == {"."}:
        return "%2E" * len(encoded)
    return encoded


def _render_url_template(
    spec: RequestSpec, values: dict[str, Any], *, missing: str, report: dict[str, str] | None
) -> str:
    """The spec's url with every placeholder filled and encoded as one URL component."""
    plan = _url_plan(spec.url)
    if isinstance(plan, str):
        raise InvalidRequest(f"request.url: {plan}", field="request.url")
    out: list[str] = []
    for part, in_path in plan:
        if isinstance(part, str):
            out.append(part)
            continue
        if part.name in spec.path_params:
            where = f"request.path_params.{part.name}"
            text = _scalar_text(
                spec.path_params[part.name], values, field=where, missing=missing, report=report
            )
        else:
            where = "request.url"
            text = to_text(_resolve(part, values, field=where, missing=missing, report=report))
        if in_path and text == "" and missing == "error":
            # `DELETE /customers/{id}` with an empty id would address the whole collection.
            raise InvalidRequest(
                f"{where}: {{{part.name}}} is empty and would leave an empty path segment",
                field=where,
            )
        out.append(encode_segment(text))
    return "".join(out)


@functools.lru_cache(maxsize=4096)
def _url_plan(template: str) -> tuple[tuple[TemplatePart, bool], ...] | str:
    """The url template's parts, each with whether it lies in the URL path; or why it is invalid."""
    parts = _parse_template(template)
    if isinstance(parts, str):
        return parts
    relative = not _HAS_SCHEME.match(template)
    in_path, literal = relative, ""
    plan: list[tuple[TemplatePart, bool]] = []
    for part in parts:
        if isinstance(part, str):
            literal += part
            in_path = _still_in_path(literal, relative=relative)
        plan.append((part, in_path))
    return tuple(plan)


def _still_in_path(literal: str, *, relative: bool) -> bool:
    """Whether text following `literal` (the url's literal text so far) is in the URL path."""
    if "?" in literal or "#" in literal:
        return False
    if relative:
        return True
    after_scheme = literal.split("://", 1)[1] if "://" in literal else ""
    return "/" in after_scheme


_RELATIVE_URL = re.compile(r"^(?P<path>[^?#]*)(?:\?(?P<query>[^#]*))?(?:#(?P<fragment>.*))?$", re.S)


def _join(base_url: str, relative: str) -> str:
    """base `https://h/v2` + `/customers` -> `https://h/v2/customers`, keeping the base path.

    Not urljoin: it would drop the base path for `/customers` and take `//host` as a new host.
    """
    base = urlsplit(base_url)
    parts = _RELATIVE_URL.fullmatch(relative)
    assert parts is not None  # every string matches: each group may be empty
    rel_path = parts["path"]
    path = base.path.rstrip("/") + "/" + rel_path.lstrip("/") if rel_path else base.path
    query = "&".join(q for q in (base.query, parts["query"]) if q)
    return urlunsplit((base.scheme, base.netloc, path or "/", query, parts["fragment"] or ""))


def _absolute_url(template_url: str, filled: str, connection: Connection | None) -> str:
    # Absolute or relative is decided on the template, so no value can make a URL absolute.
    if _HAS_SCHEME.match(template_url):
        if not _HTTP_SCHEME.match(template_url):
            raise InvalidRequest("request.url: only http and https URLs", field="request.url")
        if connection is not None and connection.base_url is not None:
            _check_same_origin(filled, connection.base_url)
        return filled
    if connection is None or connection.base_url is None:
        raise InvalidRequest(
            "request.url is relative, so the request needs a connection with a base_url",
            field="request.url",
        )
    check_text(connection.base_url, field="connection.base_url")
    return _join(connection.base_url, filled)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port


def _check_same_origin(url: str, base_url: str) -> None:
    """A connection's credentials go to its own origin only: whoever may use a connection (a
    builder's test, a workflow step) must not be able to send its secrets to a host of their
    choosing and read them there, which would make write-only secrets readable."""
    if _origin(url) != _origin(base_url):
        scheme, host, port = _origin(base_url)
        raise InvalidRequest(
            f"request.url: an absolute URL must be on the connection's origin "
            f"{scheme}://{host}:{port}; use a path, or a request without the connection",
            field="request.url",
        )


def _split_checked_url(url: str) -> tuple[str, list[tuple[str, str]]]:
    """The URL without its query, and the query as pairs: httpx would drop URL pairs whose key
    `params` repeats. The full syntax check is httpx's, once, when the client parses the URL to
    send it; this is the cheap part that needs the spec's field name."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a port that is not a number)
    except ValueError as exc:
        raise InvalidRequest(f"request.url is not a valid URL: {exc}", field="request.url") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequest("request.url must be an http(s) URL with a host", field="request.url")
    if "?" not in url:
        return url, []
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", parts.fragment)), pairs


# --- Query and headers --------------------------------------------------------------------------


def _query_pairs(
    spec: RequestSpec,
    url_pairs: list[tuple[str, str]],
    connection: Connection | None,
    values: dict[str, Any],
    *,
    missing: str,
    report: dict[str, str] | None,
) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for name, text in (connection.query if connection else {}).items():
        where = f"connection.query.{_shown(name)}"
        check_text(name, field=where)
        check_text(text, field=where)
        pairs.append((name, text))
    pairs += url_pairs
    is_dict = isinstance(spec.query, dict)
    for index, (key, value) in enumerate(spec.query_pairs()):
        if is_dict:
            where = f"request.query.{_shown(key)}"
            check_text(key, field=where)
        else:
            check_text(key, field=f"request.query[{index}][0]")
            where = f"request.query[{index}][1]"
        pairs.append(
            (key, _scalar_text(value, values, field=where, missing=missing, report=report))
        )
    return pairs


def set_header(headers: dict[str, str], name: str, value: str) -> None:
    """Set a header, replacing any spelling of the same name (header names ignore case)."""
    remove_header(headers, name)
    headers[name] = value


def remove_header(headers: dict[str, str], name: str) -> None:
    for existing in [key for key in headers if key.lower() == name.lower()]:
        del headers[existing]


def _has_header(headers: dict[str, str], name: str) -> bool:
    return any(key.lower() == name.lower() for key in headers)


def _headers(
    spec: RequestSpec,
    connection: Connection | None,
    values: dict[str, Any],
    *,
    missing: str,
    report: dict[str, str] | None,
) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in (connection.headers if connection else {}).items():
        _check_header(name, value, field=f"connection.headers.{name}")
        headers[name] = value
    for name, template in spec.headers.items():
        where = f"request.headers.{name}"
        value = fill_text(template, values, field=where, missing=missing, report=report)
        _check_header(name, value, field=where)
        set_header(headers, name, value)
    return headers


def _check_header(name: str, value: str, *, field: str) -> None:
    # A CR/LF from a value could otherwise start a new header or end the header block.
    if not _HEADER_NAME.match(name):
        raise InvalidRequest(f"{field}: {name!r} is not a valid header name", field=field)
    if any(char in value for char in "\r\n\x00"):
        raise InvalidRequest(
            f"{field}: header values cannot contain line breaks or NUL", field=field
        )
    if not _HEADER_VALUE.match(value):
        raise InvalidRequest(
            f"{field}: header values must be printable ASCII; percent-encode other text",
            field=field,
        )


# --- Bodies -------------------------------------------------------------------------------------


def _pairs(fields: dict[str, Scalar] | list[tuple[str, Scalar]]) -> list[tuple[str, Scalar]]:
    return list(fields.items()) if isinstance(fields, dict) else list(fields)


def _decode_base64(text: str, *, field: str) -> bytes:
    try:
        # Line breaks are common in base64 pasted from PEM-style tools; they carry no data.
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidRequest(f"{field} is not valid base64", field=field) from exc


def _content_type(headers: dict[str, str], body: RawBody | BinaryBody, value: str) -> None:
    """An explicit body content_type wins; else a Content-Type header; else the body default."""
    if "content_type" in body.model_fields_set or not _has_header(headers, "content-type"):
        _check_header("Content-Type", value, field="request.body.content_type")
        set_header(headers, "Content-Type", value)


def _add_body(
    out: OutgoingRequest,
    spec: RequestSpec,
    values: dict[str, Any],
    record: dict[str, Any] | None,
    *,
    missing: str,
    report: dict[str, str] | None,
) -> None:
    body = spec.body
    if isinstance(body, JsonBody):
        document = fill_json(
            body.value, values, field="request.body.value", missing=missing, report=report
        )
        _set_json(out, document)
    elif isinstance(body, RecordBody):
        if record is None:
            raise InvalidRequest("the body is the record, but no record was given", field="record")
        check_json(record, field="record")
        _set_json(out, record)
    elif isinstance(body, FormBody):
        out.data = _form_data(body, values, missing=missing, report=report)
    elif isinstance(body, MultipartBody):
        _set_multipart(out, body, values, missing=missing, report=report)
    elif isinstance(body, RawBody):
        text = fill_text(
            body.content, values, field="request.body.content", missing=missing, report=report
        )
        out.content = text.encode("utf-8")
        _content_type(out.headers, body, body.content_type)
    elif isinstance(body, BinaryBody):
        out.content = _decode_base64(body.content_base64, field="request.body.content_base64")
        _content_type(out.headers, body, body.content_type)


def _set_json(out: OutgoingRequest, document: Any) -> None:
    if document is None:
        # httpx reads json=None as "no body"; a JSON body of null is spelled out instead.
        out.content = b"null"
        if not _has_header(out.headers, "content-type"):
            out.headers["Content-Type"] = "application/json"
    else:
        out.json = document


def _form_data(
    body: FormBody, values: dict[str, Any], *, missing: str, report: dict[str, str] | None
) -> dict[str, Any]:
    """Form fields as httpx takes them: a repeated key becomes a list, which httpx repeats."""
    data: dict[str, Any] = {}
    for index, (key, value) in enumerate(_pairs(body.fields)):
        if isinstance(body.fields, dict):
            where = f"request.body.fields.{_shown(key)}"
            check_text(key, field=where)
        else:
            check_text(key, field=f"request.body.fields[{index}][0]")
            where = f"request.body.fields[{index}][1]"
        text = _scalar_text(value, values, field=where, missing=missing, report=report)
        if key not in data:
            data[key] = text
        elif isinstance(data[key], list):
            data[key].append(text)
        else:
            data[key] = [data[key], text]
    return data


def _set_multipart(
    out: OutgoingRequest,
    body: MultipartBody,
    values: dict[str, Any],
    *,
    missing: str,
    report: dict[str, str] | None,
) -> None:
    data: dict[str, Any] = {}
    for key, value in body.fields.items():
        where = f"request.body.fields.{_shown(key)}"
        check_text(key, field=where)
        data[key] = _scalar_text(value, values, field=where, missing=missing, report=report)
    files: list[tuple[str, tuple[str, bytes, str]]] = []
    for index, upload in enumerate(body.files):
        where = f"request.body.files[{index}]"
        for name in ("name", "filename", "content_type"):
            check_text(getattr(upload, name), field=f"{where}.{name}")
        if upload.content_base64 is not None:
            content = _decode_base64(upload.content_base64, field=f"{where}.content_base64")
        else:
            check_text(upload.text or "", field=f"{where}.text")
            content = (upload.text or "").encode("utf-8")
        files.append((upload.name, (upload.filename, content, upload.content_type)))
    if not data and not files:
        # httpx would send no body at all; a multipart body with no parts is its closing line.
        boundary = secrets.token_hex(16)
        out.content = f"--{boundary}--\r\n".encode()
        set_header(out.headers, "Content-Type", f"multipart/form-data; boundary={boundary}")
        return
    out.data, out.files = data, files
    # The boundary must come from the encoder; a configured multipart Content-Type lacks it.
    remove_header(out.headers, "content-type")


# --- The whole request --------------------------------------------------------------------------


def render_request(
    spec: RequestSpec,
    values: dict[str, Any],
    record: dict[str, Any] | None,
    connection: Connection | None,
    *,
    missing: str = "error",
    report: dict[str, str] | None = None,
) -> OutgoingRequest:
    """Build the request a spec describes; raises InvalidRequest naming the field at fault.

    Auth is not applied here: it is an httpx.Auth given to the client.
    """
    if missing not in ("error", "empty"):
        raise ValueError(f"missing must be 'error' or 'empty', not {missing!r}")
    filled = _render_url_template(spec, values, missing=missing, report=report)
    url, url_pairs = _split_checked_url(_absolute_url(spec.url, filled, connection))
    out = OutgoingRequest(
        method=spec.method,
        url=url,
        params=_query_pairs(spec, url_pairs, connection, values, missing=missing, report=report),
        headers=_headers(spec, connection, values, missing=missing, report=report),
    )
    _add_body(out, spec, values, record, missing=missing, report=report)
    return out
