"""The texts of a request that input checks read, as slots that can be written back."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from litegate import Call

__all__ = ["input_slots", "total_chars"]

Slot = tuple[Any, Any]


def input_slots(call: Call, roles: frozenset[str]) -> Iterator[Slot]:
    """Message texts of the given roles (strings and text parts); a completion's prompt and
    an embeddings input count as the user's."""
    request = call.request
    messages = request.get("messages")
    if isinstance(messages, list):
        for message in messages:
            if not isinstance(message, dict) or message.get("role") not in roles:
                continue
            content = message.get("content")
            if isinstance(content, str):
                yield message, "content"
            elif isinstance(content, list):
                for part in content:
                    if isinstance(part, dict) and isinstance(part.get("text"), str):
                        yield part, "text"
    if "user" in roles:
        for key in ("prompt", "input"):
            value = request.get(key)
            if isinstance(value, str):
                yield request, key
            elif isinstance(value, list):
                for index, item in enumerate(value):
                    if isinstance(item, str):
                        yield value, index


def total_chars(call: Call) -> int:
    """Characters of every text the request sends (all roles), for the token estimate."""
    every = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
    return sum(len(container[key]) for container, key in input_slots(call, every))
