"""A RequestSpec that names an entity: the entity's saved request is its base, and the fields the
spec sets itself replace the entity's.

Objects merge key by key, so a spec can add one header, fill one path param or change
`response.data_path` alone; every other value (a list such as `query` pairs or
`response.fields`, a scalar, and `body` as a whole, whose `type` decides its other fields)
replaces the entity's. What the spec leaves out keeps the entity's value, defaults included.

The request function (direct invokes) and the test API's `/test` and `/preview` resolve entities
from CatalogTable in the input's workspace. Push and fetch do not: their functions have no
CatalogTable, and a FetchJob whose request names an entity is refused before any page is fetched
(`execute.check_spec`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from apicall.core.catalog import CatalogStore, default_catalog_store
from apicall.core.connections import deep_merge
from apicall.core.errors import EntityNotFound, InvalidRequest, config_error_from
from apicall.core.models import RequestSpec


def resolve(
    spec: RequestSpec, workspace: str, *, catalog: CatalogStore | None = None
) -> RequestSpec:
    """`spec` with its entity's request as the base (one GetItem); `spec` itself when it names
    none. An unknown entity raises EntityNotFound naming `request.entity`; a combination that is
    not a valid RequestSpec raises a ConfigError naming the `request.` field at fault."""
    if spec.entity is None:
        return spec
    if spec.connection is None:  # RequestSpec refuses it; a model built without validation may not
        raise InvalidRequest("an entity needs its connection", field="request.connection")
    catalog = catalog if catalog is not None else default_catalog_store()
    try:
        entity = catalog.get_entity(workspace, spec.connection, spec.entity)
    except InvalidRequest as exc:  # a name no key can hold (the entity's is checked already)
        raise InvalidRequest(exc.message, field="request.connection") from exc
    if entity is None:
        raise EntityNotFound(
            f"connection '{spec.connection}' has no entity '{spec.entity}'",
            field="request.entity",
        )
    own = spec.model_dump(mode="json", by_alias=True, exclude_unset=True)
    del own["entity"]
    data = merged_request(entity.request, own)
    try:
        return RequestSpec.model_validate(data)
    except ValidationError as exc:
        raise config_error_from(
            exc, data=data, prefix="request", what=f"request (entity '{spec.entity}' and its spec)"
        ) from exc


def merged_request(base: Mapping[str, Any], own: Mapping[str, Any]) -> dict[str, Any]:
    """`own` (a spec's fields) over `base` (an entity's request): see the module's docstring."""
    merged = deep_merge(base, {key: value for key, value in own.items() if key != "body"})
    if "body" in own:
        merged["body"] = own["body"]
    return merged
