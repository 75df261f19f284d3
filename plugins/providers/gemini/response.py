"""Gemini `GenerateContentResponse`s (whole, or streamed as SSE) to OpenAI chat answers.

- Text parts become `content`; parts flagged `thought` become `reasoning_content`.
- `functionCall` parts become `tool_calls`. Gemini gives calls no ids (or only sometimes), so
  each gets one derived from the response id and its position: the same answer always
  yields the same ids, streamed or not. Arguments arrive whole, so a stream carries each
  call in a single chunk with its full arguments.
- `thoughtSignature`s are handed out as ``extra_content.google.thought_signature`` (on the
  tool call, or on the message / delta for text), which is where Google's own OpenAI layer
  puts them and where `request.py` reads them back.
- A prompt blocked by `promptFeedback.blockReason` comes back as HTTP 200 with no candidates;
  it becomes an empty answer with `finish_reason` "content_filter" (see gemini.md).
- Function-call failures (`MALFORMED_FUNCTION_CALL`, `UNEXPECTED_TOOL_CALL`,
  `TOO_MANY_TOOL_CALLS`) are a 502 `malformed_function_call` error: the model produced
  nothing the client could run, and a retry may well succeed.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any

import orjson

from litegate import GatewayError
from litegate.errors import upstream_error
from litegate.provider import completion_id
from litegate.sse import SSEDecoder
from litegate.translation import ChunkBuilder, chat_response, provider_error
from litegate.translation.chunks import usage_dict
from litegate.transport import UpstreamResponse

__all__ = ["chat_completion", "error_from_body", "stream_chunks", "usage"]

_FINISH = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "IMAGE_RECITATION": "content_filter",
}
_TOOL_FAILURES = frozenset(
    {"MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL", "TOO_MANY_TOOL_CALLS"}
)


def usage(metadata: Any) -> dict[str, Any] | None:
    """OpenAI usage from `usageMetadata`. Thinking tokens are output tokens Gemini counts
    apart from `candidatesTokenCount`; OpenAI counts them in `completion_tokens`."""
    if not isinstance(metadata, dict):
        return None
    prompt = metadata.get("promptTokenCount", 0) + metadata.get("toolUsePromptTokenCount", 0)
    thoughts = metadata.get("thoughtsTokenCount", 0)
    return usage_dict(
        prompt,
        metadata.get("candidatesTokenCount", 0) + thoughts,
        cached=metadata.get("cachedContentTokenCount", 0),
        reasoning=thoughts,
    )


def _response_id(body: dict[str, Any]) -> str | None:
    upstream = body.get("responseId")
    return f"chatcmpl-{upstream}" if isinstance(upstream, str) and upstream else None


def _call_id(response_id: str, candidate: int, position: int) -> str:
    seed = f"{response_id}:{candidate}:{position}".encode()
    return "call_" + hashlib.blake2b(seed, digest_size=12).hexdigest()


def _finish(reason: Any, saw_call: bool, provider: str, deployment: str) -> str:
    if reason in _TOOL_FAILURES:
        raise GatewayError(
            502,
            f"The upstream provider '{provider}' (deployment '{deployment}') ended with "
            f"{reason}: the model's function call could not be used. Retrying may help.",
            code="malformed_function_call",
        )
    finish = _FINISH.get(reason, "stop")
    return "tool_calls" if saw_call and finish == "stop" else finish


def _signature_extra(signature: str) -> dict[str, Any]:
    return {"google": {"thought_signature": signature}}


# -- whole answers -------------------------------------------------------------------------


def chat_completion(
    body: dict[str, Any], *, model: str, provider: str, deployment: str
) -> dict[str, Any]:
    response_id = _response_id(body)
    answer = chat_response(
        body.get("modelVersion") or model,
        content=None,
        finish_reason="stop",
        usage=usage(body.get("usageMetadata")),
        response_id=response_id,
    )
    candidates = body.get("candidates")
    if not candidates:
        blocked = (body.get("promptFeedback") or {}).get("blockReason")
        answer["choices"][0]["finish_reason"] = "content_filter" if blocked else "stop"
        return answer
    ids_from = answer["id"]
    answer["choices"] = [
        _choice(candidate, position, ids_from, provider, deployment)
        for position, candidate in enumerate(candidates)
    ]
    return answer


def _choice(
    candidate: dict[str, Any], position: int, ids_from: str, provider: str, deployment: str
) -> dict[str, Any]:
    index = candidate.get("index", position)
    texts: list[str] = []
    thoughts: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    signature = None
    for part in (candidate.get("content") or {}).get("parts") or ():
        call = part.get("functionCall")
        if call is not None:
            tool_call = _tool_call(call, ids_from, index, len(tool_calls))
            if "thoughtSignature" in part:
                tool_call["extra_content"] = _signature_extra(part["thoughtSignature"])
            tool_calls.append(tool_call)
            continue
        text = part.get("text")
        if part.get("thought"):
            if text:
                thoughts.append(text)
        elif isinstance(text, str):
            texts.append(text)
        if signature is None and "thoughtSignature" in part:
            signature = part["thoughtSignature"]
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(texts) if texts or not tool_calls else None,
        "refusal": None,
    }
    if tool_calls:
        message["tool_calls"] = tool_calls
    if thoughts:
        message["reasoning_content"] = "".join(thoughts)
    if signature is not None:
        message["extra_content"] = _signature_extra(signature)
    finish = _finish(candidate.get("finishReason"), bool(tool_calls), provider, deployment)
    return {"index": index, "message": message, "finish_reason": finish, "logprobs": None}


def _tool_call(
    call: dict[str, Any], ids_from: str, candidate: int, position: int
) -> dict[str, Any]:
    call_id = call.get("id")
    if not isinstance(call_id, str) or not call_id:
        call_id = _call_id(ids_from, candidate, position)
    return {
        "id": call_id,
        "type": "function",
        "function": {
            "name": call.get("name", ""),
            "arguments": orjson.dumps(call.get("args") or {}).decode(),
        },
    }


# -- streams -------------------------------------------------------------------------------


class _Candidate:
    __slots__ = ("builder", "calls", "finished")

    def __init__(self, builder: ChunkBuilder) -> None:
        self.builder = builder
        self.calls = 0
        self.finished = False


class _StreamState:
    """Turns each streamed `GenerateContentResponse` into OpenAI chunks."""

    __slots__ = ("candidates", "deployment", "model", "provider", "response_id", "usage")

    def __init__(self, model: str, provider: str, deployment: str) -> None:
        self.model = model
        self.provider = provider
        self.deployment = deployment
        self.response_id: str | None = None
        self.candidates: dict[int, _Candidate] = {}
        self.usage: dict[str, Any] | None = None

    def candidate(self, index: int) -> _Candidate:
        state = self.candidates.get(index)
        if state is None:
            if self.response_id is None:
                self.response_id = completion_id()
            state = self.candidates[index] = _Candidate(ChunkBuilder(self.model, self.response_id))
        return state

    def feed(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        if self.response_id is None:
            self.response_id = _response_id(body)
            self.model = body.get("modelVersion") or self.model
        if "usageMetadata" in body:
            self.usage = body["usageMetadata"]
        chunks: list[dict[str, Any]] = []
        candidates = body.get("candidates")
        if not candidates:
            if (body.get("promptFeedback") or {}).get("blockReason"):
                state = self.candidate(0)
                state.finished = True
                chunks.append(state.builder.finish("content_filter"))
            return chunks
        for position, candidate in enumerate(candidates):
            index = candidate.get("index", position)
            state = self.candidate(index)
            for part in (candidate.get("content") or {}).get("parts") or ():
                chunk = self._part(state, index, part)
                if chunk is not None:
                    _set_index(chunk, index)
                    chunks.append(chunk)
            reason = candidate.get("finishReason")
            if reason:
                finish = _finish(reason, state.calls > 0, self.provider, self.deployment)
                chunk = state.builder.finish(finish)
                _set_index(chunk, index)
                chunks.append(chunk)
                state.finished = True
        return chunks

    def _part(self, state: _Candidate, index: int, part: dict[str, Any]) -> dict[str, Any] | None:
        builder = state.builder
        signature = part.get("thoughtSignature")
        call = part.get("functionCall")
        if call is not None:
            assert self.response_id is not None
            tool_call = _tool_call(call, self.response_id, index, state.calls)
            chunk = builder.tool_call_start(
                state.calls, tool_call["id"], tool_call["function"]["name"]
            )
            delta_call = chunk["choices"][0]["delta"]["tool_calls"][0]
            delta_call["function"]["arguments"] = tool_call["function"]["arguments"]
            if signature is not None:
                delta_call["extra_content"] = _signature_extra(signature)
            state.calls += 1
            return chunk
        text = part.get("text")
        if part.get("thought"):
            chunk = builder.reasoning(text) if text else None
        elif text:
            chunk = builder.text(text)
        else:
            chunk = None
        if signature is not None:
            chunk = chunk or builder.text("")
            chunk["choices"][0]["delta"]["extra_content"] = _signature_extra(signature)
        return chunk

    def tail(self) -> dict[str, Any] | None:
        if not self.candidates or not all(state.finished for state in self.candidates.values()):
            raise GatewayError(
                502,
                f"The upstream provider '{self.provider}' (deployment '{self.deployment}') "
                "ended the stream before it finished.",
                code="upstream_error",
            )
        first = self.candidates[min(self.candidates)]
        counted = usage(self.usage)
        return first.builder.usage(counted) if counted is not None else None


def _set_index(chunk: dict[str, Any], index: int) -> None:
    if index:
        chunk["choices"][0]["index"] = index


async def stream_chunks(
    response: UpstreamResponse,
    *,
    model: str,
    provider: str,
    deployment: str,
    secrets: tuple[str, ...],
) -> AsyncIterator[dict[str, Any]]:
    """OpenAI chunks from a `streamGenerateContent?alt=sse` response; the last one carries
    usage only (the core sends it when the client asked)."""
    state = _StreamState(model, provider, deployment)
    decoder = SSEDecoder()
    async for block in response.iter_bytes():
        for _event, data in decoder.feed(block):
            for chunk in _translate(state, data, provider, deployment, secrets):
                yield chunk
    for _event, data in decoder.flush():
        for chunk in _translate(state, data, provider, deployment, secrets):
            yield chunk
    last = state.tail()
    if last is not None:
        yield last


def _translate(
    state: _StreamState, data: bytes, provider: str, deployment: str, secrets: tuple[str, ...]
) -> list[dict[str, Any]]:
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise GatewayError(
            502,
            f"The upstream provider '{provider}' (deployment '{deployment}') sent a stream "
            "event that is not JSON.",
            code="upstream_error",
        ) from None
    if "error" in body:
        error = body["error"]
        status = error.get("code") if isinstance(error, dict) else None
        raise error_from_body(
            status if isinstance(status, int) else 502,
            body,
            provider=provider,
            deployment=deployment,
            secrets=secrets,
        )
    return state.feed(body)


# -- errors --------------------------------------------------------------------------------


def error_from_body(
    status: int,
    payload: Any,
    *,
    provider: str,
    deployment: str,
    secrets: tuple[str, ...],
    retry_after: str | None = None,
) -> GatewayError:
    """The GatewayError for a `google.rpc.Status` error body (`{"error": {code, message,
    status, details}}`; a stream without alt=sse wraps it in a list)."""
    if isinstance(payload, list) and payload:
        payload = payload[0]
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        text = payload if isinstance(payload, str) else None
        return provider_error(
            status, text, provider=provider, deployment=deployment, secrets=secrets
        )
    details = error.get("details")
    if not isinstance(details, list):
        details = []
    reasons = {d.get("reason") for d in details if isinstance(d, dict)}
    if "API_KEY_INVALID" in reasons or status == 401:
        # Google answers a wrong key with 400 INVALID_ARGUMENT: to the client it's our
        # credentials that were refused, not its request.
        return upstream_error(401, payload, provider=provider, deployment=deployment)
    if retry_after is None:
        for detail in details:
            delay = detail.get("retryDelay") if isinstance(detail, dict) else None
            if isinstance(delay, str) and delay.endswith("s"):
                try:
                    retry_after = str(max(1, round(float(delay[:-1]))))
                except ValueError:
                    continue
    message = error.get("message")
    code = error.get("status")
    return provider_error(
        status,
        message if isinstance(message, str) else None,
        provider=provider,
        deployment=deployment,
        code=code if isinstance(code, str) else None,
        secrets=secrets,
        retry_after=retry_after,
    )
