"""Secrets are found in a connection and scrubbed from anything apicall echoes."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apicall.core import redaction
from apicall.core.models import Connection
from apicall.core.redaction import (
    REDACTED,
    redact,
    redact_headers,
    safe_url,
    secret_header_names,
    secret_values,
)
from tests.support.encodings import forms, pair_forms


def conn(auth_config: dict[str, Any], **extra: Any) -> Connection:
    return Connection.model_validate({"auth": auth_config, **extra})


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

    assert values == {
        "Token abc123",
        "proxy-pw",
        "proxyuser:proxy-pw",
        base64.b64encode(b"proxyuser:proxy-pw").decode(),
    }


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
    names = secret_header_names(keyed)

    assert redact_headers({"x-partner-token": "pt-1", "X-Other": "v"}, also=names) == {
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
    redaction._matcher.cache_clear()

    first = redact(body, secrets)
    second = redact(body, set(secrets))

    assert (redaction._matcher.cache_info().misses, redaction._matcher.cache_info().hits) == (1, 1)
    assert first == second
    assert all(row["note"] == f"x {REDACTED} y" for row in second["rows"])


# --- every form a secret travels in ---------------------------------------------------------------

# "/ + =" are percent-encoded in a query, " " becomes "+" or "%20", '"' is escaped in JSON and "é"
# is two UTF-8 bytes: each form of this secret differs from the others.
AWKWARD = 'k/ey+va=l ue"é-9x'


@pytest.mark.parametrize(
    ("form", "text"), sorted(forms(AWKWARD).items()), ids=sorted(forms(AWKWARD))
)
def test_every_form_of_a_secret_is_redacted(form: str, text: str) -> None:
    redacted = redact(f"<{text}>", {AWKWARD})

    assert redacted == f"<{REDACTED}>", form


@pytest.mark.parametrize(
    ("form", "text"),
    sorted(pair_forms("ada", AWKWARD).items()),
    ids=sorted(pair_forms("ada", AWKWARD)),
)
def test_every_form_of_a_basic_pair_is_redacted(form: str, text: str) -> None:
    secrets = secret_values(conn({"type": "basic", "username": "ada", "password": AWKWARD}))

    redacted = redact(f"Basic {text} end", secrets)

    assert redacted == f"Basic {REDACTED}{'@' if form == 'userinfo' else ''} end", form


@pytest.mark.parametrize(
    ("secret", "text"),
    [
        ("tok\U0001f511-key", "tok\\ud83d\\udd11-key"),  # JSON's surrogate pair
        ("pa é-sword", "pa+\\u00c3\\u00a9-sword"),  # "+" space, mojibake escaped by JSON
        ("pa é-sword", "pa%20%e9-sword"),  # latin-1 percent-encoding, lower case
        ("tab\there", "tab\\there"),
    ],
    ids=["astral", "json-escaped-mojibake", "latin-1-percent-lower", "json-short-escape"],
)
def test_rarer_forms_of_a_secret_are_redacted(secret: str, text: str) -> None:
    assert redact(f"[{text}]", {secret}) == f"[{REDACTED}]"


def test_text_that_only_resembles_a_secret_is_kept() -> None:
    # Characters that every encoder leaves alone must match exactly (no case folding).
    assert redact('K/EY+VA=L UE"É-9X and k/ey+va=l', {AWKWARD}) == 'K/EY+VA=L UE"É-9X and k/ey+va=l'


def test_a_secret_spread_over_a_json_text_with_mixed_escapes_is_redacted() -> None:
    # A JSON answer whose string holds a percent-encoded URL: "/" escaped as "\/" by the JSON
    # encoder, "+" and "=" percent-encoded by the URL encoder, "é" as a \u escape.
    text = r'{"next": "https:\/\/api.example\/p?k=k\/ey%2Bva%3dl+ue\"\u00e9-9x&n=2"}'

    assert redact(text, {AWKWARD}) == r'{"next": "https:\/\/api.example\/p?k=***&n=2"}'


@pytest.mark.parametrize(
    ("auth_config", "pair"),
    [
        ({"type": "basic", "username": "ada", "password": AWKWARD}, ("ada", AWKWARD)),
        (
            {
                "type": "oauth2_client_credentials",
                "token_url": "https://auth.example/token",
                "client_id": "app-1",
                "client_secret": AWKWARD,
            },
            ("app-1", AWKWARD),
        ),
    ],
    ids=["basic", "oauth2-client-secret-basic"],
)
def test_base64_pairs_in_utf8_and_latin1_are_secrets(
    auth_config: dict[str, Any], pair: tuple[str, str]
) -> None:
    values = secret_values(conn(auth_config))

    text = ":".join(pair)
    assert base64.b64encode(text.encode()).decode() in values
    assert base64.b64encode(text.encode("latin-1")).decode() in values


# --- credentials in a URL's userinfo --------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://ada:pa%2Fss-1@api.example/x", {"pa/ss-1", "ada:pa/ss-1", "YWRhOnBhL3NzLTE="}),
        ("https://tok-5678@api.example/x", {"tok-5678", "dG9rLTU2Nzg6"}),
        ("https://api.example/x", set()),
        ("/relative/path", set()),
        ("not a url at all", set()),
    ],
    ids=["user-and-password", "token-as-user", "no-userinfo", "relative", "invalid"],
)
def test_userinfo_of_a_request_url_is_a_secret(url: str, expected: set[str]) -> None:
    assert secret_values(Connection(), url=url) == expected


def test_userinfo_of_the_connection_base_url_is_a_secret() -> None:
    connection = Connection.model_validate({"base_url": "https://ada:pw-9876@api.example/v1"})

    assert {"pw-9876", "ada:pw-9876"} <= secret_values(connection)


def test_a_url_with_userinfo_is_recorded_without_it() -> None:
    url = "https://ada:pa%2Fss-1@api.example/x?limit=5"

    assert redact(url, secret_values(Connection(), url=url)) == "https://***@api.example/x?limit=5"


# Browsers (WHATWG URL) read any run of "/" or "\" after an http(s) scheme as the start of the
# authority, so each of these carries the password "pw-1234"; httpx reads some as a path.
LENIENT_USERINFO_URLS = [
    "https://ada:pw-1234@api.example/x?k=v",
    "https:/ada:pw-1234@api.example/x",
    "https:ada:pw-1234@api.example/x",
    "https:\\\\ada:pw-1234@api.example/x",
    " https://ada:pw-1234@api.example/x",
    "https://ada:pw-1234@api.example/x#frag@x",
]


@pytest.mark.parametrize("url", LENIENT_USERINFO_URLS)
def test_safe_url_drops_userinfo_however_the_url_spells_it(url: str) -> None:
    shown = safe_url(url)

    assert "pw-1234" not in shown and "ada" not in shown
    assert "api.example" in shown


@pytest.mark.parametrize("url", LENIENT_USERINFO_URLS)
def test_userinfo_is_a_secret_however_the_url_spells_it(url: str) -> None:
    assert {"pw-1234", "ada:pw-1234"} <= secret_values(Connection(), url=url)


@pytest.mark.parametrize(
    "url",
    ["https://api.example/a@b", "https://api.example/x?mail=a@b.example", "https://api.example/"],
)
def test_an_at_sign_after_the_host_is_not_userinfo(url: str) -> None:
    assert secret_values(Connection(), url=url) == set()
    assert "api.example" in safe_url(url)


@pytest.mark.parametrize("url", ["orders:search@v2", "mailto:ada@example.com", "/a:b@c"])
def test_only_an_http_url_has_userinfo(url: str) -> None:
    assert secret_values(Connection(), url=url) == set()


# --- the one-pass check for values that hold no secret ------------------------------------------

_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)


@st.composite
def documents_and_secrets(draw: st.DrawFn) -> tuple[Any, set[str]]:
    """JSON documents whose strings sometimes carry a secret, in any form it travels in."""
    secrets = draw(st.sets(st.text(min_size=1, max_size=10), min_size=1, max_size=3))

    def carrying(text: str) -> st.SearchStrategy[str]:
        return (
            st.sampled_from(sorted(secrets))
            .flatmap(lambda secret: st.sampled_from(sorted(forms(secret).values())))
            .map(lambda form: text + form)
        )

    strings = _TEXT | _TEXT.flatmap(carrying)
    scalars = strings | st.integers() | st.floats(allow_nan=False) | st.booleans() | st.none()
    document = st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
        max_leaves=12,
    )
    return draw(
        st.dictionaries(_TEXT, document, max_size=4) | st.lists(document, max_size=4)
    ), secrets


@settings(max_examples=300, deadline=None)
@given(documents_and_secrets())
def test_values_judged_clean_in_one_pass_are_what_the_walk_gives(
    case: tuple[Any, set[str]],
) -> None:
    # The one-pass check may only ever skip a walk that would have changed nothing.
    value, secrets = case
    walked = redaction._redact(value, redaction._matcher(frozenset(secrets)))

    assert redact(value, secrets) == walked


def test_a_page_with_a_secret_in_any_string_is_walked_and_scrubbed() -> None:
    records = [{"id": n, "note": "plain"} for n in range(100)]
    records[57]["note"] = "leaked s3cr%2Ft-value here"

    redacted = redact(records, {"s3cr/t-value"})

    assert redacted[57]["note"] == f"leaked {REDACTED} here"
    assert redacted[:57] == records[:57]
