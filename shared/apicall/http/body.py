"""Reading a response body with a size cap that holds after decompression too."""

from __future__ import annotations

import zlib
from collections.abc import Iterator

import httpx

from apicall.core.errors import (
    InvalidResponse,
)


def read_capped(response: httpx.Response, max_bytes: int) -> tuple[bytes, bool]:
    """Up to `max_bytes` of the decoded body and whether there was more.

    Decompression output is capped too, so a small gzip bomb never expands in memory.
    """
    decoder = _decoder(response.headers.get("content-encoding", ""))
    limit = max_bytes + 1  # one byte more than allowed tells "exactly full" from "too large"
    parts: list[bytes] = []
    size = 0
    # No chunk_size: httpx would buffer up to it. The guarded transport clamps each socket read
    # to the request's deadline, so a trickle cannot outlast it.
    for chunk in response.iter_raw():
        for piece in decoder.feed(chunk, limit - size):
            parts.append(piece)
            size += len(piece)
        if size >= limit:
            break
    else:
        tail = decoder.flush(limit - size)
        parts.append(tail)
        size += len(tail)
    content = b"".join(parts)
    return content[:max_bytes], size > max_bytes


class _Identity:
    def feed(self, data: bytes, room: int) -> Iterator[bytes]:
        yield data

    def flush(self, room: int) -> bytes:
        return b""


class _Zlib:
    def __init__(self, wbits: int, *, raw_fallback: bool = False) -> None:
        self._inflate = zlib.decompressobj(wbits)
        # "deflate" should be zlib-wrapped, yet some servers send raw deflate.
        self._raw_fallback = raw_fallback

    def feed(self, data: bytes, room: int) -> Iterator[bytes]:
        while data and room > 0:
            try:
                out = self._inflate.decompress(data, room)
            except zlib.error as exc:
                if not self._raw_fallback:
                    raise InvalidResponse(f"the compressed body is corrupt: {exc}") from exc
                self._inflate, self._raw_fallback = zlib.decompressobj(-zlib.MAX_WBITS), False
                continue
            self._raw_fallback = False
            room -= len(out)
            data = self._inflate.unconsumed_tail
            yield out

    def flush(self, room: int) -> bytes:
        try:
            return self._inflate.flush()[: max(room, 0)]
        except zlib.error as exc:
            raise InvalidResponse(f"the compressed body is corrupt: {exc}") from exc


def _decoder(content_encoding: str) -> _Identity | _Zlib:
    # Stacked codings ("gzip, gzip") are rare enough to be passed through undecoded.
    coding = content_encoding.strip().lower()
    if coding in ("gzip", "x-gzip"):
        return _Zlib(16 + zlib.MAX_WBITS)
    if coding == "deflate":
        return _Zlib(zlib.MAX_WBITS, raw_fallback=True)
    return _Identity()
