"""Secrets are found in a connection and scrubbed from anything apicall echoes."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from apicall import auth
from apicall.auth import REDACTED, redact, redact_headers, secret_values
from apicall.models import Connection


def conn(auth_config: dict[str, Any], **extra: Any) -> Connection:
    return Connection.model_validate({"auth": auth_config, **extra})


@pytest.fixture(autouse=True)
def _fresh_memory() -> None:
    auth.clear_caches()


# --- secret_values -------------------------------------------------------------------------------


def test_no_auth_has_no_secrets() -> None:
    assert secret_values(Connection()) == set()


def test_api_key_value_is_a_secret() -> None:
    assert secret_values(conn({"type": "api_key", "name": "X-Key", "value": "k-123"})) == {"k-123"}


def test_basic_auth_secrets_include_the_pair_and_its_base64_form() -> None:
    values = secret_values(conn({"type": "basic", "username": "ann", "password": "hunter22"}))

    assert values == {
        "hunter22",
        "ann:hunter22",
        base64.b64encode(b"ann:hunter22").decode(),
    }


def test_bearer_token_is_a_secret() -> None:
    assert secret_values(conn({"type": "bearer", "token": "tok-1"})) == {"tok-1"}


def test_oauth_secrets_include_client_secret_and_refresh_token_but_not_client_id() -> None:
    values = secret_values(
        conn(
            {
                "type": "oauth2_authorization_code",
                "authorize_url": "https://auth.example/authorize",
                "token_url": "https://auth.example/token",
                "client_id": "app",
                "client_secret": "cs-1234",
                "refresh_token": "rt-5678",
            }
        )
    )

    assert {"cs-1234", "rt-5678"} <= values
    assert base64.b64encode(b"app:cs-1234").decode() in values
    assert "app" not in values


def test_client_certificate_key_and_password_are_secrets() -> None:
    cert = {"cert": "-----CERT-----", "key": "-----KEY-----", "password": "pem-pass"}

    values = secret_values(Connection.model_validate({"client_cert": cert}))

    assert values == {"-----KEY-----", "pem-pass"}


def test_credentials_in_the_connection_headers_and_proxy_url_are_secrets() -> None:
    values = secret_values(
        Connection.model_validate(
            {
                "headers": {"Authorization": "Token abc123", "X-Organization-ID": "org1"},
                "proxy": "http://proxyuser:proxy-pw@proxy.internal:3128",
            }
        )
    )

    assert values == {"Token abc123", "proxy-pw"}


# --- redact --------------------------------------------------------------------------------------


def test_redact_replaces_secret_substrings_in_nested_values() -> None:
    value = {
        "url": "https://api.example/x?api_key=k-12345&x=1",
        "headers": [["X-Key", "k-12345"]],
        "echo": {"token": "Bearer tok-secret", "count": 3, "ok": True, "none": None},
        "pair": ("tok-secret", "public"),
    }

    redacted = redact(value, {"k-12345", "tok-secret"})

    assert redacted == {
        "url": "https://api.example/x?api_key=***&x=1",
        "headers": [["X-Key", "***"]],
        "echo": {"token": "Bearer ***", "count": 3, "ok": True, "none": None},
        "pair": ("***", "public"),
    }


def test_redact_leaves_the_input_untouched() -> None:
    value = {"a": ["secret-1"]}

    redact(value, {"secret-1"})

    assert value == {"a": ["secret-1"]}


def test_redact_prefers_the_longest_secret() -> None:
    assert redact("auth ann:hunter22 end", {"hunter22", "ann:hunter22"}) == "auth *** end"


def test_redact_treats_secrets_literally_not_as_patterns() -> None:
    assert redact("a.b+c and axb+c", {"a.b+c"}) == "*** and axb+c"


def test_short_secrets_are_redacted_only_where_a_whole_string_equals_them() -> None:
    assert redact({"password": "abc", "note": "abcdef"}, {"abc"}) == {
        "password": REDACTED,
        "note": "abcdef",
    }


def test_redact_with_no_secrets_returns_the_value() -> None:
    value = {"a": 1}

    assert redact(value, set()) is value


def test_redact_keeps_dict_keys_and_non_string_values() -> None:
    assert redact({"tok-secret": 1.5, "b": b"tok-secret"}, {"tok-secret"}) == {
        "tok-secret": 1.5,
        "b": b"tok-secret",
    }


# --- redact_headers ------------------------------------------------------------------------------


def test_redact_headers_masks_credential_headers_case_insensitively() -> None:
    headers = {
        "authorization": "Bearer x",
        "Proxy-Authorization": "Basic y",
        "Cookie": "sid=1",
        "set-cookie": "sid=2",
        "X-API-Key": "k",
        "Accept": "application/json",
    }

    assert redact_headers(headers) == {
        "authorization": REDACTED,
        "Proxy-Authorization": REDACTED,
        "Cookie": REDACTED,
        "set-cookie": REDACTED,
        "X-API-Key": REDACTED,
        "Accept": "application/json",
    }


def test_redact_headers_masks_the_header_an_api_key_connection_uses() -> None:
    keyed = conn({"type": "api_key", "name": "X-Partner-Token", "value": "pt-1"})
    secret_values(keyed)

    assert redact_headers({"x-partner-token": "pt-1", "X-Other": "v"}) == {
        "x-partner-token": REDACTED,
        "X-Other": "v",
    }


def test_redact_headers_accepts_extra_names_and_pairs() -> None:
    pairs = [("X-Signature", "sig"), ("Accept", "*/*")]

    assert redact_headers(pairs, also=["x-signature"]) == {"X-Signature": REDACTED, "Accept": "*/*"}


def test_redaction_compiles_its_pattern_once_per_set_of_secrets() -> None:
    # What keeps redaction cheap on every warm request is reusing the compiled pattern; its cost is
    # measured in benchmarks/request_warm_overhead.py (execute() redacts every Outcome), not here.
    secrets = {f"secret-value-{n}" for n in range(10)}
    body = {"rows": [{"id": n, "note": f"x secret-value-{n % 10} y"} for n in range(1000)]}
    auth._matcher.cache_clear()

    first = redact(body, secrets)
    second = redact(body, set(secrets))

    assert (auth._matcher.cache_info().misses, auth._matcher.cache_info().hits) == (1, 1)
    assert first == second
    assert all(row["note"] == f"x {REDACTED} y" for row in second["rows"])
