"""The errors apicall raises on purpose, each carrying the facts a user needs.

Library exceptions (httpx, pydantic, botocore) are translated into these once, at the adapter that
calls the library. `ApicallError.kind` is the Outcome's `error.kind`; the mapping from an error to a
route, an HTTP status or a batch failure lives in the module that answers (execute, api, delivery).
"""

from __future__ import annotations

import re
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

    def to_dict(self) -> dict[str, Any]:
        """The Outcome's `error` object."""
        return {"kind": self.kind, "message": self.message, "status": self.status}


class ConfigError(ApicallError):
    """A connection, request spec, job or event is invalid; `field` names where."""


class ConnectionNotFound(ConfigError):
    """No secret holds a connection of that name."""


class InvalidRequest(ConfigError):
    """The request cannot be built from its spec and values (a bad placeholder, a bad body)."""


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


def field_path(loc: tuple[int | str, ...]) -> str:
    """`('auth', 'token')` -> `auth.token`; `('query', 0, 1)` -> `query[0][1]`."""
    out = ""
    for part in loc:
        if isinstance(part, str) and _UNION_MEMBER.match(part):
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def config_error_from(
    exc: ValidationError, *, prefix: str = "", what: str = "config"
) -> ConfigError:
    """Translate a pydantic ValidationError into a ConfigError naming the first bad field.

    The message lists every problem; input values are left out because they may be secrets.
    """
    problems = []
    first_field = None
    for err in exc.errors(include_input=False, include_url=False):
        name = field_path(tuple(err["loc"]))
        if prefix:
            name = f"{prefix}.{name}" if name else prefix
        first_field = first_field or name or None
        problems.append(f"{name or '(root)'}: {err['msg']}")
    return ConfigError(f"invalid {what}: " + "; ".join(problems), field=first_field)
