"""What a provider (or a short-circuiting stage, like a cache hit) answers with.

`Reply` is a whole answer; `ReplyStream` yields OpenAI-shaped chunks. Both keep the upstream's
exact bytes where they have them, so the core can pass them through without re-encoding
when no plugin wants to look.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson

__all__ = ["Chunk", "Reply", "ReplyStream"]

#: One stream chunk: its JSON bytes exactly as received, or a dict an adapter built.
Chunk = bytes | dict[str, Any]


class Reply:
    """A whole answer. `data` is parsed lazily from `raw`; assigning `data` drops `raw`."""

    __slots__ = ("_data", "content_type", "headers", "raw", "status")

    def __init__(
        self,
        data: dict[str, Any] | None = None,
        *,
        raw: bytes | None = None,
        status: int = 200,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> None:
        if data is None and raw is None:
            raise ValueError("a Reply needs data or raw bytes")
        #: Non-JSON replies (audio) carry their bytes in `raw` and their own content type;
        #: their `data` is empty.
        self.content_type = content_type
        self._data = data
        self.raw = raw
        self.status = status
        self.headers = headers or {}

    @property
    def data(self) -> dict[str, Any]:
        if self._data is None:
            assert self.raw is not None
            is_json = self.content_type == "application/json"
            self._data = orjson.loads(self.raw) if is_json else {}
        return self._data

    @data.setter
    def data(self, value: dict[str, Any]) -> None:
        self._data = value
        self.raw = None

    @property
    def parsed(self) -> dict[str, Any] | None:
        """`data` when it was given or has been read, else None (without parsing `raw`)."""
        return self._data

    def body(self) -> bytes:
        if self.raw is None:
            self.raw = orjson.dumps(self._data)
        return self.raw


class ReplyStream:
    """A streamed answer: an async iterator of chunks, and a way to stop the upstream early."""

    __slots__ = ("_close", "chunks", "headers")

    def __init__(
        self,
        chunks: AsyncIterator[Chunk],
        *,
        close: Callable[[], Awaitable[None] | None] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.chunks = chunks
        self._close = close
        self.headers = headers or {}

    async def aclose(self) -> None:
        aclose = getattr(self.chunks, "aclose", None)
        if aclose is not None:
            await aclose()
        if self._close is not None:
            result = self._close()
            if result is not None:
                await result
