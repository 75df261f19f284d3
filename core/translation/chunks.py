"""OpenAI `chat.completion` bodies and `chat.completion.chunk` deltas, built the same way by
every adapter so clients see one shape whatever the provider."""

from __future__ import annotations

from typing import Any

from ..provider import completion_id, now

__all__ = ["ChunkBuilder", "chat_response", "usage_dict"]


def usage_dict(
    prompt: int,
    completion: int,
    *,
    cached: int = 0,
    reasoning: int = 0,
) -> dict[str, Any]:
    """OpenAI usage. `prompt` must already include cached tokens (OpenAI counts them in)."""
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    }


def chat_response(
    model: str,
    *,
    content: str | None,
    finish_reason: str | None,
    usage: dict[str, Any] | None,
    tool_calls: list[dict[str, Any]] | None = None,
    reasoning_content: str | None = None,
    response_id: str | None = None,
    extra_message: dict[str, Any] | None = None,
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    if reasoning_content:
        message["reasoning_content"] = reasoning_content
    if extra_message:
        message.update(extra_message)
    body: dict[str, Any] = {
        "id": response_id or completion_id(),
        "object": "chat.completion",
        "created": now(),
        "model": model,
        "choices": [
            {"index": 0, "message": message, "finish_reason": finish_reason, "logprobs": None}
        ],
    }
    if usage is not None:
        body["usage"] = usage
    return body


class ChunkBuilder:
    """Makes the chunks of one streamed answer (one choice), sharing id, model and created."""

    __slots__ = ("_base", "_started")

    def __init__(self, model: str, response_id: str | None = None) -> None:
        self._base = {
            "id": response_id or completion_id(),
            "object": "chat.completion.chunk",
            "created": now(),
            "model": model,
        }
        self._started = False

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        if not self._started:
            delta = {"role": "assistant", **delta}
            self._started = True
        return {
            **self._base,
            "choices": [
                {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
            ],
        }

    def delta(self, **fields: Any) -> dict[str, Any]:
        """A chunk with any delta fields (provider extensions such as ``thinking_blocks``)."""
        return self._chunk(fields)

    def text(self, text: str) -> dict[str, Any]:
        return self._chunk({"content": text})

    def reasoning(self, text: str) -> dict[str, Any]:
        return self._chunk({"reasoning_content": text})

    def tool_call_start(self, index: int, call_id: str, name: str) -> dict[str, Any]:
        return self._chunk(
            {
                "tool_calls": [
                    {
                        "index": index,
                        "id": call_id,
                        "type": "function",
                        "function": {"name": name, "arguments": ""},
                    }
                ]
            }
        )

    def tool_call_arguments(self, index: int, fragment: str) -> dict[str, Any]:
        return self._chunk({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]})

    def finish(self, finish_reason: str) -> dict[str, Any]:
        return self._chunk({}, finish_reason)

    def usage(self, usage: dict[str, Any]) -> dict[str, Any]:
        """The final usage-only chunk (the core sends it only to clients that asked)."""
        return {**self._base, "choices": [], "usage": usage}
