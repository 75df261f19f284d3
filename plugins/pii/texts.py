"""Where a request's texts are: each as a slot that can be read and written back in place."""

from __future__ import annotations

from typing import Any

__all__ = ["Slot", "request_slots"]

#: A text inside the request: its container (dict or list) and the key or index in it.
Slot = tuple[Any, Any]

_CHAT_ROLES = frozenset({"system", "developer", "user", "assistant", "function"})


def request_slots(
    endpoint: str, request: dict[str, Any], *, tool_results: bool, embeddings: bool
) -> list[Slot]:
    """Every text `request` sends upstream that PII rules apply to: chat messages (plain
    strings and text parts), assistant tool-call arguments, tool results (role ``tool``,
    unless `tool_results` is off), a completion's prompt, an embeddings input. A list, built
    in one function: it runs on every call, and generators nested in generators cost more."""
    slots: list[Slot] = []
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
            content = message.get("content")
            if isinstance(content, str):
                slots.append((message, "content"))
            elif isinstance(content, list):
                for part in content:
                    if isinstance(part, dict) and isinstance(part.get("text"), str):
                        slots.append((part, "text"))
            calls = message.get("tool_calls")
            if calls:
                _tool_call_slots(calls, slots)
    if endpoint == "completions":
        _string_slots(request, "prompt", slots)
    elif endpoint == "embeddings" and embeddings:
        _string_slots(request, "input", slots)
    return slots


def _tool_call_slots(calls: Any, slots: list[Slot]) -> None:
    for call in calls if isinstance(calls, list) else ():
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict) and isinstance(function.get("arguments"), str):
            slots.append((function, "arguments"))


def _string_slots(request: dict[str, Any], key: str, slots: list[Slot]) -> None:
    value = request.get(key)
    if isinstance(value, str):
        slots.append((request, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, str):
                slots.append((value, index))
