"""curl commands become RequestSpecs; every flag is used, ignored on purpose, or listed."""

from __future__ import annotations

from typing import Any

import pytest

from apicall.builder.curl import parse_curl
from apicall.core.errors import ConfigError
from apicall.core.models import Connection, RequestSpec
from apicall.http import client
from apicall.request import templating


def sent(spec: RequestSpec, values: dict[str, Any] | None = None) -> client.OutgoingRequest:
    """The request apicall would send for an imported spec."""
    return templating.render_request(spec, values or {}, None, None)


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


def test_invalid_json_body_is_kept_raw_with_a_warning() -> None:
    result = parse_curl("curl https://x.io/a --json '{oops'")

    assert result.request.body.type == "raw"
    assert result.warnings


def test_to_dict_always_names_method_and_url() -> None:
    answer = parse_curl("curl https://x.io/a").to_dict()

    assert answer["request"]["method"] == "GET"
    assert answer["request"]["url"] == "https://x.io/a"


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("wget https://x.io", "start with curl"),
        ("curl 'https://x.io", "cannot be split"),
        ("curl -H", "needs a value"),
        ("curl -s", "no URL"),
        ("curl https://x.io -H 'bad name: 1'", "not a header name"),
        ("curl https://x.io -m soon", "number"),
        ("curl -F novalue https://x.io", "name=value"),
        ("curl --frobnicate https://x.io", "--frobnicate"),
        ("curl https://x.io -z", "-z needs a value"),
        ("curl --req POST https://x.io", "ambiguous"),
        ("curl https://x.io --next https://y.io", "--next"),
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


# --- -F: a form of fields only is a multipart body, read with curl's -F grammar ----------------


@pytest.mark.parametrize(
    ("command", "fields"),
    [
        ("curl -F a=1 https://x.io", {"a": "1"}),
        (
            "curl -F a=1 -F b=2 -H 'Content-Type: multipart/form-data' https://x.io",
            {"a": "1", "b": "2"},
        ),
        # curl's grammar: `;type=` ends a value, a "quoted" value may hold `;`
        ("curl -F 'a=two;type=text/plain' https://x.io", {"a": "two"}),
        ("curl -F 'a=\"quoted;semi\"' https://x.io", {"a": "quoted;semi"}),
        ("curl -F 'a=x;unknown' https://x.io", {"a": "x"}),
        ("curl --form-string 'a=@x;type=y' https://x.io", {"a": "@x;type=y"}),
        # -G moves -d data into the query; a -F form is still posted as multipart
        ("curl -G -F a=1 https://x.io", {"a": "1"}),
        ("curl -F 'a={\"k\": 1}' https://x.io", {"a": '{"k": 1}'}),
    ],
)
def test_form_fields_only_are_a_multipart_post(command: str, fields: dict[str, str]) -> None:
    result = parse_curl(command)

    body = result.request.body
    assert result.request.method == "POST"
    assert body.type == "multipart"
    assert "Content-Type" not in result.request.headers  # the boundary comes from the encoder
    assert sent(result.request).data == fields


def test_quoted_file_name_in_a_form_is_unquoted() -> None:
    body = parse_curl("curl --form 'file=@\"my file.txt\"' https://x.io").request.body.model_dump()

    assert body["files"][0]["filename"] == "my file.txt"


# --- bash's ANSI-C quoting ($'...'), as Chrome's "Copy as cURL (bash)" writes it ----------------


@pytest.mark.parametrize(
    ("quoted", "text"),
    [
        (r"$'a\nb\tc'", "a\nb\tc"),
        (r"$'back\\slash'", "back\\slash"),
        (r"$'it\'s'", "it's"),
        (r"$'say \"hi\"'", 'say "hi"'),
        (r"$'\x41\x4a'", "AJ"),
        (r"$'\u00e9\u0021'", "é!"),
        (r"$'\U0001F600'", "\U0001f600"),
        (r"$'\ud83d\ude00'", "\U0001f600"),  # Firefox writes UTF-16 halves
        (r"$'\101\60'", "A0"),
        (r"$'\cA'", "\x01"),
        (r"$'\e[0m'", "\x1b[0m"),
        (r"$'\xe9t\xe9'", "été"),  # Firefox writes é as \xe9
        (r"$'a'b\"c\"$'\n'", 'ab"c"\n'),  # quoting styles joined in one word
        (r"$'no \q escape'", "no \\q escape"),
    ],
)
def test_ansi_c_quoting_is_decoded(quoted: str, text: str) -> None:
    spec = parse_curl(
        f"curl https://x.io -H 'Content-Type: text/plain' --data-raw {quoted}"
    ).request

    assert sent(spec).content == text.encode()


def test_chrome_bash_export_with_ansi_c_body() -> None:
    command = r"""curl 'https://app.example.com/api/notes?draft=1' \
  -H 'accept: application/json, text/plain, */*' \
  -H 'content-type: application/json' \
  -b 'session=abc123; theme=dark' \
  -H 'origin: https://app.example.com' \
  -H 'sec-ch-ua: "Chromium";v="124", "Google Chrome";v="124", "Not-A.Brand";v="99"' \
  -H 'user-agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/124.0.0.0' \
  --data-raw $'{"title":"Don\'t forget","body":"line one\\nline two\u0021"}' \
  --compressed"""

    result = parse_curl(command)

    spec = result.request
    assert spec.method == "POST"
    assert spec.url == "https://app.example.com/api/notes"
    assert spec.headers["Cookie"] == "session=abc123; theme=dark"
    assert spec.body.model_dump() == {
        "type": "json",
        "value": {"title": "Don't forget", "body": "line one\nline two!"},
    }
    assert result.unsupported == [] and result.ignored == []


def test_chrome_cmd_export_is_read_as_cmd_does() -> None:
    command = (
        'curl ^"https://app.example.com/api/notes?draft=1^&x=2^" ^\n'
        '  -H ^"content-type: application/json^" ^\n'
        '  -H ^"x-pct: 100^%^" ^\n'
        '  --data-raw ^"^{^\\^"title^\\^":^\\^"a ^& b^\\^"^}^" ^\n'
        "  --compressed"
    )

    spec = parse_curl(command).request

    assert spec.url == "https://app.example.com/api/notes"
    assert spec.query_pairs() == [("draft", "1"), ("x", "2")]
    assert spec.headers == {"x-pct": "100%"}
    assert spec.body.model_dump() == {"type": "json", "value": {"title": "a & b"}}


# --- curl's option table: an option's value is never taken for the URL -------------------------


@pytest.mark.parametrize(
    "options",
    [
        "--url-query foo=bar",
        "-D headers.txt",
        "--proto =https",
        "-C -",
        "--noproxy '*'",
        "--connect-to a.io:443:b.io:443",
        "-w '%{http_code}'",
        "--retry-delay 2",
        "--cookie-jar jar.txt",
        "--trace-ascii -",
        "--aws-sigv4 aws:amz:us-east-1:execute-api",
        "--variable name=value",
        "-Y 100 -y 10",
        "--user-agent=apicall-test",  # curl 8.16 takes --name=value
        "--data-r x=1",  # curl takes an unambiguous prefix: --data-raw
    ],
)
def test_option_values_are_not_taken_for_the_url(options: str) -> None:
    spec = parse_curl(f"curl {options} https://api.example.com/items").request

    assert spec.url == "https://api.example.com/items"


@pytest.mark.parametrize(
    ("command", "query"),
    [
        ("curl --url-query foo=bar http://host/x", [("foo", "bar")]),
        ("curl --url-query 'q=a b&c' http://host/x?z=1", [("z", "1"), ("q", "a b&c")]),
        ("curl --url-query '+raw=%41' http://host/x", [("raw", "A")]),
        ("curl --url-query '=x y' http://host/x", [("x y", "")]),
        ("curl --url-query a=1 -d b=2 http://host/x", [("a", "1")]),
    ],
)
def test_url_query_adds_query_pairs(command: str, query: list[tuple[str, str]]) -> None:
    spec = parse_curl(command).request

    assert spec.url == "http://host/x"
    assert spec.query_pairs() == query


def test_switches_negated_and_abbreviated() -> None:
    result = parse_curl("curl --location --no-location --no-progress-meter https://x.io")

    assert result.request.follow_redirects is False
    assert result.ignored == ["--no-progress-meter"]


# --- braces are literal: only the shell's variables and API docs' {id} are placeholders ---------


@pytest.mark.parametrize(
    "value",
    ['{"a":{"b":1}}', "{id}", "{{x}}", "a}b{", "{customer.id}", "query { user(id: 1) { name } }"],
)
def test_braces_in_header_values_and_bodies_stay_literal(value: str) -> None:
    quoted = value.replace("'", "'\\''")
    spec = parse_curl(
        f"curl https://x.io -H 'X-Filter: {quoted}' -H 'Content-Type: text/plain' -d '{quoted}'"
    ).request

    request = sent(spec)
    assert templating.placeholders(spec) == []
    assert request.headers["X-Filter"] == value
    assert request.content == value.encode()


def test_braces_in_json_strings_and_form_fields_stay_literal() -> None:
    json_spec = parse_curl('curl https://x.io --json \'{"q": "{id} and {{x}}"}\'').request
    form_spec = parse_curl("curl https://x.io -d 'q={id}' -d 'r=%7B%7D'").request

    assert sent(json_spec).json == {"q": "{id} and {{x}}"}
    assert sent(form_spec).data == {"q": "{id}", "r": "{}"}


def test_shell_variables_and_url_templates_become_placeholders() -> None:
    result = parse_curl(
        'curl -H "Authorization: Bearer $TOKEN" "https://x.io/users/{id}/items?since=${SINCE}"'
    )

    spec = result.request
    assert templating.placeholders(spec) == ["id", "SINCE", "TOKEN"]
    request = sent(spec, {"id": "7", "SINCE": "2024", "TOKEN": "t0k"})
    assert request.url == "https://x.io/users/7/items"
    assert request.params == [("since", "2024")]
    assert request.headers["Authorization"] == "Bearer t0k"
    assert any("$TOKEN" in warning for warning in result.warnings)
    assert any("{id}" in warning for warning in result.warnings)


def test_variables_set_before_the_command_are_used() -> None:
    spec = parse_curl(
        'API="https://x.io/v1"\nexport KEY=k1\n# list\ncurl -s "$API/items" -H "X-Key: $KEY"'
    ).request

    assert spec.url == "https://x.io/v1/items"
    assert spec.headers == {"X-Key": "k1"}


def test_default_of_an_unset_variable_is_used() -> None:
    assert parse_curl('curl "${BASE:-https://x.io}/a"').request.url == "https://x.io/a"


def test_url_starting_with_an_unset_variable_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_curl('curl "$API/items"')

    assert "API" in caught.value.message


# --- -H "Name;" sends an empty header; -H "Name:" sends none -----------------------------------


@pytest.mark.parametrize(
    ("option", "headers"),
    [
        ("-H 'X-Empty;'", {"X-Empty": ""}),
        ("-H 'X-Empty;  '", {"X-Empty": ""}),
        ("-H 'X-Gone:'", {}),
        ("-H 'X-A: 1' -H 'X-A:'", {"X-A": "1"}),
        ("-H 'Accept:'", {}),
        ("-H 'nocolon'", {}),  # curl sends no header at all for it
        ("-A ''", {}),
    ],
)
def test_empty_and_removed_headers(option: str, headers: dict[str, str]) -> None:
    assert parse_curl(f"curl {option} https://x.io").request.headers == headers


def test_repeated_header_values_are_joined() -> None:
    result = parse_curl("curl -H 'X-A: 1' -H 'x-a: 2' https://x.io")

    assert result.request.headers == {"X-A": "1, 2"}
    assert result.warnings


# --- several commands in one text are refused --------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "curl https://a.io\ncurl https://b.io",
        "curl https://a.io; curl https://b.io",
        "curl https://a.io && curl https://b.io",
        "curl https://a.io || curl -X POST https://b.io",
        "curl 'https://a.io/1' -H 'accept: */*' ;\ncurl 'https://a.io/2' -H 'accept: */*'",
        'curl ^"https://a.io/1^" ^\n  -H ^"accept: */*^" &\ncurl ^"https://a.io/2^"',
    ],
)
def test_several_curl_commands_are_refused(text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_curl(text)

    assert caught.value.field == "command"
    assert "more than one curl command" in caught.value.message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("echo hi; curl https://a.io", "must start with curl, not `echo`"),
        ("curl https://a.io && echo done", "`echo` is another command"),
        ("(curl https://a.io)", "subshells"),
    ],
)
def test_other_commands_beside_curl_are_refused(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_curl(text)

    assert message in caught.value.message


@pytest.mark.parametrize(
    "text",
    [
        "curl -s https://a.io/x | jq '.items[]'",
        "$ curl https://a.io/x",
        "# the list\ncurl https://a.io/x  # trailing comment",
        "set -e\ncurl https://a.io/x",
        "curl https://a.io/x | <<<x",  # a pipeline stage of only a redirection
        # docs often drop the backslash before an option line
        "curl https://a.io/x\n  -H 'X-A: 1'",
    ],
)
def test_one_curl_command_with_shell_decorations(text: str) -> None:
    assert parse_curl(text).request.url == "https://a.io/x"


# --- -d with -F (and other pairs curl refuses) --------------------------------------------------


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ("-d a=1 -F b=2", ("-d", "-F")),
        ("--form b=2 --data-raw a=1", ("--form", "--data-raw")),
        ("--json '{}' -F b=2", ("--json", "-F")),
        ("-I -d a=1", ("-d", "-I")),
        ("-T file.bin --data-binary a=1", ("--data-binary", "-T")),
    ],
)
def test_two_kinds_of_body_are_refused_naming_both(options: str, named: tuple[str, str]) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_curl(f"curl {options} https://x.io")

    assert caught.value.field == "command"
    assert all(option in caught.value.message for option in named)


# --- auth methods other than basic suggest no basic auth ----------------------------------------


@pytest.mark.parametrize(
    "option",
    ["--digest", "--no-basic", "--ntlm", "--negotiate", "--anyauth", "--basic --digest"],
)
def test_other_auth_methods_suggest_no_basic_auth(option: str) -> None:
    result = parse_curl(f"curl -u alice:pw {option} https://x.io")

    assert result.auth is None
    assert result.connection is None
    assert result.warnings


@pytest.mark.parametrize("option", ["", "--basic", "--digest --no-digest"])
def test_basic_auth_is_suggested_for_basic(option: str) -> None:
    assert parse_curl(f"curl -u alice:pw {option} https://x.io").auth == {
        "type": "basic",
        "username": "alice",
        "password": "pw",
    }


def test_credentials_in_the_url_become_basic_auth() -> None:
    result = parse_curl("curl https://al%40ice:p%3Aw@x.io/me")

    assert result.request.url == "https://x.io/me"
    assert result.auth == {"type": "basic", "username": "al@ice", "password": "p:w"}


# --- a body that is read from a file or stdin: still a POST, to be filled in --------------------


@pytest.mark.parametrize(
    ("options", "content_type"),
    [
        ("--data @-", "application/x-www-form-urlencoded"),
        ("-d @body.txt", "application/x-www-form-urlencoded"),
        (
            "--data-binary @payload.bin -H 'Content-Type: application/octet-stream'",
            "application/octet-stream",
        ),
        ("--json @order.json", "application/json"),
        ("--data-urlencode text@note.txt", "application/x-www-form-urlencoded"),
        ("-d a=1 -d @more.txt", "application/x-www-form-urlencoded"),
    ],
)
def test_body_from_a_file_keeps_the_post(options: str, content_type: str) -> None:
    result = parse_curl(f"curl {options} https://x.io/in")

    assert result.request.method == "POST"
    assert result.request.body.model_dump() == {
        "type": "raw",
        "content_type": content_type,
        "content": "",
    }
    assert any("fill in request.body" in warning for warning in result.warnings)
    assert result.unsupported


def test_body_from_a_here_document_is_read() -> None:
    command = (
        "curl -X POST https://x.io/in -H 'Content-Type: application/json' -d @- <<EOF\n"
        '{"name": "$NAME", "n": 1}\n'
        "EOF"
    )

    spec = parse_curl(command).request

    assert spec.body.model_dump() == {"type": "json", "value": {"name": "{NAME}", "n": 1}}


def test_body_from_a_here_string_is_read_as_binary() -> None:
    spec = parse_curl("curl --data-binary @- https://x.io/in <<< 'a=1'").request

    assert sent(spec).data == {"a": "1\n"}


# --- what a connection can express goes into the suggested connection ---------------------------


@pytest.mark.parametrize(
    ("options", "connection"),
    [
        ("-k", {"verify_ssl": False}),
        ("--insecure", {"verify_ssl": False}),
        ("-x http://proxy.local:3128", {"proxy": "http://proxy.local:3128"}),
        ("--proxy proxy.local:3128 -U 'u:p w'", {"proxy": "http://u:p%20w@proxy.local:3128"}),
        ("--oauth2-bearer t0k", {"auth": {"type": "bearer", "token": "t0k"}}),
        ("--connect-timeout 5", {"timeout_s": 5.0}),
        ("--max-time 30", {"timeout_s": 30.0}),
        ("-u alice:pw", {"auth": {"type": "basic", "username": "alice", "password": "pw"}}),
        ("--retry 3", {"retry": {"attempts": 4}}),
        ("--cert client.pem --key key.pem --cacert ca.pem", None),
    ],
)
def test_connection_settings_are_suggested(options: str, connection: dict[str, Any] | None) -> None:
    result = parse_curl(f"curl {options} https://x.io/a")

    assert result.connection == connection
    assert result.unsupported == []
    if connection is not None:
        Connection.model_validate(connection)  # a valid piece of the Connection contract
    assert result.to_dict()["connection"] == connection


@pytest.mark.parametrize(
    ("options", "mentions"),
    [
        ("--cert client.pem", "client_cert"),
        ("-E client.pem:secret", "client_cert"),
        ("--cacert ca.pem", "ca_bundle"),
        ("--capath /etc/ssl/certs", "ca_bundle"),
        ("-k", "verify_ssl"),
    ],
)
def test_tls_files_are_explained(options: str, mentions: str) -> None:
    result = parse_curl(f"curl {options} https://x.io/a")

    assert any(mentions in warning for warning in result.warnings)


def test_a_socks_proxy_is_unsupported() -> None:
    result = parse_curl("curl -x socks5://p:1080 https://x.io/a")

    assert result.connection is None
    assert result.unsupported == ["--proxy socks5://p:1080 (a socks5 proxy)"]


# --- URLs as curl sends them --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "sent_url"),
    [
        ("http://x.io/a/../b/./c", "http://x.io/b/c"),
        ("http://x.io/a/.", "http://x.io/a/"),
        ("http://x.io/a#fragment", "http://x.io/a"),
    ],
)
def test_url_path_is_normalised_like_curl(url: str, sent_url: str) -> None:
    assert parse_curl(f"curl '{url}'").request.url == sent_url


def test_upload_file_is_a_put_to_the_file_name() -> None:
    result = parse_curl("curl -T report.csv https://x.io/files/")

    assert result.request.method == "PUT"
    assert result.request.url == "https://x.io/files/report.csv"
    assert result.unsupported == ["-T report.csv (the body is read from a file)"]


# --- what vendors' docs and browsers' exports do to commands ------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "curl -X POST \\   \n  -H 'X-A: 1' \\\n  https://a.io/x",  # blanks after the backslash
        "curl \\ -H 'X-A: 1' \\ 'https://a.io/x'",  # line breaks lost when the page was copied
    ],
)
def test_backslash_before_blanks_is_a_line_continuation(text: str) -> None:
    result = parse_curl(text)

    assert result.request.url == "https://a.io/x"
    assert result.request.headers == {"X-A": "1"}
    assert any("line continuation" in warning for warning in result.warnings)


def test_header_written_over_several_lines_is_sent_as_one() -> None:
    result = parse_curl("curl https://a.io -H '\n  X-Filter: {\n    \"a\": 1\n  }'")

    assert result.request.headers == {"X-Filter": '{ "a": 1 }'}
    assert sent(result.request).headers["X-Filter"] == '{ "a": 1 }'


def test_postman_variables_in_the_url_are_placeholders() -> None:
    spec = parse_curl("curl https://a.io/accounts/{{ACCOUNT_ID}}/items").request

    assert sent(spec, {"ACCOUNT_ID": "42"}).url == "https://a.io/accounts/42/items"


def test_transport_headers_of_browser_exports_are_left_to_the_client() -> None:
    result = parse_curl(
        "curl https://a.io -H 'Accept-Encoding: gzip, deflate, br' -H 'Connection: keep-alive' "
        "-H 'TE: trailers' -H 'Content-Length: 99' -H 'X-Keep: 1'"
    )

    assert result.request.headers == {"X-Keep": "1"}
    assert result.warnings


@pytest.mark.parametrize(
    ("argument", "content_type"),
    [
        ("f=@photo.PNG", "image/png"),
        ("f=@notes.txt", "text/plain"),
        ("f=@data.bin", "application/octet-stream"),
        ("f=@data.json;type=application/json", "application/json"),
    ],
)
def test_form_files_get_the_type_curl_gives_them(argument: str, content_type: str) -> None:
    body = parse_curl(f"curl -F '{argument}' https://a.io").request.body.model_dump()

    assert body["files"][0]["content_type"] == content_type


@pytest.mark.parametrize(
    "text",
    ["curl https://[::1", "curl 'http://[1-2]/'", "curl -T|<<#"],
)
def test_unreadable_text_is_a_config_error_not_a_crash(text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_curl(text)

    assert caught.value.field == "command"
