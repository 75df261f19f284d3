"""An OpenAI-shaped upstream that answers with what it was sent, in controlled pieces.

The answer is the last user message's text (plus a suffix the model name may ask for).
``model = "echo-<n>"`` streams it in pieces of n characters, so a placeholder like
``<EMAIL_1>`` arrives split across chunk boundaries. ``"tool-<name>"`` answers with a call
of tool <name> whose arguments carry the text. Every request body is kept in `requests`.
"""

from __future__ import annotations

import json
import time
from typing import Any

import orjson
from aiohttp import web

from litegate.testing.fake_openai import embeddings_body
from litegate.testing.upstream import FakeUpstream


class EchoUpstream(FakeUpstream):
    name = "echo upstream"

    def __init__(self) -> None:
        super().__init__()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.requests: list[dict[str, Any]] = []
        #: model name -> a fixed answer instead of the echo
        self.answers: dict[str, str] = {}
        #: Write ``<`` and ``>`` as ``\\u003c`` and ``\\u003e`` in whole JSON answers (and in
        #: the JSON of tool call arguments), as Go's encoding/json does.
        self.escape_html = False
        #: The bytes of the last non-streamed answer.
        self.last_answer = b""

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_post("/v1/moderations", self._moderations)

    def sent(self) -> str:
        """Every request body received, as one JSON text (to search for leaks)."""
        return orjson.dumps(self.requests).decode()

    async def _embeddings(self, request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        self.requests.append(body)
        return web.json_response(embeddings_body(body, body["model"]))

    async def _moderations(self, request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        self.requests.append(body)
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        results = []
        for text in inputs:
            flagged = "attack" in str(text).lower()
            results.append(
                {
                    "flagged": flagged,
                    "categories": {"violence": flagged, "hate": False},
                    "category_scores": {"violence": 0.97 if flagged else 0.01, "hate": 0.0},
                }
            )
        return web.json_response({"id": "modr-echo", "model": body["model"], "results": results})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = orjson.loads(await request.read())
        self.requests.append(body)
        model = body["model"]
        text = self.answers.get(model)
        if text is None:
            text = _last_user_text(body)
        usage = {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10}
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if model.startswith("tool-"):
            arguments = _escaped(self.escape_html, orjson.dumps({"text": text})).decode()
            message = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": model[5:], "arguments": arguments},
                    }
                ],
            }
        if not body.get("stream"):
            answer = {
                "id": "chatcmpl-echo",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                "usage": usage,
            }
            # The standard library's spacing, unlike orjson's: whether the gateway passed
            # these bytes on or re-encoded the answer shows.
            self.last_answer = _escaped(self.escape_html, json.dumps(answer).encode())
            return web.Response(body=self.last_answer, content_type="application/json")
        size = int(model.split("-", 1)[1]) if model.startswith("echo-") else 4
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        base = {
            "id": "chatcmpl-echo",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
        }

        async def send(choice: dict[str, Any], **extra: Any) -> None:
            chunk = {**base, "choices": [choice], **extra}
            await response.write(b"data: " + orjson.dumps(chunk) + b"\n\n")

        for start in range(0, len(text), size):
            delta: dict[str, Any] = {"content": text[start : start + size]}
            if start == 0:
                delta["role"] = "assistant"
            await send({"index": 0, "delta": delta, "finish_reason": None})
        await send({"index": 0, "delta": {}, "finish_reason": "stop"})
        await response.write(
            b"data: " + orjson.dumps({**base, "choices": [], "usage": usage}) + b"\n\n"
        )
        await response.write(b"data: [DONE]\n\n")
        return response


def _escaped(escape: bool, encoded: bytes) -> bytes:
    return encoded.replace(b"<", b"\\u003c").replace(b">", b"\\u003e") if escape else encoded


def _last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if message.get("role") in ("user", "tool"):
            content = message.get("content")
            if isinstance(content, list):
                return "".join(p.get("text", "") for p in content if isinstance(p, dict))
            return str(content)
    return ""
