"""A third-party API that gives back every credential it is sent, in every form it can travel in.

It answers as badly behaved APIs do: the request's headers, query and URL as it saw them, and each
credential it recognised in the request (an API key in a header or the query, Basic or Bearer
authorization, a Standard Webhooks signature) listed in every form of tests/support/encodings.py,
in the JSON answer, in its records and in response headers. A Bearer token it issued itself also
brings back the OAuth client's secret and refresh token, as a token introspection answer does.

Routes: `/token` (OAuth 2.0 token endpoint), `/fail` (401), `/hooks/<n>` (push target: the first
delivery of a webhook id answers 500 with the n-th slice of the echo, which push keeps as its
response excerpt, or `/hooks/pad-<n>` with n characters before it; later deliveries answer 200),
anything else 200.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from collections import Counter
from dataclasses import dataclass, field

from werkzeug.wrappers import Request, Response

from tests.support.encodings import forms, pair_forms

# What push keeps of an answer is 500 characters; a slice leaves room for the separators.
SLICE_CHARS = 450


@dataclass(frozen=True)
class OAuthClient:
    client_id: str
    client_secret: str
    access_token: str
    refresh_token: str | None = None


@dataclass
class EchoAPI:
    clients: tuple[OAuthClient, ...] = ()
    api_key_header: str = "X-Api-Token"
    api_key_param: str = "api_key"
    signing_key: str | None = None
    # Every credential the API recognised, as (user, secret); user is None for a lone token.
    seen: set[tuple[str | None, str]] = field(default_factory=set)
    # (index asked for, number of slices) of each first delivery of a webhook
    slices_served: list[tuple[int, int]] = field(default_factory=list)
    _deliveries: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: Request) -> Response:
        if request.path == "/token":
            return self._token(request)
        credentials = self.credentials_in(request)
        with self._lock:
            self.seen.update(credentials)
        echoed = [form for user, secret in credentials for form in every_form(user, secret)]
        if request.path.startswith("/hooks/"):
            return self._hook(request, echoed)
        status = 401 if request.path == "/fail" else 200
        echo = {
            "headers": dict(request.headers),
            "query": request.args.to_dict(),
            "raw_query": request.query_string.decode("latin-1"),
            "url": request.url,
            "body": request.get_data(as_text=True),
            "credentials": echoed,
        }
        answer = {
            **echo,
            "data": [
                {"id": "1", "echo": echo},
                *({"id": str(n + 2), "credential": form} for n, form in enumerate(echoed)),
            ],
        }
        headers = {
            "X-Echo-Authorization": request.headers.get("Authorization", ""),
            "X-Echo-Query": answer["raw_query"],
            "X-Echo-Credentials": " | ".join(_latin_1_safe(echoed)),
        }
        return Response(json.dumps(answer), status, headers, mimetype="application/json")

    def credentials_in(self, request: Request) -> set[tuple[str | None, str]]:
        found: set[tuple[str | None, str]] = set()
        authorization = _as_sent(request.headers.get("Authorization", ""))
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(value).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                pass
            else:
                found.add((user, password) if password else (None, user))
        elif scheme.lower() == "bearer" and value:
            found.add((None, value))
            for client in self.clients:
                if client.access_token == value:
                    found.add((client.client_id, client.client_secret))
                    if client.refresh_token:
                        found.add((None, client.refresh_token))
        if self.api_key_header in request.headers:
            found.add((None, _as_sent(request.headers[self.api_key_header])))
        if self.api_key_param in request.args:
            found.add((None, request.args[self.api_key_param]))
        if self.signing_key and "webhook-signature" in request.headers:
            found.add((None, self.signing_key))
        return found

    def _token(self, request: Request) -> Response:
        grant = request.form.get("grant_type")
        for client in self.clients:
            if (
                grant == "refresh_token"
                and request.form.get("refresh_token") == client.refresh_token
            ):
                break
            if grant == "client_credentials" and client.refresh_token is None:
                break
        else:
            return Response(
                json.dumps({"error": "invalid_grant"}), 400, mimetype="application/json"
            )
        body = {"access_token": client.access_token, "token_type": "Bearer", "expires_in": 3600}
        return Response(json.dumps(body), mimetype="application/json")

    def _hook(self, request: Request, echoed: list[str]) -> Response:
        webhook_id = request.headers.get("webhook-id", "")
        with self._lock:
            first = self._deliveries[webhook_id] == 0
            self._deliveries[webhook_id] += 1
        if not first:
            return Response("ok", 200)
        tail = request.path.rsplit("/", 1)[1]
        if tail.startswith("pad-"):  # the first credential as sent, after `pad-<n>` filler
            return Response("x" * int(tail[4:]) + echoed[0], 500)
        index = int(tail)
        slices = slice_forms(echoed)
        with self._lock:
            self.slices_served.append((index, len(slices)))
        return Response(slices[index] if index < len(slices) else "", 500)


def every_form(user: str | None, secret: str) -> list[str]:
    """The secret's forms, plus Basic auth's and URL userinfo's when it came with a user."""
    found = list(forms(secret).values())
    if user is not None:
        found.extend(pair_forms(user, secret).values())
    return found


def slice_forms(echoed: list[str]) -> list[str]:
    """The echo cut into slices of whole forms, each short enough to be kept whole by push."""
    slices: list[str] = []
    current = ""
    for form in echoed:
        if current and len(current) + 3 + len(form) > SLICE_CHARS:
            slices.append(current)
            current = ""
        current = f"{current} | {form}" if current else form
    if current:
        slices.append(current)
    return slices


def _as_sent(header_value: str) -> str:
    """A header as the client sent it: WSGI servers decode header bytes as latin-1."""
    try:
        return header_value.encode("latin-1").decode()
    except (UnicodeEncodeError, UnicodeDecodeError):
        return header_value


def _latin_1_safe(values: list[str]) -> list[str]:
    safe = []
    for value in values:
        try:
            value.encode("latin-1")
        except UnicodeEncodeError:
            continue
        safe.append(value)
    return safe
