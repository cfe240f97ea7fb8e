"""DynamoDB storage: the runs table (history, tokens, checkpoints) and the records table.

RunsTable is a single table with string keys `pk` and `sk` and a TTL attribute `expires_at`.
Item families, by partition key:

    history@<workspace>            sk <run_id>              one item per execution (run ids
                                                            start with the time: newest last)
    token#<connection>             sk access                cached OAuth access token
    push#<message id>              sk attempt#<nn>          one item per delivery attempt
    fetch#<job>                    sk checkpoint|bookmark|run#<run_id>
    test-values#<request hash>     sk latest                values remembered by POST /test
    oauth-state#<state>            sk state                 pending consent flows
    ratelimit#<connection>         sk bucket                the shared rate limiter

Tables are passed in (`table=`) by tests and built lazily from settings otherwise.
"""

from __future__ import annotations

import base64
import json
import random
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Generic, TypeVar

from apicall.core.errors import CapacityExceeded, ConfigError, InvalidRequest
from apicall.core.runtime import RUNTIME
from apicall.core.settings import get_settings

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


def _boto3_dynamodb() -> Any:
    import boto3

    return boto3.resource("dynamodb")


_dynamodb = RUNTIME.slot(_boto3_dynamodb)


def runs_table() -> Any:
    name = get_settings().runs_table
    if not name:
        raise ConfigError("RUNS_TABLE is not set", field="RUNS_TABLE")
    return _dynamodb.get().Table(name)


def records_table() -> Any:
    name = get_settings().records_table
    if not name:
        raise ConfigError("RECORDS_TABLE is not set", field="RECORDS_TABLE")
    return _dynamodb.get().Table(name)


def catalog_table() -> Any:
    name = get_settings().catalog_table
    if not name:
        raise ConfigError("CATALOG_TABLE is not set", field="CATALOG_TABLE")
    return _dynamodb.get().Table(name)


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

    def put_execution(self, workspace: str, run_id: str, summary: Mapping[str, Any]) -> None:
        """One history item per execution; `summary` must already be redacted."""
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self.put(
            history_key(workspace),
            run_id,
            {"run_id": run_id, "at": stamp, **summary},
            ttl_s=get_settings().history_ttl_days * 86400,
        )

    def executions(self, workspace: str) -> list[dict]:
        """Every execution of `workspace`, newest first."""
        return self.query(history_key(workspace), newest_first=True)

    def execution(self, workspace: str, run_id: str) -> dict[str, Any] | None:
        return self.get(history_key(workspace), run_id)

    # cached access tokens ---------------------------------------------------------------------

    def get_token(self, connection: str) -> dict[str, Any] | None:
        return self.get(f"token#{connection}", "access")

    def put_token(self, connection: str, token: Mapping[str, Any], *, expires_in_s: int) -> None:
        self.put(f"token#{connection}", "access", token, ttl_s=max(expires_in_s, 1))

    def delete_token(self, connection: str) -> None:
        self.delete(f"token#{connection}", "access")

    # test API: remembered sample values and pending OAuth consent flows ---------------------

    def get_test_values(self, request_key: str) -> dict[str, Any]:
        item = self.get(f"test-values#{request_key}", "latest")
        values = item.get("values") if item else None
        return values if isinstance(values, dict) else {}

    def put_test_values(self, request_key: str, values: Mapping[str, Any], *, ttl_s: int) -> None:
        self.put(f"test-values#{request_key}", "latest", {"values": dict(values)}, ttl_s=ttl_s)

    def put_oauth_state(self, state: str, attrs: Mapping[str, Any], *, ttl_s: int) -> None:
        self.put(f"oauth-state#{state}", "state", attrs, ttl_s=ttl_s)

    def take_oauth_state(self, state: str) -> dict[str, Any] | None:
        """The pending flow of `state`, deleted in the same call so a state works only once."""
        answer = self.table.delete_item(
            Key={"pk": f"oauth-state#{state}", "sk": "state"}, ReturnValues="ALL_OLD"
        )
        item = answer.get("Attributes")
        if item is None or int(item.get(TTL_ATTRIBUTE, 0)) < time.time():
            return None
        return from_dynamo(item)


def history_key(workspace: str) -> str:
    return f"history@{workspace}"


_default_runs_store = RUNTIME.slot(lambda: RunsStore())


def default_runs_store() -> RunsStore:
    """The container's RunsStore (its table built on first use)."""
    return _default_runs_store.get()


MAX_ITEM_BYTES = 400 * 1024
BATCH_SIZE = 25
_RETRYABLE_CODES = frozenset(
    (
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
    )
)


@dataclass
class WriteReport:
    written: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (record key, reason)


def item_size(item: Mapping[str, Any]) -> int:
    """An upper bound of the item's DynamoDB size: its JSON text is never smaller."""
    return len(json.dumps(item, default=str, ensure_ascii=False).encode())


class RecordsWriter:
    """Upserts items (with `pk` and `sk`) into RecordsTable, 25 per BatchWriteItem.

    Unprocessed items are retried with exponential backoff and jitter; items over DynamoDB's 400 KB
    limit, or that DynamoDB refuses, are reported by key and skipped. `calls` counts the
    BatchWriteItem requests made.
    """

    def __init__(
        self,
        table: Any | None = None,
        *,
        max_attempts: int = 8,
        base_delay_s: float = 0.05,
        max_delay_s: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._table = table
        self.max_attempts = max_attempts
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.sleep = sleep
        self.calls = 0

    @property
    def table(self) -> Any:
        if self._table is None:
            self._table = records_table()
        return self._table

    def write(self, items: Sequence[Mapping[str, Any]], *, check_size: bool = True) -> WriteReport:
        """Write `items`; `check_size=False` when the caller knows none can reach 400 KB."""
        report = WriteReport()
        batch: list[dict[str, Any]] = []
        for item in items:
            converted = to_dynamo(item)
            if check_size and item_size(converted) > MAX_ITEM_BYTES:
                report.rejected.append(
                    (str(item["sk"]), "larger than DynamoDB's 400 KB item limit")
                )
                continue
            batch.append(converted)
            if len(batch) == BATCH_SIZE:
                self._write_batch(batch, report)
                batch = []
        if batch:
            self._write_batch(batch, report)
        return report

    def _write_batch(self, items: list[dict[str, Any]], report: WriteReport) -> None:
        from botocore.exceptions import ClientError

        client, name = self.table.meta.client, self.table.name
        requests = [{"PutRequest": {"Item": item}} for item in items]
        for attempt in range(1, self.max_attempts + 1):
            try:
                self.calls += 1
                response = client.batch_write_item(RequestItems={name: requests})
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code == "ValidationException":
                    # One bad item fails the whole batch; write them one by one to find it.
                    self._write_each([r["PutRequest"]["Item"] for r in requests], report)
                    return
                if code not in _RETRYABLE_CODES:
                    raise
                unprocessed = requests
            else:
                unprocessed = response.get("UnprocessedItems", {}).get(name, [])
                report.written += len(requests) - len(unprocessed)
            if not unprocessed:
                return
            requests = unprocessed
            if attempt < self.max_attempts:
                delay = min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1))
                self.sleep(random.uniform(delay / 2, delay))
        raise CapacityExceeded(
            f"{len(requests)} records were still unprocessed by DynamoDB after "
            f"{self.max_attempts} BatchWriteItem attempts"
        )

    def _write_each(self, items: list[dict[str, Any]], report: WriteReport) -> None:
        from botocore.exceptions import ClientError

        for item in items:
            try:
                self.table.put_item(Item=item)
            except ClientError as exc:
                error = exc.response.get("Error", {})
                if error.get("Code") != "ValidationException":
                    raise
                report.rejected.append(
                    (str(item["sk"]), f"refused by DynamoDB: {error.get('Message', '')}")
                )
            else:
                report.written += 1


# --- one page of a list ---------------------------------------------------------------------------

# What a list route accepts as `limit` (docs/contracts.md).
DEFAULT_PAGE_LIMIT = 50
MAX_PAGE_LIMIT = 500
# A LastEvaluatedKey of this module's tables is two short strings; anything longer was not made
# by encode_next.
_MAX_NEXT_CHARS = 4096
_NEXT_ALPHABET = re.compile(r"^[A-Za-z0-9_-]+$")
_NEXT_KEYS = frozenset(("pk", "sk"))

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list; `next` is None after the last page, else what fetches the next one."""

    items: list[T]
    next: str | None


def encode_next(key: Mapping[str, Any]) -> str:
    """DynamoDB's LastEvaluatedKey as an opaque token: urlsafe base64 of its JSON, unpadded (it
    travels as a query parameter)."""
    text = json.dumps(dict(key), separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_next(
    token: str,
    pk: str,
    *,
    sk_prefix: str = "",
    sk_from: str | None = None,
    sk_to: str | None = None,
) -> dict[str, str]:
    """The ExclusiveStartKey `token` stands for, if it belongs to this very list; else
    InvalidRequest naming `next`.

    A token is the caller's input: it must be the shape encode_next gives a key of this table
    ({pk, sk}, strings), its pk the partition being queried (a token must never move a caller
    into another partition, such as another workspace's) and its sk inside the list's range
    (DynamoDB refuses a start key outside the key condition).
    """
    key = _read_next(token)
    if key is None:
        raise InvalidRequest("next is not a token this list gave", field="next")
    if key["pk"] != pk or not key["sk"].startswith(sk_prefix):
        raise InvalidRequest("next belongs to another list", field="next")
    if (sk_from is not None and key["sk"] < sk_from) or (sk_to is not None and key["sk"] > sk_to):
        raise InvalidRequest("next is outside this list's range", field="next")
    return key


def _read_next(token: Any) -> dict[str, str] | None:
    if not isinstance(token, str) or not 0 < len(token) <= _MAX_NEXT_CHARS:
        return None
    if not _NEXT_ALPHABET.match(token) or len(token) % 4 == 1:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, RecursionError):  # bad base64, bad UTF-8 and bad JSON are ValueErrors
        return None
    if not isinstance(key, dict) or set(key) != _NEXT_KEYS:
        return None
    if not all(isinstance(value, str) and value for value in key.values()):
        return None
    return key


def check_limit(limit: Any, field: str = "limit") -> int:
    """`limit` if it is a page size a list accepts (1 to MAX_PAGE_LIMIT), else InvalidRequest."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_LIMIT:
        raise InvalidRequest(f"{field} must be an integer from 1 to {MAX_PAGE_LIMIT}", field=field)
    return limit


def query_page(
    table: Any,
    pk: str,
    *,
    sk_prefix: str = "",
    sk_from: str | None = None,
    sk_to: str | None = None,
    newest_first: bool = False,
    limit: int = DEFAULT_PAGE_LIMIT,
    next_token: str | None = None,
    filter: Any = None,
    consistent: bool = True,
) -> Page[dict[str, Any]]:
    """One page of partition `pk`, by exactly one Query (never a Scan), in sk order (descending
    with `newest_first`).

    The items are those whose sk starts with `sk_prefix`, or lies from `sk_from` to `sk_to`
    (both inclusive, compared as strings; one of them may be left open); not both a prefix and a
    range. `filter` (a boto3 condition, e.g. `Attr("route").eq("2xx")`) is applied by DynamoDB
    after `limit` items were read, so a filtered page may hold fewer items, even none, and still
    have a `next`. The last full page may also have a `next` that then gives an empty page:
    DynamoDB cannot know there is nothing more without reading on.
    """
    from boto3.dynamodb.conditions import Key

    if sk_prefix and (sk_from is not None or sk_to is not None):
        raise ValueError("query_page takes an sk prefix or an sk range, not both")
    check_limit(limit)
    condition = Key("pk").eq(pk)
    if sk_prefix:
        condition &= Key("sk").begins_with(sk_prefix)
    elif sk_from is not None and sk_to is not None:
        condition &= Key("sk").between(sk_from, sk_to)
    elif sk_from is not None:
        condition &= Key("sk").gte(sk_from)
    elif sk_to is not None:
        condition &= Key("sk").lte(sk_to)
    kwargs: dict[str, Any] = {
        "KeyConditionExpression": condition,
        "ScanIndexForward": not newest_first,
        "ConsistentRead": consistent,
        "Limit": limit,
    }
    if filter is not None:
        kwargs["FilterExpression"] = filter
    if next_token is not None:
        kwargs["ExclusiveStartKey"] = decode_next(
            next_token, pk, sk_prefix=sk_prefix, sk_from=sk_from, sk_to=sk_to
        )
    answer = table.query(**kwargs)
    last = answer.get("LastEvaluatedKey")
    return Page(
        items=[from_dynamo(item) for item in answer.get("Items", [])],
        next=encode_next(last) if last else None,
    )
