"""The OpenAI-compatible passthrough every OpenAI-format upstream shares: `openai` itself,
Azure and the presets (Groq, Together, Mistral, Ollama, ...).

The client's request goes out as it came, with the deployment's model name, and the answer
comes back byte for byte, streams included. On the way out a provider's documented quirks
(a `Preset`) are applied -- parameters it rejects, takes only with some values, or takes under
another name -- and upstream errors are normalised, with context-window overflows and
content-policy refusals recognised.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar

import attrs
import orjson

from litegate import Call, Deployment, GatewayError, Reply, ReplyStream, hookimpl
from litegate.multipart import encode_multipart
from litegate.provider import ProviderAdapter
from litegate.sse import SSEDecoder
from litegate.translation import check_params, classify_error, provider_error
from litegate.transport import UpstreamInvalidResponse, UpstreamResponse

__all__ = [
    "PATHS",
    "STREAMING",
    "OpenAICompatibleProvider",
    "Preset",
    "PresetOptions",
    "error_fields",
    "unsupported_endpoint",
    "without_extensions",
]

#: Where each gateway endpoint lives under an OpenAI-compatible base URL.
PATHS = {
    "chat": "/chat/completions",
    "completions": "/completions",
    "embeddings": "/embeddings",
    "images": "/images/generations",
    "speech": "/audio/speech",
    "transcriptions": "/audio/transcriptions",
    "moderations": "/moderations",
    # Not OpenAI's own: the Cohere/Jina-style endpoint compatible servers (vLLM, ...) serve.
    "rerank": "/rerank",
}
STREAMING = frozenset({"chat", "completions"})
#: Endpoints whose answers may be other than JSON (audio; srt/vtt/text transcriptions).
BINARY_ENDPOINTS = frozenset({"speech", "transcriptions"})


@attrs.frozen
class Preset:
    """One OpenAI-compatible provider: where it lives, how it authenticates, what it refuses."""

    name: str
    api_base: str | None = None
    api_key_env: str | None = None
    auth_header: str = "authorization"
    auth_scheme: str = "Bearer "
    endpoints: frozenset[str] = frozenset(PATHS)
    rejects: frozenset[str] = frozenset()
    only: Mapping[str, tuple[Any, ...]] = attrs.field(factory=dict)
    renames: Mapping[str, str] = attrs.field(factory=dict)
    stream_options: bool = True
    source: str | None = None
    #: Every parameter some quirk is about: one set test per request decides if any applies.
    watched: frozenset[str] = attrs.field(init=False)

    @watched.default
    def _watched(self) -> frozenset[str]:
        return self.rejects | frozenset(self.only) | frozenset(self.renames)

    def apply_quirks(self, request: dict[str, Any], *, provider: str, drop: bool) -> dict[str, Any]:
        """`request` as this provider takes it (a copy when anything changed)."""
        if self.rejects:
            request = check_params(
                request, request.keys() - self.rejects, provider=provider, drop=drop
            )
        for key, allowed in self.only.items():
            value = request.get(key)
            if value is None or _allowed(value, allowed):
                continue
            if not drop:
                shown = ", ".join(repr(v) for v in allowed)
                raise GatewayError(
                    400,
                    f"The provider '{provider}' supports '{key}' only as {shown}. Change or "
                    "remove it, or set drop_unsupported = true on this model to have the gateway "
                    "drop it.",
                    param=key,
                    code="unsupported_parameter",
                )
            request = {k: v for k, v in request.items() if k != key}
        for old, new in self.renames.items():
            if old in request:
                request = dict(request)
                value = request.pop(old)
                request.setdefault(new, value)
        return request


def _allowed(value: Any, allowed: tuple[Any, ...]) -> bool:
    if isinstance(value, dict):
        return value.get("type") in allowed
    return type(value) is not bool and value in allowed


@attrs.frozen
class PresetOptions:
    """`[[models]]` keys every OpenAI-compatible preset takes."""

    #: Extra headers sent upstream with every request (OpenRouter's `HTTP-Referer` and
    #: `X-Title`, for example).
    headers: dict[str, str] = attrs.field(factory=dict)


class OpenAICompatibleProvider(ProviderAdapter):
    """OpenAI passthrough plus the quirks of `preset`. Subclasses override the `upstream_*`
    methods for providers that put the same API behind other paths or credentials (Azure)."""

    preset: ClassVar[Preset] = Preset("openai-compatible")
    Options: ClassVar[Any] = PresetOptions

    @hookimpl
    async def provider_call(self, call: Call, deployment: Deployment) -> Reply | ReplyStream:
        path = self.upstream_path(call.endpoint, deployment)
        stream = call.stream and call.endpoint in STREAMING
        body = self.request_body(call, deployment, stream)
        headers = await self.upstream_headers(deployment)
        if call.endpoint == "transcriptions":
            payload, headers["content-type"] = encode_multipart(body)
        else:
            payload = orjson.dumps(body)
        assert deployment.client is not None
        response = await deployment.client.post(
            path,
            payload,
            headers,
            total_timeout=None if stream else deployment.timeout,
            connect_timeout=deployment.connect_timeout,
            read_timeout=deployment.timeout if stream else None,
        )
        if response.status >= 400:
            raise await self.upstream_error(response, deployment)
        if not stream:
            return await self.reply(response, deployment, call.endpoint)
        return ReplyStream(self.chunks(response, deployment), close=response.close)

    # -- the request ---------------------------------------------------------------------

    def upstream_path(self, endpoint: str, deployment: Deployment) -> str:
        if endpoint in self.preset.endpoints:
            return PATHS[endpoint]
        raise unsupported_endpoint(deployment.provider, endpoint)

    def request_body(self, call: Call, deployment: Deployment, stream: bool) -> dict[str, Any]:
        preset = self.preset
        request = call.request
        if not preset.watched.isdisjoint(request):
            request = preset.apply_quirks(
                request, provider=deployment.provider, drop=deployment.drop_unsupported
            )
        body = dict(request)
        body["model"] = deployment.model
        messages = body.get("messages")
        if messages is not None:
            body["messages"] = without_extensions(messages)
        if stream:
            options = body.get("stream_options")
            if not preset.stream_options:
                body.pop("stream_options", None)
            elif isinstance(options, dict):
                # Always ask for usage, so the gateway can count tokens; the core drops that
                # chunk again for clients that did not ask for it.
                body["stream_options"] = {**options, "include_usage": True}
            else:
                body["stream_options"] = {"include_usage": True}
        return body

    async def upstream_headers(self, deployment: Deployment) -> dict[str, str]:
        headers = {"content-type": "application/json", "accept": "application/json"}
        if deployment.api_key:
            preset = self.preset
            headers[preset.auth_header] = preset.auth_scheme + deployment.api_key.reveal()
        options = deployment.options
        if options is not None and getattr(options, "headers", None):
            headers.update(options.headers)
        return headers

    def secrets(self, deployment: Deployment) -> tuple[str, ...]:
        """Credential values to scrub from upstream messages."""
        return (deployment.api_key.reveal(),) if deployment.api_key else ()

    # -- the answer ----------------------------------------------------------------------

    async def reply(
        self, response: UpstreamResponse, deployment: Deployment, endpoint: str = "chat"
    ) -> Reply:
        content_type = response.headers.get("content-type", "application/json")
        if content_type.startswith("application/json"):
            return Reply(raw=json_object_bytes(await response.read()), status=200)
        if endpoint not in BINARY_ENDPOINTS:
            await response.read()
            raise UpstreamInvalidResponse(f"it answered with {content_type!r}, not JSON")
        # Audio from /audio/speech, text/srt/vtt transcriptions: passed on as they are.
        return Reply(raw=await response.read(), content_type=content_type)

    async def upstream_error(
        self, response: UpstreamResponse, deployment: Deployment
    ) -> GatewayError:
        raw = await response.read()
        return self.error_from(response.status, raw, response.headers, deployment)

    def error_from(
        self, status: int, raw: bytes, headers: Mapping[str, str], deployment: Deployment
    ) -> GatewayError:
        """The client's error for an upstream error response `raw` with HTTP `status`."""
        message, code, param = error_fields(raw)
        return provider_error(
            status,
            message,
            provider=deployment.provider,
            deployment=deployment.id,
            code=code,
            param=param,
            secrets=self.secrets(deployment),
            retry_after=headers.get("retry-after"),
        )

    async def chunks(
        self, response: UpstreamResponse, deployment: Deployment
    ) -> AsyncIterator[bytes]:
        decoder = SSEDecoder()
        async for block in response.iter_bytes():
            for _event, data in decoder.feed(block):
                if data == b"[DONE]":
                    return
                if data.find(b'"error"', 0, 16) >= 0:  # (`in` formats and clears a TypeError)
                    raise self.stream_error(data, deployment)
                yield _chunk_bytes(data)
        for _event, data in decoder.flush():
            if data != b"[DONE]":
                yield _chunk_bytes(data)

    def stream_error(self, data: bytes, deployment: Deployment) -> GatewayError:
        """An error event inside a stream (it has no HTTP status of its own)."""
        message, code, param = error_fields(data)
        recognised = classify_error(400, message, code)
        if recognised is not None:
            return GatewayError(400, message or recognised, code=recognised, param=param)
        return provider_error(
            502,
            message,
            provider=deployment.provider,
            deployment=deployment.id,
            code=code,
            secrets=self.secrets(deployment),
        )


#: Assistant-message fields litegate adds for other providers (Anthropic thinking blocks,
#: reasoning text); OpenAI and most compatible servers refuse unknown message keys.
_EXTENSIONS = ("thinking_blocks", "reasoning_content")


def without_extensions(messages: Any) -> Any:
    """`messages` without litegate's extension fields (the same list when there are none)."""
    if not isinstance(messages, list) or not any(map(_extended, messages)):
        return messages
    return [
        {k: v for k, v in message.items() if k not in _EXTENSIONS}
        if _extended(message)
        else message
        for message in messages
    ]


def _extended(message: Any) -> bool:
    return isinstance(message, dict) and (
        "thinking_blocks" in message or "reasoning_content" in message
    )


def unsupported_endpoint(provider: str, endpoint: str) -> GatewayError:
    return GatewayError(
        400,
        f"The provider '{provider}' does not serve '{endpoint}'.",
        code="unsupported_endpoint",
    )


def json_object_bytes(raw: bytes) -> bytes:
    """`raw`, checked to look like one whole JSON object. The passthrough doesn't parse the
    answer; this catches what a parse would in practice (a body cut short, an array, an
    error page sent as JSON) for the price of two byte comparisons."""
    if raw.lstrip()[:1] != b"{" or raw.rstrip()[-1:] != b"}":
        raise UpstreamInvalidResponse(f"its answer is not a whole JSON object ({len(raw)} bytes)")
    return raw


def _chunk_bytes(data: bytes) -> bytes:
    # Chunks are passed on unparsed when no plugin reads them: the same cheap shape check as
    # `json_object_bytes`, so a broken event ends the stream with an error event instead of
    # reaching the client's JSON parser.
    if data[:1] != b"{" or data[-1:] != b"}":
        raise UpstreamInvalidResponse("its stream carried an event that is not a JSON object")
    return data


def error_fields(raw: bytes) -> tuple[str | None, str | None, str | None]:
    """(message, code, param) of an OpenAI-style error body, or of the shapes compatible
    servers use instead (a top-level ``message``, FastAPI's ``detail``, plain text)."""
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError:
        text = raw[:500].decode("utf-8", "replace").strip()
        if text.startswith("<"):
            # An HTML page from a proxy or load balancer in front of the provider: quoting it
            # would pass its markup off as our message.
            return f"it sent an HTML page ({len(raw)} bytes) instead of an API error", None, None
        return text or None, None, None
    if not isinstance(payload, dict):
        return None, None, None
    error = payload.get("error")
    if isinstance(error, str):
        error = {"message": error}
    if not isinstance(error, dict):
        error = payload
    message = error.get("message")
    if not isinstance(message, str):
        detail = error.get("detail", message)
        message = orjson.dumps(detail).decode() if detail is not None else None
    code = error.get("code")
    param = error.get("param")
    return (
        message or None,
        str(code) if code is not None else None,
        param if isinstance(param, str) else None,
    )
