"""Discovery on real public documents of three versions: Swagger 2.0, OpenAPI 3.0 and 3.1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from apicall.errors import ConfigError
from apicall.models import RequestSpec
from apicall.openapi import discover, load_document

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
