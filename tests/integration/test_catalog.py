"""CatalogTable (apicall.core.catalog) and one page of a list (apicall.core.store.query_page), on
moto's DynamoDB: every page is one Query, `next` cannot leave its list, creates and updates are
conditional, a connection's delete takes its entities along, API keys map to workspaces."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from boto3.dynamodb.conditions import Attr

from apicall.core import store
from apicall.core.catalog import CatalogStore, default_catalog_store
from apicall.core.errors import AlreadyExists, ConfigError, InvalidRequest, NotFound
from apicall.core.store import Page, decode_next, encode_next, query_page


@pytest.fixture
def table(tables: dict[str, Any]) -> Any:
    return tables["CatalogTable"]


@pytest.fixture
def calls(table: Any) -> Iterator[list[str]]:
    """The name of every DynamoDB operation the table's client sends, in order."""
    sent: list[str] = []

    def count(model: Any, **_: Any) -> None:
        sent.append(model.name)

    events = table.meta.client.meta.events
    events.register("before-call.dynamodb.*", count)
    yield sent
    events.unregister("before-call.dynamodb.*", count)


@pytest.fixture
def catalog(table: Any) -> CatalogStore:
    ticks = iter(f"2025-01-01T00:00:{n:02d}Z" for n in range(60))
    return CatalogStore(table, clock=lambda: next(ticks))


def fill(table: Any, pk: str, sks: list[str], **attrs: Any) -> None:
    """Items with these keys, written 25 per request; `name` is the part after the last `#`."""
    with table.batch_writer() as batch:
        for sk in sks:
            batch.put_item(Item={"pk": pk, "sk": sk, "name": sk.rsplit("#", 1)[-1], **attrs})


def every_page(read: Callable[[str | None], Page[Any]], calls: list[str]) -> list[Any]:
    """Every item, page after page until `next` is None; each page exactly one Query."""
    items: list[Any] = []
    token: str | None = None
    while True:
        calls.clear()
        page = read(token)
        assert calls == ["Query"]
        items.extend(page.items)
        if page.next is None:
            return items
        token = page.next


# --- paging -----------------------------------------------------------------------------------


def test_a_thousand_connections_are_listed_to_the_end_one_query_per_page(
    catalog: CatalogStore, table: Any, calls: list[str]
) -> None:
    names = [f"conn-{n:04d}" for n in range(1000)]
    stamps = {"created_at": "2025-01-01T00:00:00Z", "updated_at": "2025-01-01T00:00:00Z"}
    fill(table, "ws#default", [f"connection#{name}" for name in names], **stamps)
    fill(table, "ws#default", ["entity#conn-0001#orders"])  # an entity, not a connection
    fill(table, "ws#other", ["connection#elsewhere"], **stamps)  # another workspace's

    listed = every_page(
        lambda token: catalog.list_connections("default", limit=77, next_token=token), calls
    )

    assert [meta.name for meta in listed] == names


def test_query_page_reads_a_range_newest_first_and_filters_one_query_per_page(
    table: Any, calls: list[str]
) -> None:
    fill(table, "history", [f"2025-01-{day:02d}#{n}" for day in range(1, 31) for n in range(20)])
    table.put_item(Item={"pk": "history", "sk": "2025-01-10#x", "route": "5xx"})

    items = every_page(
        lambda token: query_page(
            table,
            "history",
            sk_from="2025-01-10",
            sk_to="2025-01-20~",
            newest_first=True,
            limit=33,
            next_token=token,
        ),
        calls,
    )
    failed = every_page(
        lambda token: query_page(
            table, "history", filter=Attr("route").eq("5xx"), limit=500, next_token=token
        ),
        calls,
    )

    sks = [item["sk"] for item in items]
    assert sks == sorted(sks, reverse=True)
    assert len(sks) == 11 * 20 + 1
    assert sks[0].startswith("2025-01-20#") and sks[-1] == "2025-01-10#0"
    assert [item["sk"] for item in failed] == ["2025-01-10#x"]


def test_a_list_of_exactly_its_limit_ends(table: Any, calls: list[str]) -> None:
    fill(table, "p", [f"s{n:02d}" for n in range(50)])

    assert len(every_page(lambda t: query_page(table, "p", limit=50, next_token=t), calls)) == 50


def test_limit_is_1_to_500() -> None:
    for limit in (0, 501, -1, True, 2.5, "10"):
        with pytest.raises(InvalidRequest) as refused:
            store.check_limit(limit)
        assert refused.value.field == "limit"
    assert store.check_limit(1) == 1 and store.check_limit(500) == 500


# --- next tokens ------------------------------------------------------------------------------


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


TAMPERED = [
    "",
    "x",
    "not a token",
    "////",
    "ab=c",
    b64("not json"),
    b64("[1, 2]"),
    b64('{"pk": "ws#default"}'),
    b64('{"pk": "ws#default", "sk": 7}'),
    b64('{"pk": "ws#default", "sk": ""}'),
    b64('{"pk": "ws#default", "sk": "connection#a", "extra": "x"}'),
    b64('{"pk": {"S": "ws#default"}, "sk": {"S": "connection#a"}}'),
    b64("[" * 100_000),
    base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    "A" * 5000,
]


@pytest.mark.parametrize("token", TAMPERED)
def test_a_tampered_next_is_refused_naming_next_before_any_call(
    catalog: CatalogStore, calls: list[str], token: str
) -> None:
    calls.clear()

    with pytest.raises(InvalidRequest) as refused:
        catalog.list_connections("default", next_token=token)

    assert refused.value.field == "next"
    assert calls == []


def test_a_next_from_another_workspace_or_another_list_is_refused(
    catalog: CatalogStore, table: Any, calls: list[str]
) -> None:
    for name in ("a", "b", "c"):
        catalog.put_connection_meta("team-a", name)
        catalog.put_connection_meta("default", name)
        catalog.put_entity("default", "a", name, request={"path": "/"})
    of_team_a = catalog.list_connections("team-a", limit=1).next
    of_entities = catalog.list_entities("default", "a", limit=1).next
    assert of_team_a and of_entities
    calls.clear()

    for token, read in (
        (of_team_a, lambda t: catalog.list_connections("default", next_token=t)),
        (of_entities, lambda t: catalog.list_connections("default", next_token=t)),
        (of_entities, lambda t: catalog.list_entities("default", "b", next_token=t)),
        (of_entities, lambda t: catalog.list_entities("team-a", "a", next_token=t)),
    ):
        with pytest.raises(InvalidRequest) as refused:
            read(token)
        assert refused.value.field == "next"
    assert calls == []
    # In its own list, the same token reads on.
    assert [e.name for e in catalog.list_entities("default", "a", next_token=of_entities).items]


def test_next_round_trips_and_is_checked_against_the_range() -> None:
    key = {"pk": "history", "sk": "2025-01-10#r1"}
    token = encode_next(key)

    assert "=" not in token and decode_next(token, "history") == key
    assert decode_next(token, "history", sk_from="2025-01-01", sk_to="2025-01-31") == key
    for bounds in ({"sk_from": "2025-01-11"}, {"sk_to": "2025-01-09"}, {"sk_prefix": "run#"}):
        with pytest.raises(InvalidRequest) as refused:
            decode_next(token, "history", **bounds)
        assert refused.value.field == "next"


def test_query_page_takes_a_prefix_or_a_range_not_both(table: Any) -> None:
    with pytest.raises(ValueError):
        query_page(table, "p", sk_prefix="a", sk_from="a")


# --- connections ------------------------------------------------------------------------------


def test_a_connection_is_created_once(catalog: CatalogStore, calls: list[str]) -> None:
    created = catalog.put_connection_meta("default", "crm", display_name="CRM", description="d")
    calls.clear()

    with pytest.raises(AlreadyExists) as refused:
        catalog.put_connection_meta("default", "crm", display_name="other")

    assert (refused.value.kind, refused.value.field) == ("exists", "name")
    assert calls == ["PutItem"]  # the condition is checked by the write itself
    assert catalog.get_connection_meta("default", "crm") == created
    assert created.to_dict() == {
        "name": "crm",
        "display_name": "CRM",
        "description": "d",
        "created_at": "2025-01-01T00:00:00Z",
        "updated_at": "2025-01-01T00:00:00Z",
    }
    # Another workspace has names of its own.
    assert catalog.get_connection_meta("team-a", "crm") is None
    catalog.put_connection_meta("team-a", "crm")


def test_an_update_changes_the_fields_given_and_refuses_an_unknown_name(
    catalog: CatalogStore,
) -> None:
    catalog.put_connection_meta("default", "crm", display_name="CRM", description="d")

    updated = catalog.update_connection_meta("default", "crm", description=None)

    assert updated.display_name == "CRM" and updated.description is None
    assert (updated.created_at, updated.updated_at) == (
        "2025-01-01T00:00:00Z",
        "2025-01-01T00:00:01Z",
    )
    assert catalog.get_connection_meta("default", "crm") == updated
    with pytest.raises(NotFound) as refused:
        catalog.update_connection_meta("default", "nope", display_name="x")
    assert (refused.value.kind, refused.value.field) == ("not_found", "name")
    assert catalog.get_connection_meta("default", "nope") is None


def test_deleting_a_connection_deletes_its_entities_and_nothing_else(
    catalog: CatalogStore, table: Any
) -> None:
    catalog.put_connection_meta("default", "crm")
    catalog.put_connection_meta("default", "crm2")
    catalog.put_connection_meta("team-a", "crm")
    fill(table, "ws#default", [f"entity#crm#e{n:03d}" for n in range(60)], connection="crm")
    catalog.put_entity("default", "crm2", "kept", request={"path": "/"})
    catalog.put_entity("team-a", "crm", "kept", request={"path": "/"})

    assert catalog.delete_connection_meta("default", "crm") is True

    assert catalog.get_connection_meta("default", "crm") is None
    assert catalog.list_entities("default", "crm", limit=500).items == []
    assert [e.name for e in catalog.list_entities("default", "crm2").items] == ["kept"]
    assert [e.name for e in catalog.list_entities("team-a", "crm").items] == ["kept"]
    assert catalog.get_connection_meta("team-a", "crm") is not None
    assert catalog.delete_connection_meta("default", "crm") is False


# --- entities ---------------------------------------------------------------------------------


def test_entities_are_stored_listed_and_deleted(catalog: CatalogStore) -> None:
    request = {"method": "GET", "path": "/orders", "timeout": 2.5, "query": {"page": 1}}

    stored = catalog.put_entity(
        "default", "crm", "list orders", request=request, description="all", mode="create"
    )

    assert catalog.get_entity("default", "crm", "list orders") == stored
    assert stored.to_dict() == {
        "name": "list orders",
        "connection": "crm",
        "description": "all",
        "request": request,
        "source": "manual",
        "updated_at": "2025-01-01T00:00:00Z",
    }
    with pytest.raises(AlreadyExists) as exists:
        catalog.put_entity("default", "crm", "list orders", request=request, mode="create")
    assert (exists.value.kind, exists.value.field) == ("exists", "name")
    with pytest.raises(NotFound) as missing:
        catalog.put_entity("default", "crm", "other", request=request, mode="update")
    assert (missing.value.kind, missing.value.field) == ("not_found", "entity")
    replaced = catalog.put_entity(
        "default", "crm", "list orders", request={"path": "/v2"}, source="openapi", mode="update"
    )
    catalog.put_entity("default", "crm", "GET /users/{id}", request={"path": "/users/{id}"})
    assert [e.name for e in catalog.list_entities("default", "crm").items] == [
        "GET /users/{id}",
        "list orders",
    ]
    assert catalog.get_entity("default", "crm", "list orders") == replaced
    assert catalog.delete_entity("default", "crm", "list orders") is True
    assert catalog.delete_entity("default", "crm", "list orders") is False
    assert catalog.get_entity("default", "crm", "list orders") is None


def test_an_entity_dynamodb_cannot_hold_is_refused_naming_request(catalog: CatalogStore) -> None:
    # Over 400 KB is refused before the call; whatever else DynamoDB refuses (nesting beyond 32
    # levels; moto does not check that, so an empty set stands in) is refused by the call.
    for request in ({"body": "x" * 500_000}, {"tags": set()}):
        with pytest.raises(InvalidRequest) as refused:
            catalog.put_entity("default", "crm", "big", request=request)
        assert refused.value.field == "request"


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda c: c.put_connection_meta("default", "a#b"), "name"),
        (lambda c: c.get_entity("default", "crm", "a#b"), "entity"),
        (lambda c: c.list_entities("default", "a#b"), "name"),
        (lambda c: c.put_entity("default", "crm", "", request={}), "entity"),
        (lambda c: c.get_connection_meta("default", "x\n"), "name"),
        (lambda c: c.list_connections("../other"), "workspace"),
        (lambda c: c.list_connections("default", limit=0), "limit"),
    ],
)
def test_names_that_cannot_be_keys_are_refused(
    catalog: CatalogStore, calls: list[str], call: Callable[[CatalogStore], Any], field: str
) -> None:
    with pytest.raises(InvalidRequest) as refused:
        call(catalog)

    assert refused.value.field == field
    assert calls == []


# --- API keys ---------------------------------------------------------------------------------


def test_an_api_key_works_in_its_workspace_or_the_default_one(
    catalog: CatalogStore, table: Any, calls: list[str]
) -> None:
    assert catalog.workspace_for_api_key("k1") == "default"
    assert calls == ["GetItem"]
    calls.clear()
    assert catalog.workspace_for_api_key(None) == "default"
    assert calls == []

    catalog.set_api_key_workspace("k1", "team-a")

    assert catalog.workspace_for_api_key("k1") == "team-a"
    assert catalog.workspace_for_api_key("k2") == "default"
    with pytest.raises(InvalidRequest) as refused:
        catalog.set_api_key_workspace("k1", "no such/name")
    assert refused.value.field == "workspace"
    # A mapping no workspace could have (written by hand) never falls back to `default`.
    table.put_item(Item={"pk": "apikey#k3", "sk": "workspace", "workspace": "a#b"})
    with pytest.raises(ConfigError):
        catalog.workspace_for_api_key("k3")


def test_the_default_store_reads_the_table_named_by_catalog_table(
    tables: dict[str, Any],
) -> None:
    default_catalog_store().set_api_key_workspace("k1", "team-a")

    assert CatalogStore(tables["CatalogTable"]).workspace_for_api_key("k1") == "team-a"
    item = tables["CatalogTable"].get_item(Key={"pk": "apikey#k1", "sk": "workspace"})["Item"]
    assert item == {"pk": "apikey#k1", "sk": "workspace", "workspace": "team-a"}


def test_without_catalog_table_the_store_names_the_variable(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CATALOG_TABLE", raising=False)

    with pytest.raises(ConfigError) as refused:
        CatalogStore().workspace_for_api_key("k1")

    assert refused.value.field == "CATALOG_TABLE"
