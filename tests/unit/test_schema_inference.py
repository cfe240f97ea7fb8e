"""infer_fields on real-world-shaped samples: the exact field lists the /schema API answers."""

from __future__ import annotations

from typing import Any

import pytest

from apicall.core.errors import ConfigError
from apicall.core.models import ResponseSpec
from apicall.request.mapping import map_response
from apicall.request.schema import infer_fields


def f(name: str, type_: str, path: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, "path": path, **extra}


def test_github_like_issue_list_merges_items_and_flattens_objects() -> None:
    issues = [
        {
            "id": 1,
            "number": 1347,
            "title": "Found a bug",
            "state": "open",
            "user": {"login": "octocat", "id": 1, "site_admin": False},
            "labels": [{"id": 208045946, "name": "bug"}],
            "assignee": None,
            "comments": 0,
            "created_at": "2011-04-22T13:33:48Z",
            "closed_at": None,
        },
        {
            "id": 2,
            "number": 1348,
            "title": "Docs",
            "state": "closed",
            "user": {"login": "hubot", "id": 2, "site_admin": True},
            "labels": [],
            "assignee": {"login": "octocat", "id": 1},
            "comments": 3,
            "created_at": "2011-04-23T10:00:00Z",
            "closed_at": "2011-04-24T09:00:00Z",
            "pull_request": {"url": "https://api.github.com/repos/o/r/pulls/1348"},
        },
    ]
    assert infer_fields(issues) == [
        f("id", "integer", "$.id"),
        f("number", "integer", "$.number"),
        f("title", "string", "$.title"),
        f("state", "string", "$.state"),
        f("user.login", "string", "$.user.login"),
        f("user.id", "integer", "$.user.id"),
        f("user.site_admin", "boolean", "$.user.site_admin"),
        f("labels", "array", "$.labels"),
        f("assignee.login", "string", "$.assignee.login"),
        f("assignee.id", "integer", "$.assignee.id"),
        f("comments", "integer", "$.comments"),
        f("created_at", "datetime", "$.created_at"),
        f("closed_at", "datetime", "$.closed_at"),
        f("pull_request.url", "string", "$.pull_request.url"),
    ]


def test_stripe_like_charge_with_nested_metadata_and_nulls() -> None:
    charge = {
        "id": "ch_3MmlLrLkdIwHu7ix0snN0B15",
        "object": "charge",
        "amount": 1099,
        "amount_captured": 1099,
        "captured": True,
        "created": 1679090539,
        "currency": "usd",
        "customer": None,
        "description": None,
        "failure_code": None,
        "metadata": {"order_id": "6735", "campaign": "spring"},
        "billing_details": {
            "address": {"city": None, "country": "US", "postal_code": "94107"},
            "email": None,
            "name": "Jenny Rosen",
        },
        "payment_method_details": {"card": {"brand": "visa", "exp_year": 2030, "last4": "4242"}},
        "refunds": {"object": "list", "data": [], "has_more": False},
    }
    assert infer_fields(charge) == [
        f("id", "string", "$.id"),
        f("object", "string", "$.object"),
        f("amount", "integer", "$.amount"),
        f("amount_captured", "integer", "$.amount_captured"),
        f("captured", "boolean", "$.captured"),
        f("created", "integer", "$.created"),
        f("currency", "string", "$.currency"),
        f("customer", "string", "$.customer", nullable_only=True),
        f("description", "string", "$.description", nullable_only=True),
        f("failure_code", "string", "$.failure_code", nullable_only=True),
        f("metadata.order_id", "string", "$.metadata.order_id"),
        f("metadata.campaign", "string", "$.metadata.campaign"),
        f(
            "billing_details.address.city",
            "string",
            "$.billing_details.address.city",
            nullable_only=True,
        ),
        f("billing_details.address.country", "string", "$.billing_details.address.country"),
        f("billing_details.address.postal_code", "string", "$.billing_details.address.postal_code"),
        f("billing_details.email", "string", "$.billing_details.email", nullable_only=True),
        f("billing_details.name", "string", "$.billing_details.name"),
        f("payment_method_details.card.brand", "string", "$.payment_method_details.card.brand"),
        f(
            "payment_method_details.card.exp_year",
            "integer",
            "$.payment_method_details.card.exp_year",
        ),
        f("payment_method_details.card.last4", "string", "$.payment_method_details.card.last4"),
        f("refunds.object", "string", "$.refunds.object"),
        f("refunds.data", "array", "$.refunds.data"),
        f("refunds.has_more", "boolean", "$.refunds.has_more"),
    ]


ORDERS_PAGE = {
    "data": [
        {"id": 101, "status": "paid", "total": 25, "customer": {"id": "c1"}},
        {"id": 102, "status": "pending", "total": 12.5, "coupon": "SPRING"},
        {"id": 103, "total": 40, "customer": {"id": "c3", "vip": True}, "status": None},
    ],
    "meta": {"page": 1, "per_page": 3, "total": 57},
    "links": {"next": "https://api.example.com/orders?page=2"},
}


def test_orders_page_at_data_path_merges_differing_keys() -> None:
    expected = [
        f("id", "integer", "$.id"),
        f("status", "string", "$.status"),
        f("total", "number", "$.total"),
        f("customer.id", "string", "$.customer.id"),
        f("customer.vip", "boolean", "$.customer.vip"),
        f("coupon", "string", "$.coupon"),
    ]
    assert infer_fields(ORDERS_PAGE, "$.data") == expected
    assert infer_fields(ORDERS_PAGE, "$.data[*]") == expected


def test_orders_page_without_data_path_describes_the_envelope() -> None:
    assert infer_fields(ORDERS_PAGE) == [
        f("data", "array", "$.data"),
        f("meta.page", "integer", "$.meta.page"),
        f("meta.per_page", "integer", "$.meta.per_page"),
        f("meta.total", "integer", "$.meta.total"),
        f("links.next", "string", "$.links.next"),
    ]


def test_shopify_like_product_keeps_variants_as_an_array() -> None:
    product = {
        "product": {
            "id": 632910392,
            "title": "IPod Nano - 8GB",
            "body_html": "<p>It's the small iPod.</p>",
            "vendor": "Apple",
            "tags": "Emotive, Flash Memory",
            "published_at": "2007-12-31T19:00:00-05:00",
            "variants": [
                {
                    "id": 808950810,
                    "price": "199.00",
                    "sku": "IPOD2008PINK",
                    "inventory_quantity": 10,
                },
                {"id": 49148385, "price": "199.00", "sku": "IPOD2008RED", "inventory_quantity": 20},
            ],
            "options": [{"name": "Color", "values": ["Pink", "Red"]}],
            "image": {"id": 850703190, "src": "https://cdn.example.com/ipod.png", "width": 123.0},
        }
    }
    assert infer_fields(product, "$.product") == [
        f("id", "integer", "$.id"),
        f("title", "string", "$.title"),
        f("body_html", "string", "$.body_html"),
        f("vendor", "string", "$.vendor"),
        f("tags", "string", "$.tags"),
        f("published_at", "datetime", "$.published_at"),
        f("variants", "array", "$.variants"),
        f("options", "array", "$.options"),
        f("image.id", "integer", "$.image.id"),
        f("image.src", "string", "$.image.src"),
        f("image.width", "integer", "$.image.width"),
    ]


def test_shopify_like_variants_at_data_path_become_row_fields() -> None:
    product = {
        "product": {
            "variants": [{"id": 1, "price": "199.00"}, {"id": 2, "price": "9.50", "weight": 0.2}]
        }
    }
    assert infer_fields(product, "$.product.variants") == [
        f("id", "integer", "$.id"),
        f("price", "string", "$.price"),
        f("weight", "number", "$.weight"),
    ]


def test_integers_and_floats() -> None:
    samples = [
        {"count": 1, "ratio": 1, "whole_float": 2.0, "mixed": 1, "big": 10**15, "flag": True},
        {
            "count": 2,
            "ratio": 1.5,
            "whole_float": 3.0,
            "mixed": "n/a",
            "big": 10**16,
            "flag": False,
        },
    ]
    assert infer_fields(samples) == [
        f("count", "integer", "$.count"),
        f("ratio", "number", "$.ratio"),
        # JSON has one number type: 2.0 and 3.0 are integral, so the field is integer
        f("whole_float", "integer", "$.whole_float"),
        # a number in one item and text in another: text holds both
        f("mixed", "string", "$.mixed"),
        f("big", "integer", "$.big"),
        f("flag", "boolean", "$.flag"),
    ]


def test_iso_dates_and_date_times() -> None:
    samples = [
        {
            "day": "2024-01-15",
            "at": "2024-01-15T10:30:00Z",
            "local": "2024-01-15 10:30:00",
            "offset": "2024-01-15T10:30:00.123+02:00",
            "sometimes": "2024-01-15",
            "maybe": None,
            "code": "20240115",
        },
        {
            "day": "2024-02-29",
            "at": "2024-01-16T00:00:00+00:00",
            "local": "2024-01-16 11:00:00",
            "offset": "2024-01-16T10:30:00-05:00",
            "sometimes": "soon",
            "maybe": "2024-03-01T08:00:00Z",
            "code": "20240116",
        },
    ]
    assert infer_fields(samples) == [
        f("day", "datetime", "$.day"),
        f("at", "datetime", "$.at"),
        f("local", "datetime", "$.local"),
        f("offset", "datetime", "$.offset"),
        f("sometimes", "string", "$.sometimes"),
        f("maybe", "datetime", "$.maybe"),
        f("code", "string", "$.code"),
    ]


def test_invalid_calendar_dates_are_strings() -> None:
    assert infer_fields({"d": "2024-02-30"}) == [f("d", "string", "$.d")]


def test_null_only_field_is_string_and_marked() -> None:
    assert infer_fields([{"id": 1, "deleted_at": None}, {"id": 2, "deleted_at": None}]) == [
        f("id", "integer", "$.id"),
        f("deleted_at", "string", "$.deleted_at", nullable_only=True),
    ]


def test_keys_with_spaces_dots_and_quotes_get_bracket_paths() -> None:
    sample = {
        "first name": "Ada",
        "e.mail": "ada@example.com",
        "it's": 1,
        "back\\slash": True,
        "1st": "x",
        "ünïcode": "y",
        "with-dash": "z",
        "": "empty key",
        "address info": {"zip code": "12345"},
    }
    fields = infer_fields(sample)
    assert fields == [
        f("first name", "string", "$['first name']"),
        f("e.mail", "string", "$['e.mail']"),
        f("it's", "integer", "$['it\\'s']"),
        f("back\\slash", "boolean", "$['back\\\\slash']"),
        f("1st", "string", "$['1st']"),
        f("ünïcode", "string", "$['ünïcode']"),
        f("with-dash", "string", "$['with-dash']"),
        f("", "string", "$['']"),
        f("address info.zip code", "string", "$['address info']['zip code']"),
    ]
    # every inferred path is valid RFC 9535 and finds its value
    spec = ResponseSpec.model_validate({"fields": [field for field in fields if field["name"]]})
    mapped = map_response(sample, spec)
    assert mapped.skipped_fields == []
    assert mapped.data is not None and mapped.data["address info.zip code"] == "12345"


def test_empty_list_has_no_fields() -> None:
    assert infer_fields([]) == []
    assert infer_fields({"data": []}, "$.data") == []


def test_top_level_scalar_array_is_one_value_field() -> None:
    assert infer_fields(["a", "b", "c"]) == [f("value", "string", "$")]
    assert infer_fields([1, 2.5]) == [f("value", "number", "$")]


def test_top_level_scalar_is_one_value_field() -> None:
    assert infer_fields(42) == [f("value", "integer", "$")]
    assert infer_fields(None) == [f("value", "string", "$", nullable_only=True)]


def test_empty_object_is_an_object_field() -> None:
    assert infer_fields({"id": 1, "settings": {}}) == [
        f("id", "integer", "$.id"),
        f("settings", "object", "$.settings"),
    ]


def test_object_or_text_is_string() -> None:
    assert infer_fields([{"v": {"a": 1}}, {"v": "text"}]) == [f("v", "string", "$.v")]


def test_data_path_matching_nothing_has_no_fields() -> None:
    assert infer_fields({"a": 1}, "$.data") == []


def test_bad_data_path_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        infer_fields({}, "$.[")
    assert caught.value.field == "data_path"


def test_inferred_fields_map_the_sample_they_came_from() -> None:
    spec = ResponseSpec.model_validate(
        {"data_path": "$.data", "fields": infer_fields(ORDERS_PAGE, "$.data")}
    )
    mapped = map_response(ORDERS_PAGE, spec)
    assert mapped.rows is not None and len(mapped.rows) == 3
    assert mapped.rows[1]["total"] == 12.5
    assert mapped.rows[2]["customer.vip"] is True
    assert "total" not in mapped.skipped_fields


def test_inference_is_deterministic() -> None:
    assert infer_fields(ORDERS_PAGE, "$.data") == infer_fields(ORDERS_PAGE, "$.data")
