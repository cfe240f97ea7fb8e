"""What the client hands httpx: the URL with every query pair, the body, and the success codes."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from apicall.core.errors import (
    ApicallError,
    CapacityExceeded,
    UpstreamConnectionError,
    UpstreamTimeout,
)
from apicall.core.models import InvokeEvent, PushTarget, RequestSpec
from apicall.http.client import OutgoingRequest, _target, httpx_body, is_success
from apicall.request.execute import Execution
from apicall.request.templating import render_request

# --- the URL and its query ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "params", "sent"),
    [
        ("https://api.example.com/items", [("a", "1")], "https://api.example.com/items?a=1"),
        (
            "https://api.github.com/repos/o/r/issues?page=2",
            [("state", "all"), ("per_page", "100")],
            "https://api.github.com/repos/o/r/issues?page=2&state=all&per_page=100",
        ),
        ("https://h.example/x?tag=a", [("tag", "b")], "https://h.example/x?tag=a&tag=b"),
        ("https://h.example/x?", [("a", "1")], "https://h.example/x?a=1"),
        ("https://h.example/x?a=1#top", [("b", "2")], "https://h.example/x?a=1&b=2#top"),
        ("https://h.example/x#top", [("b", "2")], "https://h.example/x?b=2#top"),
        (
            "https://h.example/x?q=a%20b&flag",
            [("c", "d e&f")],
            "https://h.example/x?q=a%20b&flag&c=d+e%26f",
        ),
        ("https://h.example/x?a=1", [], "https://h.example/x?a=1"),
    ],
)
def test_a_url_with_a_query_keeps_its_pairs_first_then_every_param(
    url: str, params: list[tuple[str, str]], sent: str
) -> None:
    assert str(_target(OutgoingRequest("GET", url, params=params))) == sent


def test_a_spec_url_with_a_query_and_query_pairs_sends_both() -> None:
    spec = RequestSpec(url="https://h.example/x?a=1", query=[("b", "2"), ("a", "3")])
    assert str(_target(render_request(spec, {}, None, None))) == "https://h.example/x?a=1&b=2&a=3"


# --- the body -----------------------------------------------------------------------------------


def built(request: OutgoingRequest) -> httpx.Request:
    """The request httpx builds from what the client hands it; read, so the body is encoded."""
    sent = httpx.Request(
        request.method, _target(request), headers=request.headers, **httpx_body(request)
    )
    sent.read()
    return sent


def multipart(fields: dict[str, Any], files: list[dict[str, Any]] | None = None) -> httpx.Request:
    spec = RequestSpec.model_validate(
        {
            "method": "POST",
            "url": "https://h.example/upload",
            "body": {"type": "multipart", "fields": fields, "files": files or []},
        }
    )
    return built(render_request(spec, {}, None, None))


@pytest.mark.parametrize(
    ("fields", "parts"),
    [
        ({"a": "1"}, [b'name="a"\r\n\r\n1\r\n']),
        (
            {"a": "1", "b": "two words"},
            [b'name="a"\r\n\r\n1\r\n', b'name="b"\r\n\r\ntwo words\r\n'],
        ),
        ({"n": 3, "ok": True}, [b'name="n"\r\n\r\n3\r\n', b'name="ok"\r\n\r\ntrue\r\n']),
    ],
)
def test_a_multipart_body_with_fields_and_no_files_is_multipart(
    fields: dict[str, Any], parts: list[bytes]
) -> None:
    request = multipart(fields)
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert all(part in request.content for part in parts)
    assert request.content.count(b"Content-Disposition: form-data") == len(fields)
    assert b"filename=" not in request.content


def test_a_multipart_body_with_nothing_in_it_is_still_multipart() -> None:
    request = multipart({})
    content_type = request.headers["content-type"]
    assert content_type.startswith("multipart/form-data; boundary=")
    boundary = content_type.split("boundary=", 1)[1].encode()
    assert request.content == b"--" + boundary + b"--\r\n"


def test_a_multipart_body_with_files_keeps_its_fields_first() -> None:
    request = multipart({"a": "1"}, [{"name": "f", "filename": "f.txt", "text": "hi"}])
    assert request.content.index(b'name="a"') < request.content.index(b'name="f"; filename="f.txt"')


# --- success codes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "codes", "expected"),
    [
        (201, "200,201", True),
        (202, "200,201", False),
        (304, "2xx,304", True),
        (204, "2xx,304", True),
        (301, "2xx,304", False),
        (304, " 2XX , 304 ", True),
        (201, ["2xx", 304], True),
        (304, ["200", 304], True),
        (404, [200, 201], False),
    ],
)
def test_success_codes_take_codes_and_classes_comma_separated_or_listed(
    status: int, codes: str | list[int | str], expected: bool
) -> None:
    spec = RequestSpec(url="https://h.example/x", success_codes=codes)
    assert is_success(status, spec.success_codes) is expected


@pytest.mark.parametrize(
    "codes", ["", "2xx,", "200,abc", "6xx", "99", "600", "2x", [], [700], ["2xx", "nope"], [True]]
)
@pytest.mark.parametrize("model", [RequestSpec, PushTarget])
def test_bad_success_codes_are_refused_naming_success_codes(codes: Any, model: type) -> None:
    with pytest.raises(ValidationError) as caught:
        model(url="https://h.example/x", success_codes=codes)
    assert caught.value.errors()[0]["loc"][0] == "success_codes"


# --- error messages -----------------------------------------------------------------------------

ERRORS = {"404": "No such customer", "4xx": "Rejected", "5XX": "API down", "timeout": "Too slow"}


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (404, "No such customer"),
        (409, "Rejected"),
        (503, "API down"),
        (302, None),
        ("timeout", "Too slow"),
        ("error", None),
    ],
)
def test_an_exact_code_wins_over_its_class_and_routes_have_messages(
    answer: int | str, message: str | None
) -> None:
    spec = RequestSpec(url="https://h.example/x", errors=ERRORS)
    assert spec.error_message(answer) == message


@pytest.mark.parametrize("key", ["40", "4x", "600", "other", "Timeout!", "", "2xx,3xx"])
def test_an_errors_key_that_is_no_code_class_or_route_is_refused(key: str) -> None:
    with pytest.raises(ValidationError) as caught:
        RequestSpec(url="https://h.example/x", errors={key: "message"})
    assert caught.value.errors()[0]["loc"][0] == "errors"


@pytest.mark.parametrize(
    ("error", "route"),
    [
        (UpstreamTimeout("timed out"), "timeout"),
        (CapacityExceeded("no connection became free"), "max-connection"),
        (UpstreamConnectionError("connection refused"), "error"),
    ],
)
def test_a_route_message_replaces_the_error_message(error: ApicallError, route: str) -> None:
    spec = RequestSpec(url="https://h.example/x", errors={route: "Custom", "5xx": "Server"})
    outcome = Execution(InvokeEvent(request=spec), "run").failed(error)
    assert outcome.route == route
    assert outcome.error is not None and outcome.error.message == "Custom"


# --- checking a spec before sending -------------------------------------------------------------


def test_checking_plain_member_paths_does_not_load_the_jsonpath_engine() -> None:
    code = (
        "import sys\n"
        "from apicall.request.execute import check_spec\n"
        "from apicall.core.models import RequestSpec\n"
        "response = {'data_path': '$.data', 'fields': [{'name': 'id', 'path': '$.a.id'}]}\n"
        "check_spec(RequestSpec(url='https://h.example/x', response=response))\n"
        "print('jsonpath' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
