"""DynamoDB storage: the runs table (history, tokens, checkpoints) and the records table.

RunsTable is a single table with string keys `pk` and `sk` and a TTL attribute `expires_at`.
Item families, by partition key:

    history#<connection or host>   sk <iso time>#<run_id>   one item per execution
    token#<connection>             sk access                cached OAuth access token
    push#<message id>              sk attempt#<nn>          one item per delivery attempt
    fetch#<job>                    sk checkpoint|bookmark|run#<run_id>
    test-values#<request hash>     sk latest                values remembered by POST /test
    oauth-state#<state>            sk state                 pending consent flows
    ratelimit#<connection>         sk bucket                the shared rate limiter

Tables are passed in (`table=`) by tests and built lazily from settings otherwise.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from decimal import Decimal
from functools import lru_cache
from typing import Any

from apicall.errors import ConfigError
from apicall.settings import get_settings

TTL_ATTRIBUTE = "expires_at"


def to_dynamo(value: Any) -> Any:
    """Floats become Decimals (DynamoDB refuses floats); containers are converted deeply."""
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, Mapping):
        return {str(k): to_dynamo(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_dynamo(v) for v in value]
    return value


def from_dynamo(value: Any) -> Any:
    """Decimals become ints or floats again."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Mapping):
        return {k: from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_dynamo(v) for v in value]
    return value


@lru_cache(maxsize=1)
def _dynamodb() -> Any:
    import boto3

    return boto3.resource("dynamodb")


def runs_table() -> Any:
    name = get_settings().runs_table
    if not name:
        raise ConfigError("RUNS_TABLE is not set", field="RUNS_TABLE")
    return _dynamodb().Table(name)


def records_table() -> Any:
    name = get_settings().records_table
    if not name:
        raise ConfigError("RECORDS_TABLE is not set", field="RECORDS_TABLE")
    return _dynamodb().Table(name)


class RunsStore:
    """Typed access to RunsTable's item families."""

    def __init__(self, table: Any | None = None) -> None:
        self._table = table

    @property
    def table(self) -> Any:
        if self._table is None:
            self._table = runs_table()
        return self._table

    # generic ----------------------------------------------------------------------------------

    def put(self, pk: str, sk: str, attrs: Mapping[str, Any], *, ttl_s: int | None = None) -> None:
        item = {"pk": pk, "sk": sk, **to_dynamo(dict(attrs))}
        if ttl_s is not None:
            item[TTL_ATTRIBUTE] = int(time.time()) + ttl_s
        self.table.put_item(Item=item)

    def get(self, pk: str, sk: str) -> dict[str, Any] | None:
        item = self.table.get_item(Key={"pk": pk, "sk": sk}, ConsistentRead=True).get("Item")
        if item is None:
            return None
        expires = item.get(TTL_ATTRIBUTE)
        # DynamoDB deletes expired items lazily (within days), so an expired item is treated
        # as absent here.
        if expires is not None and int(expires) < time.time():
            return None
        return from_dynamo(item)

    def delete(self, pk: str, sk: str) -> None:
        self.table.delete_item(Key={"pk": pk, "sk": sk})

    def query(self, pk: str, *, sk_prefix: str = "", newest_first: bool = False) -> list[dict]:
        from boto3.dynamodb.conditions import Key

        condition = Key("pk").eq(pk)
        if sk_prefix:
            condition = condition & Key("sk").begins_with(sk_prefix)
        items: list[dict] = []
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": condition,
            "ScanIndexForward": not newest_first,
            "ConsistentRead": True,
        }
        while True:
            page = self.table.query(**kwargs)
            items.extend(from_dynamo(item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # execution history ------------------------------------------------------------------------

    def put_execution(self, scope: str, run_id: str, summary: Mapping[str, Any]) -> None:
        """One history item per execution; `summary` must already be redacted."""
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self.put(
            f"history#{scope}",
            f"{stamp}#{run_id}",
            {"run_id": run_id, "at": stamp, **summary},
            ttl_s=get_settings().history_ttl_days * 86400,
        )

    def executions(self, scope: str) -> list[dict]:
        return self.query(f"history#{scope}", newest_first=True)

    # cached access tokens ---------------------------------------------------------------------

    def get_token(self, connection: str) -> dict[str, Any] | None:
        return self.get(f"token#{connection}", "access")

    def put_token(self, connection: str, token: Mapping[str, Any], *, expires_in_s: int) -> None:
        self.put(f"token#{connection}", "access", token, ttl_s=max(expires_in_s, 1))

    def delete_token(self, connection: str) -> None:
        self.delete(f"token#{connection}", "access")


@lru_cache(maxsize=1)
def default_runs_store() -> RunsStore:
    return RunsStore()
