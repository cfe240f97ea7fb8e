"""No secret reaches a log line or a history item, whatever the auth type and however it ends."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote

import pytest
from werkzeug.wrappers import Request, Response

from apicall.core.store import RunsStore
from apicall.push.deliverer import attempt_history
from functions.fetch import app as fetch_app
from functions.request import app
from local.stack import LocalContext
from tests.support.echo import EchoAPI
from tests.support.encodings import forms, pair_forms

API_KEY = "sk-live-apikey-0a1b2c3d"
QUERY_KEY = "qk-secret-9z8y7x6w"
PASSWORD = "hunter2-pass-5e6f"
BEARER = "bearer-token-1q2w3e4r"
CLIENT_SECRET = "client-secret-7u8i9o0p"
REFRESH_TOKEN = "refresh-token-3e4r5t6y"
ACCESS_TOKENS = ("access-token-cc-aaaa1111", "access-token-code-bbbb2222")
SECRETS = (API_KEY, QUERY_KEY, PASSWORD, BEARER, CLIENT_SECRET, REFRESH_TOKEN, *ACCESS_TOKENS)


def _api(request: Request) -> Response:
    """Accepts every credential above; `/fail` answers 401 and echoes what it was sent."""
    if request.path == "/token":
        grant = request.form.get("grant_type")
        token = ACCESS_TOKENS[0] if grant == "client_credentials" else ACCESS_TOKENS[1]
        body = {"access_token": token, "token_type": "Bearer", "expires_in": 3600}
        return Response(json.dumps(body), mimetype="application/json")
    echo = {"headers": dict(request.headers), "query": request.args.to_dict()}
    status = 401 if request.path == "/fail" else 200
    return Response(json.dumps(echo), status=status, mimetype="application/json")


@pytest.fixture
def api(httpserver) -> str:
    httpserver.expect_request("").respond_with_handler(_api)
    return httpserver.url_for("").rstrip("/")


@pytest.fixture
def connections(api: str, put_connection) -> list[str]:
    auths: dict[str, dict[str, Any]] = {
        "key-header": {"type": "api_key", "name": "X-Api-Token", "value": API_KEY},
        "key-query": {"type": "api_key", "name": "api_key", "value": QUERY_KEY, "in": "query"},
        "basic": {"type": "basic", "username": "ada", "password": PASSWORD},
        "bearer": {"type": "bearer", "token": BEARER},
        "oauth-cc": {
            "type": "oauth2_client_credentials",
            "token_url": f"{api}/token",
            "client_id": "cc-client",
            "client_secret": CLIENT_SECRET,
        },
        "oauth-code": {
            "type": "oauth2_authorization_code",
            "authorize_url": f"{api}/authorize",
            "token_url": f"{api}/token",
            "client_id": "code-client",
            "client_secret": CLIENT_SECRET,
            "refresh_token": REFRESH_TOKEN,
        },
    }
    for name, auth in auths.items():
        put_connection(name, {"base_url": api, "auth": auth, "allow_private_network": True})
    return list(auths)


@pytest.mark.usefixtures("everything_logged")
def test_no_secret_in_any_log_line_or_history_item(
    connections: list[str], runs_table: Any, capfd: pytest.CaptureFixture[str], caplog
) -> None:
    outcomes = []
    for name in connections:
        for path in ("/ok", "/fail"):
            event = {
                "request": {"connection": name, "url": path, "routes": ["200", "401"]},
                "correlation_id": f"{name}{path}",
            }
            outcomes.append(app.handler(event, LocalContext("RequestFunction", 30)))

    assert [o["route"] for o in outcomes] == ["200", "401"] * len(connections)
    printed = capfd.readouterr()
    history = RunsStore(runs_table).executions("default")
    assert len(history) == 2 * len(connections)
    searched = {
        "stdout": printed.out,
        "stderr": printed.err,
        # werkzeug's records are the access log of the fake third-party API, which runs in this
        # process; it is the API's log, not ours.
        "logging": "\n".join(
            r.getMessage() + repr(r.__dict__)
            for r in caplog.records
            if not r.name.startswith("werkzeug")
        ),
        "history": json.dumps(history, default=str),
        "outcomes": json.dumps(outcomes),
    }
    assert printed.out, "the handler's own log lines should have been captured"
    basic = base64.b64encode(f"ada:{PASSWORD}".encode()).decode()
    for where, text in searched.items():
        for secret in (*SECRETS, basic):
            assert secret not in text, f"{secret!r} found in {where}"


# --- credentials in every form, in every place they come back ------------------------------------

# Reserved characters, a space, a quote and a non-ASCII letter: each encoding writes it differently.
AWKWARD_KEY = 'qk/2+a=b c"é-query'
URL_PASSWORD = 'up/0+a=b c"é-userinfo'
AWKWARD_BEARER = 'bt/4+a=b c"é-bearer'
AWKWARD_PASSWORD = 'pw/3+a=b c"é-basic'
MAPPED = {
    "data_path": "$",
    "fields": [
        {"name": "echo", "type": "object", "path": "$"},
        {"name": "credentials", "type": "array", "path": "$.credentials"},
    ],
}


def _strings(value: Any) -> list[str]:
    """Every string in a JSON-like value, dict keys included."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list | tuple):
        return [s for item in value for s in _strings(item)]
    return []


def _found(value: Any, user: str | None, secret: str) -> list[str]:
    """The names of the forms of `secret` that occur in `value`."""
    text = "\x00".join(_strings(value))
    return [name for name, form in _named_forms(user, secret).items() if form in text]


def _named_forms(user: str | None, secret: str) -> dict[str, str]:
    named = forms(secret)
    return {**named, **pair_forms(user, secret)} if user is not None else named


@pytest.fixture
def echo_api(httpserver) -> tuple[EchoAPI, str]:
    api = EchoAPI()
    httpserver.expect_request("").respond_with_handler(api)
    return api, httpserver.url_for("").rstrip("/")


@pytest.mark.parametrize(
    "case", ["no-connection", "connection-and-absolute-url", "connection-base-url"]
)
def test_url_userinfo_reaches_no_history_item_or_outcome(
    case: str, echo_api: tuple[EchoAPI, str], put_connection, runs_table: Any
) -> None:
    api, base = echo_api
    with_userinfo = base.replace("://", f"://ada:{quote(URL_PASSWORD, safe='')}@")
    put_connection("plain", {"base_url": base, "allow_private_network": True})
    put_connection("userinfo", {"base_url": with_userinfo, "allow_private_network": True})
    request = {
        "no-connection": {"url": f"{with_userinfo}/echo"},
        "connection-and-absolute-url": {"connection": "plain", "url": f"{with_userinfo}/echo"},
        "connection-base-url": {"connection": "userinfo", "url": "/echo"},
    }[case]

    outcome = app.handler({"request": request}, LocalContext("RequestFunction", 30))

    # Without a connection the guard refuses loopback; the URL is still recorded.
    assert outcome["route"] == ("error" if case == "no-connection" else "other")
    assert case == "no-connection" or api.seen == {("ada", URL_PASSWORD)}
    history = runs_table.scan()["Items"]
    assert len(history) == 1
    assert (
        "@127.0.0.1" in history[0]["request"]["url"] or "@localhost" in history[0]["request"]["url"]
    )
    assert _found(history, "ada", URL_PASSWORD) == []
    assert _found(outcome, "ada", URL_PASSWORD) == []


@pytest.fixture
def awkward_connections(echo_api: tuple[EchoAPI, str], put_connection) -> EchoAPI:
    api, base = echo_api
    auths = {
        "key-query": {"type": "api_key", "name": "api_key", "value": AWKWARD_KEY, "in": "query"},
        "bearer": {"type": "bearer", "token": AWKWARD_BEARER},
        "basic": {"type": "basic", "username": "ada", "password": AWKWARD_PASSWORD},
    }
    for name, auth in auths.items():
        put_connection(name, {"base_url": base, "auth": auth, "allow_private_network": True})
    return api


@pytest.mark.parametrize("place", ["body", "headers", "data"])
def test_an_awkward_query_key_is_redacted_in_every_part_of_an_outcome(
    place: str, awkward_connections: EchoAPI, tables: Any
) -> None:
    request = {"connection": "key-query", "url": "/echo", "response": MAPPED}

    outcome = app.handler({"request": request}, LocalContext("RequestFunction", 30))

    assert awkward_connections.seen == {(None, AWKWARD_KEY)}
    assert outcome[place], f"the echo should have filled {place}"
    assert _found(outcome[place], None, AWKWARD_KEY) == []


def test_an_awkward_query_key_is_redacted_in_the_push_response_excerpt(
    awkward_connections: EchoAPI, push_rig: Any
) -> None:
    push_rig.send(
        {
            "id": "evt_awkward",
            "target": {"connection": "key-query", "url": "/hooks/0"},
            "record": {"id": 1},
        }
    )

    push_rig.trigger.drain(timeout_s=30)

    first, second = attempt_history("evt_awkward")
    assert (first["outcome"], second["outcome"]) == ("failed", "delivered")
    assert first["response_excerpt"]
    assert _found(first, None, AWKWARD_KEY) == []


@pytest.mark.parametrize("filler", [480, 490, 499])
def test_a_credential_across_the_excerpt_cut_leaves_no_head_behind(
    filler: int, awkward_connections: EchoAPI, push_rig: Any
) -> None:
    push_rig.send(
        {
            "id": "evt_cut",
            "target": {"connection": "key-query", "url": f"/hooks/pad-{filler}"},
            "record": {"id": 1},
        }
    )

    push_rig.trigger.drain(timeout_s=30)

    first, _ = attempt_history("evt_cut")
    assert first["response_excerpt"] == ("x" * filler + "***")[:500]


@pytest.mark.parametrize(
    ("connection", "user", "secret"),
    [
        ("key-query", None, AWKWARD_KEY),
        ("bearer", None, AWKWARD_BEARER),
        ("basic", "ada", AWKWARD_PASSWORD),
    ],
)
def test_fetched_records_hold_no_credential_the_api_echoes(
    connection: str, user: str | None, secret: str, awkward_connections: EchoAPI, tables: Any
) -> None:
    job = {
        "job": f"echo-{connection}",
        "request": {"connection": connection, "url": "/records"},
        "records": {"path": "$.data[*]", "key": "$.id"},
    }

    summary = fetch_app.handler(job, LocalContext("FetchFunction", 60))

    assert summary["status"] == "succeeded"
    records = tables["RecordsTable"].scan()["Items"]
    assert len(records) > 1
    assert _found(records, user, secret) == []
