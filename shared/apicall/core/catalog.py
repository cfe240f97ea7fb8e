"""CatalogTable: what a builder saves (connection metadata, entities) and which workspace an API
key works in.

One table, string keys `pk` and `sk`, no TTL (nothing in it expires); item families:

    ws#<workspace>        sk connection#<name>              a connection's metadata
    ws#<workspace>        sk entity#<connection>#<entity>   an entity (a named request)
    apikey#<api key id>   sk workspace                      {"workspace": ...}

A connection's config and secrets stay in Secrets Manager (apicall.core.connections); this holds
what the builder shows beside it. A workspace's items share one partition, so each list is one
Query per page (apicall.core.store.query_page) and its `next` token cannot leave the workspace.
Connection and entity names never hold `#`: the key of connection `a` must not be a prefix of
another connection's entity keys.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from apicall.core.errors import (
    AlreadyExists,
    ConfigError,
    InvalidRequest,
    NotFound,
    aws_error_code,
)
from apicall.core.runtime import RUNTIME
from apicall.core.store import (
    DEFAULT_PAGE_LIMIT,
    MAX_ITEM_BYTES,
    Page,
    catalog_table,
    from_dynamo,
    item_size,
    query_page,
    to_dynamo,
)
from apicall.core.workspaces import DEFAULT_WORKSPACE, check_workspace

EntitySource = Literal["manual", "openapi"]
# create: refuse a name already stored (AlreadyExists); update: refuse a name not stored
# (NotFound); upsert: either (what /discover's save does).
PutMode = Literal["create", "update", "upsert"]

_MAX_NAME_CHARS = 256
_MISSING = object()


@dataclass(frozen=True)
class ConnectionMeta:
    """What the builder keeps about a connection beside its secret."""

    name: str
    display_name: str | None
    description: str | None
    created_at: str
    updated_at: str

    def to_dict(self) -> dict[str, Any]:
        """ConnectionView's fields less `connection` (docs/contracts.md)."""
        return {
            "name": self.name,
            "display_name": self.display_name,
            "description": self.description,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


@dataclass(frozen=True)
class Entity:
    """A named request of a connection: a RequestSpec without `connection`."""

    name: str
    connection: str
    description: str | None
    request: dict[str, Any]
    source: EntitySource
    updated_at: str

    def to_dict(self) -> dict[str, Any]:
        """The Entity contract (docs/contracts.md)."""
        return {
            "name": self.name,
            "connection": self.connection,
            "description": self.description,
            "request": self.request,
            "source": self.source,
            "updated_at": self.updated_at,
        }


def workspace_key(workspace: str) -> str:
    return f"ws#{check_workspace(workspace)}"


def connection_sk(name: str) -> str:
    return f"connection#{_name(name, 'name')}"


def entity_sk(connection: str, name: str) -> str:
    return f"{entities_prefix(connection)}{_name(name, 'entity')}"


def entities_prefix(connection: str) -> str:
    return f"entity#{_name(connection, 'name')}#"


def api_key_pk(api_key_id: str) -> str:
    return f"apikey#{api_key_id}"


def _name(name: Any, field: str) -> str:
    """`name` if it can be part of a key: 1-256 characters, no `#`, no control character."""
    if (
        not isinstance(name, str)
        or not 0 < len(name) <= _MAX_NAME_CHARS
        or "#" in name
        or not name.isprintable()
    ):
        raise InvalidRequest(
            f"invalid name {str(name)[:80]!r}: use 1-{_MAX_NAME_CHARS} printable characters "
            "without '#'",
            field=field,
        )
    return name


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class CatalogStore:
    """Typed access to CatalogTable's item families.

    Reads that return one item answer None when it is absent; deletes answer whether it was
    there; a create of a stored name raises AlreadyExists and an update of a name not stored
    raises NotFound, each in the same call that writes (a conditional write, no read first).
    Errors name the field as the test API's routes spell it: the connection `name`, the
    `entity` of a path, the `name` of an entity being created.
    """

    def __init__(self, table: Any | None = None, *, clock: Callable[[], str] = _now) -> None:
        self._table = table
        self._clock = clock

    @property
    def table(self) -> Any:
        if self._table is None:
            self._table = catalog_table()
        return self._table

    # connection metadata ----------------------------------------------------------------------

    def put_connection_meta(
        self,
        workspace: str,
        name: str,
        *,
        display_name: str | None = None,
        description: str | None = None,
    ) -> ConnectionMeta:
        """Create the metadata of connection `name`; AlreadyExists if it is stored."""
        now = self._clock()
        meta = ConnectionMeta(name, display_name, description, created_at=now, updated_at=now)
        created = self._conditional(
            "put_item",
            Item={"pk": workspace_key(workspace), "sk": connection_sk(name), **meta.to_dict()},
            ConditionExpression="attribute_not_exists(pk)",
        )
        if created is None:
            raise AlreadyExists(f"connection '{name}' already exists", field="name")
        return meta

    def get_connection_meta(self, workspace: str, name: str) -> ConnectionMeta | None:
        item = self._get(workspace_key(workspace), connection_sk(name))
        return _connection_meta(item) if item else None

    def list_connections(
        self, workspace: str, *, limit: int = DEFAULT_PAGE_LIMIT, next_token: str | None = None
    ) -> Page[ConnectionMeta]:
        """One page of the workspace's connections, by name."""
        page = query_page(
            self.table,
            workspace_key(workspace),
            sk_prefix="connection#",
            limit=limit,
            next_token=next_token,
        )
        return Page([_connection_meta(item) for item in page.items], page.next)

    def update_connection_meta(
        self,
        workspace: str,
        name: str,
        *,
        display_name: Any = _MISSING,
        description: Any = _MISSING,
    ) -> ConnectionMeta:
        """Change the fields given (None clears one) and `updated_at`; NotFound if `name` is not
        stored."""
        changes: dict[str, Any] = {"updated_at": self._clock()}
        if display_name is not _MISSING:
            changes["display_name"] = display_name
        if description is not _MISSING:
            changes["description"] = description
        names = {f"#f{i}": field for i, field in enumerate(changes)}
        values = {f":v{i}": value for i, value in enumerate(changes.values())}
        answer = self._conditional(
            "update_item",
            Key={"pk": workspace_key(workspace), "sk": connection_sk(name)},
            UpdateExpression="SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(changes))),
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )
        if answer is None:
            raise NotFound(f"connection '{name}' does not exist", field="name")
        return _connection_meta(from_dynamo(answer["Attributes"]))

    def delete_connection_meta(self, workspace: str, name: str) -> bool:
        """Delete the connection's entities, then its metadata; whether the metadata was there.

        Entities go first: a delete that fails half way leaves a connection that can be deleted
        again, not entities no route reaches that a new connection of that name would inherit.
        """
        pk = workspace_key(workspace)
        prefix = entities_prefix(name)
        with self.table.batch_writer() as batch:  # 25 per request; unprocessed ones resent
            query: dict[str, Any] = {
                "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
                "ExpressionAttributeValues": {":pk": pk, ":prefix": prefix},
                "ProjectionExpression": "pk, sk",
                "ConsistentRead": True,
            }
            while True:
                answer = self.table.query(**query)
                for key in answer.get("Items", []):
                    batch.delete_item(Key={"pk": key["pk"], "sk": key["sk"]})
                if "LastEvaluatedKey" not in answer:
                    break
                query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
        return self._delete(pk, connection_sk(name))

    # entities ---------------------------------------------------------------------------------

    def put_entity(
        self,
        workspace: str,
        connection: str,
        name: str,
        *,
        request: Mapping[str, Any],
        description: str | None = None,
        source: EntitySource = "manual",
        mode: PutMode = "upsert",
    ) -> Entity:
        """Store entity `name` of `connection` (see PutMode); InvalidRequest naming `request`
        when DynamoDB cannot hold it (over 400 KB, nested too deeply)."""
        entity = Entity(name, connection, description, dict(request), source, self._clock())
        item = to_dynamo(
            {"pk": workspace_key(workspace), "sk": entity_sk(connection, name), **entity.to_dict()}
        )
        if item_size(item) > MAX_ITEM_BYTES:
            raise InvalidRequest(
                "the entity is larger than DynamoDB's 400 KB item limit", field="request"
            )
        condition = {"create": "attribute_not_exists(pk)", "update": "attribute_exists(pk)"}
        kwargs: dict[str, Any] = {"Item": item, "invalid_field": "request"}
        if mode in condition:
            kwargs["ConditionExpression"] = condition[mode]
        if self._conditional("put_item", **kwargs) is None:
            what = f"entity '{name}' of connection '{connection}'"
            if mode == "create":
                raise AlreadyExists(f"{what} already exists", field="name")
            raise NotFound(f"{what} does not exist", field="entity")
        return entity

    def get_entity(self, workspace: str, connection: str, name: str) -> Entity | None:
        item = self._get(workspace_key(workspace), entity_sk(connection, name))
        return _entity(item) if item else None

    def list_entities(
        self,
        workspace: str,
        connection: str,
        *,
        limit: int = DEFAULT_PAGE_LIMIT,
        next_token: str | None = None,
    ) -> Page[Entity]:
        """One page of the connection's entities, by name."""
        page = query_page(
            self.table,
            workspace_key(workspace),
            sk_prefix=entities_prefix(connection),
            limit=limit,
            next_token=next_token,
        )
        return Page([_entity(item) for item in page.items], page.next)

    def delete_entity(self, workspace: str, connection: str, name: str) -> bool:
        """Whether the entity was there."""
        return self._delete(workspace_key(workspace), entity_sk(connection, name))

    # API key -> workspace ----------------------------------------------------------------------

    def workspace_for_api_key(self, api_key_id: str | None) -> str:
        """The workspace the test API serves a caller with this API key in: one GetItem;
        `default` when the key is mapped to none (or the call came without a key).

        A stored value that is no workspace name raises ConfigError rather than falling back to
        `default`: a key meant for another workspace must never see the default one.
        """
        if not api_key_id:
            return DEFAULT_WORKSPACE
        item = self._get(api_key_pk(api_key_id), "workspace")
        if item is None:
            return DEFAULT_WORKSPACE
        workspace = item.get("workspace")
        try:
            return check_workspace(workspace)
        except InvalidRequest as exc:
            raise ConfigError(
                "the API key is mapped to an invalid workspace in CatalogTable", field="workspace"
            ) from exc

    def set_api_key_workspace(self, api_key_id: str, workspace: str) -> None:
        """Map the API key (API Gateway's key id, not its value) to `workspace`."""
        if not api_key_id:
            raise InvalidRequest("an API key id is required", field="api_key_id")
        self.table.put_item(
            Item={
                "pk": api_key_pk(api_key_id),
                "sk": "workspace",
                "workspace": check_workspace(workspace),
            }
        )

    # helpers ----------------------------------------------------------------------------------

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        item = self.table.get_item(Key={"pk": pk, "sk": sk}, ConsistentRead=True).get("Item")
        return from_dynamo(item) if item is not None else None

    def _delete(self, pk: str, sk: str) -> bool:
        answer = self.table.delete_item(Key={"pk": pk, "sk": sk}, ReturnValues="ALL_OLD")
        return "Attributes" in answer

    def _conditional(
        self, operation: str, *, invalid_field: str | None = None, **kwargs: Any
    ) -> dict[str, Any] | None:
        """The answer of a conditional write, None when its condition failed. With
        `invalid_field`, DynamoDB's refusal of the item (nested too deeply, say) is an
        InvalidRequest naming that field: the input, not a fault of the function."""
        from botocore.exceptions import ClientError

        try:
            answer: dict[str, Any] = getattr(self.table, operation)(**kwargs)
        except ClientError as exc:
            code = aws_error_code(exc)
            if code == "ConditionalCheckFailedException":
                return None
            if code == "ValidationException" and invalid_field:
                message = exc.response.get("Error", {}).get("Message", "")
                raise InvalidRequest(
                    f"DynamoDB refused the item: {message}", field=invalid_field
                ) from exc
            raise
        return answer


def _connection_meta(item: Mapping[str, Any]) -> ConnectionMeta:
    return ConnectionMeta(
        name=item["name"],
        display_name=item.get("display_name"),
        description=item.get("description"),
        created_at=item["created_at"],
        updated_at=item["updated_at"],
    )


def _entity(item: Mapping[str, Any]) -> Entity:
    return Entity(
        name=item["name"],
        connection=item["connection"],
        description=item.get("description"),
        request=item.get("request") or {},
        source=item.get("source", "manual"),
        updated_at=item["updated_at"],
    )


_default_catalog_store = RUNTIME.slot(lambda: CatalogStore())


def default_catalog_store() -> CatalogStore:
    """The container's CatalogStore (its table built on first use)."""
    return _default_catalog_store.get()
