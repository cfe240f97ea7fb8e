"""Discovery: an OpenAPI 3.0/3.1 or Swagger 2.0 document becomes a list of request entities.

The document is read, not validated against the OpenAPI meta-schema. Full-schema validation
(openapi-spec-validator) took 24-65 s on GitHub's 13 MB document and refused documents whose
operations read perfectly well; discovery needs only paths, operations, parameters, bodies and
responses. So a structural reader walks those, resolves local `$ref`s on demand (only what the
chosen entities need, each reference once, cycles cut where they repeat) and names the location
of every problem (`paths./users/{id}.get.parameters[2]`). A problem that leaves the operation
readable is a warning; the document is refused only when nothing can be read from it: not an
OpenAPI/Swagger document, a `$ref` that resolves nowhere inside it (external references are never
followed: they would read files or fetch URLs past the URL guard), or no operation at all.

The answer fits in `MAX_ANSWER_BYTES`: every entity in full when they all fit, else a compact line
per entity (name, method, path, summary, tags); a selection (`entities`, `operation_ids`, `tag`,
`path_prefix`) answers the chosen entities in full; a list cut by the budget says `truncated` and
gives the `next` cursor.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import unquote

from apicall.core.errors import BlockedURL, ConfigError, UpstreamError
from apicall.core.models import Connection

HTTP_METHODS = ("get", "post", "put", "patch", "delete", "head")
# The largest public documents (Microsoft Graph v1.0, 20 MB) with room to grow.
MAX_DOCUMENT_BYTES = 32 * 1024 * 1024
# Well inside Lambda's 6 MB response limit, and what a builder UI can hold and show.
MAX_ANSWER_BYTES = 1_000_000
# Room kept in the answer for everything but the entities (title, counts, warnings).
_HEAD_BYTES = 48_000
MAX_WARNINGS = 50
# Nesting of schemas expanded in body schemas and walked for response fields.
MAX_DEPTH = 8
# Per entity: enough for the largest real answers (GitHub's pull request: ~400 fields), bounded
# so one entity can never fill the answer on its own.
MAX_FIELDS = 500
MAX_SCHEMA_NODES = 3_000
MAX_SCHEMA_VALUES = 4 * MAX_SCHEMA_NODES
# A document's own nesting walked at most (a schema 600 objects deep is no API's, but it must not
# exhaust Python's recursion limit of 1,000 frames).
MAX_NESTING = 64
_SUMMARY_CHARS = 200
_SCALAR_TYPES = {"string", "number", "integer", "boolean"}
# Property names under which APIs commonly wrap a page of rows.
COLLECTION_PROPERTIES = ("data", "items", "results", "records", "entries")
# Keywords whose values are data (examples, defaults), not schemas: a "$ref" in them is a string.
_DATA_KEYS = frozenset({"example", "examples", "default", "enum", "const", "x-examples"})
# Keywords whose values map names to schemas, so a child named "example" is a schema.
_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "definitions", "$defs", "schemas"})
_PARAMETER_PLACES = {
    "2.0": ("path", "query", "header", "body", "formData"),
    "3": ("path", "query", "header", "cookie"),
}

Detail = Literal["auto", "compact", "full"]


def load_document(source: Any, *, field: str = "openapi") -> dict[str, Any]:
    """A document given as an object, or as JSON or YAML text."""
    if isinstance(source, Mapping):
        return dict(source)
    if not isinstance(source, str | bytes):
        raise ConfigError("the OpenAPI document must be an object or JSON/YAML text", field=field)
    try:
        document = json.loads(source)
    except RecursionError:
        raise ConfigError("the document nests too deeply to be read", field=field) from None
    except ValueError:
        text = source.decode("utf-8", errors="replace") if isinstance(source, bytes) else source
        document = _load_yaml(text, field)
    if not isinstance(document, dict):
        raise ConfigError("the OpenAPI document must be an object", field=field)
    return document


def _load_yaml(text: str, field: str) -> Any:
    import yaml

    # libyaml's parser when PyYAML has it: several times faster than the pure-Python one.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        document = yaml.load(text, Loader=loader)  # noqa: S506 (a safe loader)
    except RecursionError:
        raise ConfigError("the document nests too deeply to be read", field=field) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"the document is neither JSON nor YAML: {exc}", field=field) from None
    # An alias makes one object appear in many places: nested aliases ("billion laughs") make a
    # few kilobytes of text a document too large to walk. Text without aliases has fewer values
    # than characters (Microsoft Graph: 0.75 million in 20 MB); aliases may repeat a schema up
    # to that, or to 2 million values (a walk of about a second). Aliases need anchors.
    if _ANCHOR.search(text) and _values_beyond(document, max(len(text), 2_000_000)):
        raise ConfigError(
            "the document's YAML aliases repeat more values than its text holds", field=field
        )
    return document


_ANCHOR = re.compile(r"(?:^|[\s\[{,])&[^\s,\[\]{}]")


def _values_beyond(document: Any, limit: int) -> bool:
    """Whether walking `document` as a tree meets more than `limit` values."""
    stack = [document]
    seen = 0
    while stack:
        item = stack.pop()
        seen += 1
        if seen > limit:
            return True
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def fetch_document(
    url: str, connection: Connection | None, name: str | None = None
) -> dict[str, Any]:
    """GET the document as the connection `name` (its auth, rate limit and guard) or, without one,
    as an inline URL: the URL guard and the size cap apply either way."""
    from apicall.http import client

    if not re.match(r"^https?://", url):
        raise ConfigError("url must be an absolute http(s) URL", field="url")
    conn = connection or Connection()
    http = client.client_for(conn, name if connection is not None else None)
    request = client.OutgoingRequest("GET", url, headers={"Accept": "application/json, */*"})
    try:
        response = http.send(
            request, client.SendPolicy(timeout_s=conn.timeout_s, max_bytes=MAX_DOCUMENT_BYTES)
        )
    except (UpstreamError, BlockedURL) as exc:
        raise ConfigError(
            f"the document could not be fetched: {exc.message}", field="url"
        ) from None
    if not 200 <= response.status < 300:
        raise ConfigError(f"the document URL answered HTTP {response.status}", field="url")
    return load_document(response.content, field="url")


def discover(
    document: Mapping[str, Any],
    *,
    connection: str | None = None,
    entities: Sequence[str] | None = None,
    operation_ids: Sequence[str] | None = None,
    tag: str | None = None,
    path_prefix: str | None = None,
    detail: Detail = "auto",
    cursor: str | None = None,
    max_bytes: int = MAX_ANSWER_BYTES,
) -> dict[str, Any]:
    """The document's entities, one per operation, ready to be RequestSpecs.

    `entities` (names or `METHOD /path`), `operation_ids`, `tag` and `path_prefix` choose
    entities (all given must match); chosen entities are answered in full. Without a choice,
    `detail="auto"` answers every entity in full when the answer fits `max_bytes`, else one
    compact line each. `cursor` is the `next` of a truncated answer.
    """
    version = _version(document)
    reader = _Reader(document, version)
    reader.check_refs()
    operations = reader.operations()
    if not operations:
        raise reader.nothing_to_read()

    selected = _select(operations, entities, operation_ids, tag, path_prefix)
    start = _offset(cursor)
    chosen = entities is not None or operation_ids is not None or tag or path_prefix
    budget = max_bytes - _HEAD_BYTES
    base_url = _base_url(document, version)

    def full(op: _Operation) -> dict[str, Any]:
        return reader.entity(op, connection, base_url)

    rest = selected[start:]
    if detail == "full" or (detail == "auto" and chosen):
        kind, page = "full", _fill(rest, full, budget)
    else:
        kind, page = "compact", _fill(rest, _compact, budget)
        # A document whose entities all fit in full is answered in full, as before the budget.
        # Only tried when the compact lines fit: full details never fit where they do not.
        if detail == "auto" and start == 0 and page.complete:
            detailed = _fill(rest, full, budget)
            if detailed.complete:
                kind, page = "full", detailed
            else:
                reader.detail_warnings.clear()
    if not page.items and rest:
        # One entity larger than the whole budget: its compact line keeps a pager moving.
        reader.warn(rest[0].location, "the entity's details do not fit in the answer")
        page = _fill(rest[:1], _compact, max_bytes)
    info = _mapping(document.get("info"))
    answer = {
        "title": _short(info.get("title")),
        "version": _short(info.get("version")),
        "spec_version": version,
        "base_url": base_url,
        "detail": kind,
        "total": len(selected),
        "returned": 0,
        "truncated": False,
        "next": None,
        "warnings": reader.warnings(),
        "entities": [],
    }
    # The counts below change the head by a few digits at most.
    head = len(_dumps(answer)) + 32
    while page.items and head + sum(page.sizes) > max_bytes:
        page.items.pop()
        page.sizes.pop()
    end = start + len(page.items)
    answer.update(
        returned=len(page.items),
        truncated=end < len(selected),
        next=str(end) if end < len(selected) else None,
        entities=page.items,
    )
    return answer


@dataclass
class _Page:
    items: list[dict[str, Any]]
    sizes: list[int]
    complete: bool


def _dumps(value: Any) -> str:
    # As the test API's resolver serialises answers: compact separators, ASCII only.
    return json.dumps(value, separators=(",", ":"))


def _fill(operations: Sequence[_Operation], render: Any, budget: int) -> _Page:
    """Rendered entities while their JSON fits `budget` bytes, and whether all of them did."""
    page = _Page([], [], complete=True)
    used = 0
    for op in operations:
        item = render(op)
        size = len(_dumps(item)) + 1  # and the list's comma
        used += size
        if used > budget:
            page.complete = False
            break
        page.items.append(item)
        page.sizes.append(size)
    return page


def _offset(cursor: str | None) -> int:
    if cursor is None:
        return 0
    if not (cursor.isascii() and cursor.isdigit()):
        raise ConfigError("next is not a cursor this API gave", field="next")
    return int(cursor)


def _select(
    operations: list[_Operation],
    entities: Sequence[str] | None,
    operation_ids: Sequence[str] | None,
    tag: str | None,
    path_prefix: str | None,
) -> list[_Operation]:
    chosen = operations
    if entities is not None:
        wanted = set(entities)
        chosen = [op for op in chosen if op.name in wanted or op.key in wanted]
        found = {op.name for op in chosen} | {op.key for op in chosen}
        unknown = [name for name in entities if name not in found]
        if unknown:
            raise ConfigError(
                f"no such entity in the document: {', '.join(map(repr, unknown[:10]))}",
                field="entities",
            )
    if operation_ids is not None:
        wanted = set(operation_ids)
        chosen = [op for op in chosen if op.operation_id in wanted]
    if tag:
        folded = tag.casefold()
        chosen = [op for op in chosen if any(t.casefold() == folded for t in op.tags)]
    if path_prefix:
        chosen = [op for op in chosen if op.path.startswith(path_prefix)]
    return chosen


def _version(document: Mapping[str, Any]) -> str:
    swagger, openapi = document.get("swagger"), document.get("openapi")
    if swagger is not None:
        if str(swagger) != "2.0":
            raise ConfigError(f"unsupported swagger version {swagger!r}", field="openapi.swagger")
        return "2.0"
    if isinstance(openapi, str) and re.match(r"^3\.[01]\.\d+", openapi):
        return openapi
    raise ConfigError(
        "not an OpenAPI 3.0/3.1 or Swagger 2.0 document (no 'openapi: 3.x' or 'swagger: 2.0')",
        field="openapi.openapi",
    )


# --- locations and references ---------------------------------------------------------------

Location = tuple[str | int, ...]


def where(location: Location) -> str:
    """`paths./users/{id}.get.parameters[2]`: keys joined by dots, list indexes in brackets."""
    out = ""
    for part in location:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "the document root"


class _Unresolvable(Exception):
    """A `$ref` that points nowhere inside the document; the reason, without its location."""


@dataclass
class _Operation:
    path: str
    method: str
    operation: Mapping[str, Any]
    path_item: Mapping[str, Any]
    location: Location
    operation_id: str | None
    tags: list[str]

    @property
    def key(self) -> str:
        return f"{self.method.upper()} {self.path}"

    @property
    def name(self) -> str:
        return self.operation_id or self.key


@dataclass
class _Reader:
    """One document, read on demand: references resolved once each, problems with locations."""

    root: Mapping[str, Any]
    version: str
    _targets: dict[str, tuple[Any, Location]] = field(default_factory=dict)
    _resolving: list[str] = field(default_factory=list)
    listing_warnings: list[dict[str, str]] = field(default_factory=list)
    detail_warnings: list[dict[str, str]] = field(default_factory=list)

    # -- problems

    def warn(self, location: Location, message: str, *, listing: bool = False) -> None:
        target = self.listing_warnings if listing else self.detail_warnings
        if len(self.listing_warnings) + len(self.detail_warnings) < MAX_WARNINGS:
            target.append({"location": where(location)[:300], "message": message[:300]})

    def warnings(self) -> list[dict[str, str]]:
        return self.listing_warnings + self.detail_warnings

    def refuse(self, location: Location, message: str) -> ConfigError:
        return ConfigError(
            f"invalid OpenAPI document at {where(location)}: {message}", field="openapi"
        )

    def nothing_to_read(self) -> ConfigError:
        """The refusal of a document with no operation, naming what is missing and where."""
        paths = self.root.get("paths")
        if paths is None:
            location: Location = ()
            reason = "'paths' is a required property"
        elif not isinstance(paths, Mapping):
            location, reason = ("paths",), f"must be an object, not {type(paths).__name__}"
        else:
            location, reason = ("paths",), "no operation (get, post, put, patch, delete, head)"
        if self.root.get("webhooks"):
            reason += "; its webhooks are requests the API sends, not ones to send it"
        others = "; ".join(f"{w['message']} at {w['location']}" for w in self.listing_warnings)
        return self.refuse(location, reason + (f"; also {others}" if others else ""))

    # -- references

    def target(self, ref: str) -> tuple[Any, Location]:
        """What a local `$ref` points at, and where that is; raises _Unresolvable."""
        found = self._targets.get(ref)
        if found is not None:
            return found
        if not ref.startswith("#"):
            raise _Unresolvable(
                f"external $ref {ref[:200]!r} is not supported: bundle the document first"
            )
        pointer = unquote(ref[1:])
        if pointer and not pointer.startswith("/"):
            raise _Unresolvable(f"$ref {ref[:200]!r} is not a JSON pointer into the document")
        # A pointer may pass through references (_step), which may pass through others.
        if ref in self._resolving:
            raise _Unresolvable(f"$ref {ref[:200]!r} passes through a cycle of references")
        if len(self._resolving) > MAX_NESTING:
            raise _Unresolvable(
                f"$ref {ref[:200]!r} passes through more than {MAX_NESTING} references"
            )
        self._resolving.append(ref)
        try:
            node: Any = self.root
            location: list[str | int] = []
            for token in pointer.split("/")[1:] if pointer else []:
                token = token.replace("~1", "/").replace("~0", "~")
                node, step = self._step(node, token, ref, location)
                location.append(step)
        finally:
            self._resolving.pop()
        found = (node, tuple(location))
        self._targets[ref] = found
        return found

    def _step(self, node: Any, token: str, ref: str, location: list[str | int]) -> tuple[Any, Any]:
        for _ in range(MAX_DEPTH):
            if isinstance(node, Mapping):
                if token in node:
                    return node[token], token
                # YAML reads `200:` as an integer key.
                if token.isdigit() and int(token) in node:
                    return node[int(token)], token
                inner = node.get("$ref")
                if isinstance(inner, str):
                    # Some documents point through a reference (#/a/b where a is a $ref).
                    node = self.target(inner)[0]
                    continue
            elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
                return node[int(token)], int(token)
            break
        raise _Unresolvable(
            f"$ref {ref[:200]!r} does not resolve: no {token!r} in {where(tuple(location))}"
        )

    def deref(self, node: Any, location: Location) -> tuple[Any, Location, tuple[str, ...]]:
        """`node` with a chain of `$ref`s followed: (target, its location, the refs followed)."""
        followed: tuple[str, ...] = ()
        while isinstance(node, Mapping):
            ref = node.get("$ref")
            if not isinstance(ref, str):
                break
            if ref in followed:
                raise self.refuse(location, f"$ref cycle {' -> '.join(followed)} -> {ref}")
            try:
                node, target_location = self.target(ref)
            except _Unresolvable as exc:
                raise self.refuse((*location, "$ref"), str(exc)) from None
            followed = (*followed, ref)
            location = target_location
        return node, location, followed

    def check_refs(self) -> None:
        """Every `$ref` resolves inside the document; else the refusal names where it is written.

        One walk gathers the distinct references (a large document has ~10,000 uses of ~2,000);
        each is resolved once. The located walk runs only when one fails.
        """
        refs: set[str] = set()
        stack: list[Any] = [self.root]
        pop, push = stack.pop, stack.extend
        # Exact type checks: the hottest loop of a discovery, ~25% faster than isinstance.
        while stack:
            item = pop()
            kind = type(item)
            if kind is dict:
                ref = item.get("$ref")
                if ref is not None and type(ref) is str:
                    refs.add(ref)
                push(item.values())
            elif kind is list:
                push(item)
        for ref in sorted(refs):
            try:
                self._follow(ref)
            except _Unresolvable as exc:
                location = self._locate(ref)
                if location is not None:
                    raise self.refuse(location, str(exc)) from None

    def _follow(self, ref: str) -> None:
        seen = [ref]
        node = self.target(ref)[0]
        while isinstance(node, Mapping) and isinstance(node.get("$ref"), str):
            if node["$ref"] in seen:
                raise _Unresolvable(f"$ref cycle {' -> '.join(seen)} -> {node['$ref']}")
            seen.append(node["$ref"])
            node = self.target(node["$ref"])[0]

    def _locate(self, ref: str) -> Location | None:
        """Where `ref` is written as a reference (not inside an example); None if nowhere."""
        stack: list[tuple[Any, Location, bool]] = [(self.root, (), False)]
        while stack:
            item, location, names_schemas = stack.pop()
            if isinstance(item, Mapping):
                if item.get("$ref") == ref:
                    return (*location, "$ref")
                for key, value in item.items():
                    if isinstance(value, Mapping | list) and (
                        names_schemas or key not in _DATA_KEYS
                    ):
                        stack.append((value, (*location, key), key in _SCHEMA_MAPS))
            elif isinstance(item, list):
                stack.extend((value, (*location, i), False) for i, value in enumerate(item))
        return None

    # -- operations

    def operations(self) -> list[_Operation]:
        paths = self.root.get("paths")
        self._check_info()
        if not isinstance(paths, Mapping):
            return []
        found: list[_Operation] = []
        ids: dict[str, str] = {}
        for path, raw_item in paths.items():
            path = str(path)
            if path.startswith("x-"):  # an extension of the Paths object, not a path
                continue
            location: Location = ("paths", path)
            if isinstance(raw_item, Mapping) and "$ref" in raw_item:
                raw_item, _, _ = self.deref(raw_item, location)
            if not isinstance(raw_item, Mapping):
                self.warn(location, "a path item must be an object", listing=True)
                continue
            if not path.startswith("/"):
                self.warn(location, "a path must start with '/'", listing=True)
            for method in HTTP_METHODS:
                operation = raw_item.get(method)
                if operation is None:
                    continue
                op_location = (*location, method)
                if not isinstance(operation, Mapping):
                    self.warn(op_location, "an operation must be an object", listing=True)
                    continue
                op = _Operation(
                    path=path,
                    method=method,
                    operation=operation,
                    path_item=raw_item,
                    location=op_location,
                    operation_id=_text(operation.get("operationId")),
                    tags=[_text(t) or "" for t in _listed(operation.get("tags"))],
                )
                if op.operation_id is not None:
                    if op.operation_id in ids:
                        self.warn(
                            (*op_location, "operationId"),
                            f"operationId {op.operation_id!r} is also {ids[op.operation_id]}",
                            listing=True,
                        )
                    ids.setdefault(op.operation_id, op.key)
                found.append(op)
        return found

    def _check_info(self) -> None:
        info = self.root.get("info")
        if not isinstance(info, Mapping):
            self.warn((), "'info' is a required property", listing=True)
            return
        for key in ("title", "version"):
            if key not in info:
                self.warn(("info",), f"'{key}' is a required property", listing=True)

    def entity(
        self, op: _Operation, connection: str | None, base_url: str | None
    ) -> dict[str, Any]:
        params = self._parameters(op)
        path_params = [_param_info(self, p, loc) for p, loc in params if p.get("in") == "path"]
        query_params = [_param_info(self, p, loc) for p, loc in params if p.get("in") == "query"]
        for name in re.findall(r"{([^{}/]+)}", op.path):
            if name not in {p["name"] for p in path_params}:
                self.warn(
                    (*op.location, "parameters"),
                    f"path parameter {name!r} of {op.path} is not declared",
                )
                path_params.append(
                    {"name": name, "type": "string", "required": True, "description": None}
                )
        body_schema, body_location, body_type = self._request_body(op, params)
        response = self._success_schema(op)
        data_path, fields = _Schemas(self).response_fields(response)
        return {
            **_compact(op),
            "summary": _text(op.operation.get("summary")),
            "path_params": path_params,
            "query_params": query_params,
            "body_schema": (
                _Schemas(self).expand(body_schema, body_location)
                if body_schema is not None
                else None
            ),
            "response_fields": fields,
            "request": _request(
                op.method, op.path, path_params, query_params, body_type, data_path, fields,
                connection, base_url,
            ),
        }  # fmt: skip

    def _parameters(self, op: _Operation) -> list[tuple[Mapping[str, Any], Location]]:
        """Path-level parameters overridden by operation-level ones of the same name and place."""
        places = _PARAMETER_PLACES["2.0" if self.version == "2.0" else "3"]
        merged: dict[tuple[str, str], tuple[Mapping[str, Any], Location]] = {}
        levels = ((op.path_item, op.location[:-1]), (op.operation, op.location))
        for owner, owner_location in levels:
            listed = owner.get("parameters")
            if listed is None:
                continue
            location = (*owner_location, "parameters")
            if not isinstance(listed, list):
                self.warn(location, "parameters must be an array")
                continue
            for index, raw in enumerate(listed):
                param, _, _ = self.deref(raw, (*location, index))
                if not isinstance(param, Mapping):
                    self.warn((*location, index), "a parameter must be an object")
                elif not isinstance(param.get("name"), str):
                    self.warn((*location, index), "'name' is a required property")
                elif param.get("in") not in places:
                    self.warn(
                        (*location, index),
                        f"'in' must be one of {', '.join(places)}, not {param.get('in')!r}",
                    )
                else:
                    merged[(param["name"], param["in"])] = (param, (*location, index))
        return list(merged.values())

    def _request_body(
        self, op: _Operation, params: list[tuple[Mapping[str, Any], Location]]
    ) -> tuple[Any, Location, str]:
        """The body's schema, where it is, and the RequestSpec body type it calls for."""
        if self.version == "2.0":
            for param, location in params:
                if param.get("in") == "body":
                    return param.get("schema") or {}, (*location, "schema"), "json"
            form = [p for p, _ in params if p.get("in") == "formData"]
            if form:
                has_file = any(p.get("type") == "file" for p in form)
                properties = {p["name"]: _swagger2_form_schema(p) for p in form}
                required = [p["name"] for p in form if p.get("required")]
                schema = {"type": "object", "properties": properties, "required": required}
                return schema, op.location, "multipart" if has_file else "form"
            return None, op.location, "none"
        body, location, _ = self.deref(
            op.operation.get("requestBody"), (*op.location, "requestBody")
        )
        if body is None:
            return None, location, "none"
        if not isinstance(body, Mapping):
            self.warn(location, "requestBody must be an object")
            return None, location, "none"
        content = body.get("content")
        if not isinstance(content, Mapping):
            self.warn(location, "'content' is a required property")
            return None, location, "none"
        for media, body_type in _MEDIA_BODY_TYPES:
            for key, item in content.items():
                if _media_matches(str(key), media) and isinstance(item, Mapping):
                    return item.get("schema") or {}, (*location, "content", key), body_type
        return None, location, "raw" if content else "none"

    def _success_schema(self, op: _Operation) -> tuple[Any, Location] | None:
        location = (*op.location, "responses")
        responses = op.operation.get("responses")
        if not isinstance(responses, Mapping):
            # 3.1 made responses optional; before, it was required.
            if responses is not None or not self.version.startswith("3.1"):
                self.warn(op.location, "'responses' is a required property")
            return None
        codes = sorted(str(code) for code in responses if str(code).upper().startswith("2"))
        # "default" describes errors as often as success: it counts only when no 2xx is declared.
        for code in codes or ["default"]:
            raw = responses.get(code)
            if raw is None and code.isdigit():
                raw = responses.get(int(code))
            response, response_location, _ = self.deref(raw, (*location, code))
            if not isinstance(response, Mapping):
                continue
            if self.version == "2.0":
                schema = response.get("schema")
                if isinstance(schema, Mapping):
                    return schema, (*response_location, "schema")
                continue
            content = response.get("content")
            for key, item in content.items() if isinstance(content, Mapping) else ():
                if _media_matches(str(key), "json") and isinstance(item, Mapping):
                    schema = item.get("schema")
                    if isinstance(schema, Mapping):
                        return schema, (*response_location, "content", key, "schema")
        return None


def _compact(op: _Operation) -> dict[str, Any]:
    summary = _text(op.operation.get("summary"))
    if summary is not None and len(summary) > _SUMMARY_CHARS:
        summary = summary[: _SUMMARY_CHARS - 3] + "..."
    return {
        "name": op.name,
        "operation_id": op.operation_id,
        "method": op.method.upper(),
        "path": op.path,
        "summary": summary,
        "tags": op.tags,
    }


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, datetime.date):  # YAML reads `version: 2024-01-01` as a date
        return value.isoformat()
    return str(value)


def _short(value: Any) -> str | None:
    text = _text(value)
    return text[:500] if text is not None else None


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _base_url(document: Mapping[str, Any], version: str) -> str | None:
    if version == "2.0":
        host = document.get("host")
        if not host:
            return None
        schemes = _listed(document.get("schemes")) or ["https"]
        scheme = "https" if "https" in schemes else schemes[0]
        return f"{scheme}://{host}{str(document.get('basePath') or '').rstrip('/')}"
    servers = _listed(document.get("servers"))
    if not servers or not isinstance(servers[0], Mapping):
        return None
    url = str(servers[0].get("url") or "")
    # Server variables take their defaults.
    variables = servers[0].get("variables")
    for name, variable in variables.items() if isinstance(variables, Mapping) else ():
        default = variable.get("default", "") if isinstance(variable, Mapping) else ""
        url = url.replace("{" + str(name) + "}", str(default))
    return url.rstrip("/") or None


def _param_info(reader: _Reader, param: Mapping[str, Any], location: Location) -> dict[str, Any]:
    schema = param.get("schema") if "schema" in param else param
    return {
        "name": param["name"],
        "type": _Schemas(reader).field_type(schema, (*location, "schema")),
        "required": bool(param.get("required", False)),
        "description": _text(param.get("description")),
    }


_MEDIA_BODY_TYPES = (
    ("json", "json"),
    ("application/x-www-form-urlencoded", "form"),
    ("multipart/form-data", "multipart"),
)


def _media_matches(key: str, media: str) -> bool:
    key = key.split(";")[0].strip().lower()
    if media == "json":
        return key == "application/json" or key.endswith("+json")
    return key == media


def _swagger2_form_schema(param: Mapping[str, Any]) -> dict[str, Any]:
    if param.get("type") == "file":
        return {"type": "string", "format": "binary"}
    return {k: param[k] for k in ("type", "format", "description", "items", "enum") if k in param}


# --- schemas to fields --------------------------------------------------------------------------


class _Schemas:
    """Schema reading for one entity: references resolved as walked, each cycle cut where it
    repeats, the work bounded (MAX_FIELDS, MAX_SCHEMA_NODES) whatever the document holds."""

    def __init__(self, reader: _Reader) -> None:
        self.reader = reader
        self.nodes = 0

    def resolve(
        self, schema: Any, location: Location, trail: tuple[str, ...]
    ) -> tuple[Mapping[str, Any], Location, tuple[str, ...], bool]:
        """(schema, where it is, trail, repeated): `repeated` when a reference is already on the
        trail, so the caller must not descend into it again."""
        node, location, followed = self.reader.deref(schema, location)
        repeated = any(ref in trail for ref in followed)
        return (node if isinstance(node, Mapping) else {}), location, (*trail, *followed), repeated

    def merged(
        self, schema: Any, location: Location, trail: tuple[str, ...] = (), depth: int = 0
    ) -> tuple[Mapping[str, Any], tuple[str, ...], bool]:
        """allOf merged into one schema; the first choice of oneOf/anyOf stands for the rest.

        The flag is true when the schema must not be descended into: a reference repeated on
        the trail, or allOf/oneOf nested past MAX_NESTING."""
        schema, location, trail, repeated = self.resolve(schema, location, trail)
        if repeated or depth > MAX_NESTING:
            return schema, trail, True
        if isinstance(schema.get("allOf"), list):
            out: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
            properties: dict[str, Any] = dict(_mapping(out.get("properties")))
            for index, part in enumerate(schema["allOf"]):
                part, trail, part_repeated = self.merged(
                    part, (*location, "allOf", index), trail, depth + 1
                )
                if not part_repeated:
                    properties.update(_mapping(part.get("properties")))
                for key in ("type", "items", "format"):
                    if key in part:
                        out.setdefault(key, part[key])
            if properties:
                out["properties"] = properties
            return out, trail, False
        for key in ("oneOf", "anyOf"):
            choices = []
            for index, choice in enumerate(_listed(schema.get(key))):
                choice, _, choice_trail, choice_repeated = self.resolve(
                    choice, (*location, key, index), trail
                )
                if choice.get("type") != "null":
                    choices.append((choice, choice_trail, choice_repeated))
            if choices:
                choice, choice_trail, choice_repeated = choices[0]
                rest = {k: v for k, v in schema.items() if k != key}
                if choice_repeated:
                    return {**rest, **choice}, choice_trail, True
                return self.merged({**rest, **choice}, location, choice_trail, depth + 1)
        return schema, trail, False

    def field_type(self, schema: Any, location: Location, trail: tuple[str, ...] = ()) -> str:
        merged, _, _ = self.merged(schema, location, trail)
        kind = _schema_type(merged)
        if kind == "string" and merged.get("format") in ("date-time", "date"):
            return "datetime"
        if kind in _SCALAR_TYPES or kind in ("object", "array"):
            return str(kind)
        return "string"

    def response_fields(
        self, found: tuple[Any, Location] | None
    ) -> tuple[str | None, list[dict[str, str]]]:
        """(data_path, fields): an array answer maps rows at `$[*]`; an object maps its fields."""
        if found is None:
            return None, []
        schema, location = found
        merged, trail, _ = self.merged(schema, location)
        fields: list[dict[str, str]] = []
        items = merged.get("items")
        if _schema_type(merged) == "array" and isinstance(items, Mapping):
            self._flatten(items, location, trail, "$", "", 0, fields)
            return "$[*]", fields
        wrapped = self._collection_property(merged, location, trail)
        if wrapped is not None:
            name, rows, rows_trail = wrapped
            self._flatten(rows, location, rows_trail, "$", "", 0, fields)
            return f"$.{name}[*]", fields
        if _schema_type(merged) in ("object", None):
            self._flatten(merged, location, trail, "$", "", 0, fields)
            return None, fields
        return None, [{"name": "value", "type": self.field_type(merged, location), "path": "$"}]

    def _collection_property(
        self, schema: Mapping[str, Any], location: Location, trail: tuple[str, ...]
    ) -> tuple[str, Mapping[str, Any], tuple[str, ...]] | None:
        """`{"data": [{...}], "links": ...}`: the array of objects wrapping a page of rows."""
        properties = _mapping(schema.get("properties"))
        for name in COLLECTION_PROPERTIES:
            if name not in properties:
                continue
            sub, sub_trail, repeated = self.merged(properties[name], location, trail)
            items = sub.get("items")
            if repeated or _schema_type(sub) != "array" or items is None:
                continue
            items, items_trail, repeated = self.merged(items, location, sub_trail)
            if not repeated and _mapping(items.get("properties")):
                return name, items, items_trail
        return None

    def _flatten(
        self,
        schema: Any,
        location: Location,
        trail: tuple[str, ...],
        path: str,
        prefix: str,
        depth: int,
        fields: list[dict[str, str]],
    ) -> None:
        schema, trail, repeated = self.merged(schema, location, trail)
        if repeated:
            return
        for key, sub in _mapping(schema.get("properties")).items():
            if len(fields) >= MAX_FIELDS:
                return
            sub_location = (*location, "properties", key)
            sub, sub_trail, sub_repeated = self.merged(sub, sub_location, trail)
            name = f"{prefix}.{key}" if prefix else str(key)
            sub_path = (
                f"{path}.{key}"
                if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(key))
                else (f"{path}[{json.dumps(str(key))}]")
            )
            kind = self.field_type(sub, sub_location, sub_trail)
            if (
                kind == "object"
                and not sub_repeated
                and _mapping(sub.get("properties"))
                and depth < MAX_DEPTH
            ):
                before = len(fields)
                self._flatten(sub, sub_location, sub_trail, sub_path, name, depth + 1, fields)
                if len(fields) > before:
                    continue
            fields.append({"name": name, "type": kind, "path": sub_path})

    def expand(
        self, node: Any, location: Location, trail: tuple[str, ...] = (), depth: int = 0
    ) -> Any:
        """A JSON copy with references replaced by what they point at; a reference that repeats
        on its own trail, lies deeper than MAX_DEPTH or past the node budget stays a `$ref`.
        Past MAX_SCHEMA_VALUES (only a document sharing objects, through YAML aliases, gets
        there), objects and arrays are left empty."""
        return self._expand(node, location, trail, depth, names_schemas=False)

    def _expand(
        self,
        node: Any,
        location: Location,
        trail: tuple[str, ...],
        depth: int,
        *,
        names_schemas: bool,
    ) -> Any:
        if not isinstance(node, Mapping | list):
            return self._data(node, depth)
        if depth > MAX_NESTING or self.nodes >= MAX_SCHEMA_VALUES:
            return {} if isinstance(node, Mapping) else []
        if isinstance(node, list):
            self.nodes += 1
            return [
                self._expand(value, location, trail, depth + 1, names_schemas=False)
                for value in node
            ]
        ref = node.get("$ref")
        if isinstance(ref, str) and not names_schemas:
            if ref in trail or depth > MAX_DEPTH or self.nodes >= MAX_SCHEMA_NODES:
                return {"$ref": ref}
            target, target_location, followed = self.reader.deref(node, location)
            if any(r in trail for r in followed[1:]):
                return {"$ref": ref}
            return self._expand(
                target, target_location, (*trail, *followed), depth, names_schemas=False
            )
        self.nodes += 1
        out = {}
        for key, value in node.items():
            key = str(key)
            if key in _DATA_KEYS and not names_schemas:
                out[key] = self._data(value, depth + 1)
            else:
                out[key] = self._expand(
                    value, location, trail, depth + 1, names_schemas=key in _SCHEMA_MAPS
                )
        return out

    def _data(self, value: Any, depth: int) -> Any:
        """A value from the document as JSON: YAML's dates and odd keys become strings."""
        if isinstance(value, Mapping | list):
            if depth > MAX_NESTING or self.nodes >= MAX_SCHEMA_VALUES:
                return None
            self.nodes += 1
            if isinstance(value, list):
                return [self._data(v, depth + 1) for v in value]
            return {str(k): self._data(v, depth + 1) for k, v in value.items()}
        if value is None or isinstance(value, str | int | float | bool):
            return value
        return _text(value)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _schema_type(schema: Mapping[str, Any]) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):  # 3.1: ["string", "null"]
        kinds = [k for k in kind if k != "null"]
        kind = kinds[0] if kinds else None
    if kind is None:
        if "properties" in schema:
            return "object"
        if "items" in schema:
            return "array"
    return kind if isinstance(kind, str) else None


def _request(
    method: str,
    path: str,
    path_params: list[dict[str, Any]],
    query_params: list[dict[str, Any]],
    body_type: str,
    data_path: str | None,
    fields: list[dict[str, str]],
    connection: str | None,
    base_url: str | None,
) -> dict[str, Any]:
    """A RequestSpec draft: path params and required query params as placeholders."""
    relative = connection is not None or not base_url
    spec: dict[str, Any] = {
        "method": method.upper(),
        "url": path if relative else f"{base_url}{path}",
        "path_params": {p["name"]: _placeholder(p["name"]) for p in path_params},
        "query": [[q["name"], _placeholder(q["name"])] for q in query_params if q["required"]],
        "response": {"data_path": data_path, "fields": fields},
    }
    if connection is not None:
        spec["connection"] = connection
    if body_type == "json":
        spec["body"] = {"type": "json", "value": "{body}"}
    elif body_type in ("form", "multipart"):
        spec["body"] = {"type": body_type}
    return spec


def _placeholder(name: str) -> str:
    """`{name}`, with characters a placeholder cannot hold (`filter[status]`) as underscores."""
    return "{" + re.sub(r"[^\w-]", "_", name) + "}"
