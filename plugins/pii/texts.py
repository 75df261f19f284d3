"""Where a request's texts are: each as a slot that can be read and written back in place."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

__all__ = ["Slot", "request_slots"]

#: A text inside the request: its container (dict or list) and the key or index in it.
Slot = tuple[Any, Any]

_CHAT_ROLES = frozenset({"system", "developer", "user", "assistant", "function"})


def request_slots(
    endpoint: str, request: dict[str, Any], *, tool_results: bool, embeddings: bool
) -> Iterator[Slot]:
    """Every text `request` sends upstream that PII rules apply to: chat messages (plain
    strings and text parts), assistant tool-call arguments, tool results (role ``tool``,
    unless `tool_results` is off), a completion's prompt, an embeddings input."""
    messages = request.get("messages")
    if isinstance(messages, list):
        for message in messages:
            if not isinstance(message, dict):
                continue
            role = message.get("role")
            if role == "tool" and not tool_results:
                continue
            if role != "tool" and role not in _CHAT_ROLES:
                continue
            yield from _content_slots(message)
            for call in message.get("tool_calls") or ():
                function = call.get("function") if isinstance(call, dict) else None
                if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                    yield function, "arguments"
    if endpoint == "completions":
        yield from _strings(request, "prompt")
    elif endpoint == "embeddings" and embeddings:
        yield from _strings(request, "input")


def _content_slots(message: dict[str, Any]) -> Iterator[Slot]:
    content = message.get("content")
    if isinstance(content, str):
        yield message, "content"
    elif isinstance(content, list):
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                yield part, "text"


def _strings(request: dict[str, Any], key: str) -> Iterator[Slot]:
    value = request.get(key)
    if isinstance(value, str):
        yield request, key
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, str):
                yield value, index
