"""Turning answers into entries and entries back into answers.

A non-streamed answer is stored as its JSON body; a hit sends those bytes untouched. A
streamed answer is recorded chunk by chunk (each chunk's JSON at the moment the cache saw
it, so plugins nearer the client changing it later -- PII unmasking -- never reach the
store) and replayed as the same chunks; the core adds the SSE framing, holds the usage
chunk back for clients that asked for it, and ends with ``[DONE]``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from litegate import Reply, ReplyStream

from .tiers import REPLY, Entry

__all__ = ["StreamRecorder", "answer", "cacheable_body"]


def answer(entry: Entry) -> Reply | ReplyStream:
    """The stored answer, as a provider would have given it."""
    if entry.kind == REPLY:
        return Reply(raw=entry.body)
    return ReplyStream(_chunks(entry.body))


async def _chunks(body: bytes) -> AsyncIterator[bytes]:
    for line in body.split(b"\n"):
        yield line


def cacheable_body(endpoint: str, response: dict[str, Any]) -> bool:
    """Whether a whole answer is a complete success worth keeping."""
    if "error" in response:
        return False
    if endpoint == "embeddings":
        return bool(response.get("data"))
    choices = response.get("choices")
    return (
        isinstance(choices, list)
        and bool(choices)
        and all(
            isinstance(c, dict) and c.get("finish_reason") not in (None, "error") for c in choices
        )
    )


class StreamRecorder:
    """The chunks of one streamed answer, as it goes by."""

    __slots__ = ("chunks", "finished", "has_usage", "size", "too_big")

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.size = 0
        self.finished = False
        self.has_usage = False
        self.too_big = False

    def add(self, chunk: dict[str, Any], limit: int) -> None:
        if self.too_big:
            return
        data = orjson.dumps(chunk)
        self.size += len(data) + 1
        if self.size > limit:
            self.too_big, self.chunks = True, []
            return
        self.chunks.append(data)
        if chunk.get("usage"):
            self.has_usage = True
        for choice in chunk.get("choices") or ():
            if isinstance(choice, dict) and choice.get("finish_reason") not in (None, "error"):
                self.finished = True

    def add_tail(self, tail: list[dict[str, Any]], limit: int) -> None:
        for chunk in tail:
            self.add(chunk, limit)

    @property
    def complete(self) -> bool:
        """Whether the stream ended normally: some choice finished, nothing was dropped."""
        return self.finished and not self.too_big and bool(self.chunks)

    def body(self) -> bytes:
        return b"\n".join(self.chunks)
