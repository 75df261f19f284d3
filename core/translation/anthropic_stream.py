"""Anthropic Messages streams <-> OpenAI chat.completion.chunk streams.

`ChunksFromEvents` reads an Anthropic SSE stream (message_start, content_block_start/delta/
stop, message_delta, message_stop, ping) into OpenAI chunks: text, ``reasoning_content``,
tool calls whose arguments arrive as ``input_json_delta`` fragments, the finish reason and
the usage chunk. A thinking block's signature comes as a chunk whose delta holds
``thinking_blocks`` with the whole block, ready to be sent back on the next turn.

`EventsFromChunks` does the reverse for the inbound ``/v1/messages`` API: every run of text,
thinking or one tool call's arguments becomes one content block with its own index.
"""

from __future__ import annotations

from typing import Any

import orjson

from .anthropic import FINISH_TO_STOP, STOP_TO_FINISH, to_anthropic_usage
from .chunks import ChunkBuilder, usage_dict

__all__ = ["ChunksFromEvents", "EventsFromChunks", "encode_event"]


def encode_event(kind: str, payload: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


class ChunksFromEvents:
    """Anthropic stream events (parsed ``data:`` payloads) -> OpenAI chunks."""

    __slots__ = ("_builder", "_finish", "_model", "_thinking", "_tools", "_usage", "done")

    def __init__(self, model: str) -> None:
        self._model = model
        self._builder: ChunkBuilder | None = None
        #: content block index -> OpenAI tool call index
        self._tools: dict[int, int] = {}
        #: content block index -> thinking text so far (for the block sent with its signature)
        self._thinking: dict[int, list[str]] = {}
        self._usage: dict[str, int] = {}
        self._finish: str | None = None
        self.done = False

    @property
    def builder(self) -> ChunkBuilder:
        if self._builder is None:
            self._builder = ChunkBuilder(self._model)
        return self._builder

    def feed(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        kind = event.get("type")
        if kind == "content_block_delta":
            return self._delta(event["index"], event["delta"])
        if kind == "content_block_start":
            return self._start(event["index"], event["content_block"])
        if kind == "message_start":
            message = event.get("message") or {}
            self._builder = ChunkBuilder(message.get("model") or self._model, message.get("id"))
            self._count(message.get("usage"))
            return []
        if kind == "message_delta":
            self._count(event.get("usage"))
            reason = (event.get("delta") or {}).get("stop_reason")
            self._finish = STOP_TO_FINISH.get(reason or "", "stop")
            return [self.builder.finish(self._finish)]
        if kind == "message_stop":
            self.done = True
            return [self.builder.usage(self.usage())]
        return []  # ping, content_block_stop, and event types added later

    def usage(self) -> dict[str, Any]:
        usage = self._usage
        read = usage.get("cache_read_input_tokens", 0)
        prompt = usage.get("input_tokens", 0) + read + usage.get("cache_creation_input_tokens", 0)
        return usage_dict(prompt, usage.get("output_tokens", 0), cached=read)

    def _count(self, usage: Any) -> None:
        # Counts are cumulative: a later event's value replaces the earlier one.
        if isinstance(usage, dict):
            for key, value in usage.items():
                if type(value) is int:
                    self._usage[key] = value

    def _start(self, index: int, block: dict[str, Any]) -> list[dict[str, Any]]:
        kind = block.get("type")
        builder = self.builder
        if kind == "text":
            return [builder.text(block["text"])] if block.get("text") else []
        if kind == "tool_use":
            position = self._tools[index] = len(self._tools)
            return [builder.tool_call_start(position, block["id"], block["name"])]
        if kind == "thinking":
            text = block.get("thinking") or ""
            self._thinking[index] = [text]
            return [builder.reasoning(text)] if text else []
        if kind == "redacted_thinking":
            return [builder.delta(thinking_blocks=[block])]
        return []  # server tool blocks have no OpenAI counterpart

    def _delta(self, index: int, delta: dict[str, Any]) -> list[dict[str, Any]]:
        kind = delta.get("type")
        if kind == "text_delta":
            return [self.builder.text(delta["text"])]
        if kind == "input_json_delta":
            fragment = delta.get("partial_json")
            position = self._tools.get(index)
            if not fragment or position is None:
                return []
            return [self.builder.tool_call_arguments(position, fragment)]
        if kind == "thinking_delta":
            self._thinking.setdefault(index, []).append(delta["thinking"])
            return [self.builder.reasoning(delta["thinking"])]
        if kind == "signature_delta":
            block = {
                "type": "thinking",
                "thinking": "".join(self._thinking.get(index, ())),
                "signature": delta["signature"],
            }
            return [self.builder.delta(thinking_blocks=[block])]
        return []  # citations_delta: no OpenAI counterpart


class EventsFromChunks:
    """OpenAI chunks -> Anthropic SSE event bytes (``event: <type>`` + ``data:``)."""

    __slots__ = ("_index", "_model", "_open", "_started", "_stop", "_thought", "_tools", "_usage")

    def __init__(self, model: str) -> None:
        self._model = model
        self._started = False
        self._index = -1
        #: the kind of the open content block ("text", "thinking", "tool_use") or None
        self._open: str | None = None
        #: the open thinking block got its text already (a signed block then adds only the
        #: signature)
        self._thought = False
        #: OpenAI tool call index -> content block index
        self._tools: dict[int, int] = {}
        self._stop = "end_turn"
        self._usage: Any = None

    def feed(self, chunk: dict[str, Any]) -> list[bytes]:
        out: list[bytes] = []
        if not self._started:
            self._begin(chunk, out)
        if chunk.get("usage"):
            self._usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if delta.get("reasoning_content"):
                self._open_block(
                    "thinking", {"type": "thinking", "thinking": "", "signature": ""}, out
                )
                out.append(
                    self._delta({"type": "thinking_delta", "thinking": delta["reasoning_content"]})
                )
            for block in delta.get("thinking_blocks") or ():
                self._thinking_block(block, out)
            if delta.get("content"):
                self._open_block("text", {"type": "text", "text": ""}, out)
                out.append(self._delta({"type": "text_delta", "text": delta["content"]}))
            for call in delta.get("tool_calls") or ():
                self._tool_call(call, out)
            reason = choice.get("finish_reason")
            if reason:
                self._stop = FINISH_TO_STOP.get(reason, "end_turn")
        return out

    def finish(self) -> bytes:
        out: list[bytes] = []
        if not self._started:
            self._begin({}, out)
        self._close(out)
        usage = to_anthropic_usage(self._usage)
        out.append(
            encode_event(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": self._stop, "stop_sequence": None},
                    "usage": usage,
                },
            )
        )
        out.append(encode_event("message_stop", {"type": "message_stop"}))
        return b"".join(out)

    def _begin(self, chunk: dict[str, Any], out: list[bytes]) -> None:
        self._started = True
        message: dict[str, Any] = {
            "id": chunk.get("id") or "msg_gateway",
            "type": "message",
            "role": "assistant",
            "model": chunk.get("model") or self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        out.append(encode_event("message_start", {"type": "message_start", "message": message}))

    def _open_block(self, kind: str, block: dict[str, Any], out: list[bytes]) -> None:
        if self._open == kind and kind != "tool_use":
            return
        self._close(out)
        self._index += 1
        self._open = kind
        self._thought = False
        out.append(
            encode_event(
                "content_block_start",
                {"type": "content_block_start", "index": self._index, "content_block": block},
            )
        )

    def _close(self, out: list[bytes]) -> None:
        if self._open is not None:
            out.append(
                encode_event(
                    "content_block_stop", {"type": "content_block_stop", "index": self._index}
                )
            )
            self._open = None

    def _delta(self, delta: dict[str, Any]) -> bytes:
        if delta["type"] == "thinking_delta":
            self._thought = True
        return encode_event(
            "content_block_delta",
            {"type": "content_block_delta", "index": self._index, "delta": delta},
        )

    def _thinking_block(self, block: Any, out: list[bytes]) -> None:
        if not isinstance(block, dict):
            return
        if block.get("type") == "redacted_thinking":
            self._open_block("redacted_thinking", block, out)
            self._close(out)
            return
        if self._open != "thinking":
            self._open_block("thinking", {"type": "thinking", "thinking": "", "signature": ""}, out)
        if not self._thought and block.get("thinking"):
            out.append(self._delta({"type": "thinking_delta", "thinking": block["thinking"]}))
        if block.get("signature"):
            out.append(self._delta({"type": "signature_delta", "signature": block["signature"]}))
        self._close(out)  # a signed block is complete

    def _tool_call(self, call: dict[str, Any], out: list[bytes]) -> None:
        position = call.get("index", 0)
        function = call.get("function") or {}
        if position not in self._tools:
            block: dict[str, Any] = {
                "type": "tool_use",
                "id": call.get("id"),
                "name": function.get("name"),
                "input": {},
            }
            self._open_block("tool_use", block, out)
            self._tools[position] = self._index
        arguments = function.get("arguments")
        # Anthropic blocks can't interleave: arguments for a tool call whose block is already
        # closed (OpenAI upstreams send calls one after another) can't be placed, so are lost.
        if arguments and self._tools[position] == self._index and self._open == "tool_use":
            out.append(self._delta({"type": "input_json_delta", "partial_json": arguments}))
