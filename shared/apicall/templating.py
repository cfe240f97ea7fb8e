"""Placeholders and request building: a RequestSpec plus values becomes an OutgoingRequest."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class OutgoingRequest:
    """A request ready for `client.send`: absolute URL, final headers and an encoded body.

    Exactly one of `content`, `json`, `data`/`files` is used, as httpx.Client.build_request
    takes them.
    """

    method: str
    url: str
    params: list[tuple[str, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes | None = None
    json: Any = None
    data: dict[str, Any] | list[tuple[str, str]] | None = None
    files: list[tuple[str, tuple[str, bytes, str]]] | None = None
