"""Entities end to end: the builder API's /connections/{name}/entities routes and /discover's save
through functions/request/api.py:handler, and specs naming an entity run by the request function
(functions/request/app.py:handler) and by /test, against the demo API and a pytest-httpserver.

The caller's workspace comes from its API key id: `key1` has no mapping (the default workspace),
`key-b` is mapped to `team-b` in CatalogTable. Every answer is searched for every secret of the
connections involved.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug.wrappers import Request, Response

from apicall.core.catalog import CatalogStore, default_catalog_store
from functions.fetch import app as fetch_app
from functions.request import app as request_app
from local.demo_api import API_KEY, BEARER_TOKEN, OAUTH_CLIENT_SECRET
from local.stack import LocalContext
from tests.support import builder_api
from tests.support.builder_api import api_event
from tests.support.demo import load_event

pytestmark = pytest.mark.usefixtures("tables", "demo_connections")

WORKSPACE_B = "team-b"
KEY_B = "key-b"
LOCAL_TOKEN = "tok-entities-8d1f"
SECRETS = (API_KEY, BEARER_TOKEN, OAUTH_CLIENT_SECRET, "demo-password", LOCAL_TOKEN)

GET_CUSTOMER = {
    "url": "/customers/{id}",
    "path_params": {"id": "{customer.id}"},
    "response": {
        "data_path": "$",
        "fields": [{"name": "name", "type": "string", "path": "$.name"}],
    },
}


def call(event: dict[str, Any]) -> tuple[int, Any]:
    return builder_api.call(event, secrets=SECRETS)


def invoke(event: dict[str, Any]) -> dict[str, Any]:
    """The request function's Outcome for a direct invoke; no secret in it."""
    outcome = request_app.handler(event, LocalContext("RequestFunction", 30))
    text = json.dumps(outcome)
    assert not [secret for secret in SECRETS if secret in text]
    return dict(outcome)


def entities_path(connection: str, entity: str | None = None) -> tuple[str, str]:
    """(path, resource) of the entities of `connection`, or of one."""
    if entity is None:
        return f"/connections/{connection}/entities", "/connections/{name}/entities"
    return (
        f"/connections/{connection}/entities/{entity}",
        "/connections/{name}/entities/{entity}",
    )


def create(connection: str, body: Any, *, api_key_id: str = "key1") -> tuple[int, Any]:
    path, resource = entities_path(connection)
    return call(api_event("POST", path, resource=resource, body=body, api_key_id=api_key_id))


def on_entity(
    method: str, connection: str, entity: str, body: Any = None, *, api_key_id: str = "key1"
) -> tuple[int, Any]:
    path, resource = entities_path(connection, entity)
    return call(api_event(method, path, resource=resource, body=body, api_key_id=api_key_id))


def list_page(
    connection: str, query: dict[str, str] | None = None, *, api_key_id: str = "key1"
) -> tuple[int, Any]:
    path, resource = entities_path(connection)
    return call(api_event("GET", path, resource=resource, query=query, api_key_id=api_key_id))


def post(path: str, body: Any, *, api_key_id: str = "key1") -> tuple[int, Any]:
    return call(api_event("POST", path, body=body, api_key_id=api_key_id))


@pytest.fixture
def team_b(put_connection: Callable[[str, dict[str, Any]], str], demo_api: Any) -> str:
    """Workspace team-b, the workspace of API key `key-b`, with its own `demo-bearer` connection
    (the same name as the default workspace's)."""
    _, url = demo_api
    put_connection(
        f"{WORKSPACE_B}/demo-bearer",
        {
            "base_url": url,
            "auth": {"type": "bearer", "token": BEARER_TOKEN},
            "allow_private_network": True,
        },
    )
    default_catalog_store().set_api_key_workspace(KEY_B, WORKSPACE_B)
    return WORKSPACE_B


@pytest.fixture
def local(
    server: HTTPServer, put_connection: Callable[[str, dict[str, Any]], str]
) -> Iterator[HTTPServer]:
    """Connection `local`: pytest-httpserver behind a bearer token; every request it gets
    answers its own method, path, query, headers and JSON body."""

    def echo(request: Request) -> Response:
        seen = {
            "method": request.method,
            "path": request.path,
            "query": list(request.args.items(multi=True)),
            "headers": {name.lower(): value for name, value in request.headers.items()},
            "json": request.get_json(silent=True),
        }
        return Response(json.dumps(seen), content_type="application/json")

    server.expect_request("/items/7").respond_with_handler(echo)
    put_connection(
        "local",
        {
            "base_url": server.url_for("/").rstrip("/"),
            "auth": {"type": "bearer", "token": LOCAL_TOKEN},
            "allow_private_network": True,
        },
    )
    yield server


# --- create, read, update, delete ---------------------------------------------------------------


def test_an_entity_is_created_read_listed_updated_and_deleted() -> None:
    status, created = create(
        "demo-bearer",
        {"name": "getCustomer", "description": "One customer", "request": GET_CUSTOMER},
    )

    assert status == 201
    assert created["name"] == "getCustomer" and created["connection"] == "demo-bearer"
    assert created["description"] == "One customer" and created["source"] == "manual"
    # Stored as written: fields at their default are left out.
    assert created["request"] == GET_CUSTOMER
    assert created["updated_at"].endswith("Z")

    assert on_entity("GET", "demo-bearer", "getCustomer") == (200, created)
    status, page = list_page("demo-bearer")
    assert status == 200 and page == {"items": [created], "next": None}

    changed = {**GET_CUSTOMER, "headers": {"Accept": "application/json"}}
    status, updated = on_entity("PUT", "demo-bearer", "getCustomer", {"request": changed})
    assert status == 200
    assert updated["request"] == changed and updated["description"] == "One customer"
    status, cleared = on_entity(
        "PUT", "demo-bearer", "getCustomer", {"request": changed, "description": None}
    )
    assert status == 200 and cleared["description"] is None

    status, text = on_entity("DELETE", "demo-bearer", "getCustomer")
    assert status == 204 and text == ""
    status, answer = on_entity("GET", "demo-bearer", "getCustomer")
    assert status == 404
    assert answer["error"]["kind"] == "not_found" and answer["error"]["fields"] == ["entity"]


@pytest.mark.parametrize(
    ("request_changes", "field"),
    [
        ({"url": "https://ada:pw-9x@api.example.com/customers"}, "request.url"),
        ({"headers": {"Authorization": "Bearer tok-literal-1"}}, "request.headers.Authorization"),
        ({"headers": {"X-API-Key": "key-literal-2"}}, "request.headers.X-API-Key"),
    ],
)
def test_a_credential_written_into_an_entity_is_refused_naming_where(
    request_changes: dict[str, Any], field: str
) -> None:
    # Stored as plain text and read back by anyone in the workspace: it belongs in the
    # connection, whose secret fields are write-only.
    status, answer = create(
        "demo-bearer", {"name": "e", "request": {**GET_CUSTOMER, **request_changes}}
    )

    assert status == 422 and answer["error"]["fields"] == [field], answer
    assert "pw-9x" not in json.dumps(answer) and "literal" not in json.dumps(answer)


def test_a_credential_header_filled_from_a_placeholder_is_allowed() -> None:
    request = {**GET_CUSTOMER, "headers": {"Authorization": "Bearer {token}"}}

    assert create("demo-bearer", {"name": "e", "request": request})[0] == 201


def test_a_name_taken_is_409_naming_it() -> None:
    body = {"name": "getCustomer", "request": GET_CUSTOMER}
    assert create("demo-bearer", body)[0] == 201

    status, answer = create("demo-bearer", {**body, "description": "again"})

    assert status == 409
    assert answer["error"]["kind"] == "exists" and answer["error"]["fields"] == ["name"]
    assert on_entity("GET", "demo-bearer", "getCustomer")[1]["description"] is None


@pytest.mark.parametrize(
    ("method", "entity"),
    [("POST", None), ("GET", None), ("GET", "e"), ("PUT", "e"), ("DELETE", "e")],
)
def test_every_route_of_a_connection_that_does_not_exist_is_404_naming_it(
    method: str, entity: str | None
) -> None:
    path, resource = entities_path("nope", entity)
    body = {"name": "e", "request": {"url": "/x"}} if method == "POST" else None
    body = {"request": {"url": "/x"}} if method == "PUT" else body

    status, answer = call(api_event(method, path, resource=resource, body=body))

    assert status == 404
    assert answer["error"]["kind"] == "not_found" and answer["error"]["fields"] == ["name"]
    assert "nope" in answer["error"]["message"]


def test_an_entity_that_does_not_exist_is_404_for_get_put_and_delete() -> None:
    for method, body in (("GET", None), ("PUT", {"request": {"url": "/x"}}), ("DELETE", None)):
        status, answer = on_entity(method, "demo-bearer", "nope", body)

        assert status == 404, method
        assert answer["error"]["fields"] == ["entity"], method


def test_a_connection_saved_by_the_builder_needs_no_secret_to_get_entities() -> None:
    # Metadata alone (the builder's own record of the connection) is enough.
    default_catalog_store().put_connection_meta("default", "described", display_name="CRM")

    status, created = create("described", {"name": "ping", "request": {"url": "/ping"}})

    assert status == 201 and created["connection"] == "described"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "a b", "request": {"url": "/x"}}, "name"),
        ({"name": "a..b", "request": {"url": "/x"}}, "name"),
        ({"name": "ok", "request": {"url": "/x", "method": "FETCH"}}, "request.method"),
        ({"name": "ok", "request": {"method": "GET"}}, "request.url"),
        (
            {"name": "ok", "request": {"url": "/x", "connection": "demo-basic"}},
            "request.connection",
        ),
        ({"name": "ok", "request": {"url": "/x", "entity": "other"}}, "request.entity"),
        (
            {"name": "ok", "request": {"url": "/x", "response": {"data_path": "$["}}},
            "request.response.data_path",
        ),
        ({"name": "ok", "request": {"url": "/x", "timeout_s": 0}}, "request.timeout_s"),
        ({"name": "ok"}, "request"),
        ({"name": "ok", "request": {"url": "/x"}, "source": "openapi"}, "source"),
    ],
    ids=[
        "space in name",
        "dots in name",
        "method",
        "no url",
        "connection in request",
        "entity in request",
        "data path",
        "timeout",
        "no request",
        "unknown field",
    ],
)
def test_invalid_input_is_422_naming_the_field(body: dict[str, Any], field: str) -> None:
    status, answer = create("demo-bearer", body)

    assert status == 422, answer
    assert answer["error"]["fields"][0] == field, answer
    assert list_page("demo-bearer")[1]["items"] == []


def test_a_path_entity_outside_the_entity_alphabet_is_422_naming_it() -> None:
    status, answer = on_entity("GET", "demo-bearer", "a..b")

    assert status == 422 and answer["error"]["fields"] == ["entity"]


def test_the_sample_events_run_in_order() -> None:
    status, created = call(load_event("api_entities_create.json"))
    assert status == 201 and created["name"] == "getCustomer"
    status, page = call(load_event("api_entities_list.json"))
    assert status == 200 and page["items"] == [created]
    assert call(load_event("api_entity_get.json")) == (200, created)
    status, replaced = call(load_event("api_entity_replace.json"))
    assert status == 200 and replaced["request"]["headers"] == {"Accept": "application/json"}
    status, preview = call(load_event("api_preview.json"))
    assert status == 200 and preview["url"].endswith("/customers/2")
    assert preview["headers"]["Accept"] == "application/json"
    assert call(load_event("api_entity_delete.json"))[0] == 204
    assert call(load_event("api_entity_get.json"))[0] == 404


# --- lists --------------------------------------------------------------------------------------


def test_pages_run_to_the_end_one_query_each() -> None:
    names = [f"e{n:02d}" for n in range(7)]
    for name in reversed(names):
        assert create("demo-bearer", {"name": name, "request": {"url": f"/{name}"}})[0] == 201
    assert create("demo-basic", {"name": "other", "request": {"url": "/o"}})[0] == 201
    queries: list[dict[str, Any]] = []
    client = default_catalog_store().table.meta.client
    client.meta.events.register("before-call.dynamodb.Query", lambda **kw: queries.append(kw))

    seen: list[str] = []
    pages = 0
    query = {"limit": "3"}
    while True:
        status, page = list_page("demo-bearer", query)
        assert status == 200
        pages += 1
        seen += [item["name"] for item in page["items"]]
        if page["next"] is None:
            break
        query = {"limit": "3", "next": page["next"]}

    assert seen == names  # by name, the other connection's entity in none of them
    assert pages in (3, 4)  # a last full page may hand out a `next` to an empty one
    assert len(queries) == pages


def test_a_next_token_of_another_list_or_none_at_all_is_422_naming_next() -> None:
    for name in ("a", "b", "c"):
        create("demo-bearer", {"name": name, "request": {"url": "/x"}})
        create("demo-basic", {"name": name, "request": {"url": "/x"}})
    token = list_page("demo-basic", {"limit": "1"})[1]["next"]

    for bad in (token, "bm90LWEta2V5", "!"):
        status, answer = list_page("demo-bearer", {"next": bad})

        assert status == 422 and answer["error"]["fields"] == ["next"], bad


@pytest.mark.parametrize("limit", ["0", "501", "x"])
def test_a_limit_out_of_range_is_422_naming_it(limit: str) -> None:
    status, answer = list_page("demo-bearer", {"limit": limit})

    assert status == 422 and answer["error"]["fields"] == ["limit"]


# --- a spec naming an entity --------------------------------------------------------------------


def test_a_direct_invoke_runs_the_entity_with_the_values_given() -> None:
    create("demo-bearer", {"name": "getCustomer", "request": GET_CUSTOMER})

    outcome = invoke(
        {
            "request": {"connection": "demo-bearer", "entity": "getCustomer"},
            "values": {"customer": {"id": "2"}},
        }
    )

    assert outcome["ok"] is True and outcome["status"] == 200
    assert outcome["data"] == {"name": "Grace"}


def test_the_spec_s_own_fields_override_the_entity_s(local: HTTPServer) -> None:
    entity = {
        "method": "POST",
        "url": "/items/{id}",
        "path_params": {"id": "{item.id}"},
        "query": [["a", "1"]],
        "headers": {"X-A": "a", "X-B": "b"},
        "body": {"type": "json", "value": {"id": "{item.id}", "kind": "entity"}},
        "response": {"data_path": "$", "fields": [{"name": "path", "path": "$.path"}]},
    }
    assert create("local", {"name": "postItem", "request": entity})[0] == 201

    outcome = invoke(
        {
            "request": {
                "connection": "local",
                "entity": "postItem",
                # Objects merge key by key; lists and a body replace the entity's.
                "headers": {"X-B": "B2", "X-C": "c"},
                "query": [["z", "9"]],
                "response": {"fields": [{"name": "method", "path": "$.method"}]},
            },
            "values": {"item": {"id": "7"}},
        }
    )

    assert outcome["ok"] is True, outcome
    seen = outcome["body"]
    assert seen["method"] == "POST" and seen["path"] == "/items/7"
    assert seen["query"] == [["z", "9"]]
    assert (seen["headers"]["x-a"], seen["headers"]["x-b"], seen["headers"]["x-c"]) == (
        "a",
        "B2",
        "c",
    )
    assert seen["json"] == {"id": "7", "kind": "entity"}
    assert outcome["data"] == {"method": "POST"}  # response.data_path kept, fields replaced
    assert len(local.log) == 1

    replaced = invoke(
        {
            "request": {
                "connection": "local",
                "entity": "postItem",
                "body": {"type": "raw", "content": "id={item.id}"},
            },
            "values": {"item": {"id": "7"}},
        }
    )
    assert replaced["ok"] is True and replaced["body"]["json"] is None
    request, _ = local.log[-1]
    assert request.get_data() == b"id=7" and request.content_type == "text/plain"


def test_an_unknown_entity_is_an_invalid_request_naming_it(local: HTTPServer) -> None:
    outcome = invoke({"request": {"connection": "local", "entity": "nope"}})

    assert outcome["ok"] is False and outcome["route"] == "error"
    assert outcome["error"]["kind"] == "invalid_request"
    assert outcome["error"]["field"] == "request.entity"
    assert local.log == []


def test_an_entity_needs_its_connection() -> None:
    outcome = invoke({"request": {"entity": "getCustomer"}})

    assert outcome["error"]["kind"] == "invalid_request"
    assert outcome["error"]["field"] == "request.connection"


def test_the_test_route_runs_an_entity_and_answers_what_it_sent() -> None:
    create("demo-bearer", {"name": "getCustomer", "request": GET_CUSTOMER})

    status, answer = post(
        "/test",
        {
            "request": {"connection": "demo-bearer", "entity": "getCustomer"},
            "values": {"customer": {"id": "3"}},
        },
    )

    assert status == 200 and answer["ok"] is True
    assert answer["data"] == {"name": "Linus"}
    assert answer["placeholders"] == {"customer.id": "given"}
    assert answer["sent"]["url"].endswith("/customers/3")
    assert answer["sent"]["headers"]["Authorization"] == "***"

    status, answer = post("/test", {"request": {"connection": "demo-bearer", "entity": "nope"}})
    assert status == 404
    assert answer["error"]["kind"] == "not_found"
    assert answer["error"]["fields"] == ["request.entity"]


def test_a_fetch_job_naming_an_entity_is_refused_before_any_page(local: HTTPServer) -> None:
    # Fetches do not resolve entities (the fetch function has no CatalogTable).
    create("local", {"name": "listItems", "request": {"url": "/items/7"}})

    answer = fetch_app.handler(
        {
            "job": "items",
            "request": {"connection": "local", "entity": "listItems"},
            "records": {"path": "$[*]", "key": "$.id"},
        },
        LocalContext("FetchFunction", 60),
    )

    assert answer["status"] == "failed"
    assert answer["error"]["kind"] == "invalid_request"
    assert answer["error"]["field"] == "request.entity"
    assert local.log == []


# --- workspaces ---------------------------------------------------------------------------------


def test_an_entity_of_one_workspace_is_not_seen_from_another(team_b: str) -> None:
    assert create("demo-bearer", {"name": "getCustomer", "request": GET_CUSTOMER})[0] == 201
    body = {"request": {"url": "/x"}}

    # team-b has a demo-bearer connection of its own, without entities.
    assert list_page("demo-bearer", api_key_id=KEY_B) == (200, {"items": [], "next": None})
    for method, payload in (("GET", None), ("PUT", body), ("DELETE", None)):
        status, answer = on_entity(method, "demo-bearer", "getCustomer", payload, api_key_id=KEY_B)
        assert status == 404 and answer["error"]["fields"] == ["entity"], method
    status, answer = post(
        "/test",
        {
            "request": {"connection": "demo-bearer", "entity": "getCustomer"},
            "values": {"customer": {"id": "1"}},
        },
        api_key_id=KEY_B,
    )
    assert status == 404 and answer["error"]["fields"] == ["request.entity"]
    outcome = invoke(
        {
            "request": {"connection": "demo-bearer", "entity": "getCustomer"},
            "values": {"customer": {"id": "1"}},
            "workspace": WORKSPACE_B,
        }
    )
    assert outcome["error"]["field"] == "request.entity"

    # Still there, in the default workspace only.
    assert on_entity("GET", "demo-bearer", "getCustomer")[0] == 200
    assert (
        create("demo-bearer", {"name": "getCustomer", "request": {"url": "/b"}}, api_key_id=KEY_B)[
            0
        ]
        == 201
    )
    assert on_entity("GET", "demo-bearer", "getCustomer")[1]["request"] == GET_CUSTOMER
    catalog = CatalogStore()
    assert [e.request["url"] for e in catalog.list_entities(WORKSPACE_B, "demo-bearer").items] == [
        "/b"
    ]


def test_a_connection_of_another_workspace_is_404(team_b: str) -> None:
    # demo-basic exists in the default workspace only.
    status, answer = create("demo-basic", {"name": "e", "request": {"url": "/x"}}, api_key_id=KEY_B)

    assert status == 404 and answer["error"]["fields"] == ["name"]


# --- /discover with save -------------------------------------------------------------------------


CUSTOMERS_DOCUMENT = {
    "openapi": "3.0.3",
    "info": {"title": "Demo customers", "version": "1"},
    "paths": {
        "/customers": {
            "get": {
                "operationId": "listCustomers",
                "summary": "Customers, filtered by status",
                "parameters": [{"name": "status", "in": "query", "schema": {"type": "string"}}],
                "responses": {"200": {"description": "the customers"}},
            },
        },
        "/customers/{customer_id}": {
            "get": {
                "operationId": "getCustomer",
                "parameters": [
                    {
                        "name": "customer_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                ],
                "responses": {"200": {"description": "one customer"}},
            },
            "delete": {
                "operationId": "deleteCustomer",
                "parameters": [
                    {"name": "customer_id", "in": "path", "required": True, "schema": {}}
                ],
                "responses": {"204": {"description": "deleted"}},
            },
        },
    },
}


def test_discover_saves_every_entity_and_a_saved_entity_runs() -> None:
    status, answer = post(
        "/discover", {"openapi": CUSTOMERS_DOCUMENT, "connection": "demo-bearer", "save": True}
    )

    assert status == 200, answer
    assert answer["saved"] == ["listCustomers", "getCustomer", "deleteCustomer"]
    status, page = list_page("demo-bearer")
    stored = {item["name"]: item for item in page["items"]}
    assert set(stored) == set(answer["saved"])
    assert {item["source"] for item in page["items"]} == {"openapi"}
    assert stored["listCustomers"]["description"] == "Customers, filtered by status"
    assert stored["getCustomer"]["request"]["url"] == "/customers/{customer_id}"
    assert "connection" not in stored["getCustomer"]["request"]

    status, ran = post(
        "/test",
        {
            "request": {"connection": "demo-bearer", "entity": "getCustomer"},
            "values": {"customer_id": "4"},
        },
    )
    assert status == 200 and ran["ok"] is True and ran["body"]["name"] == "Barbara"


def test_discover_saves_only_the_chosen_entities_under_names_in_the_alphabet() -> None:
    document = {
        "openapi": "3.0.0",
        "info": {"title": "Tiny", "version": "1"},
        "paths": {
            "/things/{id}": {"get": {"responses": {"200": {"description": "ok"}}}},
            "/things/id": {"get": {"responses": {"200": {"description": "ok"}}}},
            "/other": {"get": {"responses": {"200": {"description": "ok"}}}},
        },
    }

    status, answer = post(
        "/discover",
        {
            "openapi": document,
            "connection": "demo-bearer",
            "save": True,
            "path_prefix": "/things",
            "detail": "compact",
        },
    )

    assert status == 200, answer
    assert answer["saved"] == ["GET_things_id", "GET_things_id_2"]
    names = [item["name"] for item in list_page("demo-bearer")[1]["items"]]
    assert names == ["GET_things_id", "GET_things_id_2"]


def test_discover_save_needs_a_connection_of_the_workspace(team_b: str) -> None:
    document = {"openapi": "3.0.0", "info": {"title": "t", "version": "1"}, "paths": {}}

    status, answer = post("/discover", {"openapi": document, "save": True})
    assert status == 422 and answer["error"]["fields"] == ["connection"]

    status, answer = post(
        "/discover",
        {"openapi": document, "save": True, "connection": "demo-basic"},
        api_key_id=KEY_B,
    )
    assert status == 404


def test_discover_saves_at_most_200_entities_a_call() -> None:
    ok = {"responses": {"200": {"description": "ok"}}}
    document = {
        "openapi": "3.0.0",
        "info": {"title": "Wide", "version": "1"},
        "paths": {f"/p{n}": {"get": ok} for n in range(201)},
    }

    status, answer = post(
        "/discover", {"openapi": document, "connection": "demo-bearer", "save": True}
    )
    assert status == 422 and answer["error"]["fields"] == ["save"]
    assert list_page("demo-bearer")[1]["items"] == []

    status, answer = post(
        "/discover",
        {"openapi": document, "connection": "demo-bearer", "save": True, "path_prefix": "/p1"},
    )
    assert status == 200 and len(answer["saved"]) == 111  # /p1, /p10-/p19, /p100-/p199
