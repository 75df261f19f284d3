"""`mock`: an offline provider for demos and tests. No network, no key.

Replies are deterministic (the same request gets the same answer), streams split the reply
into word chunks, and `latency`, `chunk_delay` and `failure_rate` let you rehearse slow or
flaky upstreams.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
import struct
from collections.abc import AsyncIterator
from typing import Any

import attrs

from litegate import Call, Deployment, GatewayError, Reply, ReplyStream, hookimpl
from litegate.config_types import Duration
from litegate.errors import upstream_error
from litegate.provider import ProviderAdapter, completion_id, now
from litegate.translation import embeddings_response


class MockProvider(ProviderAdapter):
    uses_http = False

    @attrs.frozen
    class Options:
        #: A fixed reply; by default the mock echoes the last user message.
        reply: str | None = None
        #: Wait this long before answering (before the first chunk for streams).
        latency: Duration = Duration(0)
        #: Wait this long between stream chunks.
        chunk_delay: Duration = Duration(0)
        #: Share of calls (0..1) that fail with `failure_status`.
        failure_rate: float = attrs.field(
            default=0.0,
            validator=attrs.validators.and_(attrs.validators.ge(0.0), attrs.validators.le(1.0)),
        )
        #: The upstream status the simulated failures have (mapped like a real upstream's).
        failure_status: int = 500
        #: Length of the embedding vectors (a request's `dimensions` wins).
        embedding_dimensions: int = attrs.field(default=16, validator=attrs.validators.ge(1))

    @hookimpl
    async def provider_call(self, call: Call, deployment: Deployment) -> Reply | ReplyStream:
        options = deployment.options or self.Options()
        if options.latency:
            await asyncio.sleep(options.latency)
        if options.failure_rate and random.random() < options.failure_rate:
            raise upstream_error(
                options.failure_status,
                {
                    "error": {
                        "message": "Simulated failure from the mock provider.",
                        "code": "mock_failure",
                    }
                },
                provider=deployment.provider,
                deployment=deployment.id,
            )
        if call.endpoint == "embeddings":
            return Reply(_embeddings(call.request, deployment.model, options))
        other = _OTHER_ENDPOINTS.get(call.endpoint)
        if other is not None:
            return other(call.request, deployment.model)
        text = options.reply if options.reply is not None else _echo(call)
        prompt_tokens = _count_tokens(call.request)
        usage = _usage(prompt_tokens, len(text.split()))
        if call.stream:
            return ReplyStream(_stream(call, deployment.model, text, usage, options))
        if call.endpoint == "completions":
            return Reply(
                {
                    "id": completion_id("cmpl"),
                    "object": "text_completion",
                    "created": now(),
                    "model": deployment.model,
                    "choices": [
                        {"index": 0, "text": text, "finish_reason": "stop", "logprobs": None}
                    ],
                    "usage": usage,
                }
            )
        return Reply(
            {
                "id": completion_id(),
                "object": "chat.completion",
                "created": now(),
                "model": deployment.model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text, "refusal": None},
                        "finish_reason": "stop",
                        "logprobs": None,
                    }
                ],
                "usage": usage,
            }
        )


def _echo(call: Call) -> str:
    if call.endpoint == "completions":
        prompt = call.request.get("prompt")
        said = prompt if isinstance(prompt, str) else str(prompt)
    else:
        said = ""
        for message in reversed(call.request.get("messages", [])):
            if message.get("role") == "user":
                said = _text(message.get("content"))
                break
    said = " ".join(said.split())
    if len(said) > 200:
        said = said[:197] + "..."
    return f"This is the mock provider answering. You said: {said}"


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _count_tokens(request: dict[str, Any]) -> int:
    if "messages" in request:
        return sum(len(_text(m.get("content")).split()) + 3 for m in request["messages"]) + 1
    return max(1, len(str(request.get("prompt", "")).split()))


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


async def _stream(
    call: Call, model: str, text: str, usage: dict[str, int], options: Any
) -> AsyncIterator[dict[str, Any]]:
    ident, created = completion_id(), now()
    words = text.split(" ")
    chat = call.endpoint == "chat"

    def chunk(delta: str | None, finish: str | None, *, first: bool = False) -> dict[str, Any]:
        if not chat:
            return {
                "id": ident,
                "object": "text_completion",
                "created": created,
                "model": model,
                "choices": [
                    {"index": 0, "text": delta or "", "finish_reason": finish, "logprobs": None}
                ],
            }
        body: dict[str, Any] = {} if delta is None else {"content": delta}
        if first:
            body["role"] = "assistant"
        return {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": body, "finish_reason": finish, "logprobs": None}],
        }

    for index, word in enumerate(words):
        if index and options.chunk_delay:
            await asyncio.sleep(options.chunk_delay)
        yield chunk(word if index == 0 else " " + word, None, first=index == 0)
    yield chunk(None, "stop")
    yield {
        "id": ident,
        "object": "chat.completion.chunk" if chat else "text_completion",
        "created": created,
        "model": model,
        "choices": [],
        "usage": usage,
    }


_MAX_DIMENSIONS = 4096


def _embeddings(request: dict[str, Any], model: str, options: Any) -> dict[str, Any]:
    inputs = request["input"]
    if isinstance(inputs, str) or (inputs and isinstance(inputs[0], int)):
        inputs = [inputs]
    dims = request.get("dimensions") or options.embedding_dimensions
    if dims > _MAX_DIMENSIONS:
        raise GatewayError(
            400,
            f"The mock provider makes at most {_MAX_DIMENSIONS} dimensions.",
            param="dimensions",
            code="invalid_value",
        )
    as_base64 = request.get("encoding_format") == "base64"
    vectors, tokens = [], 0
    for item in inputs:
        text = item if isinstance(item, str) else " ".join(map(str, item))
        tokens += max(1, len(text.split()))
        vectors.append(_vector(text, dims))
    return embeddings_response(vectors, model=model, as_base64=as_base64, tokens=tokens)


def _vector(text: str, dims: int) -> list[float]:
    """A unit vector derived from the text's hash: equal texts embed equally."""
    seed = hashlib.sha256(text.encode()).digest()
    values = [((seed[i % 32] + i * 31) % 256) / 127.5 - 1.0 for i in range(dims)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


# -- endpoints beyond chat: small, deterministic stand-ins -----------------------------------

# A 1x1 transparent PNG.
_PIXEL = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)


def _images(request: dict[str, Any], model: str) -> Reply:
    as_url = request.get("response_format") == "url"
    item = {"url": f"data:image/png;base64,{_PIXEL}"} if as_url else {"b64_json": _PIXEL}
    data = [{**item, "revised_prompt": request["prompt"]} for _ in range(request.get("n") or 1)]
    return Reply({"created": now(), "data": data})


def _speech(request: dict[str, Any], model: str) -> Reply:
    """A WAV of silence, a tenth of a second per word of input (whatever format was asked)."""
    samples = 1600 * max(1, len(request["input"].split()))
    header = b"RIFF" + struct.pack("<I", 36 + samples * 2) + b"WAVEfmt "
    header += struct.pack("<IHHIIHH", 16, 1, 1, 16000, 32000, 2, 16)
    header += b"data" + struct.pack("<I", samples * 2)
    return Reply(raw=header + bytes(samples * 2), content_type="audio/wav")


def _transcription(request: dict[str, Any], model: str) -> Reply:
    upload = request["file"]
    text = f"Mock transcription of {upload.filename} ({len(upload.data)} bytes)."
    if request.get("response_format") in ("text", "srt", "vtt"):
        return Reply(raw=text.encode(), content_type="text/plain; charset=utf-8")
    return Reply({"text": text, "usage": {"type": "duration", "seconds": 1}})


_CATEGORIES = ("harassment", "hate", "self-harm", "sexual", "violence")


def _moderation(request: dict[str, Any], model: str) -> Reply:
    inputs = request["input"] if isinstance(request["input"], list) else [request["input"]]
    results = []
    for item in inputs:
        # Deterministic and obvious: text containing "flag-me" is flagged as violence.
        flagged = "flag-me" in str(item)
        results.append(
            {
                "flagged": flagged,
                "categories": {c: flagged and c == "violence" for c in _CATEGORIES},
                "category_scores": {
                    c: 0.99 if flagged and c == "violence" else 0.0 for c in _CATEGORIES
                },
            }
        )
    return Reply({"id": completion_id("modr"), "model": model, "results": results})


def _rerank(request: dict[str, Any], model: str) -> Reply:
    """Relevance = share of the query's words found in the document."""
    query = set(request["query"].lower().split())
    scored = []
    for index, document in enumerate(request["documents"]):
        text = document.get("text", "") if isinstance(document, dict) else str(document)
        words = set(text.lower().split())
        score = len(query & words) / len(query) if query else 0.0
        entry: dict[str, Any] = {"index": index, "relevance_score": round(score, 4)}
        if request.get("return_documents"):
            entry["document"] = {"text": text}
        scored.append(entry)
    scored.sort(key=lambda e: (-e["relevance_score"], e["index"]))
    top = request.get("top_n") or len(scored)
    return Reply(
        {
            "object": "list",
            "model": model,
            "results": scored[:top],
            "usage": {"total_tokens": len(query)},
        }
    )


_OTHER_ENDPOINTS = {
    "images": _images,
    "speech": _speech,
    "transcriptions": _transcription,
    "moderations": _moderation,
    "rerank": _rerank,
}
