"""Where a fetch run stands, kept in RunsTable: the checkpoint (position, counts, lease) saved
after every page, the incremental bookmark, and the run summaries."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

from apicall.core.models import FetchJob
from apicall.core.settings import get_settings
from apicall.core.store import RunsStore, from_dynamo, query_page, to_dynamo
from apicall.fetch.pagination import (
    Position,
)


class LeaseLost(Exception):
    """Another invocation took over the run (this one outlived its lease)."""


@dataclass
class RunState:
    """What the checkpoint holds; enough to resume the run in another invocation."""

    run_id: str
    fingerprint: str
    position: Position
    started_at: float
    status: str = "running"
    pages: int = 0
    records: int = 0
    skipped: int = 0
    skipped_records: list[list[str]] = field(default_factory=list)
    page_hash: str | None = None
    bookmark_sent: Any = None
    newest_seen: Any = None
    invocations: int = 0

    def to_item(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> RunState:
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in item.items() if k in known})


def job_fingerprint(job: FetchJob) -> str:
    """Changes when the job would page differently; a checkpoint of another shape is not resumed."""
    shape = job.model_dump(mode="json", include={"request", "pagination", "records", "incremental"})
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:16]


class Checkpoints:
    """The run's checkpoint, bookmark and summary items in RunsTable, guarded by a lease."""

    def __init__(self, runs: RunsStore, job: str, owner: str) -> None:
        self.runs = runs
        self.pk = f"fetch#{job}"
        self.owner = owner

    def load(self) -> RunState | None:
        item = self.runs.get(self.pk, "checkpoint")
        return RunState.from_item(item) if item else None

    def acquire(self, state: RunState, lease_s: float) -> bool:
        """Save `state` and take the lease, unless another live invocation holds it."""
        now = time.time()
        try:
            self._put(
                state,
                lease_s,
                condition="attribute_not_exists(pk) OR lease_until < :now OR lease_owner = :owner",
                values={":now": to_dynamo(now), ":owner": self.owner},
            )
        except LeaseLost:
            return False
        return True

    def save(self, state: RunState, lease_s: float) -> None:
        """Save `state`, keeping the lease; raises LeaseLost if another invocation took it."""
        self._put(state, lease_s, condition="lease_owner = :owner", values={":owner": self.owner})

    def release(self, state: RunState) -> None:
        self._put(state, None, condition="lease_owner = :owner", values={":owner": self.owner})

    def _put(
        self, state: RunState, lease_s: float | None, *, condition: str, values: dict[str, Any]
    ) -> None:
        from botocore.exceptions import ClientError

        lease_until = time.time() + lease_s if lease_s is not None else 0
        item = {"pk": self.pk, "sk": "checkpoint", **state.to_item()}
        item.update(lease_owner=self.owner, lease_until=lease_until, updated_at=time.time())
        try:
            self.runs.table.put_item(
                Item=to_dynamo(item),
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise LeaseLost() from exc
            raise

    def bookmark(self) -> Any:
        item = self.runs.get(self.pk, "bookmark")
        return item.get("value") if item else None

    def save_bookmark(self, value: Any, run_id: str) -> None:
        self.runs.put(self.pk, "bookmark", {"value": value, "run_id": run_id, "at": now_iso()})

    def save_summary(self, summary: dict[str, Any]) -> None:
        ttl_s = get_settings().history_ttl_days * 86400
        self.runs.put(self.pk, f"run#{summary['run_id']}", summary, ttl_s=ttl_s)

    def summary(self, run_id: str) -> dict[str, Any] | None:
        return self.runs.get(self.pk, f"run#{run_id}")


# How many run summaries `job_state` reads: the builder shows the latest; older ones expire.
RECENT_RUNS = 20
# What the checkpoint item holds for the run's own use only.
_CHECKPOINT_INTERNALS = ("pk", "sk", "expires_at", "lease_owner")


@dataclass
class JobState:
    """What a job's RunsTable partition says about it, as the builder shows it."""

    runs: list[dict[str, Any]]  # run summaries, newest first
    checkpoint: dict[str, Any] | None  # the run in progress, or the last one's end state
    bookmark: dict[str, Any] | None  # {"value", "run_id", "at"}

    @property
    def empty(self) -> bool:
        return not self.runs and self.checkpoint is None and self.bookmark is None


def job_state(runs: RunsStore, job_key: str, *, limit: int = RECENT_RUNS) -> JobState:
    """The last `limit` run summaries, the checkpoint and the bookmark of the job whose state is
    at `fetch#<job_key>` (`job_key` is `scoped(workspace, job)`): one Query (run ids start with
    the time, so the newest are the last sort keys) and one BatchGetItem, however many runs the
    job has had."""
    pk = f"fetch#{job_key}"
    page = query_page(runs.table, pk, sk_prefix="run#", newest_first=True, limit=limit)
    table = runs.table
    # The table resource's client takes and gives plain values, as the table does.
    answer = table.meta.client.batch_get_item(
        RequestItems={
            table.name: {
                "Keys": [{"pk": pk, "sk": sk} for sk in ("checkpoint", "bookmark")],
                "ConsistentRead": True,
            }
        }
    )
    found: dict[str, dict[str, Any]] = {}
    for item in answer.get("Responses", {}).get(table.name, []):
        found[item["sk"]] = from_dynamo(item)
    # Two small items are all but never left unprocessed; if they are, read them one by one.
    for key in answer.get("UnprocessedKeys", {}).get(table.name, {}).get("Keys", []):
        sk = key["sk"]
        item = runs.get(pk, sk)
        if item is not None:
            found[sk] = item
    checkpoint = found.get("checkpoint")
    bookmark = found.get("bookmark")
    now = time.time()
    return JobState(
        # DynamoDB deletes expired items lazily (within days): an expired summary is gone.
        runs=[
            _without(item, ("pk", "sk", "expires_at"))
            for item in page.items
            if item.get("expires_at") is None or item["expires_at"] >= now
        ],
        checkpoint=_without(checkpoint, _CHECKPOINT_INTERNALS) if checkpoint else None,
        bookmark=_without(bookmark, ("pk", "sk", "expires_at")) if bookmark else None,
    )


def _without(item: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {name: value for name, value in item.items() if name not in names}


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
