"""Helpers for tests that use an official SDK as the client."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

__all__ = ["StreamedChat", "assemble_stream"]


@attrs.frozen
class StreamedChat:
    """What a client assembles from a chat stream (openai SDK chunk objects)."""

    text: str
    finish_reason: str | None
    usage: Any


def assemble_stream(chunks: Iterable[Any]) -> StreamedChat:
    """Join the text deltas; keep the last finish reason and the usage chunk."""
    text, finish, usage = "", None, None
    for chunk in chunks:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
            finish = chunk.choices[0].finish_reason or finish
        if chunk.usage:
            usage = chunk.usage
    return StreamedChat(text, finish, usage)
