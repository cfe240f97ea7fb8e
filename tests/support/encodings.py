"""The forms a credential travels in, for tests that prove none of them survives redaction.

Each form is what a real encoder produces: urllib's quote and quote_plus (upper case hex) and the
lower-case hex some servers and JavaScript libraries emit, httpx's query and userinfo encoding,
json.dumps with and without ensure_ascii (and the `\\/` escape PHP and others add), the UTF-8
bytes a WSGI server decodes as latin-1, the latin-1 percent-encoding of older form encoders, and
the base64 `user:password` of Basic auth.
"""

from __future__ import annotations

import base64
import json
import re
from contextlib import suppress
from urllib.parse import quote, quote_plus

import httpx
from werkzeug.urls import uri_to_iri


def _lower_hex(text: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), text)


def _json(text: str, *, ascii_only: bool) -> str:
    return json.dumps(text, ensure_ascii=ascii_only)[1:-1]


def forms(secret: str) -> dict[str, str]:
    """Every distinct form of one secret, by name (a form equal to an earlier one is left out)."""
    query = str(httpx.URL("http://h/", params={"k": secret}).query, "ascii")[2:]
    found = {
        "raw": secret,
        "percent": quote(secret, safe=""),
        "percent-lower": _lower_hex(quote(secret, safe="")),
        "percent-path": quote(secret),  # keeps "/"
        "form": quote_plus(secret, safe=""),
        "form-lower": _lower_hex(quote_plus(secret, safe="")),
        "httpx-query": query,
        # How a WSGI server shows the URL it was sent: reserved characters kept encoded, the rest
        # decoded.
        "iri": uri_to_iri(f"http://h/?k={query}").split("?k=", 1)[1],
        "json-ascii": _json(secret, ascii_only=True),
        "json-unicode": _json(secret, ascii_only=False),
        "json-slash": _json(secret, ascii_only=True).replace("/", "\\/"),
        "json-upper-hex": re.sub(
            r"\\u([0-9a-f]{4})",
            lambda m: "\\u" + m.group(1).upper(),
            _json(secret, ascii_only=True),
        ),
        "latin-1-mojibake": secret.encode().decode("latin-1"),
    }
    with suppress(UnicodeEncodeError):
        found["percent-latin-1"] = quote(secret, safe="", encoding="latin-1")
    distinct: dict[str, str] = {}
    for name, value in found.items():
        if value not in distinct.values():
            distinct[name] = value
    return distinct


def pair_forms(user: str, password: str) -> dict[str, str]:
    """The forms only a `user:password` pair has: Basic auth's base64 and URL userinfo."""
    pair = f"{user}:{password}"
    found = {
        "base64-pair": base64.b64encode(pair.encode()).decode(),
        "userinfo": f"{quote(user, safe='')}:{quote(password, safe='')}@",
    }
    with suppress(UnicodeEncodeError):
        # Authlib encodes client_secret_basic as latin-1.
        found["base64-pair-latin-1"] = base64.b64encode(pair.encode("latin-1")).decode()
    return found
