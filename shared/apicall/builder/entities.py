"""Entities: named requests of a connection, saved in the caller's workspace (CatalogTable) by the
test API's `/connections/{name}/entities` routes and by `/discover` with `"save": true`.

An entity's `request` is a RequestSpec without `connection` (it is the connection the entity is
saved under) and without `entity`. It is checked as the RequestSpec it becomes, templates and
JSONPaths included, and stored as the caller wrote it: fields left at their default stay out, so
a spec naming the entity (`apicall.request.entities`) and later defaults both apply to it.

A connection exists in a workspace when the builder saved it (its CatalogTable metadata) or when
its secret exists: a connection created with the AWS CLI, or by `make serve` from a folder, has a
secret and no metadata, and gets entities like any other. Reading an entity needs no such check:
it was saved under a connection that existed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal, NoReturn

from pydantic import Field, ValidationError

from apicall.core import redaction
from apicall.core.catalog import CatalogStore, Entity, default_catalog_store
from apicall.core.connections import read_workspace_secret
from apicall.core.errors import ConfigError, InvalidRequest, NotFound, config_error_from
from apicall.core.models import ENTITY_PATTERN, MAX_ENTITY_CHARS, Contract, RequestSpec
from apicall.core.settings import get_settings
from apicall.core.store import DEFAULT_PAGE_LIMIT
from apicall.core.workspaces import scoped
from apicall.request.execute import check_spec

MAX_DESCRIPTION_CHARS = 2000
# What one /discover call saves at most: each entity is one PutItem within the API's 29 s.
MAX_SAVED_ENTITIES = 200

_REQUEST_DESCRIPTION = (
    "a RequestSpec without `connection` (the path names it) and without `entity`; `url` is "
    "relative to the connection's base_url or absolute"
)


# --- request bodies and answers -----------------------------------------------------------------


class EntityBody(Contract):
    """`POST /connections/{name}/entities`."""

    name: str = Field(min_length=1, max_length=MAX_ENTITY_CHARS, pattern=ENTITY_PATTERN)
    description: str | None = Field(None, max_length=MAX_DESCRIPTION_CHARS)
    request: dict[str, Any] = Field(description=_REQUEST_DESCRIPTION)


class EntityChanges(Contract):
    """`PUT /connections/{name}/entities/{entity}`: the request replaces the stored one; a
    description left out is kept, null clears it."""

    description: str | None = Field(None, max_length=MAX_DESCRIPTION_CHARS)
    request: dict[str, Any] = Field(description=_REQUEST_DESCRIPTION)


class EntityAnswer(Contract):
    """An Entity (docs/contracts.md)."""

    name: str
    connection: str
    description: str | None
    request: dict[str, Any]
    source: Literal["manual", "openapi"]
    updated_at: str


class EntityPage(Contract):
    items: list[EntityAnswer]
    next: str | None = Field(
        description="send it back as `next` for the next page; null at the end"
    )


# --- routes -------------------------------------------------------------------------------------


def create(
    workspace: str, connection: str, body: EntityBody, *, catalog: CatalogStore | None = None
) -> dict[str, Any]:
    """The Entity saved; 404 without the connection, 409 when the name is taken."""
    catalog = catalog if catalog is not None else default_catalog_store()
    require_connection(workspace, connection, catalog)
    request = stored_request(body.request, connection)
    entity = catalog.put_entity(
        workspace,
        connection,
        body.name,
        request=request,
        description=body.description,
        source="manual",
        mode="create",
    )
    return entity.to_dict()


def list_page(
    workspace: str,
    connection: str,
    *,
    limit: int = DEFAULT_PAGE_LIMIT,
    next_token: str | None = None,
    catalog: CatalogStore | None = None,
) -> dict[str, Any]:
    """One page of the connection's entities by name (one Query): `{"items", "next"}`."""
    catalog = catalog if catalog is not None else default_catalog_store()
    require_connection(workspace, connection, catalog)
    page = catalog.list_entities(workspace, connection, limit=limit, next_token=next_token)
    return {"items": [entity.to_dict() for entity in page.items], "next": page.next}


def get(
    workspace: str, connection: str, name: str, *, catalog: CatalogStore | None = None
) -> dict[str, Any]:
    catalog = catalog if catalog is not None else default_catalog_store()
    return _stored(workspace, connection, name, catalog).to_dict()


def update(
    workspace: str,
    connection: str,
    name: str,
    changes: EntityChanges,
    *,
    catalog: CatalogStore | None = None,
) -> dict[str, Any]:
    """The Entity with its request replaced (and its description, if given); its `source`
    stays where it came from."""
    catalog = catalog if catalog is not None else default_catalog_store()
    current = _stored(workspace, connection, name, catalog)
    request = stored_request(changes.request, connection)
    description = (
        changes.description if "description" in changes.model_fields_set else current.description
    )
    entity = catalog.put_entity(
        workspace,
        connection,
        name,
        request=request,
        description=description,
        source=current.source,
        mode="update",  # deleted meanwhile: 404, not created again
    )
    return entity.to_dict()


def delete(
    workspace: str, connection: str, name: str, *, catalog: CatalogStore | None = None
) -> None:
    catalog = catalog if catalog is not None else default_catalog_store()
    if not catalog.delete_entity(workspace, connection, name):
        _not_found(workspace, connection, name, catalog)


def save_discovered(
    workspace: str,
    connection: str,
    discovered: Sequence[Mapping[str, Any]],
    *,
    catalog: CatalogStore | None = None,
) -> tuple[list[str], list[dict[str, str]]]:
    """Save entities as `/discover` answers them in full (source `openapi`): the names saved, and
    a warning (`location`, `message`) for each that could not be.

    A name is the operation's (its operationId, else `METHOD /path`) in the entity alphabet:
    `GET /customers/{id}` is saved as `GET_customers_id`; two that come out the same get `_2`,
    `_3`. An entity of that name saved before, by hand or by an earlier import, is replaced.
    """
    check_save_count(len(discovered))
    catalog = catalog if catalog is not None else default_catalog_store()
    saved: list[str] = []
    warnings: list[dict[str, str]] = []
    taken: set[str] = set()
    for found in discovered:
        name = _unique(entity_name(str(found.get("name", ""))), taken)
        draft = {k: v for k, v in dict(found.get("request") or {}).items() if k != "connection"}
        summary = found.get("summary")
        try:
            catalog.put_entity(
                workspace,
                connection,
                name,
                request=stored_request(draft, connection),
                description=summary[:MAX_DESCRIPTION_CHARS] if isinstance(summary, str) else None,
                source="openapi",
                mode="upsert",
            )
        except ConfigError as exc:
            location = f"paths.{found.get('path')}.{str(found.get('method', '')).lower()}"
            warnings.append({"location": location, "message": f"not saved: {exc.message}"})
            continue
        saved.append(name)
    return saved, warnings


def check_save_count(count: int) -> None:
    """InvalidRequest naming `save` when more entities are chosen than one call saves."""
    if count > MAX_SAVED_ENTITIES:
        raise InvalidRequest(
            f"save: {count} entities chosen; choose at most {MAX_SAVED_ENTITIES} "
            "(entities, operation_ids, tag, path_prefix)",
            field="save",
        )


# --- helpers ------------------------------------------------------------------------------------


def require_connection(workspace: str, connection: str, catalog: CatalogStore) -> None:
    """NotFound (404, field `name`) unless the connection exists in the workspace: saved by the
    builder (one GetItem) or, without metadata, as a secret (see the module's docstring)."""
    if catalog.get_connection_meta(workspace, connection) is not None:
        return
    read_workspace_secret(
        scoped(workspace, connection),
        prefix=get_settings().connections_prefix,
        what=f"connection '{connection}'",
        field="name",
        not_found=NotFound,
    )


def stored_request(request: Mapping[str, Any], connection: str) -> dict[str, Any]:
    """An entity's request as stored, once it is valid as a RequestSpec of `connection`; a
    ConfigError naming the `request.` field at fault otherwise."""
    for key in ("connection", "entity"):
        if key in request:
            raise InvalidRequest(
                f"request.{key}: an entity's request names no {key} (the path names the "
                "connection)",
                field=f"request.{key}",
            )
    data = {**request, "connection": connection}
    try:
        spec = RequestSpec.model_validate(data)
    except ValidationError as exc:
        raise config_error_from(exc, data=data, prefix="request", what="request") from exc
    check_spec(spec)  # templates and JSONPaths: its fields are named `request.` already
    _refuse_credentials(spec)
    stored = spec.model_dump(mode="json", by_alias=True, exclude_unset=True)
    del stored["connection"]
    return stored


def _refuse_credentials(spec: RequestSpec) -> None:
    """An entity is stored as plain text in CatalogTable and read back by anyone in the
    workspace; credentials belong in the connection, whose secret fields are write-only."""
    found = redaction.userinfo(spec.url) if spec.url else None
    if found is not None and found[1]:
        raise InvalidRequest(
            "request.url: a password in the URL would be stored as plain text; "
            "put the credentials in the connection's auth",
            field="request.url",
        )
    for name, value in spec.headers.items():
        literal = "{" not in value  # a placeholder is filled at run time, from the values
        if name.lower() in redaction.SENSITIVE_HEADERS and literal:
            raise InvalidRequest(
                f"request.headers.{name}: a credential would be stored as plain text; "
                "put it in the connection's auth or headers, or send it as a placeholder",
                field=f"request.headers.{name}",
            )


def entity_name(text: str) -> str:
    """`text` in the entity alphabet (letters, digits, `_-.`, no `..`): every other run of
    characters becomes `_`."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", text)
    name = re.sub(r"\.{2,}", ".", name).strip("_.")[:MAX_ENTITY_CHARS].rstrip(".")
    return name or "entity"


def _unique(name: str, taken: set[str]) -> str:
    candidate, number = name, 1
    while candidate in taken:
        number += 1
        suffix = f"_{number}"
        candidate = name[: MAX_ENTITY_CHARS - len(suffix)] + suffix
    taken.add(candidate)
    return candidate


def _stored(workspace: str, connection: str, name: str, catalog: CatalogStore) -> Entity:
    entity = catalog.get_entity(workspace, connection, name)
    if entity is None:
        _not_found(workspace, connection, name, catalog)
    return entity


def _not_found(workspace: str, connection: str, name: str, catalog: CatalogStore) -> NoReturn:
    """Raise the 404 that says which of the two is missing: the connection, or its entity."""
    require_connection(workspace, connection, catalog)
    raise NotFound(f"connection '{connection}' has no entity '{name}'", field="entity")
