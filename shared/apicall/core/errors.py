"""The errors apicall raises on purpose, each carrying the facts a user needs.

Library exceptions (httpx, pydantic, botocore) are translated into these once, at the adapter that
calls the library. `ApicallError.kind` is the Outcome's `error.kind`; the mapping from an error to a
route, an HTTP status or a batch failure lives in the module that answers (execute, api, delivery).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError


class ApicallError(Exception):
    """Base of every error apicall raises on purpose."""

    kind = "invalid_request"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        status: int | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status
        self.url = url
        # Requests sent before it was raised; set by the HTTP client, None when none was sent.
        self.attempts: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The Outcome's `error` object."""
        return {"kind": self.kind, "message": self.message, "status": self.status}


class ConfigError(ApicallError):
    """A connection, request spec, job or event is invalid; `field` names where."""


class ConnectionNotFound(ConfigError):
    """No secret holds a connection of that name."""


class EntityNotFound(ConfigError):
    """A RequestSpec names an entity its connection does not have: an `invalid_request` Outcome
    naming `request.entity`, a 404 in the test API (as ConnectionNotFound)."""


class SecretUnavailable(ConfigError):
    """A secret exists, or may, but could not be read now (throttled, access denied, an outage)."""


class InvalidRequest(ConfigError):
    """The request cannot be built from its spec and values (a bad placeholder, a bad body)."""


class NotFound(ConfigError):
    """No stored item of that name (a builder's connection metadata, an entity): HTTP 404."""

    kind = "not_found"


class AlreadyExists(ConfigError):
    """A create found an item of that name already stored: HTTP 409."""

    kind = "exists"


class InvalidMessage(ConfigError):
    """A Push message that can never be delivered as it is; it goes to the dead-letter queue."""


class BlockedURL(ApicallError):
    """The URL guard refused a target: private, loopback, link-local or metadata address."""

    kind = "blocked"


class AuthError(ApicallError):
    """Credentials could not be obtained or were refused (token endpoint, 401 after refresh)."""

    kind = "auth"


class UpstreamError(ApicallError):
    """The remote API could not be reached or answered badly."""

    kind = "connection"


class UpstreamTimeout(UpstreamError):
    """The request's total deadline or a socket timeout passed."""

    kind = "timeout"


class UpstreamConnectionError(UpstreamError):
    """The connection could not be made, or was reset."""

    kind = "connection"


class UpstreamSSLError(UpstreamError):
    """TLS failed: an untrusted or invalid certificate, or a handshake error."""

    kind = "ssl"


class UpstreamStatusError(UpstreamError):
    """The API answered with a status outside the success codes."""

    kind = "status"


class ResponseTooLarge(UpstreamError):
    """The response body (after decompression) exceeded the size cap."""

    kind = "too_large"


class InvalidResponse(UpstreamError):
    """The response could not be read as the expected format (not JSON, no list at a path)."""

    kind = "invalid_response"


class CapacityExceeded(UpstreamError):
    """The connection's pool or rate limit could not admit the request within its deadline."""

    kind = "connection"


class DeliveryInProgress(ApicallError):
    """Another invocation is delivering the same push message id right now."""

    kind = "in_progress"


class IdempotencyUnavailable(ApicallError):
    """The idempotency table could not be read or written, so nothing was sent."""

    kind = "idempotency"


class InternalError(ApicallError):
    """An unexpected exception; a push attempt that hits one is retried like any failure."""

    kind = "internal"


def aws_error_code(exc: BaseException | None) -> str | None:
    """The AWS error code of a botocore ClientError, possibly wrapped (by Powertools, say)."""
    while exc is not None:
        response = getattr(exc, "response", None)
        if isinstance(response, dict):
            return str(response.get("Error", {}).get("Code") or "") or None
        exc = exc.__cause__ or exc.__context__
    return None


# pydantic puts the member of a (non-discriminated) union it tried into an error's location, as a
# type expression: `('query', 'list[tuple[str, str]]', 0)`. Users know fields, not types.
_UNION_MEMBER = re.compile(r"^(str|int|float|bool|none|bytes|[a-z-]+\[.*\])$")
# What kind of input each spelling of a union member accepts, to tell the member the input meant.
_MEMBER_KINDS: tuple[tuple[str, tuple[type, ...]], ...] = (
    ("dict[", (dict,)),
    ("list[", (list, tuple)),
    ("tuple[", (list, tuple)),
    ("str", (str,)),
    ("int", (int,)),
    ("float", (int, float)),
    ("bool", (bool,)),
    ("none", (type(None),)),
)
_UNKNOWN: Any = object()
# Every tagged union of the contracts (auth, body, pagination) is discriminated by `type`.
_TAG = "type"


def field_path(loc: Sequence[int | str], data: Any = _UNKNOWN) -> str:
    """The input's own path to the field at a pydantic error location.

    `('auth', 'token')` -> `auth.token`; `('query', 0, 1)` -> `query[0][1]`. pydantic's locations
    also hold steps the input does not: the tag of a tagged union (`pagination.cursor.cursor_path`
    for `{"type": "cursor"}`) and the member of a plain union it tried (`query.list[...].0`).
    Walking `data` alongside keeps exactly the input's steps, so a key spelled like a type
    (`headers.str`) stays; without `data`, members are left out by their spelling.
    """
    return _walk(loc, data)[0]


def _walk(loc: Sequence[int | str], data: Any) -> tuple[str, bool]:
    """(path, whether the location's outermost union member is one the input is not)."""
    out = ""
    node, known, mismatched, outermost = data, data is not _UNKNOWN, False, True
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        if known:
            keep, node, known = _step(node, part, last)
            if keep is None:  # a tag
                continue
            if not keep:
                # Inner unions fail in every member alike (a scalar given an object); only the
                # outermost tells a member the input meant from one it did not.
                if outermost:
                    mismatched, outermost = _other_member(part, node), False
                continue
        elif isinstance(part, str) and _UNION_MEMBER.match(part):
            continue
        out += _segment(part, first=not out)
    return out, mismatched


def _step(node: Any, part: int | str, last: bool) -> tuple[bool | None, Any, bool]:
    """(keep the step, or None for a tag; the node below it; whether that node is known)."""
    if isinstance(node, dict):
        if isinstance(part, str) and not last and node.get(_TAG) == part:
            return None, node, True  # the tag pydantic names its chosen member by
        if part in node:
            return True, node[part], True
        # A missing field is the last step; any other unknown step is a union member.
        member = not last or (isinstance(part, str) and bool(_UNION_MEMBER.match(part)))
        return not member, node, True
    if isinstance(node, list | tuple) and isinstance(part, int):
        inside = 0 <= part < len(node)
        return True, node[part] if inside else _UNKNOWN, inside
    return isinstance(part, int), node, True


def _other_member(part: int | str, node: Any) -> bool:
    if not isinstance(part, str):
        return False
    for spelling, kinds in _MEMBER_KINDS:
        if part == spelling or (spelling.endswith("[") and part.startswith(spelling)):
            if kinds == (int,) and isinstance(node, bool):
                return True
            return not isinstance(node, kinds)
    return False


def _segment(part: int | str, *, first: bool) -> str:
    if isinstance(part, int):
        return f"[{part}]"
    # A field path ends up in message attributes and logs: keep it encodable, and visible.
    text = part if part.isascii() else part.encode("utf-8", "backslashreplace").decode()
    text = text or '""'
    return text if first else f".{text}"


def config_error_from(
    exc: ValidationError,
    *,
    data: Any = _UNKNOWN,
    prefix: str = "",
    what: str = "config",
) -> ConfigError:
    """Translate a pydantic ValidationError into a ConfigError naming the first bad field.

    With the validated `data`, fields are named as the input spells them, and what a plain
    union's other members expected (a dictionary, when the input is a list) is left out. The
    message lists every problem; input values are left out because they may be secrets.
    """
    problems = named_problems(
        exc.errors(include_input=False, include_url=False), data=data, prefix=prefix
    )
    first_field = next((name for name, _ in problems if name), None)
    message = "; ".join(f"{name or '(root)'}: {msg}" for name, msg in problems)
    return ConfigError(f"invalid {what}: {message}", field=first_field)


def named_problems(
    errors: Iterable[Mapping[str, Any]], *, data: Any = _UNKNOWN, prefix: str = ""
) -> list[tuple[str, str]]:
    """(field, message) of each pydantic error, fields named as in `config_error_from`, each
    problem once; errors of a union member the input is not are left out when others remain."""
    relevant: list[tuple[str, str]] = []
    other: list[tuple[str, str]] = []
    for err in errors:
        name, mismatched = _walk(tuple(err["loc"]), data)
        if prefix:
            name = f"{prefix}.{name}" if name else prefix
        problem = (name, str(err.get("msg", err.get("type"))))
        bucket = other if mismatched else relevant
        if problem not in bucket:
            bucket.append(problem)
    return relevant or other


# --- JSON input that validates but cannot be used ---------------------------------------------

# Deeper than any real record or job; well below where recursive readers (json, boto3's DynamoDB
# serializer, logging) hit Python's recursion limit.
MAX_INPUT_DEPTH = 100


def parse_json_input(
    text: str, *, field: str, what: str, error: type[ConfigError] = ConfigError
) -> Any:
    """`text` as JSON, checked with `check_json_input`; `error` naming `field` when it is not."""
    try:
        data = json.loads(text)
    except RecursionError as exc:
        raise error(f"{what} is nested too deeply to read", field=field) from exc
    except (ValueError, TypeError) as exc:
        raise error(f"{what} is not JSON: {exc}", field=field) from exc
    check_json_input(data, error=error, whole=field)
    return data


def check_json_input(
    data: Any,
    *,
    field: str = "",
    error: type[ConfigError] = ConfigError,
    whole: str | None = None,
) -> None:
    """Refuse what JSON carries but nothing can send or store: text with a lone surrogate
    (`"\\ud800"` parses, and then fails to encode) and nesting deeper than MAX_INPUT_DEPTH.

    `field` is where `data` sits in the input ("" for the whole document); the error names the
    value's own path, e.g. `record.name`, or `whole` when that is the document itself. Walks
    without recursion, in document order.
    """
    pending: list[tuple[Any, tuple[int | str, ...]]] = [(data, ())]
    while pending:
        node, loc = pending.pop()
        if isinstance(node, str):
            if not _encodable(node):
                where = _joined(field, loc) or whole
                raise error(f"{where or 'the input'} holds a lone surrogate", field=where)
            continue
        if not isinstance(node, dict | list):
            continue
        if len(loc) >= MAX_INPUT_DEPTH:
            # The member that holds the deep value, not a path a hundred steps long.
            where = _joined(field, loc[:2]) or whole
            raise error(
                f"{where or 'the input'} is nested deeper than {MAX_INPUT_DEPTH} levels",
                field=where,
            )
        if isinstance(node, dict):
            for key in node:
                if isinstance(key, str) and not _encodable(key):
                    where = _joined(field, (*loc, key))
                    raise error(f"the key {where} holds a lone surrogate", field=where)
            children: list[tuple[Any, int | str]] = [(v, k) for k, v in node.items()]
        else:
            children = [(v, i) for i, v in enumerate(node)]
        pending.extend((value, (*loc, step)) for value, step in reversed(children))


def _encodable(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _joined(field: str, loc: tuple[int | str, ...]) -> str:
    out = field
    for part in loc:
        out += _segment(part, first=not out)
    return out
