"""No credential comes back out of apicall, in any form, from any of its functions.

Every auth type, a URL's userinfo and a push signing key are used against a real local API that
echoes every credential it receives in every form it can travel in (tests/support/echo.py): in
its JSON answers, its records, its response headers and the bodies of failed webhook deliveries.
The request function (direct invokes), the test API, the fetch function and the push function
all run against it; then every form of every secret is searched in everything apicall logged,
stored or answered.
"""

from __future__ import annotations

import base64
import json
import logging
from contextlib import suppress
from typing import Any
from urllib.parse import quote

import pytest
from boto3.dynamodb.types import Binary

from functions.fetch import app as fetch_app
from functions.request import api as test_api
from functions.request import app as request_app
from local.sqs_trigger import peek_messages
from local.stack import LocalContext
from tests.support.builder_api import api_event
from tests.support.echo import EchoAPI, OAuthClient
from tests.support.encodings import forms, pair_forms
from tests.support.push import PushRig

# Each holds "/ + =", a space, a quote and (where allowed) a non-ASCII letter, so that every
# encoding writes it differently.
API_KEY_HEADER = 'hk/1+a=b c"é-header'
API_KEY_QUERY = 'qk/2+a=b c"é-query'
PASSWORD = 'pw/3+a=b c"é-basic'
BEARER = 'bt/4+a=b c"é-bearer'
# OAuth 2.0 allows only printable ASCII in client secrets and tokens (RFC 6749 appendix A), and
# Authlib's client_secret_post refuses anything else.
CLIENT_SECRET_CC = 'cs/5+a=b c"-client-cc'
CLIENT_SECRET_CODE = 'cs/6+a=b c"-client-code'
REFRESH_TOKEN = 'rt/7+a=b c"-refresh'
ACCESS_TOKEN_CC = 'at/8+a=b c"-access-cc'
ACCESS_TOKEN_CODE = 'at/9+a=b c"-access-code'
URL_PASSWORD = 'up/0+a=b c"é-userinfo'
# A Standard Webhooks key is base64: "+", "/" and "=" are all it can hold of the above.
SIGNING_KEY = "whsec_" + base64.b64encode(bytes([0xFB, 0xFF, 0xBF, *range(40, 69)])).decode()

# (what it is, the user it is paired with in Basic auth or userinfo, the secret)
SECRETS: list[tuple[str, str | None, str]] = [
    ("api_key in a header", None, API_KEY_HEADER),
    ("api_key in the query", None, API_KEY_QUERY),
    ("basic password", "ada", PASSWORD),
    ("bearer token", None, BEARER),
    ("oauth2_client_credentials client secret", "cc-client", CLIENT_SECRET_CC),
    ("oauth2_client_credentials access token", None, ACCESS_TOKEN_CC),
    ("oauth2_authorization_code client secret", "code-client", CLIENT_SECRET_CODE),
    ("oauth2_authorization_code refresh token", None, REFRESH_TOKEN),
    ("oauth2_authorization_code access token", None, ACCESS_TOKEN_CODE),
    ("password in URL userinfo", "eve", URL_PASSWORD),
    ("push signing key", None, SIGNING_KEY),
    ("push signing key without its prefix", None, SIGNING_KEY.removeprefix("whsec_")),
]
CLIENTS = (
    OAuthClient("cc-client", CLIENT_SECRET_CC, ACCESS_TOKEN_CC),
    OAuthClient("code-client", CLIENT_SECRET_CODE, ACCESS_TOKEN_CODE, REFRESH_TOKEN),
)
# Enough slices of a push echo for the longest (the authorization-code connection's).
PUSH_SLICES = 4
MAPPED = {
    "data_path": "$",
    "fields": [
        {"name": "echo", "type": "object", "path": "$"},
        {"name": "credentials", "type": "array", "path": "$.credentials"},
        {"name": "first", "type": "string", "path": "$.credentials[0]"},
    ],
}
ROWS = {
    "data_path": "$.data",
    "fields": [
        {"name": "id", "type": "string", "path": "$.id"},
        {"name": "credential", "type": "string", "path": "$.credential"},
    ],
}


@pytest.fixture
def echo(httpserver) -> tuple[EchoAPI, str]:
    api = EchoAPI(clients=CLIENTS, signing_key=SIGNING_KEY)
    httpserver.expect_request("").respond_with_handler(api)
    return api, httpserver.url_for("").rstrip("/")


@pytest.fixture
def connections(echo: tuple[EchoAPI, str], put_connection, aws) -> dict[str, str]:
    """Connection name -> the URL a request through it goes to (absolute for `plain`)."""
    _, base = echo
    with_userinfo = base.replace("://", f"://eve:{quote(URL_PASSWORD, safe='')}@")
    auths: dict[str, dict[str, Any] | None] = {
        "key-header": {"type": "api_key", "name": "X-Api-Token", "value": API_KEY_HEADER},
        "key-query": {"type": "api_key", "name": "api_key", "value": API_KEY_QUERY, "in": "query"},
        "basic": {"type": "basic", "username": "ada", "password": PASSWORD},
        "bearer": {"type": "bearer", "token": BEARER},
        "oauth-cc": {
            "type": "oauth2_client_credentials",
            "token_url": f"{base}/token",
            "client_id": "cc-client",
            "client_secret": CLIENT_SECRET_CC,
        },
        "oauth-code": {
            "type": "oauth2_authorization_code",
            "authorize_url": f"{base}/authorize",
            "token_url": f"{base}/token",
            "client_id": "code-client",
            "client_secret": CLIENT_SECRET_CODE,
            "refresh_token": REFRESH_TOKEN,
            "token_auth_method": "client_secret_post",
        },
        "userinfo-base-url": None,
        "plain": None,
    }
    urls = {}
    for name, auth in auths.items():
        connection: dict[str, Any] = {"base_url": base, "allow_private_network": True}
        if auth is not None:
            connection["auth"] = auth
        if name == "userinfo-base-url":
            connection["base_url"] = with_userinfo
        put_connection(name, connection)
        urls[name] = f"{with_userinfo}/echo" if name == "plain" else "/echo"
    aws.client("secretsmanager").create_secret(
        Name="apicall/signing/hooks", SecretString=SIGNING_KEY
    )
    return urls


@pytest.mark.usefixtures("everything_logged")
def test_no_form_of_any_secret_is_logged_stored_or_answered(
    echo: tuple[EchoAPI, str],
    connections: dict[str, str],
    tables: dict[str, Any],
    push_rig: PushRig,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    api, base = echo
    outcomes = _direct_invokes(connections, base)
    answers = _test_api_calls(connections)
    fetched = _fetches(connections)
    _pushes(push_rig, connections, base)
    builder_answers = _builder_calls(connections)

    # The API really received, and so echoed back, every credential.
    assert {secret for _, secret in api.seen} >= {secret for _, _, secret in SECRETS[:-1]}
    assert all(total <= PUSH_SLICES for _, total in api.slices_served)
    printed = capfd.readouterr()
    runs = _scan(tables["RunsTable"])
    excerpts = [item["response_excerpt"] for item in runs if "response_excerpt" in item]
    assert len(excerpts) == sum(index < total for index, total in api.slices_served)
    places: dict[str, list[str]] = {
        "log lines on stdout": _log_lines(printed.out),
        "log lines on stderr": _log_lines(printed.err),
        "log records": _log_records(caplog.records),
        "RunsTable": _strings(_without_cached_tokens(runs)),
        "RecordsTable": _strings(_scan(tables["RecordsTable"])),
        "CatalogTable": _strings(_scan(tables["CatalogTable"])),
        "IdempotencyTable": _strings(_scan(tables["IdempotencyTable"])),
        "dead-letter queue attributes apicall added": _strings(_dead_letter_attributes(push_rig)),
        "Outcomes of direct invokes": _strings(outcomes),
        "test API answers": _strings(answers),
        "builder API answers (connections, entities, preview, history, pushes, fetches, records)": (
            _strings(builder_answers)
        ),
        "fetch function answers": _strings(fetched),
        "push response excerpts": excerpts,
    }
    for place, strings in places.items():
        # Nothing on stderr is fine; everything else must have been filled by the run.
        assert strings or place == "log lines on stderr", f"nothing was captured from {place}"

    # 13 places x 12 secrets x their 10 to 14 forms: 1,716 combinations.
    checked, hits = 0, []
    for place, strings in places.items():
        text = "\x00".join(strings)
        for what, user, secret in SECRETS:
            named = {**forms(secret), **(pair_forms(user, secret) if user else {})}
            for form_name, form in named.items():
                checked += 1
                if form in text:
                    hits.append(f"{what} ({form_name}) in {place}")
    assert checked == 1716
    assert hits == [], "\n".join(hits)


# --- the flows ------------------------------------------------------------------------------------


def _direct_invokes(connections: dict[str, str], base: str) -> list[dict[str, Any]]:
    outcomes = []
    for name, url in connections.items():
        for path, response in (("/echo", MAPPED), ("/fail", MAPPED), ("/rows", ROWS)):
            request = {
                "connection": name,
                "url": url.replace("/echo", path),
                "response": response,
                "routes": ["200", "401"],
            }
            outcomes.append(request_app.handler({"request": request}, _context("RequestFunction")))
    # Without a connection the guard refuses loopback, but the URL is still recorded.
    userinfo_url = base.replace("://", f"://eve:{quote(URL_PASSWORD, safe='')}@") + "/echo"
    outcomes.append(
        request_app.handler({"request": {"url": userinfo_url}}, _context("RequestFunction"))
    )
    routes = [outcome["route"] for outcome in outcomes]
    assert routes == ["200", "401", "200"] * len(connections) + ["error"]
    return outcomes


def _test_api_calls(connections: dict[str, str]) -> list[Any]:
    answers = []
    for name, url in connections.items():
        body = {"request": {"connection": name, "url": url, "response": MAPPED}}
        event = {
            "resource": "/test",
            "path": "/test",
            "httpMethod": "POST",
            "headers": {"Content-Type": "application/json", "X-Api-Key": "builder-ui-key"},
            "multiValueHeaders": {"Content-Type": ["application/json"]},
            "queryStringParameters": None,
            "multiValueQueryStringParameters": None,
            "pathParameters": None,
            "requestContext": {"resourcePath": "/test", "httpMethod": "POST", "stage": "dev"},
            "body": json.dumps(body),
            "isBase64Encoded": False,
        }
        answer = test_api.handler(event, _context("ApiFunction"))
        assert answer["statusCode"] == 200, answer["body"]
        answers.extend([answer["body"], json.loads(answer["body"])])
    return answers


def _builder_call(method: str, path: str, body: Any = None, **query: str) -> list[Any]:
    """The raw text and the JSON of one builder API answer (it must be a success)."""
    answer = test_api.handler(
        api_event(method, path, body=body, query=query or None), _context("ApiFunction")
    )
    assert answer["statusCode"] < 300, (method, path, answer["body"])
    text = answer["body"] or ""
    return [text, json.loads(text)] if text else []


def _builder_calls(connections: dict[str, str]) -> list[Any]:
    """Every builder route that reads or shows a connection, an execution, a push, a fetch or
    its records; each connection read masked and put back unchanged (the stored secret kept)."""
    answers: list[Any] = []
    for name, url in connections.items():
        view = _builder_call("GET", f"/connections/{name}")
        answers += view
        masked = view[1]
        answers += _builder_call(
            "PUT", f"/connections/{name}", {"connection": masked["connection"]}
        )
        answers += _builder_call("POST", f"/connections/{name}/test", {"path": "/echo"})
        # A password in an entity's URL is refused (it would be stored as plain text).
        refused = test_api.handler(
            api_event(
                "POST", f"/connections/{name}/entities", body={"name": "x", "request": {"url": url}}
            ),
            _context("ApiFunction"),
        )
        assert refused["statusCode"] == (422 if "@" in url else 201), refused["body"]
        answers.append(refused["body"])
        answers += _builder_call(
            "POST", f"/connections/{name}/entities", {"name": "echo", "request": {"url": "/echo"}}
        )
        answers += _builder_call("GET", f"/connections/{name}/entities/echo")
        request = {"connection": name, "entity": "echo", "response": MAPPED}
        answers += _builder_call("POST", "/preview", {"request": request})
        answers += _builder_call("POST", "/test", {"request": request})
        answers += _builder_call("GET", "/records/" + f"echo-{name}-2")
        answers += _builder_call("GET", "/fetches/" + f"echo-{name}-2")
        answers += _builder_call("GET", f"/pushes/evt-{name}-0")
    answers += _builder_call("GET", "/connections", limit="500")
    history = _builder_call("GET", "/history", limit="500")
    answers += history
    for item in history[1]["items"]:
        answers += _builder_call("GET", f"/history/{item['run_id']}")
    return answers


def _fetches(connections: dict[str, str]) -> list[dict[str, Any]]:
    summaries = []
    for name, url in connections.items():
        for fields in ([], ROWS["fields"]):
            job = {
                "job": f"echo-{name}-{len(fields)}",
                "request": {"connection": name, "url": url.replace("/echo", "/records")},
                "records": {"path": "$.data[*]", "key": "$.id", "fields": fields},
            }
            summaries.append(fetch_app.handler(job, _context("FetchFunction")))
    assert [summary["status"] for summary in summaries] == ["succeeded"] * len(summaries)
    return summaries


def _pushes(push_rig: PushRig, connections: dict[str, str], base: str) -> None:
    for name, url in connections.items():
        for index in range(PUSH_SLICES):
            push_rig.send(
                {
                    "id": f"evt-{name}-{index}",
                    "event": "echo",
                    "target": {
                        "connection": name,
                        "url": url.replace("/echo", f"/hooks/{index}"),
                        "signing_secret": "hooks",
                    },
                    "record": {"n": index},
                }
            )
    # Refused at once, with the reason in a message attribute: a metadata address, an unknown
    # method, each in a URL that carries a password.
    blocked = f"http://eve:{quote(URL_PASSWORD, safe='')}@169.254.169.254/latest"
    push_rig.send({"id": "evt-blocked", "target": {"url": blocked}, "record": {}})
    invalid = {"url": blocked, "method": "BREW"}
    push_rig.send({"id": "evt-invalid", "target": invalid, "record": {}})
    push_rig.trigger.drain(timeout_s=120)
    assert len(push_rig.dead_letters()) == 2


# --- what apicall logged, stored and answered -----------------------------------------------------


def _context(function: str) -> LocalContext:
    return LocalContext(function, 60)


def _strings(value: Any) -> list[str]:
    """Every string in a value read from JSON or DynamoDB, dict keys included."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, Binary | bytes):
        return [bytes(value).decode("utf-8", "replace")]
    if isinstance(value, dict):
        return [s for key, item in value.items() for s in (*_strings(key), *_strings(item))]
    if isinstance(value, list | tuple | set):
        return [s for item in value for s in _strings(item)]
    return []


def _log_lines(text: str) -> list[str]:
    """Each line as printed, and the strings of the JSON ones (Powertools prints JSON)."""
    found = []
    for line in text.splitlines():
        found.append(line)
        with suppress(ValueError):
            found.extend(_strings(json.loads(line)))
    return found


def _log_records(records: list[logging.LogRecord]) -> list[str]:
    # werkzeug's records are the access log of the fake third-party API, which runs in this
    # process: the API's log, not apicall's.
    found = []
    for record in records:
        if record.name.startswith("werkzeug"):
            continue
        found.append(record.getMessage())
        found.extend(_strings({k: v for k, v in vars(record).items() if k != "msg"}))
        found.extend(str(arg) for arg in record.args or ())
    return found


def _scan(table: Any) -> list[dict[str, Any]]:
    items, kwargs = [], {}
    while True:
        page = table.scan(**kwargs)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _without_cached_tokens(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """RunsTable's items, less the access token of its shared OAuth token cache (`token#`):
    that attribute is a credential store by design, like the connection's secret."""
    kept = []
    for item in items:
        if str(item["pk"]).startswith("token#"):
            assert set(item) <= {
                "pk",
                "sk",
                "access_token",
                "token_type",
                "expires_at",
                "client_id",
            }
            item = {k: v for k, v in item.items() if k != "access_token"}
        kept.append(item)
    return kept


def _dead_letter_attributes(push_rig: PushRig) -> list[dict[str, Any]]:
    return [
        {
            name: value
            for name, value in message["MessageAttributes"].items()
            if name.startswith("apicall-")
        }
        for message in peek_messages(push_rig.sqs, push_rig.dlq_url)
    ]
