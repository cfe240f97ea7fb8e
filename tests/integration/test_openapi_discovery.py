"""Discovery on real public documents of three versions: Swagger 2.0, OpenAPI 3.0 and 3.1."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from apicall.builder.discover import _HEAD_BYTES, MAX_FIELDS, discover, load_document
from apicall.core.errors import ConfigError
from apicall.core.models import RequestSpec

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "openapi"


def discovered(name: str, **kwargs: Any) -> dict[str, Any]:
    return discover(load_document((FIXTURES / name).read_text()), **kwargs)


def entity(result: dict[str, Any], name: str) -> dict[str, Any]:
    return next(e for e in result["entities"] if e["name"] == name)


def test_swagger_2_petstore_has_twenty_operations() -> None:
    result = discovered("petstore-swagger-2.0.json")

    assert result["spec_version"] == "2.0"
    assert result["base_url"] == "https://petstore.swagger.io/v2"
    assert len(result["entities"]) == 20


def test_swagger_2_find_by_status_maps_rows_of_pets() -> None:
    found = entity(discovered("petstore-swagger-2.0.json"), "findPetsByStatus")

    assert (found["method"], found["path"]) == ("GET", "/pet/findByStatus")
    assert found["query_params"][0] | {"description": None} == {
        "name": "status", "type": "array", "required": True, "description": None,
    }  # fmt: skip
    assert found["request"]["response"]["data_path"] == "$[*]"
    assert found["response_fields"][:3] == [
        {"name": "id", "type": "integer", "path": "$.id"},
        {"name": "category.id", "type": "integer", "path": "$.category.id"},
        {"name": "category.name", "type": "string", "path": "$.category.name"},
    ]


def test_swagger_2_body_parameter_is_the_resolved_body_schema() -> None:
    add_pet = entity(discovered("petstore-swagger-2.0.json"), "addPet")

    schema = add_pet["body_schema"]
    assert schema["required"] == ["name", "photoUrls"]
    assert schema["properties"]["category"]["properties"]["name"] == {"type": "string"}
    assert add_pet["request"]["body"] == {"type": "json", "value": "{body}"}


def test_swagger_2_form_data_becomes_form_and_file_upload_multipart() -> None:
    result = discovered("petstore-swagger-2.0.json")

    assert entity(result, "updatePetWithForm")["request"]["body"] == {"type": "form"}
    upload = entity(result, "uploadFile")
    assert upload["request"]["body"] == {"type": "multipart"}
    assert upload["body_schema"]["properties"]["file"] == {"type": "string", "format": "binary"}


def test_swagger_2_order_ship_date_is_a_datetime() -> None:
    order = entity(discovered("petstore-swagger-2.0.json"), "getOrderById")

    assert {"name": "shipDate", "type": "datetime", "path": "$.shipDate"} in order[
        "response_fields"
    ]
    assert order["path_params"] == [
        {"name": "orderId", "type": "integer", "required": True,
         "description": "ID of pet that needs to be fetched"},
    ]  # fmt: skip


def test_openapi_3_0_petstore_has_three_operations() -> None:
    result = discovered("petstore-openapi-3.0.yaml")

    assert result["spec_version"] == "3.0.0"
    assert result["base_url"] == "http://petstore.swagger.io/v1"
    assert [(e["name"], e["method"], e["path"]) for e in result["entities"]] == [
        ("listPets", "GET", "/pets"),
        ("createPets", "POST", "/pets"),
        ("showPetById", "GET", "/pets/{petId}"),
    ]


def test_openapi_3_0_list_pets_rows_and_optional_limit() -> None:
    list_pets = entity(discovered("petstore-openapi-3.0.yaml"), "listPets")

    assert list_pets["query_params"][0]["name"] == "limit"
    assert list_pets["query_params"][0]["type"] == "integer"
    assert list_pets["request"]["query"] == []  # optional parameters are not pre-filled
    assert list_pets["response_fields"] == [
        {"name": "id", "type": "integer", "path": "$.id"},
        {"name": "name", "type": "string", "path": "$.name"},
        {"name": "tag", "type": "string", "path": "$.tag"},
    ]


def test_openapi_3_0_error_default_is_not_taken_for_the_created_answer() -> None:
    create = entity(discovered("petstore-openapi-3.0.yaml"), "createPets")

    assert create["response_fields"] == []
    assert create["body_schema"]["required"] == ["id", "name"]


def test_openapi_3_1_train_travel_has_seven_operations_and_skips_webhooks() -> None:
    result = discovered("train-travel-openapi-3.1.yaml")

    assert result["spec_version"] == "3.1.0"
    assert result["title"] == "Train Travel API"
    assert len(result["entities"]) == 7
    assert "new-booking" not in {e["name"] for e in result["entities"]}


def test_openapi_3_1_collection_wrapper_maps_rows_under_data() -> None:
    trips = entity(discovered("train-travel-openapi-3.1.yaml"), "get-trips")

    assert trips["request"]["response"]["data_path"] == "$.data[*]"
    assert {"name": "departure_time", "type": "datetime", "path": "$.departure_time"} in trips[
        "response_fields"
    ]
    assert trips["request"]["query"] == [
        ["origin", "{origin}"], ["destination", "{destination}"], ["date", "{date}"],
    ]  # fmt: skip


def test_openapi_3_1_path_level_parameters_and_one_of_sources() -> None:
    payment = entity(discovered("train-travel-openapi-3.1.yaml"), "create-booking-payment")

    assert [p["name"] for p in payment["path_params"]] == ["bookingId"]
    names = [f["name"] for f in payment["response_fields"]]
    assert names[:3] == ["id", "amount", "currency"]
    assert "source.exp_year" in names
    assert len(payment["body_schema"]["properties"]["source"]["oneOf"]) == 2


def test_entities_become_valid_request_specs_with_a_connection() -> None:
    for fixture in FIXTURES.iterdir():
        for found in discovered(fixture.name, connection="crm")["entities"]:
            spec = RequestSpec.model_validate(found["request"])
            assert spec.connection == "crm" and spec.url == found["path"]


def test_a_document_missing_info_version_is_refused_with_the_reason() -> None:
    document = {"openapi": "3.0.3", "info": {"title": "x"}, "paths": {}}

    with pytest.raises(ConfigError) as caught:
        discover(document)

    assert caught.value.field == "openapi"
    assert "'version' is a required property" in caught.value.message


def test_an_unknown_version_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        discover({"openapi": "4.0.0", "info": {}, "paths": {}})

    assert caught.value.field == "openapi.openapi"


def test_external_refs_are_refused_before_any_fetch() -> None:
    document = load_document((FIXTURES / "petstore-openapi-3.0.yaml").read_text())
    document["components"]["schemas"]["Pet"] = {"$ref": "file:///etc/passwd"}

    with pytest.raises(ConfigError) as caught:
        discover(document)

    assert "external $ref" in caught.value.message


def test_a_dangling_local_ref_is_refused() -> None:
    document = load_document((FIXTURES / "petstore-openapi-3.0.yaml").read_text())
    del document["components"]["schemas"]["Pets"]

    with pytest.raises(ConfigError) as caught:
        discover(document)

    assert caught.value.field == "openapi"


def test_recursive_schemas_stop_at_the_repeated_reference() -> None:
    document = {
        "openapi": "3.1.0",
        "info": {"title": "tree", "version": "1"},
        "paths": {
            "/nodes": {
                "post": {
                    "requestBody": {
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Node"}}
                        }
                    },
                    "responses": {"200": {"description": "ok"}},
                }
            }
        },
        "components": {
            "schemas": {
                "Node": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "children": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/Node"},
                        },
                    },
                }
            }
        },
    }

    (found,) = discover(document)["entities"]

    children = found["body_schema"]["properties"]["children"]
    assert children["items"] == {"$ref": "#/components/schemas/Node"}
    assert found["name"] == "POST /nodes"


@pytest.mark.parametrize("text", ["[1, 2]", "a: [unclosed", 42])
def test_text_that_is_no_document_names_the_field(text: Any) -> None:
    with pytest.raises(ConfigError) as caught:
        load_document(text)

    assert caught.value.field == "openapi"


# --- the answer's size: full details, compact lines, choices and cursors --------------------------


def answer_size(answer: dict[str, Any]) -> int:
    return len(json.dumps(answer, separators=(",", ":")))


def petstore() -> dict[str, Any]:
    return load_document((FIXTURES / "petstore-swagger-2.0.json").read_text())


def test_a_small_document_answers_every_entity_in_full_with_its_counts() -> None:
    result = discovered("petstore-swagger-2.0.json")

    assert result["detail"] == "full"
    assert (result["total"], result["returned"]) == (20, 20)
    assert result["truncated"] is False and result["next"] is None
    assert result["warnings"] == []


def test_entities_that_do_not_fit_in_full_are_listed_compactly() -> None:
    compact = discover(petstore(), detail="compact")
    entities_bytes = len(json.dumps(compact["entities"], separators=(",", ":")))

    result = discover(petstore(), max_bytes=_HEAD_BYTES + entities_bytes + 10)

    assert result["detail"] == "compact"
    assert result["returned"] == 20 and result["truncated"] is False
    assert result["entities"][0] == {
        "name": "uploadFile", "operation_id": "uploadFile", "method": "POST",
        "path": "/pet/{petId}/uploadImage", "summary": "uploads an image", "tags": ["pet"],
    }  # fmt: skip


def test_a_list_cut_by_the_budget_is_truncated_and_next_continues_it() -> None:
    budget = _HEAD_BYTES + 1_000
    names: list[str] = []
    cursor = None
    while True:
        result = discover(petstore(), detail="compact", cursor=cursor, max_bytes=budget)
        assert answer_size(result) <= budget
        assert result["total"] == 20 and result["truncated"] is (result["next"] is not None)
        names += [e["name"] for e in result["entities"]]
        cursor = result["next"]
        if cursor is None:
            break

    assert names == [e["name"] for e in discover(petstore())["entities"]]


def test_entities_are_chosen_by_name_or_by_method_and_path_and_answered_in_full() -> None:
    result = discover(petstore(), entities=["getOrderById", "DELETE /pet/{petId}"])

    assert result["detail"] == "full"
    # In the document's order, not the request's.
    assert [e["name"] for e in result["entities"]] == ["deletePet", "getOrderById"]
    assert (
        result["entities"][1]["request"]["url"]
        == "https://petstore.swagger.io/v2/store/order/{orderId}"
    )


def test_an_unknown_entity_is_refused_naming_the_field() -> None:
    with pytest.raises(ConfigError) as caught:
        discover(petstore(), entities=["getOrderById", "nope"])

    assert caught.value.field == "entities"
    assert "'nope'" in caught.value.message


def test_tag_path_prefix_and_operation_ids_narrow_the_choice_together() -> None:
    assert discover(petstore(), tag="STORE")["total"] == 4
    assert discover(petstore(), path_prefix="/user/")["total"] == 7
    both = discover(petstore(), tag="user", path_prefix="/user/log")
    assert [e["name"] for e in both["entities"]] == ["loginUser", "logoutUser"]
    assert [e["name"] for e in discover(petstore(), operation_ids=["addPet"])["entities"]] == [
        "addPet"
    ]


def test_a_cursor_that_was_not_given_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        discover(petstore(), cursor="abc")

    assert caught.value.field == "next"


# --- what the reader tolerates and what it refuses, each with its location ---------------------


def one_operation(operation: dict[str, Any], **components: Any) -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/users/{id}": {"get": {"responses": {"200": {"description": "ok"}}, **operation}}
        },
        "components": components,
    }


def test_a_dangling_ref_is_refused_naming_where_it_is_written() -> None:
    document = one_operation(
        {"parameters": [{"$ref": "#/components/parameters/Missing"}]}, parameters={}
    )

    with pytest.raises(ConfigError) as caught:
        discover(document)

    assert caught.value.message == (
        "invalid OpenAPI document at paths./users/{id}.get.parameters[0].$ref: $ref "
        "'#/components/parameters/Missing' does not resolve: no 'Missing' in components.parameters"
    )


def test_an_external_ref_is_refused_naming_where_it_is_written() -> None:
    schema = {"$ref": "https://example.com/user.json"}
    document = one_operation(
        {
            "responses": {
                "200": {"description": "ok", "content": {"application/json": {"schema": schema}}}
            }
        }
    )

    with pytest.raises(ConfigError) as caught:
        discover(document)

    assert caught.value.message.startswith(
        "invalid OpenAPI document at paths./users/{id}.get.responses.200.content."
        "application/json.schema.$ref: external $ref 'https://example.com/user.json'"
    )


def test_references_that_only_point_at_each_other_are_refused() -> None:
    document = one_operation(
        {"parameters": [{"$ref": "#/components/parameters/A"}]},
        parameters={
            "A": {"$ref": "#/components/parameters/B"},
            "B": {"$ref": "#/components/parameters/A"},
        },
    )

    with pytest.raises(ConfigError) as caught:
        discover(document)

    assert "$ref cycle" in caught.value.message
    assert " at components.parameters." in caught.value.message


def test_a_ref_inside_an_example_is_data_not_a_reference() -> None:
    schema = {"type": "object", "example": {"$ref": "#/not/a/reference"}}
    document = one_operation({"requestBody": {"content": {"application/json": {"schema": schema}}}})
    document["paths"]["/users/{id}"]["post"] = document["paths"]["/users/{id}"].pop("get")

    (found,) = discover(document)["entities"]

    assert found["body_schema"]["example"] == {"$ref": "#/not/a/reference"}


def test_a_parameter_without_a_name_is_a_located_warning_and_the_rest_is_read() -> None:
    document = one_operation(
        {"parameters": [{"in": "query"}, {"name": "id", "in": "path", "required": True}]}
    )

    result = discover(document)

    (found,) = result["entities"]
    assert [p["name"] for p in found["path_params"]] == ["id"]
    assert result["warnings"] == [
        {
            "location": "paths./users/{id}.get.parameters[0]",
            "message": "'name' is a required property",
        }
    ]


def test_an_undeclared_path_parameter_is_warned_about_and_still_drafted() -> None:
    result = discover(one_operation({}))

    (found,) = result["entities"]
    assert found["path_params"] == [
        {"name": "id", "type": "string", "required": True, "description": None}
    ]
    assert found["request"]["path_params"] == {"id": "{id}"}
    assert result["warnings"][0]["location"] == "paths./users/{id}.get.parameters"


def test_a_missing_title_is_a_warning_when_operations_can_be_read() -> None:
    document = one_operation({"parameters": [{"name": "id", "in": "path", "required": True}]})
    del document["info"]["title"]

    result = discover(document)

    assert result["total"] == 1
    assert result["warnings"] == [{"location": "info", "message": "'title' is a required property"}]


def test_a_path_item_reference_is_followed() -> None:
    document = {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {"/health": {"$ref": "#/components/pathItems/Health"}},
        "components": {"pathItems": {"Health": {"get": {"operationId": "health"}}}},
    }

    assert [e["name"] for e in discover(document)["entities"]] == ["health"]


def test_yaml_dates_and_integer_codes_become_json() -> None:
    text = """
openapi: 3.0.3
info: {title: dated, version: 2024-01-31}
paths:
  /days:
    post:
      requestBody:
        content:
          application/json:
            schema: {type: object, properties: {day: {type: string, example: 2024-02-01}}}
      responses:
        200:
          content:
            application/json:
              schema: {$ref: '#/components/responses/Day/content/application~1json/schema'}
components:
  responses:
    Day:
      content:
        application/json:
          schema: {type: object, properties: {day: {type: string, format: date}}}
"""
    result = discover(load_document(text))

    assert result["version"] == "2024-01-31"
    (found,) = result["entities"]
    assert found["body_schema"]["properties"]["day"]["example"] == "2024-02-01"
    assert found["response_fields"] == [{"name": "day", "type": "datetime", "path": "$.day"}]
    json.dumps(result)


def test_schemas_that_include_each_other_through_all_of_end() -> None:
    schemas = {
        "A": {
            "allOf": [{"$ref": "#/components/schemas/B"}],
            "properties": {"a": {"type": "string"}},
        },
        "B": {
            "allOf": [{"$ref": "#/components/schemas/A"}],
            "properties": {"b": {"type": "integer"}},
        },
    }
    content = {"application/json": {"schema": {"$ref": "#/components/schemas/A"}}}
    document = one_operation(
        {
            "parameters": [{"name": "id", "in": "path", "required": True}],
            "responses": {"200": {"description": "ok", "content": content}},
        },
        schemas=schemas,
    )

    (found,) = discover(document)["entities"]

    assert {f["name"] for f in found["response_fields"]} == {"a", "b"}


def test_a_very_wide_answer_maps_at_most_max_fields() -> None:
    wide = {"type": "object", "properties": {f"f{i}": {"type": "string"} for i in range(900)}}
    content = {"application/json": {"schema": wide}}
    document = one_operation(
        {
            "parameters": [{"name": "id", "in": "path", "required": True}],
            "responses": {"200": {"description": "ok", "content": content}},
        }
    )

    (found,) = discover(document)["entities"]

    assert len(found["response_fields"]) == MAX_FIELDS


# --- documents built to exhaust the reader ------------------------------------------------------


def test_yaml_aliases_that_share_a_parameter_are_read() -> None:
    text = """
openapi: 3.0.3
info: {title: shared, version: '1'}
x-shared: &id {name: id, in: path, required: true, schema: {type: integer}}
paths:
  /a/{id}: {get: {parameters: [*id], responses: {'200': {description: ok}}}}
  /b/{id}: {get: {parameters: [*id], responses: {'200': {description: ok}}}}
"""
    result = discover(load_document(text))

    assert [e["path_params"][0]["type"] for e in result["entities"]] == ["integer", "integer"]


def test_nested_yaml_aliases_billion_laughs_are_refused() -> None:
    lines = ["openapi: 3.0.3", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]

    with pytest.raises(ConfigError) as caught:
        load_document("\n".join(lines))

    assert caught.value.field == "openapi"
    assert "aliases" in caught.value.message


@pytest.mark.parametrize("text", ["[" * 100_000 + "]" * 100_000, '{"a":' * 100_000 + "1}"])
def test_json_nested_beyond_the_parser_is_refused(text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_document(text)

    assert caught.value.message == "the document nests too deeply to be read"


def test_schemas_nested_hundreds_deep_are_cut_not_a_crash() -> None:
    deep: dict[str, Any] = {"type": "string"}
    for _ in range(600):
        deep = {"type": "object", "properties": {"a": deep}, "allOf": [{"allOf": [{}]}]}
    content = {"application/json": {"schema": deep}}
    document = one_operation(
        {
            "parameters": [{"name": "id", "in": "path", "required": True}],
            "requestBody": {"content": content},
            "responses": {"200": {"description": "ok", "content": content}},
        }
    )

    (found,) = discover(document)["entities"]

    assert found["response_fields"][0]["name"].startswith("a.a.a")
    json.dumps(found)


def test_a_cursor_of_other_digits_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        discover(petstore(), cursor="²")

    assert caught.value.field == "next"


def test_a_pointer_through_a_reference_is_followed_and_a_cycle_of_them_refused() -> None:
    through = one_operation(
        {"parameters": [{"$ref": "#/components/parameters/Alias/id"}]},
        parameters={"Alias": {"$ref": "#/components/x-ids"}},
        **{"x-ids": {"id": {"name": "id", "in": "path", "required": True}}},
    )
    looped = one_operation(
        {"parameters": [{"$ref": "#/components/parameters/A/id"}]},
        parameters={"A": {"$ref": "#/components/parameters/A/id"}},
    )

    (found,) = discover(through)["entities"]
    with pytest.raises(ConfigError) as caught:
        discover(looped)

    assert found["path_params"][0]["name"] == "id"
    assert "passes through a cycle of references" in caught.value.message
