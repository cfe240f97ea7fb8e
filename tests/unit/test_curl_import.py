"""curl commands become RequestSpecs; every flag is used, ignored on purpose, or listed."""

from __future__ import annotations

import pytest

from apicall.curl_import import parse_curl
from apicall.errors import ConfigError


def test_post_json_with_headers_and_line_continuations() -> None:
    command = """curl -X POST 'https://api.example.com/v1/orders?expand=items' \\
      -H 'Content-Type: application/json' -H 'Accept: application/json' \\
      --data-raw '{"sku": "A-1", "qty": 2, "tags": ["x"]}' --compressed"""

    result = parse_curl(command)

    spec = result.request
    assert spec.method == "POST"
    assert spec.url == "https://api.example.com/v1/orders"
    assert spec.query_pairs() == [("expand", "items")]
    assert spec.headers == {"Accept": "application/json"}
    assert spec.body.model_dump() == {
        "type": "json",
        "value": {"sku": "A-1", "qty": 2, "tags": ["x"]},
    }
    assert result.unsupported == [] and result.ignored == []


def test_data_without_content_type_is_a_form_and_makes_a_post() -> None:
    spec = parse_curl("curl https://x.io/token -d grant_type=password -d 'user=a b'").request

    assert spec.method == "POST"
    assert spec.body.model_dump() == {
        "type": "form",
        "fields": [("grant_type", "password"), ("user", "a b")],
    }


def test_data_urlencode_encodes_values() -> None:
    spec = parse_curl(
        "curl https://x.io/search --data-urlencode 'q=rock & roll' --data-urlencode plain"
    ).request

    assert spec.body.model_dump()["type"] == "raw"
    assert spec.body.model_dump()["content"] == "q=rock+%26+roll&plain"


def test_get_flag_moves_data_into_the_query() -> None:
    spec = parse_curl("curl -G https://x.io/search -d q=apis --data-urlencode 'tag=a b'").request

    assert spec.method == "GET"
    assert spec.query_pairs() == [("q", "apis"), ("tag", "a b")]
    assert spec.body.type == "none"


def test_multipart_form_fields_and_file_listed_as_unsupported_content() -> None:
    result = parse_curl("curl -F name=Ada -F 'photo=@me.png;type=image/png' https://x.io/upload")

    body = result.request.body.model_dump()
    assert result.request.method == "POST"
    assert body["type"] == "multipart"
    assert body["fields"] == {"name": "Ada"}
    assert body["files"][0]["filename"] == "me.png"
    assert body["files"][0]["content_type"] == "image/png"
    assert any("photo=@me.png" in item for item in result.unsupported)


def test_basic_user_becomes_a_suggested_connection_auth_not_a_header() -> None:
    result = parse_curl("curl -u alice:s3cret https://x.io/me")

    assert result.auth == {"type": "basic", "username": "alice", "password": "s3cret"}
    assert "Authorization" not in result.request.headers
    assert result.warnings


def test_combined_short_flags_and_attached_values() -> None:
    result = parse_curl("curl -sSLXDELETE https://x.io/items/7 -m 5 --max-redirs 2")

    spec = result.request
    assert spec.method == "DELETE"
    assert spec.follow_redirects is True
    assert spec.timeout_s == 5
    assert spec.max_redirects == 2
    assert result.ignored == ["-s", "-S"]


def test_head_flag_sets_method() -> None:
    assert parse_curl("curl -I https://x.io/health").request.method == "HEAD"


def test_unsupported_flags_are_listed_with_their_values_consumed() -> None:
    result = parse_curl(
        "curl --interface eth0 --limit-rate 1k --resolve x.io:443:1.2.3.4 -o out.json https://x.io/a"
    )

    assert result.request.url == "https://x.io/a"
    assert result.unsupported == ["--interface", "--limit-rate", "--resolve"]
    assert result.ignored == ["-o"]


def test_user_agent_referer_and_cookie_become_headers() -> None:
    spec = parse_curl("curl -A bot/1 -e https://ref.io -b 'sid=1' https://x.io").request

    assert spec.headers == {"User-Agent": "bot/1", "Referer": "https://ref.io", "Cookie": "sid=1"}


def test_url_without_scheme_gets_http_like_curl_does() -> None:
    assert parse_curl("curl example.com/ping").request.url == "http://example.com/ping"


def test_vendor_json_content_type_is_kept_as_a_header() -> None:
    spec = parse_curl(
        "curl https://x.io/a -H 'Content-Type: application/vnd.api+json' -d '{\"data\": {}}'"
    ).request

    assert spec.body.type == "json"
    assert spec.headers["Content-Type"] == "application/vnd.api+json"


def test_raw_body_braces_are_literal_not_placeholders() -> None:
    spec = parse_curl("curl https://x.io/a -H 'Content-Type: text/plain' -d 'a {b} c'").request

    assert spec.body.model_dump() == {
        "type": "raw",
        "content_type": "text/plain",
        "content": "a {{b}} c",
    }


def test_invalid_json_body_is_kept_raw_with_a_warning() -> None:
    result = parse_curl("curl https://x.io/a --json '{oops'")

    assert result.request.body.type == "raw"
    assert result.warnings


def test_windows_cmd_continuations() -> None:
    spec = parse_curl('curl "https://x.io/a" ^\n  -H "X-Trace: 1"').request

    assert spec.headers == {"X-Trace": "1"}


def test_to_dict_always_names_method_and_url() -> None:
    answer = parse_curl("curl https://x.io/a").to_dict()

    assert answer["request"]["method"] == "GET"
    assert answer["request"]["url"] == "https://x.io/a"


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("wget https://x.io", "start with curl"),
        ("curl https://x.io -H 'bad name: 1'", "not a header name"),
        ("curl 'https://x.io", "cannot be split"),
        ("curl -H", "needs a value"),
        ("curl -s", "no URL"),
        ("curl https://x.io -m soon", "number"),
        ("curl -F novalue https://x.io", "name=value"),
    ],
)
def test_bad_commands_name_the_command_field(command: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_curl(command)

    assert caught.value.field == "command"
    assert message in caught.value.message


def test_a_spec_the_models_refuse_names_the_request_field() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_curl("curl -X BREW https://x.io/pot")

    assert caught.value.field == "request.method"
