"""Placeholders and request building, checked on the httpx.Request the parts produce."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apicall.core.errors import InvalidRequest
from apicall.core.models import Connection, RequestSpec
from apicall.http.client import OutgoingRequest
from apicall.request.templating import (
    encode_segment,
    fill_json,
    fill_text,
    placeholders,
    render_request,
)

CRM = Connection(base_url="https://api.example.com/v2")


def spec(**fields: Any) -> RequestSpec:
    fields.setdefault("url", "https://api.example.com/items")
    return RequestSpec.model_validate(fields)


def built(out: OutgoingRequest) -> httpx.Request:
    """The request httpx would send; reading it encodes the body without any network."""
    request = httpx.Request(
        out.method,
        out.url,
        params=out.params or None,
        headers=out.headers,
        content=out.content,
        json=out.json,
        data=out.data,
        files=out.files,
    )
    request.read()
    return request


def render(values: dict[str, Any] | None = None, **fields: Any) -> OutgoingRequest:
    connection = fields.pop("connection_config", None)
    record = fields.pop("record", None)
    return render_request(spec(**fields), values or {}, record, connection)


# --- fill_text ----------------------------------------------------------------------------------


def test_simple_placeholder_is_filled() -> None:
    assert fill_text("Hello {name}", {"name": "Ada"}, field="f") == "Hello Ada"


def test_dotted_and_indexed_paths_walk_dicts_and_lists() -> None:
    values = {"a": {"b": [{"c": "deep"}, "x"]}, "k-1": "dash"}
    assert fill_text("{a.b[0].c}/{a.b[1]}/{k-1}", values, field="f") == "deep/x/dash"


def test_double_braces_are_literal() -> None:
    assert fill_text("{{literal}} {x} }}{{", {"x": 1}, field="f") == "{literal} 1 }{"


def test_values_become_json_style_text() -> None:
    values = {"t": True, "f": False, "i": 3, "x": 2.5, "n": None, "o": {"a": [1, "b"]}}
    text = fill_text("{t} {f} {i} {x} [{n}] {o}", values, field="f")
    assert text == 'true false 3 2.5 [] {"a":[1,"b"]}'


def test_missing_value_names_field_and_placeholder() -> None:
    with pytest.raises(InvalidRequest) as caught:
        fill_text("id {customer.id}", {"customer": {}}, field="request.headers.X-Customer")
    assert caught.value.field == "request.headers.X-Customer"
    assert "{customer.id}" in caught.value.message


def test_index_beyond_the_list_is_missing() -> None:
    with pytest.raises(InvalidRequest):
        fill_text("{a[3]}", {"a": [1]}, field="f")


def test_lenient_mode_fills_missing_empty_and_reports() -> None:
    report: dict[str, str] = {}
    text = fill_text(
        "{a}-{b.c}-{n}", {"a": "x", "n": None}, field="f", missing="empty", report=report
    )
    assert text == "x--"
    assert report == {"a": "value", "b.c": "empty", "n": "value"}


@pytest.mark.parametrize(
    ("template", "sent"),
    [
        ("{a!r}", "{a!r}"),
        ("{a:>10}", "{a:>10}"),
        ("{a + 1}", "{a + 1}"),
        ("{a()}", "{a()}"),
        ("{ a }", "{ a }"),
        ("{a[-1]}", "{a[-1]}"),
        ("{a['k']}", "{a['k']}"),
        ("lone { brace", "lone { brace"),
        ("x } y", "x } y"),
        ("{}", "{}"),
    ],
)
def test_a_brace_that_does_not_open_a_placeholder_is_literal_not_evaluated(
    template: str, sent: str
) -> None:
    assert fill_text(template, {"a": "value"}, field="request.url") == sent


@pytest.mark.parametrize(
    ("template", "sent"),
    [
        ('{"a": {"b": "{x}"}}', '{"a": {"b": "1"}}'),
        ('{"a":{"b":1}}', '{"a":{"b":1}}'),
        ('[{"a":{}},{"b":[{"c":2}]}]', '[{"a":{}},{"b":[{"c":2}]}]'),
        ("query { viewer { login } }", "query { viewer { login } }"),
        ('{"query": "{ user(id: {x}) { name } }"}', '{"query": "{ user(id: 1) { name } }"}'),
        ("function f() { return {x}; }", "function f() { return 1; }"),
        # the doubled spelling of earlier specs still means one brace
        ('{{"a": {{"b": "{x}"}}}}', '{"a": {"b": "1"}}'),
        ("{{x}}", "{x}"),
        ("{{{x}}}", "{1}"),
        ('{"a": {{x}}}', '{"a": {x}}'),
    ],
)
def test_json_graphql_and_code_braces_are_sent_as_written(template: str, sent: str) -> None:
    assert fill_text(template, {"x": 1}, field="request.body.content") == sent


@pytest.mark.parametrize(
    "template", ["{__class__}", "{0.__globals__}", "{a.__class__}", "{a.upper}"]
)
def test_dunder_and_attribute_names_are_only_dict_keys(template: str) -> None:
    with pytest.raises(InvalidRequest, match="no value"):
        fill_text(template, {"a": "text"}, field="f")


def test_dunder_name_is_filled_only_from_a_dict_key_of_that_name() -> None:
    assert fill_text("{__class__}", {"__class__": "plain"}, field="f") == "plain"


# --- fill_json ----------------------------------------------------------------------------------


def test_json_string_that_is_one_placeholder_keeps_the_value_type() -> None:
    values = {"n": 3, "o": {"a": 1}, "l": [1, 2], "z": None, "b": False, "s": "text"}
    template = {"n": "{n}", "o": "{o}", "l": "{l}", "z": "{z}", "b": "{b}", "s": "{s}"}
    assert fill_json(template, values, field="request.body.value") == values


def test_json_strings_with_more_than_a_placeholder_are_text() -> None:
    document = {"{key}": ["id-{n}", 7, {"x": "{{n}}"}]}
    assert fill_json(document, {"n": 3}, field="b") == {"{key}": ["id-3", 7, {"x": "{n}"}]}


def test_json_missing_value_names_the_nested_field() -> None:
    with pytest.raises(InvalidRequest) as caught:
        fill_json({"items": [{"id": "{x}"}]}, {}, field="request.body.value")
    assert caught.value.field == "request.body.value.items[0].id"


def test_json_lenient_missing_whole_placeholder_is_null() -> None:
    report: dict[str, str] = {}
    assert fill_json({"a": "{x}"}, {}, field="b", missing="empty", report=report) == {"a": None}
    assert report == {"x": "empty"}


# --- placeholders(spec) -------------------------------------------------------------------------


def test_placeholders_lists_every_name_in_order_once() -> None:
    request = spec(
        connection="crm",
        url="/customers/{customerId}/orders/{orderId}",
        path_params={"customerId": "{customer.id}"},
        query=[["status", "{status}"], ["limit", 10], ["again", "{customer.id}"]],
        headers={"X-Org": "{org}", "Accept": "application/json"},
        body={"type": "json", "value": {"a": "{body.a}", "b": ["{status}", "{{lit}}"]}},
    )
    assert placeholders(request) == ["customer.id", "orderId", "status", "org", "body.a"]


def test_placeholders_of_form_and_raw_bodies() -> None:
    form = spec(method="POST", body={"type": "form", "fields": [["a", "{x}"], ["b", 1]]})
    raw = spec(method="POST", body={"type": "raw", "content": "<a>{y}</a>"})
    assert placeholders(form) == ["x"]
    assert placeholders(raw) == ["y"]


# --- URL ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base_url", "url", "expected"),
    [
        ("https://api.example.com/v2", "/customers", "https://api.example.com/v2/customers"),
        ("https://api.example.com/v2/", "/customers", "https://api.example.com/v2/customers"),
        ("https://api.example.com/v2", "customers", "https://api.example.com/v2/customers"),
        ("https://api.example.com/v2/", "customers/", "https://api.example.com/v2/customers/"),
        ("https://api.example.com", "/customers", "https://api.example.com/customers"),
        (
            "https://api.example.com/v2",
            "//evil.example/x",
            "https://api.example.com/v2/evil.example/x",
        ),
        (
            "https://api.example.com/v2",
            "https://api.example.com/v3/x",
            "https://api.example.com/v3/x",
        ),
        (
            "https://api.example.com/v2",
            "https://API.example.com:443/x",
            "https://API.example.com:443/x",
        ),
    ],
)
def test_url_joins_the_base_url_without_dropping_its_path(
    base_url: str, url: str, expected: str
) -> None:
    out = render(connection="crm", url=url, connection_config=Connection(base_url=base_url))
    assert out.url == expected


@pytest.mark.parametrize(
    "url",
    [
        "https://other.example/x",
        "http://api.example.com/v2/x",
        "https://api.example.com:8443/x",
        "https://api.example.com.evil.example/x",
        "https://{host}/x",
    ],
)
def test_an_absolute_url_off_the_connections_origin_is_refused(url: str) -> None:
    # Its credentials would go to a host the caller chose, where the caller could read them.
    request = spec(connection="crm", url=url)
    connection = Connection(base_url="https://api.example.com/v2")

    with pytest.raises(InvalidRequest) as caught:
        render_request(request, {"host": "evil.example"}, None, connection)

    assert caught.value.field == "request.url"
    assert "https://api.example.com:443" in caught.value.message


def test_relative_url_without_connection_is_an_error_naming_the_url() -> None:
    request = spec(connection="crm", url="/customers")
    with pytest.raises(InvalidRequest) as caught:
        render_request(request, {}, None, None)
    assert caught.value.field == "request.url"


def test_relative_url_with_a_connection_lacking_base_url_is_an_error() -> None:
    request = spec(connection="crm", url="/customers")
    with pytest.raises(InvalidRequest):
        render_request(request, {}, None, Connection())


def test_path_params_fill_the_url_from_their_own_placeholders() -> None:
    out = render(
        {"customer": {"id": 42}, "orderId": "o-1"},
        connection="crm",
        url="/customers/{customerId}/orders/{orderId}",
        path_params={"customerId": "{customer.id}"},
        connection_config=CRM,
    )
    assert out.url == "https://api.example.com/v2/customers/42/orders/o-1"


def test_missing_path_param_value_names_the_path_param() -> None:
    with pytest.raises(InvalidRequest) as caught:
        render(
            {},
            connection="crm",
            url="/customers/{customerId}",
            path_params={"customerId": "{customer.id}"},
            connection_config=CRM,
        )
    assert caught.value.field == "request.path_params.customerId"


def test_empty_path_value_is_refused_so_it_cannot_address_the_collection() -> None:
    with pytest.raises(InvalidRequest, match="empty path segment"):
        render({"id": ""}, method="DELETE", url="https://api.example.com/customers/{id}")


@pytest.mark.parametrize(
    ("value", "segment"),
    [
        ("../admin", "..%2Fadmin"),
        ("..", "%2E%2E"),
        (".", "%2E"),
        ("a/b", "a%2Fb"),
        ("?x=1#y", "%3Fx%3D1%23y"),
        ("100%", "100%25"),
        ("café ü", "caf%C3%A9%20%C3%BC"),
        ("v1.2", "v1.2"),
    ],
)
def test_path_values_are_encoded_as_one_segment(value: str, segment: str) -> None:
    out = render({"id": value}, url="https://api.example.com/v1/items/{id}/detail")
    request = built(out)
    assert request.url.raw_path == f"/v1/items/{segment}/detail".encode()
    assert request.url.host == "api.example.com"


def test_dot_dot_value_cannot_climb_out_of_the_base_path() -> None:
    out = render({"id": ".."}, connection="crm", url="/customers/{id}", connection_config=CRM)
    assert built(out).url.raw_path == b"/v2/customers/%2E%2E"


def test_encode_segment_encodes_every_dot_only_value() -> None:
    assert encode_segment("...") == "%2E%2E%2E"
    assert encode_segment("") == ""


def test_url_placeholder_in_the_query_is_encoded_as_a_value() -> None:
    out = render({"q": "a&b=c"}, url="https://api.example.com/search?q={q}")
    assert built(out).url.query == b"q=a%26b%3Dc"


def test_non_http_absolute_url_is_refused() -> None:
    with pytest.raises(InvalidRequest):
        render(connection="crm", url="ftp://files.example.com/x", connection_config=CRM)


# --- query --------------------------------------------------------------------------------------


def test_query_has_connection_pairs_first_then_repeated_spec_pairs() -> None:
    connection = Connection(base_url="https://api.example.com", query={"org": "o1"})
    out = render(
        {"status": "active"},
        connection="crm",
        url="/items",
        query=[["status", "{status}"], ["tag", "a"], ["tag", "b"], ["n", 5], ["on", True]],
        connection_config=connection,
    )
    assert out.params == [
        ("org", "o1"),
        ("status", "active"),
        ("tag", "a"),
        ("tag", "b"),
        ("n", "5"),
        ("on", "true"),
    ]
    assert built(out).url.query == b"org=o1&status=active&tag=a&tag=b&n=5&on=true"


def test_query_written_in_the_url_is_kept_alongside_params_of_the_same_key() -> None:
    out = render(url="https://api.example.com/items?tag=x", query=[["tag", "y"]])
    assert built(out).url.query == b"tag=x&tag=y"


def test_missing_query_value_names_the_pair() -> None:
    with pytest.raises(InvalidRequest) as caught:
        render(query=[["a", "1"], ["b", "{nope}"]])
    assert caught.value.field == "request.query[1][1]"


# --- headers ------------------------------------------------------------------------------------


def test_spec_headers_override_connection_headers_ignoring_case() -> None:
    connection = Connection(
        base_url="https://api.example.com", headers={"accept": "text/plain", "X-Org": "o1"}
    )
    out = render(
        {"customer": "c-9"},
        connection="crm",
        url="/x",
        headers={"Accept": "application/json", "X-Customer": "{customer}"},
        connection_config=connection,
    )
    assert out.headers == {"X-Org": "o1", "Accept": "application/json", "X-Customer": "c-9"}


@pytest.mark.parametrize("value", ["a\r\nX-Injected: 1", "a\nb", "a\rb", "a\x00b"])
def test_header_value_with_line_breaks_is_refused(value: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        render({"v": value}, headers={"X-Customer": "{v}"})
    assert caught.value.field == "request.headers.X-Customer"


def test_missing_header_value_names_the_header() -> None:
    with pytest.raises(InvalidRequest) as caught:
        render({}, headers={"X-Customer": "{customer.id}"})
    assert caught.value.field == "request.headers.X-Customer"


# --- bodies -------------------------------------------------------------------------------------


def test_no_body_sends_nothing() -> None:
    request = built(render())
    assert request.content == b""
    assert "content-type" not in request.headers


def test_json_body_is_templated_with_typed_placeholders() -> None:
    out = render(
        {"customer": {"id": 7, "tags": ["a"]}, "name": "Ada"},
        method="POST",
        body={
            "type": "json",
            "value": {"id": "{customer.id}", "tags": "{customer.tags}", "greeting": "hi {name}"},
        },
    )
    request = built(out)
    assert json.loads(request.content) == {"id": 7, "tags": ["a"], "greeting": "hi Ada"}
    assert request.headers["content-type"] == "application/json"


def test_json_body_of_null_is_sent_as_null() -> None:
    request = built(render({"x": None}, method="POST", body={"type": "json", "value": "{x}"}))
    assert request.content == b"null"
    assert request.headers["content-type"] == "application/json"


def test_form_body_is_urlencoded_with_repeated_keys() -> None:
    out = render(
        {"name": "Ada Lovelace"},
        method="POST",
        body={"type": "form", "fields": [["name", "{name}"], ["tag", "a"], ["tag", "b"], ["n", 1]]},
    )
    request = built(out)
    assert request.content == b"name=Ada+Lovelace&tag=a&tag=b&n=1"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"


def test_multipart_body_carries_fields_and_files() -> None:
    payload = b"\x00\x01binary"
    out = render(
        {"who": "ada"},
        method="POST",
        headers={"Content-Type": "multipart/form-data"},
        body={
            "type": "multipart",
            "fields": {"owner": "{who}"},
            "files": [
                {
                    "name": "doc",
                    "filename": "a.bin",
                    "content_base64": base64.b64encode(payload).decode(),
                },
                {
                    "name": "note",
                    "filename": "n.txt",
                    "content_type": "text/plain",
                    "text": "hello {x}",
                },
            ],
        },
    )
    request = built(out)
    content_type = request.headers["content-type"]
    assert content_type.startswith("multipart/form-data; boundary=")
    body = request.content
    assert b'name="owner"\r\n\r\nada\r\n' in body
    assert b'name="doc"; filename="a.bin"' in body and payload in body
    # file content is data, not a template
    assert b"hello {x}" in body


def test_multipart_bad_base64_names_the_file() -> None:
    with pytest.raises(InvalidRequest) as caught:
        render(
            method="POST",
            body={
                "type": "multipart",
                "files": [{"name": "f", "filename": "f", "content_base64": "not base64!"}],
            },
        )
    assert caught.value.field == "request.body.files[0].content_base64"


def test_raw_body_is_templated_utf8_with_its_content_type() -> None:
    out = render(
        {"name": "Zoë"},
        method="POST",
        body={"type": "raw", "content_type": "application/xml", "content": "<n>{name}</n>"},
    )
    request = built(out)
    assert request.content == "<n>Zoë</n>".encode()
    assert request.headers["content-type"] == "application/xml"


def test_raw_body_default_content_type_yields_to_an_explicit_header() -> None:
    out = render(
        method="POST", headers={"content-type": "text/csv"}, body={"type": "raw", "content": "a,b"}
    )
    assert built(out).headers["content-type"] == "text/csv"


def test_binary_body_is_decoded_base64() -> None:
    out = render(
        method="PUT",
        body={"type": "binary", "content_type": "image/png", "content_base64": "iVBO\nRw0K"},
    )
    request = built(out)
    assert request.content == base64.b64decode("iVBORw0K")
    assert request.headers["content-type"] == "image/png"


def test_binary_body_bad_base64_names_the_field() -> None:
    with pytest.raises(InvalidRequest) as caught:
        render(method="PUT", body={"type": "binary", "content_base64": "abc"})
    assert caught.value.field == "request.body.content_base64"


def test_record_body_sends_the_record_as_json() -> None:
    out = render(method="POST", body={"type": "record"}, record={"id": 7, "status": "ok"})
    assert json.loads(built(out).content) == {"id": 7, "status": "ok"}


def test_record_body_without_a_record_names_record() -> None:
    with pytest.raises(InvalidRequest) as caught:
        render(method="POST", body={"type": "record"})
    assert caught.value.field == "record"


def test_get_with_a_body_is_allowed() -> None:
    out = render({"q": 1}, method="GET", body={"type": "json", "value": {"q": "{q}"}})
    assert out.json == {"q": 1}


def test_lenient_render_reports_every_placeholder() -> None:
    report: dict[str, str] = {}
    request = spec(
        url="https://api.example.com/items/{id}",
        query=[["q", "{q}"]],
        headers={"X-A": "{a}"},
        method="POST",
        body={"type": "json", "value": {"b": "{b}"}},
    )
    out = render_request(request, {"q": "x"}, None, None, missing="empty", report=report)
    assert report == {"id": "empty", "q": "value", "a": "empty", "b": "empty"}
    assert out.url == "https://api.example.com/items/"
    assert out.json == {"b": None}


def test_auth_is_not_applied() -> None:
    connection = Connection.model_validate(
        {"base_url": "https://api.example.com", "auth": {"type": "bearer", "token": "secret"}}
    )
    out = render(connection="crm", url="/x", connection_config=connection)
    assert "Authorization" not in out.headers


# --- properties ---------------------------------------------------------------------------------

any_value = st.one_of(
    st.text(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
    st.lists(st.text(max_size=5), max_size=3),
)


@settings(max_examples=300, deadline=None)
@given(id_value=any_value, q_value=any_value, header=st.text())
def test_no_value_changes_scheme_host_or_path_prefix(
    id_value: Any, q_value: Any, header: str
) -> None:
    request = spec(
        connection="crm",
        url="/customers/{id}/orders?q={q}",
        query=[["page", "{q}"]],
        headers={"X-Id": "{id}"},
        method="POST",
        body={"type": "json", "value": {"id": "{id}", "h": "{h}"}},
    )
    values = {"id": id_value, "q": q_value, "h": header}
    try:
        out = render_request(request, values, None, CRM)
    except InvalidRequest:
        return
    url = built(out).url
    assert url.scheme == "https"
    assert url.host == "api.example.com"
    segments = url.raw_path.split(b"?")[0].split(b"/")
    assert segments[:3] == [b"", b"v2", b"customers"]
    assert segments[4:] == [b"orders"]
    assert segments[3] not in (b".", b"..")


@settings(max_examples=200, deadline=None)
@given(template=st.text(), values=st.dictionaries(st.text(max_size=5), any_value, max_size=3))
def test_arbitrary_templates_only_ever_raise_invalid_request(
    template: str, values: dict[str, Any]
) -> None:
    try:
        fill_text(template, values, field="request.url")
        fill_json({"a": template}, values, field="request.body.value")
    except InvalidRequest:
        pass


def test_header_value_outside_printable_ascii_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="ASCII") as caught:
        render({"v": "Zoë"}, headers={"X-Name": "{v}"})
    assert caught.value.field == "request.headers.X-Name"


# --- text that cannot be encoded ----------------------------------------------------------------

LONE = "\ud800"  # valid JSON ("\ud800"), yet no UTF-8 encoding exists for it


@pytest.mark.parametrize(
    ("values", "record", "fields", "field"),
    [
        ({}, None, {"body": {"type": "json", "value": {"name": LONE}}}, "request.body.value.name"),
        (
            {},
            None,
            {"body": {"type": "json", "value": [{LONE: 1}]}},
            r"request.body.value[0].\ud800",
        ),
        ({"x": LONE}, None, {"body": {"type": "json", "value": {"a": "{x}"}}}, "values.x"),
        ({"x": {"y": [LONE]}}, None, {"body": {"type": "json", "value": "{x}"}}, "values.x.y[0]"),
        ({"x": LONE}, None, {"body": {"type": "json", "value": "id {x}"}}, "values.x"),
        ({"x": LONE}, None, {"url": "https://api.example.com/items/{x}"}, "values.x"),
        (
            {},
            None,
            {
                "connection": "crm",
                "url": "/items",
                "connection_config": Connection(base_url=f"https://api.example.com/{LONE}"),
            },
            "connection.base_url",
        ),
        ({}, None, {"query": [["q", LONE]]}, "request.query[0][1]"),
        ({}, None, {"query": [[LONE, "v"]]}, "request.query[0][0]"),
        ({}, None, {"query": {"q": LONE}}, "request.query.q"),
        ({"x": LONE}, None, {"query": [["q", "{x}"]]}, "values.x"),
        (
            {},
            None,
            {"url": "https://api.example.com/{id}", "path_params": {"id": LONE}},
            "request.path_params.id",
        ),
        ({}, None, {"headers": {"X-A": LONE}}, "request.headers.X-A"),
        ({}, None, {"body": {"type": "raw", "content": f"a{LONE}"}}, "request.body.content"),
        ({"x": LONE}, None, {"body": {"type": "raw", "content": "{x}"}}, "values.x"),
        ({}, None, {"body": {"type": "form", "fields": {"a": LONE}}}, "request.body.fields.a"),
        (
            {},
            None,
            {"body": {"type": "form", "fields": [[LONE, "v"]]}},
            "request.body.fields[0][0]",
        ),
        ({}, None, {"body": {"type": "multipart", "fields": {"a": LONE}}}, "request.body.fields.a"),
        (
            {},
            None,
            {
                "body": {
                    "type": "multipart",
                    "files": [{"name": "f", "filename": "f", "text": LONE}],
                }
            },
            "request.body.files[0].text",
        ),
        (
            {},
            None,
            {
                "body": {
                    "type": "multipart",
                    "files": [{"name": "f", "filename": "f", "content_type": LONE, "text": ""}],
                }
            },
            "request.body.files[0].content_type",
        ),
        ({}, {"name": LONE}, {"body": {"type": "record"}}, "record.name"),
        ({}, {"a": [{"b": LONE}]}, {"body": {"type": "record"}}, "record.a[0].b"),
    ],
)
def test_a_lone_surrogate_is_an_invalid_request_naming_its_field(
    values: dict[str, Any], record: dict[str, Any] | None, fields: dict[str, Any], field: str
) -> None:
    fields.setdefault("method", "POST")
    with pytest.raises(InvalidRequest) as caught:
        render(values, record=record, **fields)
    assert caught.value.field == field
    assert "surrogate" in caught.value.message


@pytest.mark.parametrize(
    ("values", "record", "fields", "field"),
    [
        ({"x": float("nan")}, None, {"body": {"type": "json", "value": {"a": "{x}"}}}, "values.x"),
        (
            {},
            None,
            {"body": {"type": "json", "value": {"a": float("inf")}}},
            "request.body.value.a",
        ),
        ({}, {"n": float("-inf")}, {"body": {"type": "record"}}, "record.n"),
    ],
)
def test_a_json_body_number_json_cannot_spell_is_an_invalid_request(
    values: dict[str, Any], record: dict[str, Any] | None, fields: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        render(values, record=record, method="POST", **fields)
    assert caught.value.field == field


def test_a_nan_value_in_text_is_sent_as_its_text() -> None:
    assert built(render({"x": float("nan")}, query=[["q", "{x}"]])).url.query == b"q=NaN"
