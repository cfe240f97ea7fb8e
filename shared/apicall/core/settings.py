"""Environment settings: read once per container, and checked per function when its handler loads.

`get_settings()` is what the layer reads: every variable, optional where a function may run
without it. Each handler module calls `load(<Function>Settings)` when it loads, so a function
deployed without a variable it needs fails its cold start with an error naming the variable,
instead of failing at its first message.
"""

from __future__ import annotations

import os
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from apicall.core.errors import config_error_from
from apicall.core.runtime import RUNTIME, Slot


class Settings(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    runs_table: str | None = Field(None, alias="RUNS_TABLE")
    records_table: str | None = Field(None, alias="RECORDS_TABLE")
    idempotency_table: str | None = Field(None, alias="IDEMPOTENCY_TABLE")
    # The builder's catalog: connection metadata, entities, API key -> workspace.
    catalog_table: str | None = Field(None, alias="CATALOG_TABLE")
    push_queue_url: str | None = Field(None, alias="PUSH_QUEUE_URL")
    fetch_continuation_queue_url: str | None = Field(None, alias="FETCH_CONTINUATION_QUEUE_URL")
    connections_prefix: str = Field("apicall/connections/", alias="CONNECTIONS_PREFIX")
    secrets_max_age_s: int = Field(300, alias="SECRETS_MAX_AGE_S", ge=0)
    history_ttl_days: int = Field(30, alias="HISTORY_TTL_DAYS", ge=1)
    # The builder UI page OAuth providers send the user back to (the test API's consent flow).
    oauth_redirect_uri: str | None = Field(None, alias="OAUTH_REDIRECT_URI")
    # Push delivery (apicall.push).
    push_dlq_url: str | None = Field(None, alias="PUSH_DLQ_URL")
    signing_secrets_prefix: str = Field("apicall/signing/", alias="SIGNING_SECRETS_PREFIX")
    # Seconds before attempt 2, 3, ...; the last value repeats. Short in tests and locally.
    push_retry_schedule: tuple[float, ...] = Field(
        (10, 30, 120, 300, 900, 1800, 3600, 7200, 14400), alias="PUSH_RETRY_SCHEDULE"
    )
    # Must equal the push queue's maxReceiveCount: the attempt that gets no retry.
    push_max_attempts: int = Field(10, alias="PUSH_MAX_ATTEMPTS", ge=1, le=1000)
    push_concurrency: int = Field(10, alias="PUSH_CONCURRENCY", ge=1, le=100)
    # Per target (connection or host) in one container; 10 lets a whole batch go to one target.
    push_target_concurrency: int = Field(10, alias="PUSH_TARGET_CONCURRENCY", ge=1, le=100)
    push_idempotency_ttl_s: int = Field(7 * 86400, alias="PUSH_IDEMPOTENCY_TTL_S", ge=60)
    # The GIL switch interval the fetch function sets for its whole process, once (CPython's is
    # 5 ms): the page-fetching thread gets the GIL back sooner from the mapping thread.
    # benchmarks/fetch_switch_interval.py: +8-12% records/s with 1,000-record pages at 20 ms.
    fetch_switch_interval_ms: float = Field(0.5, alias="FETCH_SWITCH_INTERVAL_MS", gt=0, le=100)

    @field_validator("push_retry_schedule", mode="before")
    @classmethod
    def _split_schedule(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("push_retry_schedule")
    @classmethod
    def _valid_schedule(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if not value or any(not 0 <= delay <= 43200 for delay in value):
            raise ValueError("give comma-separated delays in seconds, each from 0 to 43200")
        return value


class RequestSettings(Settings):
    """The request function: history goes to RunsTable; a spec naming an entity is read from
    CatalogTable; a lookup reads a fetched record from RecordsTable."""

    runs_table: str = Field(alias="RUNS_TABLE", min_length=1)
    catalog_table: str = Field(alias="CATALOG_TABLE", min_length=1)
    records_table: str = Field(alias="RECORDS_TABLE", min_length=1)


class ApiSettings(RequestSettings):
    """The test API: history, remembered test values and OAuth consent state in RunsTable;
    connections' metadata, entities and the API key -> workspace map in CatalogTable; fetched
    records; a dead letter replayed from the push DLQ to the push queue; a fetch run started
    through the continuation queue."""

    push_queue_url: str = Field(alias="PUSH_QUEUE_URL", min_length=1)
    push_dlq_url: str = Field(alias="PUSH_DLQ_URL", min_length=1)
    fetch_continuation_queue_url: str = Field(alias="FETCH_CONTINUATION_QUEUE_URL", min_length=1)


class PushSettings(Settings):
    """The push function: attempts in RunsTable, idempotency keys, its queue and dead letters."""

    runs_table: str = Field(alias="RUNS_TABLE", min_length=1)
    idempotency_table: str = Field(alias="IDEMPOTENCY_TABLE", min_length=1)
    push_queue_url: str = Field(alias="PUSH_QUEUE_URL", min_length=1)
    push_dlq_url: str = Field(alias="PUSH_DLQ_URL", min_length=1)


class FetchSettings(Settings):
    """The fetch function: checkpoints in RunsTable, records, and its continuation queue."""

    runs_table: str = Field(alias="RUNS_TABLE", min_length=1)
    records_table: str = Field(alias="RECORDS_TABLE", min_length=1)
    fetch_continuation_queue_url: str = Field(alias="FETCH_CONTINUATION_QUEUE_URL", min_length=1)


S = TypeVar("S", bound=Settings)


def load(kind: type[S]) -> S:
    """`kind` read from the environment; a ConfigError naming each missing or invalid variable
    ("invalid environment: RUNS_TABLE: Field required"). Handler modules call it when they load;
    what it reads is then the container's settings (`get_settings`), not read a second time."""
    settings = _read(kind)
    _settings.offer(settings)
    return settings


def _read(kind: type[S]) -> S:
    try:
        return kind.model_validate(dict(os.environ))
    except ValidationError as exc:
        raise config_error_from(exc, what="environment") from exc


_settings: Slot[Settings] = RUNTIME.slot(lambda: _read(Settings))


def get_settings() -> Settings:
    """The container's settings, read from the environment on first use."""
    return _settings.get()
