"""No secret reaches a log line or a history item, whatever the auth type and however it ends."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.wrappers import Request, Response

from apicall.observability import logger as apicall_logger
from apicall.store import RunsStore
from functions.request import app
from local.stack import LocalContext

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


@pytest.fixture
def everything_logged(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """apicall's logger and the root logger both at DEBUG, as an operator chasing a bug would."""
    previous = apicall_logger.log_level
    apicall_logger.setLevel("DEBUG")
    caplog.set_level(logging.DEBUG)
    yield
    apicall_logger.setLevel(previous)


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
    history = [item for name in connections for item in RunsStore(runs_table).executions(name)]
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
