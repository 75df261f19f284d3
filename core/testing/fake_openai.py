"""A fake OpenAI upstream over real HTTP, for tests of the gateway and its plugins.

Behaviour is scripted by the `model` in the request, so parallel tests don't interfere:

- any ordinary name: a normal answer (chat, completions, embeddings; streams when asked)
- ``error-<status>``: that HTTP status with an OpenAI error body (429 adds retry-after: 1)
- ``slow``: holds the request open for up to 30 s before answering
- ``slow-stream``: sends one chunk, then holds the stream open for up to 30 s
- ``stream-error``: sends one chunk, then an in-stream error event

Every request is recorded in `requests`; every connection the gateway closes while the fake
was still answering is recorded in `disconnects` (wait for one with `wait_disconnect`).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import struct
import threading
import time
from typing import Any

import orjson
from aiohttp import web

from .upstream import FakeUpstream

__all__ = ["FakeOpenAI"]

REPLY = "Hello from the fake upstream."


class FakeOpenAI(FakeUpstream):
    name = "fake OpenAI upstream"

    def __init__(self) -> None:
        super().__init__()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.requests: list[dict[str, Any]] = []
        self.disconnects: list[float] = []
        self._disconnected = threading.Condition()
        self._ids = itertools.count(1)

    # -- routes ----------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/completions", self._completions)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_post("/v1/images/generations", self._images)
        app.router.add_post("/v1/audio/speech", self._speech)
        app.router.add_post("/v1/audio/transcriptions", self._transcriptions)
        app.router.add_post("/v1/moderations", self._moderations)
        app.router.add_post("/v1/rerank", self._rerank)

    def wait_disconnect(self, timeout: float, after: int = 0) -> float | None:
        """Block until more than `after` disconnects were seen; return the newest's time."""
        with self._disconnected:
            self._disconnected.wait_for(lambda: len(self.disconnects) > after, timeout)
            return self.disconnects[-1] if len(self.disconnects) > after else None

    def _record_disconnect(self) -> None:
        with self._disconnected:
            self.disconnects.append(time.monotonic())
            self._disconnected.notify_all()

    # -- handlers --------------------------------------------------------------------------

    async def _read(self, request: web.Request) -> dict[str, Any]:
        body = orjson.loads(await request.read())
        self.requests.append({"path": request.path, "headers": dict(request.headers), "body": body})
        return body

    async def _scripted(self, request: web.Request, body: dict[str, Any]) -> web.Response | None:
        model = str(body.get("model", ""))
        if model.startswith("error-"):
            status = int(model.split("-", 1)[1])
            headers = {"retry-after": "1"} if status == 429 else {}
            error = {
                "error": {
                    "message": f"Scripted upstream error {status}.",
                    "type": "invalid_request_error" if status < 500 else "server_error",
                    "param": None,
                    "code": f"scripted_{status}",
                }
            }
            return web.json_response(
                error, status=status, headers=headers, dumps=lambda d: orjson.dumps(d).decode()
            )
        if model == "slow":
            await self._hold(request)
        return None

    async def _hold(self, request: web.Request, seconds: float = 30.0) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            transport = request.transport
            if transport is None or transport.is_closing():
                self._record_disconnect()
                raise asyncio.CancelledError
            await asyncio.sleep(0.02)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await self._read(request)
        scripted = await self._scripted(request, body)
        if scripted is not None:
            return scripted
        usage = _usage(body)
        if body.get("stream"):
            return await self._stream(request, body, usage)
        return _json(
            {
                "id": f"chatcmpl-fake{next(self._ids)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "logprobs": None,
                        "message": {"role": "assistant", "content": REPLY, "refusal": None},
                    }
                ],
                "usage": usage,
            }
        )

    async def _stream(
        self, request: web.Request, body: dict[str, Any], usage: dict[str, Any]
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        include_usage = (body.get("stream_options") or {}).get("include_usage") is True
        ident = f"chatcmpl-fake{next(self._ids)}"
        base = {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body["model"],
        }
        if include_usage:
            base["usage"] = None
        pieces = REPLY.split(" ")
        try:
            for index, piece in enumerate(pieces):
                delta = {"content": piece if index == 0 else " " + piece}
                if index == 0:
                    delta["role"] = "assistant"
                await _send(
                    response,
                    {
                        **base,
                        "choices": [
                            {"index": 0, "delta": delta, "finish_reason": None, "logprobs": None}
                        ],
                    },
                )
                if index == 0 and body["model"] == "slow-stream":
                    await self._hold(request)
                if index == 0 and body["model"] == "stream-error":
                    await response.write(
                        b'data: {"error": {"message": "Scripted mid-stream '
                        b'failure.", "type": "server_error", "param": null, '
                        b'"code": "scripted_stream"}}\n\n'
                    )
                    return response
            await _send(
                response,
                {
                    **base,
                    "choices": [
                        {"index": 0, "delta": {}, "finish_reason": "stop", "logprobs": None}
                    ],
                },
            )
            if include_usage:
                await _send(response, {**base, "choices": [], "usage": usage})
            await response.write(b"data: [DONE]\n\n")
        except (ConnectionResetError, asyncio.CancelledError):
            self._record_disconnect()
            raise
        return response

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        body = await self._read(request)
        scripted = await self._scripted(request, body)
        if scripted is not None:
            return scripted
        return _json(
            {
                "id": f"cmpl-fake{next(self._ids)}",
                "object": "text_completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [{"index": 0, "text": REPLY, "finish_reason": "stop", "logprobs": None}],
                "usage": _usage(body),
            }
        )

    async def _embeddings(self, request: web.Request) -> web.StreamResponse:
        body = await self._read(request)
        scripted = await self._scripted(request, body)
        if scripted is not None:
            return scripted
        return _json(embeddings_body(body, body["model"]))

    async def _images(self, request: web.Request) -> web.StreamResponse:
        body = await self._read(request)
        data = [
            {"b64_json": base64.b64encode(b"fake-image").decode(), "revised_prompt": body["prompt"]}
            for _ in range(body.get("n") or 1)
        ]
        return _json({"created": int(time.time()), "data": data})

    async def _speech(self, request: web.Request) -> web.StreamResponse:
        body = await self._read(request)
        return web.Response(
            body=b"ID3fake-mp3:" + body["input"].encode(), content_type="audio/mpeg"
        )

    async def _transcriptions(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        upload = form["file"]
        assert isinstance(upload, web.FileField), "the file must arrive as a file part"
        data = upload.file.read()
        fields = {k: v for k, v in form.items() if k != "file"}
        record = {**fields, "file": (upload.filename, upload.content_type, data)}
        self.requests.append(
            {"path": request.path, "headers": dict(request.headers), "body": record}
        )
        text = f"heard {len(data)} bytes"
        if fields.get("response_format") == "text":
            return web.Response(text=text, content_type="text/plain")
        return _json({"text": text})

    async def _moderations(self, request: web.Request) -> web.StreamResponse:
        body = await self._read(request)
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        results = [
            {
                "flagged": False,
                "categories": {"violence": False},
                "category_scores": {"violence": 0.01},
            }
            for _ in inputs
        ]
        return _json({"id": "modr-fake", "model": body["model"], "results": results})

    async def _rerank(self, request: web.Request) -> web.StreamResponse:
        body = await self._read(request)
        results = [
            {"index": i, "relevance_score": 1.0 / (i + 1)} for i in range(len(body["documents"]))
        ]
        return _json(
            {
                "object": "list",
                "model": body["model"],
                "results": results,
                "usage": {"total_tokens": 3},
            }
        )


def embeddings_body(body: dict[str, Any], model: str) -> dict[str, Any]:
    """An OpenAI embeddings answer: small vectors made from each input's length."""
    inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
    dims = body.get("dimensions") or 8
    data = []
    for index, text in enumerate(inputs):
        vector = [((len(str(text)) + i) % 7) / 7.0 for i in range(dims)]
        embedding: Any = vector
        if body.get("encoding_format") == "base64":
            embedding = base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    tokens = sum(len(str(t).split()) for t in inputs)
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def _usage(body: dict[str, Any]) -> dict[str, Any]:
    prompt = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", [])) or 1
    completion = len(REPLY.split())
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _json(data: dict[str, Any]) -> web.Response:
    return web.Response(body=orjson.dumps(data), content_type="application/json")


async def _send(response: web.StreamResponse, chunk: dict[str, Any]) -> None:
    await response.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
