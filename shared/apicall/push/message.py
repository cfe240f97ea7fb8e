"""A push message and what it becomes on the wire: the parsed message, its request (record encoded
as JSON or a form, placeholders filled) and its Standard Webhooks signature."""

from __future__ import annotations

import dataclasses
import json
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from pydantic import ValidationError

from apicall.core.connections import check_name, read_workspace_secret
from apicall.core.errors import (
    ConfigError,
    InvalidMessage,
    InvalidRequest,
    config_error_from,
    parse_json_input,
)
from apicall.core.models import Connection, PushMessage, PushTarget, RequestSpec
from apicall.core.settings import Settings, get_settings
from apicall.core.workspaces import DEFAULT_WORKSPACE, scoped
from apicall.http import client
from apicall.request import templating

if TYPE_CHECKING:
    from standardwebhooks.webhooks import Webhook


def parse_message(body: str) -> PushMessage:
    """The Push message in an SQS body; raises InvalidMessage naming the field.

    Text with a lone surrogate and absurd nesting are refused here too: JSON allows both, and
    either would fail every attempt later, as an internal error retried ten times.
    """
    data = parse_json_input(body, field="body", what="the message body", error=InvalidMessage)
    if not isinstance(data, dict):
        raise InvalidMessage("the message body must be a JSON object", field="body")
    try:
        return PushMessage.model_validate(data)
    except ValidationError as exc:
        error = config_error_from(exc, data=data, what="push message")
        raise InvalidMessage(error.message, field=error.field) from exc


def encode_record(record: dict[str, Any], fmt: str) -> tuple[str, str]:
    """The body text and its content type; form values that are objects or lists go as JSON."""
    if fmt == "form":
        pairs = [(key, _form_value(value)) for key, value in record.items()]
        return urlencode(pairs), "application/x-www-form-urlencoded"
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False), "application/json"


def _form_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def _literal(text: str) -> str:
    # Push targets have no placeholders: braces are sent as they are written.
    return text.replace("{", "{{").replace("}", "}}")


@dataclasses.dataclass(frozen=True)
class Prepared:
    """Everything one attempt needs, built once per receive."""

    message: PushMessage
    http: client.ConnectionClient  # the target's connection, as this container sends with it
    request: client.OutgoingRequest  # without the webhook headers, which change per attempt
    body_text: str
    signer: Webhook | None
    secrets: frozenset[str]

    @property
    def target(self) -> PushTarget:
        return self.message.target

    @property
    def key(self) -> str:
        """What the per-target concurrency bound counts: the connection, or the host."""
        if self.target.connection:
            return f"connection:{self.target.connection}"
        return f"host:{urlsplit(self.request.url).netloc.lower()}"


def build_request(
    message: PushMessage, connection: Connection | None
) -> tuple[client.OutgoingRequest, str]:
    """The request for `message` (URL, connection query and headers, body), and its body text."""
    target = message.target
    spec = RequestSpec(
        connection=target.connection,
        method=target.method,
        url=_literal(target.url),
        headers={name: _literal(value) for name, value in target.headers.items()},
    )
    try:
        request = templating.render_request(spec, {}, None, connection)
    except InvalidRequest as exc:
        field = (exc.field or "").replace("request.", "target.", 1) or None
        raise InvalidMessage(exc.message.replace("request.", "target.", 1), field=field) from exc
    body_text, content_type = encode_record(message.record, target.format)
    if not any(name.lower() == "content-type" for name in request.headers):
        request.headers["Content-Type"] = content_type
    request.content = body_text.encode()
    return request, body_text


def signed_headers(
    message_id: str, body_text: str, signer: Webhook | None, *, now: float | None = None
) -> dict[str, str]:
    """`webhook-id` always; with a signer, Standard Webhooks `webhook-timestamp` and signature."""
    headers = {"webhook-id": message_id}
    if signer is not None:
        stamp = int(now if now is not None else time.time())
        headers["webhook-timestamp"] = str(stamp)
        headers["webhook-signature"] = signer.sign(
            message_id, datetime.fromtimestamp(stamp, tz=UTC), body_text
        )
    return headers


def read_signing_secret(
    name: str, settings: Settings | None = None, *, workspace: str = DEFAULT_WORKSPACE
) -> str:
    """The `whsec_` key in the secret `<SIGNING_SECRETS_PREFIX><workspace>/<name>` (plain, or
    JSON `key`); a default-workspace key may also be where it was before workspaces."""
    settings = settings or get_settings()
    try:
        check_name(name)
    except ConfigError as exc:
        raise InvalidMessage(exc.message, field="target.signing_secret") from exc
    raw = read_workspace_secret(
        scoped(workspace, name),
        prefix=settings.signing_secrets_prefix,
        what=f"signing secret '{name}'",
        field="target.signing_secret",
        not_found=InvalidMessage,
    )
    key = raw if isinstance(raw, str) else ""
    if key.lstrip().startswith("{"):
        try:
            key = str(json.loads(key).get("key", ""))
        except (ValueError, AttributeError):
            key = ""
    if not key.startswith("whsec_"):
        raise InvalidMessage(
            f"signing secret '{name}' must hold a whsec_ key (plain, or JSON {{\"key\": ...}})",
            field="target.signing_secret",
        )
    return key


def webhook_signer(key: str, name: str) -> Webhook:
    from standardwebhooks.webhooks import Webhook

    try:
        return Webhook(key)
    except Exception as exc:  # binascii.Error, EmptyWebhookSecretError
        raise InvalidMessage(
            f"signing secret '{name}' is not a valid whsec_ key", field="target.signing_secret"
        ) from exc
