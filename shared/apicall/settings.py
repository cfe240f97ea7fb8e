"""Environment settings of a function, validated once per container and cached."""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from apicall.errors import config_error_from


class Settings(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    runs_table: str | None = Field(None, alias="RUNS_TABLE")
    records_table: str | None = Field(None, alias="RECORDS_TABLE")
    idempotency_table: str | None = Field(None, alias="IDEMPOTENCY_TABLE")
    push_queue_url: str | None = Field(None, alias="PUSH_QUEUE_URL")
    fetch_continuation_queue_url: str | None = Field(None, alias="FETCH_CONTINUATION_QUEUE_URL")
    connections_prefix: str = Field("apicall/connections/", alias="CONNECTIONS_PREFIX")
    secrets_max_age_s: int = Field(300, alias="SECRETS_MAX_AGE_S", ge=0)
    history_ttl_days: int = Field(30, alias="HISTORY_TTL_DAYS", ge=1)
    # The builder UI page OAuth providers send the user back to (the test API's consent flow).
    oauth_redirect_uri: str | None = Field(None, alias="OAUTH_REDIRECT_URI")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    try:
        return Settings.model_validate(dict(os.environ))
    except ValidationError as exc:
        raise config_error_from(exc, what="environment") from exc
