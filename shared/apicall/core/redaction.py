"""Keeping credentials out of everything apicall stores, logs or answers.

What in a connection is a credential is said once, here: the fields of `SECRET_FIELDS`, headers
named in `SENSITIVE_HEADERS` (or carrying the connection's API key) and the userinfo of its
`USERINFO_FIELDS`. `secret_values` lists those values (plus the access tokens issued for it in
this container); `redact` finds each of them in every encoding a value travels in;
`mask_connection` answers a connection's JSON with each credential as `***` and
`restore_masked` puts the stored ones back where an edited copy still says `***`;
`redact_headers` masks credential-carrying headers; `safe_url` shows a URL without userinfo or
query values.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Collection, Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar, cast
from urllib.parse import quote, unquote

import httpx

from apicall.core.models import (
    ApiKeyAuth,
    BasicAuth,
    Connection,
    OAuth2AuthorizationCode,
    OAuth2ClientCredentials,
)
from apicall.core.runtime import RUNTIME, Keyed

# Userinfo as a browser reads it: WHATWG's URL parser takes any run of "/" or "\" after an
# http(s) scheme as the start of the authority, which runs to the last "@" before a path, query
# or fragment. httpx reads "https:/user:pw@host" or "https:user:pw@host" as a path instead, so
# its parse alone misses credentials written that way.
_USERINFO = re.compile(r"^((?:\s|%20)*(?i:https?):[/\\]*)([^/\\?#]*)@")


def userinfo(url: str | httpx.URL) -> tuple[str, str] | None:
    """The (user, password) `url` carries, percent-decoded; None when it has no userinfo."""
    match = _USERINFO.match(str(url))
    if match is None:
        return None
    user, _, password = match.group(2).partition(":")
    return unquote(user), unquote(password)


def safe_url(url: str | httpx.URL) -> str:
    """The URL for messages and logs: no userinfo, query values replaced by `***`."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, UnicodeError):
        return "(invalid URL)"
    # Names percent-encoded again: httpx takes a query given as bytes to be ASCII.
    names = (quote(name, safe="") for name, _ in parsed.params.multi_items())
    query = "&".join(f"{name}=***" for name in names)
    try:
        shown = str(parsed.copy_with(userinfo=b"", query=query.encode() or None, fragment=None))
    except (httpx.InvalidURL, UnicodeError):
        return "(invalid URL)"
    return _USERINFO.sub(r"\1", shown)


REDACTED = "***"


# Shorter secrets are redacted only where a whole string equals them: replacing every "abc"
# inside a response body would destroy the body and hide nothing worth hiding.
MIN_SUBSTRING_SECRET = 4

SENSITIVE_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "x-auth-token",
    }
)

# Where a Connection keeps credentials, as paths into its JSON (attribute names are the same).
# Each auth shape has the fields it has; a path a connection lacks is simply not there.
SECRET_FIELDS: tuple[tuple[str, str], ...] = (
    ("auth", "value"),  # api_key
    ("auth", "password"),  # basic
    ("auth", "token"),  # bearer
    ("auth", "client_secret"),  # oauth2_*
    ("auth", "refresh_token"),  # oauth2_authorization_code
    ("client_cert", "key"),
    ("client_cert", "password"),
)
# A connection's URLs whose userinfo (https://user:password@host) is a credential.
USERINFO_FIELDS = ("base_url", "proxy")


T = TypeVar("T")

# Characters that every encoder a secret passes through leaves as they are (RFC 3986 unreserved,
# less "~", which Java's URLEncoder encodes).
_PLAIN = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._")
_JSON_SHORT = {
    '"': '\\"',
    "\\": "\\\\",
    "/": "\\/",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}


# Access tokens handed out recently, per (token_url, client_id), so that secret_values can
# redact them when an API echoes its Authorization header back.
_issued: Keyed[tuple[str, str], list[str]] = RUNTIME.keyed()
_ISSUED_PER_CLIENT = 4


def remember_issued_token(token_url: str, client_id: str, access_token: str) -> None:
    """An access token the token endpoint handed out: a secret from now on, like the client's."""
    seen = _issued.get((token_url, client_id), list)
    if access_token not in seen:
        seen.append(access_token)
        del seen[:-_ISSUED_PER_CLIENT]


def secret_header_names(connection: Connection) -> frozenset[str]:
    """The header names that carry `connection`'s credentials beyond `SENSITIVE_HEADERS`."""
    auth = connection.auth
    if isinstance(auth, ApiKeyAuth) and auth.location == "header":
        return frozenset((auth.name.lower(),))
    return frozenset()


def _is_secret_header(name: str, api_key_header: str | None) -> bool:
    """Whether a connection's own header `name` is a credential (`api_key_header`: the lowered
    header name its api_key auth sends, if any)."""
    lowered = name.lower()
    return lowered in SENSITIVE_HEADERS or lowered == api_key_header


def secret_values(connection: Connection, *, url: str | httpx.URL | None = None) -> set[str]:
    """Every credential of `connection`, and of `url`'s userinfo when the request URL has one.

    `redact` finds each value in every form it travels in, so only the plain values are listed
    here, plus the base64 `user:password` pairs that Basic authentication sends.
    """
    values: set[str] = set()
    for owner, name in SECRET_FIELDS:
        value = getattr(getattr(connection, owner, None), name, None)
        if isinstance(value, str):
            values.add(value)
    auth = connection.auth
    if isinstance(auth, BasicAuth):
        values.update(_basic_pair(auth.username, auth.password))
    elif isinstance(auth, OAuth2ClientCredentials | OAuth2AuthorizationCode):
        # Only the base64 form: the client id alone is not a secret.
        values.update(_basic_pair(auth.client_id, auth.client_secret)[1:])
        values.update(_issued.peek((auth.token_url, auth.client_id)) or ())
    # Credentials put straight into the connection's headers, or into a URL's userinfo, which
    # httpx sends as Basic authentication.
    api_key_header = next(iter(secret_header_names(connection)), None)
    values.update(v for k, v in connection.headers.items() if _is_secret_header(k, api_key_header))
    for with_userinfo in (connection.base_url, url, connection.proxy):
        if with_userinfo is not None and "@" in str(with_userinfo):
            values.update(_userinfo_values(with_userinfo))
    values.discard("")
    return values


# --- a connection's JSON as the builder API shows it ------------------------------------------


def mask_connection(data: Mapping[str, Any]) -> dict[str, Any]:
    """A connection's JSON (as stored: it need not be valid) with every credential as `***`.

    Every value at a `SECRET_FIELDS` path but null (null says "none set", which a builder may
    show), the value of each credential header, and the password of a URL's userinfo (the user,
    when a URL carries a token as its user alone). Everything else is kept as it is.
    """
    masked = dict(data)
    for owner, name in SECRET_FIELDS:
        part = masked.get(owner)
        if isinstance(part, Mapping) and part.get(name) is not None:
            masked[owner] = {**part, name: REDACTED}
    headers = masked.get("headers")
    if isinstance(headers, Mapping):
        secret = _api_key_header(masked)
        masked["headers"] = {
            key: REDACTED if _is_secret_header(str(key), secret) else value
            for key, value in headers.items()
        }
    for field in USERINFO_FIELDS:
        url = masked.get(field)
        if isinstance(url, str):
            masked[field] = _mask_userinfo(url)
    return masked


def restore_masked(
    edited: Mapping[str, Any], stored: Mapping[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """`edited` with each `***` that `mask_connection` put at a credential's place replaced by
    `stored`'s value there, and the paths (`auth.token`, `headers.Authorization`, `base_url`)
    of the `***`s with nothing to stand for: the stored connection has no such credential, or
    its auth is of another type, or the URL's user changed. A `***` anywhere else is a value.
    """
    restored = dict(edited)
    missing: list[str] = []
    for owner, name in SECRET_FIELDS:
        part = restored.get(owner)
        if not isinstance(part, Mapping) or part.get(name) != REDACTED:
            continue
        kept = stored.get(owner)
        same_shape = isinstance(kept, Mapping) and (
            owner != "auth" or kept.get("type") == part.get("type")
        )
        if same_shape and isinstance(kept, Mapping) and kept.get(name) is not None:
            restored[owner] = {**part, name: kept[name]}
        else:
            missing.append(f"{owner}.{name}")
    headers, kept_headers = restored.get("headers"), stored.get("headers")
    if isinstance(headers, Mapping):
        secret = _api_key_header(restored)
        by_name = (
            {str(key).lower(): value for key, value in kept_headers.items()}
            if isinstance(kept_headers, Mapping)
            else {}
        )
        new_headers = dict(headers)
        for key, value in headers.items():
            if value != REDACTED or not _is_secret_header(str(key), secret):
                continue
            if str(key).lower() in by_name:
                new_headers[key] = by_name[str(key).lower()]
            else:
                missing.append(f"headers.{key}")
        restored["headers"] = new_headers
    for field in USERINFO_FIELDS:
        url, kept_url = restored.get(field), stored.get(field)
        if not isinstance(url, str):
            continue
        unmasked = _restore_userinfo(url, kept_url if isinstance(kept_url, str) else None)
        if unmasked is None:
            missing.append(field)
        else:
            restored[field] = unmasked
    return restored, missing


def _api_key_header(data: Mapping[str, Any]) -> str | None:
    """The lowered header name an api_key auth in a connection's JSON sends its key in."""
    auth = data.get("auth")
    if not isinstance(auth, Mapping) or auth.get("type") != "api_key":
        return None
    location = auth.get("in", auth.get("location", "header"))
    name = auth.get("name")
    return name.lower() if location == "header" and isinstance(name, str) else None


def _mask_userinfo(url: str) -> str:
    match = _USERINFO.match(url)
    if match is None:
        return url
    # Without a password the user is the credential (https://TOKEN@host, as secret_values reads
    # it), and all of the userinfo is masked.
    user, _, password = match.group(2).partition(":")
    shown = f"{user}:{REDACTED}" if password else REDACTED
    return url[: match.start(2)] + shown + url[match.end(2) :]


def _restore_userinfo(url: str, stored: str | None) -> str | None:
    """`url` with a masked userinfo put back from `stored`; None when there is nothing to put
    back (no stored userinfo, or another user)."""
    match = _USERINFO.match(url)
    if match is None:
        return url
    user, colon, password = match.group(2).partition(":")
    if (password if colon else user) != REDACTED:
        return url
    kept = _USERINFO.match(stored) if stored is not None else None
    if kept is None:
        return None
    kept_user, kept_colon, _ = kept.group(2).partition(":")
    if colon and (not kept_colon or kept_user != user):
        return None
    return url[: match.start(2)] + kept.group(2) + url[match.end(2) :]


def _basic_pair(user: str, password: str) -> list[str]:
    """`user:password` and its base64 forms: UTF-8 as httpx sends it, latin-1 as Authlib does."""
    pair = f"{user}:{password}"
    encoded = [base64.b64encode(pair.encode()).decode()]
    with suppress(UnicodeEncodeError):
        encoded.append(base64.b64encode(pair.encode("latin-1")).decode())
    return [pair, *dict.fromkeys(encoded)]


def _userinfo_values(url: str | httpx.URL) -> list[str]:
    found = userinfo(url)
    if found is None:
        return []
    user, password = found
    if not password:
        # A token given as the user name (https://TOKEN@host) is the whole credential.
        return [user, *_basic_pair(user, "")[1:]] if user else []
    return [password, *_basic_pair(user, password)]


def redact(value: T, secrets: Collection[str]) -> T:
    """`value` with every secret replaced by `***`, walking dicts, lists and tuples.

    A secret is found in every form it travels in, alone or mixed within one occurrence: as it
    is, percent-encoded (either case of hex, "+" or "%20" for a space, UTF-8 or latin-1 bytes),
    JSON-escaped (`\\/`, `\\"`, `\\u00e9`) and as UTF-8 bytes read as latin-1. Dict keys are
    kept; strings, including those nested anywhere, are scrubbed.
    """
    if not secrets:
        return value
    matcher = _matcher(frozenset(secrets))
    if type(value) in (dict, list) and _holds_no_secret(cast(Any, value), matcher):
        return value
    return cast(T, _redact(value, matcher))


def _holds_no_secret(value: dict[Any, Any] | list[Any], matcher: _Matcher) -> bool:
    """No string anywhere in `value` holds a secret, shown on its JSON text in one pass: when
    the text has no escape, every string stands in it as it is, so a secret (whole, or a form
    the pattern knows) in any string is in the text too. A page of 100 records: one C-speed
    dump and one search instead of a walk that scrubs each string (benchmarks/README, "Fetch").
    False leaves it to the walk."""
    try:
        text = json.dumps(value, ensure_ascii=False, check_circular=False)
    except (TypeError, ValueError, RecursionError):
        return False
    if "\\" in text or any(secret in text for secret in matcher.whole):
        return False
    return matcher.pattern is None or matcher.pattern.search(text) is None


def redact_headers(
    headers: Mapping[str, str] | Iterable[tuple[str, str]], *, also: Iterable[str] = ()
) -> dict[str, str]:
    """Headers with credential-carrying values masked: the usual auth and cookie headers and
    the names in `also` (a connection's `secret_header_names`, a signature header)."""
    extra = {name.lower() for name in also}
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    return {
        name: REDACTED if _is_sensitive(name.lower(), extra) else value for name, value in pairs
    }


def _is_sensitive(lowered: str, extra: set[str]) -> bool:
    return lowered in SENSITIVE_HEADERS or lowered in extra


@dataclass(frozen=True)
class _Matcher:
    pattern: re.Pattern[str] | None
    whole: frozenset[str]
    # Every form of a secret is at least as long as the secret, so a shorter string holds none.
    shortest: int


@lru_cache(maxsize=256)
def _matcher(secrets: frozenset[str]) -> _Matcher:
    long_ones = sorted(
        (s for s in secrets if len(s) >= MIN_SUBSTRING_SECRET), key=len, reverse=True
    )
    # Longest first, so "user:pass" is replaced whole rather than leaving "user:" behind. Every
    # alternative starts with a literal character, so the regex engine skips ahead to the
    # characters a secret can start with instead of trying each alternative at every position.
    alternatives = [
        first + "".join(map(_group, map(_char_forms, secret[1:])))
        for secret in long_ones
        for first in _char_forms(secret[0])
    ]
    if not alternatives:
        return _Matcher(None, secrets, 0)
    return _Matcher(re.compile("|".join(alternatives)), secrets, len(long_ones[-1]))


def _group(forms: tuple[str, ...]) -> str:
    return forms[0] if len(forms) == 1 else f"(?:{'|'.join(forms)})"


@lru_cache(maxsize=1024)
def _char_forms(char: str) -> tuple[str, ...]:
    """The regex alternatives one character of a secret may be written as, each starting with a
    literal character."""
    if char in _PLAIN:
        return (re.escape(char),)
    utf8 = char.encode()
    forms = [*_json_forms(char), "".join(map(_percent, utf8))]
    if char == " ":
        forms.append(r"\+")
    if len(utf8) > 1:
        if ord(char) < 256:
            forms.append(_percent(ord(char)))
        # A WSGI server decodes header bytes as latin-1, so a UTF-8 "é" is echoed as "Ã©".
        misread = utf8.decode("latin-1")
        rest = "".join(_group(_json_forms(c)) for c in misread[1:])
        forms.extend(start + rest for start in _json_forms(misread[0]))
    return tuple(dict.fromkeys(forms))


def _json_forms(char: str) -> tuple[str, ...]:
    """`char` in a JSON string: as it is, `\\uXXXX` (either case) and a short escape if any."""
    code = ord(char)
    units = (
        [code] if code < 0x10000 else [0xD800 + ((code - 0x10000) >> 10), 0xDC00 + (code & 0x3FF)]
    )
    escaped = "".join(r"\\u" + _hex(unit >> 8) + _hex(unit & 0xFF) for unit in units)
    short = _JSON_SHORT.get(char)
    return (
        (re.escape(char), escaped)
        if short is None
        else (re.escape(char), escaped, re.escape(short))
    )


def _percent(byte: int) -> str:
    return "%" + _hex(byte)


def _hex(byte: int) -> str:
    """Two hex digits matching either case."""
    return "".join(f"[{d.lower()}{d}]" if d.isalpha() else d for d in f"{byte:02X}")


def _redact(value: Any, matcher: _Matcher) -> Any:
    # Exact types first: records and bodies are plain JSON values, and an isinstance check
    # against Mapping costs more than the rest of the walk.
    kind = type(value)
    if kind is str:
        return _scrub(value, matcher)
    if kind is dict:
        return {key: _redact(item, matcher) for key, item in value.items()}
    if kind is list:
        return [_redact(item, matcher) for item in value]
    if kind in _SCALARS:
        return value
    if isinstance(value, str):
        return _scrub(value, matcher)
    if isinstance(value, Mapping):
        return {key: _redact(item, matcher) for key, item in value.items()}
    if isinstance(value, list):
        return [_redact(item, matcher) for item in value]
    if isinstance(value, tuple):
        return tuple(_redact(item, matcher) for item in value)
    return value


_SCALARS = frozenset((int, float, bool, type(None)))


def _scrub(text: str, matcher: _Matcher) -> str:
    if text in matcher.whole:
        return REDACTED
    if matcher.pattern is None or len(text) < matcher.shortest:
        return text
    return matcher.pattern.sub(REDACTED, text)
