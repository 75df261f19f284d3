"""Converse answers, whole and streamed, and Bedrock's errors, in OpenAI's terms.

Reasoning comes back as ``reasoning_content`` plus ``thinking_blocks`` (``{"type":
"thinking", "thinking", "signature"}`` or ``{"type": "redacted_thinking", "data"}``), the shape
clients send back on the next turn so signed thinking survives a tool-use loop. Bedrock's
``inputTokens`` leave out prompt-cache reads and writes; OpenAI's ``prompt_tokens`` include
them, with the reads also in ``prompt_tokens_details.cached_tokens``.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from litegate import Deployment, GatewayError
from litegate.translation import ChunkBuilder, chat_response, provider_error
from litegate.translation.chunks import usage_dict
from litegate.translation.errors import CONTEXT_LENGTH
from litegate.transport import UpstreamResponse

__all__ = ["FINISH_REASONS", "StreamTranslator", "chat_completion", "http_error", "stream_error"]

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}
#: In-stream exceptions (`:exception-type`) and the HTTP status the model gives each.
_STREAM_EXCEPTIONS = {
    "throttlingException": 429,
    "validationException": 400,
    "modelStreamErrorException": 424,
    "internalServerException": 500,
    "serviceUnavailableException": 503,
}
# Bedrock's own wording for an over-long prompt that the shared patterns don't cover yet.
_TOO_MANY_INPUT_TOKENS = re.compile(r"too many input tokens", re.IGNORECASE)


def openai_usage(usage: dict[str, Any]) -> dict[str, Any]:
    read = usage.get("cacheReadInputTokens") or 0
    written = usage.get("cacheWriteInputTokens") or 0
    prompt = (usage.get("inputTokens") or 0) + read + written
    return usage_dict(prompt, usage.get("outputTokens") or 0, cached=read)


def chat_completion(
    data: dict[str, Any], model: str, json_tool: str | None, response_id: str | None
) -> dict[str, Any]:
    message = (data.get("output") or {}).get("message") or {}
    texts: list[str] = []
    reasoning: list[str] = []
    thinking_blocks: list[dict[str, Any]] = []
    tool_calls: list[dict[str, Any]] = []
    for block in message.get("content") or ():
        if "text" in block:
            texts.append(block["text"])
        elif "toolUse" in block:
            use = block["toolUse"]
            arguments = orjson.dumps(use.get("input", {})).decode()
            if use.get("name") == json_tool:
                texts.append(arguments)
            else:
                tool_calls.append(
                    {
                        "id": use.get("toolUseId"),
                        "type": "function",
                        "function": {"name": use.get("name"), "arguments": arguments},
                    }
                )
        elif "reasoningContent" in block:
            thinking = _thinking_block(block["reasoningContent"])
            if thinking is not None:
                thinking_blocks.append(thinking)
                reasoning.append(thinking.get("thinking", ""))
    return chat_response(
        model,
        content="".join(texts) if texts or not tool_calls else None,
        finish_reason=_finish(data.get("stopReason"), bool(tool_calls)),
        usage=openai_usage(data.get("usage") or {}),
        tool_calls=tool_calls,
        reasoning_content="".join(reasoning) or None,
        response_id=response_id,
        extra_message={"thinking_blocks": thinking_blocks} if thinking_blocks else None,
    )


def _thinking_block(content: dict[str, Any]) -> dict[str, Any] | None:
    text = content.get("reasoningText")
    if isinstance(text, dict):
        block = {"type": "thinking", "thinking": text.get("text") or ""}
        if text.get("signature"):
            block["signature"] = text["signature"]
        return block
    if content.get("redactedContent"):
        return {"type": "redacted_thinking", "data": content["redactedContent"]}
    return None


def _finish(stop_reason: Any, called_tools: bool) -> str:
    finish = FINISH_REASONS.get(stop_reason, "stop")
    # The forced JSON tool is the answer, not a call the client should make.
    return "stop" if finish == "tool_calls" and not called_tools else finish


class StreamTranslator:
    """Turns ConverseStream events into OpenAI chunks, one event at a time."""

    __slots__ = ("_builder", "_json_blocks", "_json_tool", "_thinking", "_tools", "finished")

    def __init__(self, model: str, json_tool: str | None, response_id: str | None) -> None:
        self._builder = ChunkBuilder(model, response_id)
        self._json_tool = json_tool
        #: contentBlockIndex -> OpenAI tool-call index.
        self._tools: dict[int, int] = {}
        #: contentBlockIndex of the forced JSON tool (its input streams out as content).
        self._json_blocks: set[int] = set()
        #: contentBlockIndex -> the reasoning text so far (the signed block repeats it whole).
        self._thinking: dict[int, list[str]] = {}
        self.finished = False

    def event(self, kind: str | None, event: dict[str, Any]) -> dict[str, Any] | None:
        builder = self._builder
        if kind == "contentBlockDelta":
            delta = event.get("delta") or {}
            index = event.get("contentBlockIndex", 0)
            if "text" in delta:
                return builder.text(delta["text"])
            if "toolUse" in delta:
                fragment = delta["toolUse"].get("input") or ""
                if index in self._json_blocks:
                    return builder.text(fragment)
                if index in self._tools:
                    return builder.tool_call_arguments(self._tools[index], fragment)
                return None
            if "reasoningContent" in delta:
                return self._reasoning(index, delta["reasoningContent"])
            return None
        if kind == "contentBlockStart":
            start = (event.get("start") or {}).get("toolUse")
            if not isinstance(start, dict):
                return None
            index = event.get("contentBlockIndex", 0)
            if start.get("name") == self._json_tool:
                self._json_blocks.add(index)
                return None
            position = self._tools[index] = len(self._tools)
            return builder.tool_call_start(position, start.get("toolUseId", ""), start["name"])
        if kind == "messageStart":
            return builder.text("")
        if kind == "messageStop":
            self.finished = True
            return builder.finish(_finish(event.get("stopReason"), bool(self._tools)))
        if kind == "metadata" and isinstance(event.get("usage"), dict):
            return builder.usage(openai_usage(event["usage"]))
        return None

    def _reasoning(self, index: int, delta: dict[str, Any]) -> dict[str, Any] | None:
        if delta.get("text"):
            self._thinking.setdefault(index, []).append(delta["text"])
            return self._builder.reasoning(delta["text"])
        if delta.get("signature"):
            text = "".join(self._thinking.get(index, ()))
            block = {"type": "thinking", "thinking": text, "signature": delta["signature"]}
        elif delta.get("redactedContent"):
            block = {"type": "redacted_thinking", "data": delta["redactedContent"]}
        else:
            return None
        # Like the anthropic adapter: the whole signed block, in a delta of its own.
        chunk = self._builder.text("")
        delta = chunk["choices"][0]["delta"]
        del delta["content"]
        delta["thinking_blocks"] = [block]
        return chunk


# -- errors -----------------------------------------------------------------------------------


def bedrock_error(
    status: int,
    kind: str | None,
    message: str | None,
    deployment: Deployment,
    retry_after: str | None = None,
) -> GatewayError:
    error = provider_error(
        status,
        message,
        provider=deployment.provider,
        deployment=deployment.id,
        code=kind,
        retry_after=retry_after,
    )
    if status == 400 and message and _TOO_MANY_INPUT_TOKENS.search(message):
        error.code = CONTEXT_LENGTH
    return error


async def http_error(response: UpstreamResponse, deployment: Deployment) -> GatewayError:
    """An error answer: ``{"message": ...}`` with its type in the x-amzn-ErrorType header."""
    raw = await response.read()
    kind = (response.headers.get("x-amzn-errortype") or "").split(":", 1)[0]
    message = None
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError:
        payload = None
    if isinstance(payload, dict):
        message = payload.get("message") or payload.get("Message")
        kind = kind or str(payload.get("__type") or "").rsplit("#", 1)[-1]
    elif raw:
        message = raw[:500].decode("utf-8", "replace")
    return bedrock_error(
        response.status,
        kind or None,
        message if isinstance(message, str) else None,
        deployment,
        response.headers.get("retry-after"),
    )


def stream_error(headers: dict[str, Any], payload: bytes, deployment: Deployment) -> GatewayError:
    """An exception (or error) message that arrived inside a stream that began with 200."""
    if headers.get(":message-type") == "exception":
        kind = str(headers.get(":exception-type") or "")
        try:
            body = orjson.loads(payload)
        except orjson.JSONDecodeError:
            body = {}
        message = body.get("message") if isinstance(body, dict) else None
        original = body.get("originalMessage") if isinstance(body, dict) else None
        if original and original != message:
            message = f"{message} ({original})" if message else original
        status = _STREAM_EXCEPTIONS.get(kind, 500)
        code = kind[:1].upper() + kind[1:] if kind else None
        return bedrock_error(status, code, message, deployment)
    code = headers.get(":error-code")
    return bedrock_error(
        500, str(code) if code else None, str(headers.get(":error-message") or ""), deployment
    )
