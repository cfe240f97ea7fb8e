"""Connection config from Secrets Manager: one secret `<CONNECTIONS_PREFIX><workspace>/<name>` per
connection.

A connection of the default workspace may also live at `<CONNECTIONS_PREFIX><name>`, where it was
before workspaces existed, if its name has no `/` (a nested legacy name could be another
workspace's secret). Functions name a connection by `workspaces.scoped(workspace, name)`.

Secrets are read through Powertools Parameters, which caches each value per container for
`SECRETS_MAX_AGE_S`; its boto3 client is created on first use. Nothing here ever puts a secret's
content into an error message or a log.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError

from apicall.core.errors import (
    AlreadyExists,
    ConfigError,
    ConnectionNotFound,
    SecretUnavailable,
    aws_error_code,
    config_error_from,
)
from apicall.core.models import Connection
from apicall.core.runtime import RUNTIME, Keyed
from apicall.core.settings import get_settings
from apicall.core.workspaces import DEFAULT_WORKSPACE, check_workspace, scoped, unscoped

# Letters, digits and _-./; no leading or trailing slash (the prefix already ends in one).
_NAME = re.compile(r"^(?!/)[A-Za-z0-9_\-./]{1,256}(?<!/)$")


def load_connection(name: str, *, fresh: bool = False) -> Connection:
    """The validated connection `name` (`scoped(workspace, name)`); `fresh=True` bypasses the
    per-container cache."""
    return _validate(name, _read(name, fresh=fresh))


def connection_for(
    name: str,
    *,
    field: str,
    loader: Callable[[str], Connection] = load_connection,
    workspace: str = DEFAULT_WORKSPACE,
) -> Connection:
    """The connection an input names at `field` (`request.connection`, `target.connection`), in
    the input's workspace.

    Whatever is wrong with it (no such secret, a bad name, content that is not a valid
    connection) is reported at `field`, the input's own field; the message says what.
    """
    try:
        return loader(scoped(workspace, check_name(name)))
    except ConfigError as exc:
        raise type(exc)(exc.message, field=field) from exc


def update_connection(name: str, changes: Mapping[str, Any]) -> Connection:
    """Merge `changes` deeply into the stored connection, validate it and write it back.

    Reads the secret fresh so a change made by another container is not overwritten with a
    stale copy. The secret keeps the caller's own spelling (aliases such as `in`), because the
    merge works on the stored JSON rather than on a re-serialised model.
    """
    merged = deep_merge(_read(name, fresh=True), changes)
    connection = _validate(name, merged)
    _write(name, merged)
    return connection


def read_connection_data(name: str, *, fresh: bool = False) -> dict[str, Any]:
    """The stored JSON object of connection `name` (`scoped(workspace, name)`), as written and
    not validated: what the builder API shows (masked) and edits."""
    return _read(name, fresh=fresh)


def create_connection(name: str, data: Mapping[str, Any]) -> Connection:
    """Validate `data` and store it as the new connection `name` at its workspace's place.

    AlreadyExists (field `name`) when a secret holds that name there, or, in the default
    workspace, at the place connections had before workspaces (a read would find that one).
    """
    connection = _validate(name, data)
    legacy = _legacy_secret_name(name, get_settings().connections_prefix)
    if legacy is not None and _secret_exists(legacy, name):
        raise AlreadyExists(f"{_what(name)} already exists", field="name")
    secret_id = secret_name(name)
    try:
        _secrets_provider().client.create_secret(
            Name=secret_id,
            SecretString=json.dumps(data),
            Description="apicall connection",
        )
    except Exception as exc:
        code = aws_error_code(exc)
        if code == "ResourceExistsException":
            raise AlreadyExists(f"{_what(name)} already exists", field="name") from exc
        raise ConfigError(
            f"{_what(name)} could not be created ({code or type(exc).__name__})", field="name"
        ) from exc
    _found_at.put((get_settings().connections_prefix, name), secret_id)
    return connection


def replace_connection(name: str, data: Mapping[str, Any]) -> Connection:
    """Validate `data` and write it as connection `name`'s whole content, where it is stored;
    ConnectionNotFound when no secret holds it (a replace never creates one)."""
    connection = _validate(name, data)
    _write(name, data)
    return connection


def delete_connection(name: str) -> bool:
    """Delete every secret that holds connection `name` (its workspace's place and, in the
    default workspace, its place from before workspaces, which a read would fall back to);
    whether there was one.

    At once, without a recovery window: a secret scheduled for deletion keeps its name taken
    (CreateSecret refuses it for 7 to 30 days) and answers reads with an error other than "not
    found", so a connection deleted and created again under the same name would fail in both.
    """
    prefix = get_settings().connections_prefix
    client = _secrets_provider().client
    deleted = False
    for secret_id in filter(None, (secret_name(name, prefix), _legacy_secret_name(name, prefix))):
        # A forced delete of a secret that does not exist succeeds: look first.
        if not _secret_exists(secret_id, name):
            continue
        try:
            client.delete_secret(SecretId=secret_id, ForceDeleteWithoutRecovery=True)
        except Exception as exc:
            code = aws_error_code(exc)
            if code == "ResourceNotFoundException":
                continue
            raise ConfigError(
                f"{_what(name)} could not be deleted ({code or type(exc).__name__})", field="name"
            ) from exc
        deleted = True
        _forget_secret(secret_id)
    return deleted


def _secret_exists(secret_id: str, name: str) -> bool:
    try:
        _secrets_provider().client.describe_secret(SecretId=secret_id)
    except Exception as exc:
        code = aws_error_code(exc)
        if code == "ResourceNotFoundException":
            return False
        raise SecretUnavailable(
            f"{_what(name)} could not be looked up ({code or type(exc).__name__})", field="name"
        ) from exc
    return True


def check_name(name: str) -> str:
    """Refuse names that could reach outside the connections prefix or are not secret names."""
    if not isinstance(name, str) or not _NAME.match(name) or ".." in name or "//" in name:
        raise ConfigError(
            f"invalid connection name {str(name)[:80]!r}: use letters, digits and _-./ "
            "(no '..', no empty path segment)",
            field="connection",
        )
    return name


def secret_name(name: str, prefix: str | None = None) -> str:
    """Where the secret `name` (`scoped(workspace, name)`) is stored from now on; `prefix` is
    the connections' unless given."""
    workspace, plain = unscoped(name)
    prefix = get_settings().connections_prefix if prefix is None else prefix
    return f"{prefix}{check_workspace(workspace)}/{check_name(plain)}"


def _legacy_secret_name(name: str, prefix: str) -> str | None:
    """Where a default-workspace secret was stored before workspaces, if it can be there."""
    workspace, plain = unscoped(name)
    if workspace != DEFAULT_WORKSPACE or "/" in plain:
        return None
    return prefix + check_name(plain)


# (prefix, scoped name) -> the secret id it was found at, so a secret at its legacy place costs
# one failed lookup per container, not one per request.
_found_at: Keyed[tuple[str, str], str] = RUNTIME.keyed()


def stored_secret_name(name: str, prefix: str | None = None) -> str:
    """The secret id holding `name`: where it was last found, else its workspace's place."""
    prefix = get_settings().connections_prefix if prefix is None else prefix
    return _found_at.peek((prefix, name)) or secret_name(name, prefix)


def read_workspace_secret(
    name: str,
    *,
    prefix: str,
    what: str,
    field: str,
    not_found: type[ConfigError] = ConnectionNotFound,
    fresh: bool = False,
) -> Any:
    """The secret `name` (`scoped(workspace, name)`) under `prefix`: at
    `<prefix><workspace>/<name>`, or for the default workspace at `<prefix><name>`."""
    known = _found_at.peek((prefix, name))
    places = [known] if known else []
    places += [p for p in (secret_name(name, prefix), _legacy_secret_name(name, prefix)) if p]
    for place in dict.fromkeys(places):
        try:
            raw = read_secret(place, what=what, field=field, not_found=_Absent, fresh=fresh)
        except _Absent:
            continue
        _found_at.put((prefix, name), place)
        return raw
    raise not_found(f"{what} does not exist", field=field)


class _Absent(ConfigError):
    """A place a secret is not at (it may be at the next one)."""


def deep_merge(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """A new dict: `changes` over `base`, merging nested objects instead of replacing them."""
    merged = dict(base)
    for key, value in changes.items():
        current = merged.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            merged[key] = deep_merge(current, value)
        else:
            merged[key] = value
    return merged


def _read(name: str, *, fresh: bool) -> dict[str, Any]:
    prefix = get_settings().connections_prefix
    raw = read_workspace_secret(
        name, prefix=prefix, what=_what(name), field="connection", fresh=fresh
    )
    return _parse(name, raw)


def _what(name: str) -> str:
    return f"connection '{unscoped(name)[1]}'"


def read_secret(
    secret_id: str,
    *,
    what: str,
    field: str,
    not_found: type[ConfigError] = ConnectionNotFound,
    fresh: bool = False,
) -> Any:
    """A secret's value through Powertools Parameters (cached), AWS errors made ConfigErrors.

    `what` names the secret in messages ("connection 'crm'"); a missing secret raises
    `not_found`.
    """
    from aws_lambda_powertools.utilities import parameters

    try:
        return parameters.get_secret(
            secret_id, force_fetch=fresh, max_age=get_settings().secrets_max_age_s
        )
    except parameters.exceptions.GetParameterError as exc:
        code = aws_error_code(exc)
        if code == "ResourceNotFoundException":
            raise not_found(f"{what} does not exist", field=field) from exc
        # The botocore message can quote the secret's ARN but never its value; the code is enough.
        raise SecretUnavailable(
            f"{what} could not be read ({code or type(exc).__name__})", field=field
        ) from exc


def _parse(name: str, raw: Any) -> dict[str, Any]:
    if isinstance(raw, bytes):
        raise ConfigError(
            f"{_what(name)} must be a JSON object in SecretString, not SecretBinary",
            field="connection",
        )
    try:
        data = json.loads(raw)
    except (TypeError, ValueError):
        # json's message quotes a window of the text, which is the secret itself: leave it out.
        data = None
    if not isinstance(data, dict):
        raise ConfigError(f"{_what(name)} is not a JSON object", field="connection")
    return data


def _validate(name: str, data: Mapping[str, Any]) -> Connection:
    try:
        return Connection.model_validate(data)
    except ValidationError as exc:
        raise config_error_from(exc, data=data, prefix="connection", what=_what(name)) from exc


def _write(name: str, data: Mapping[str, Any]) -> None:
    from aws_lambda_powertools.utilities import parameters

    secret_id = stored_secret_name(name)
    provider = _secrets_provider()
    try:
        # put_secret_value, not set_secret: a connection that vanished must not be re-created.
        provider.client.put_secret_value(SecretId=secret_id, SecretString=json.dumps(data))
    except Exception as exc:
        code = aws_error_code(exc)
        if code == "ResourceNotFoundException":
            raise ConnectionNotFound(f"{_what(name)} does not exist", field="connection") from exc
        raise ConfigError(
            f"{_what(name)} could not be updated ({code or type(exc).__name__})",
            field="connection",
        ) from exc
    # Re-read so this container's cached copy is the new value at once.
    parameters.get_secret(secret_id, force_fetch=True, max_age=get_settings().secrets_max_age_s)


def _forget_secret(secret_id: str) -> None:
    """Drop this container's cached copy of one secret (Powertools keys its cache by name
    first), so a deleted connection is not served from memory."""
    store = getattr(_secrets_provider(), "store", {})
    for key in [key for key in store if key and key[0] == secret_id]:
        store.pop(key, None)


def _forget_secrets() -> None:
    from aws_lambda_powertools.utilities import parameters

    parameters.clear_caches()


# Powertools keeps the secrets it read (for SECRETS_MAX_AGE_S) and its provider: a new container
# starts without them.
RUNTIME.on_reset(_forget_secrets)


def _secrets_provider() -> Any:
    """Powertools' default Secrets Manager provider: one boto3 client per container, shared
    with `get_secret`, and dropped with its cache by `RUNTIME.reset()`."""
    from aws_lambda_powertools.utilities.parameters import secrets
    from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS

    if "secrets" not in DEFAULT_PROVIDERS:
        DEFAULT_PROVIDERS["secrets"] = secrets.SecretsProvider()
    return DEFAULT_PROVIDERS["secrets"]
