"""`openai`: OpenAI and any server that speaks its API (`api_base` picks which).

Requests go out as the client sent them (with the deployment's model name); answers come
back byte for byte. Streams always ask upstream for usage so the gateway can count tokens;
the core drops that final chunk again when the client did not ask for it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import attrs
import orjson

from litegate import Call, Deployment, GatewayError, Reply, ReplyStream, hookimpl
from litegate.errors import upstream_error
from litegate.multipart import encode_multipart
from litegate.provider import ProviderAdapter
from litegate.sse import SSEDecoder
from litegate.transport import UpstreamResponse

_PATHS = {
    "chat": "/chat/completions",
    "completions": "/completions",
    "embeddings": "/embeddings",
    "images": "/images/generations",
    "speech": "/audio/speech",
    "transcriptions": "/audio/transcriptions",
    "moderations": "/moderations",
    # Not OpenAI's own: the Cohere/Jina-style endpoint that compatible servers (vLLM, ...) serve.
    "rerank": "/rerank",
}
_STREAMING_ENDPOINTS = frozenset({"chat", "completions"})


class OpenAIProvider(ProviderAdapter):
    default_api_base = "https://api.openai.com/v1"
    api_key_env = "OPENAI_API_KEY"

    @attrs.frozen
    class Options:
        #: Sent as the `OpenAI-Organization` header.
        organization: str | None = None
        #: Sent as the `OpenAI-Project` header.
        project: str | None = None

    @hookimpl
    async def provider_call(self, call: Call, deployment: Deployment) -> Reply | ReplyStream:
        path = _PATHS.get(call.endpoint)
        if path is None:
            raise GatewayError(
                400,
                f"The openai provider does not serve '{call.endpoint}'.",
                code="unsupported_endpoint",
            )
        body = dict(call.request)
        body["model"] = deployment.model
        stream = call.stream and call.endpoint in _STREAMING_ENDPOINTS
        headers = _headers(deployment)
        if call.endpoint == "transcriptions":
            payload, headers["content-type"] = encode_multipart(body)
        if stream:
            options = body.get("stream_options")
            body["stream_options"] = (
                {**options, "include_usage": True}
                if isinstance(options, dict)
                else {"include_usage": True}
            )
        if call.endpoint != "transcriptions":
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
            raise await _error(response, deployment)
        if not stream:
            content_type = response.headers.get("content-type", "application/json")
            if content_type.startswith("application/json"):
                return Reply(raw=await response.read(), status=200)
            # Audio from /audio/speech, text/srt/vtt transcriptions: passed on as they are.
            return Reply(raw=await response.read(), content_type=content_type)
        return ReplyStream(_chunks(response, deployment), close=response.close)


def _headers(deployment: Deployment) -> dict[str, str]:
    headers = {"content-type": "application/json", "accept": "application/json"}
    if deployment.api_key:
        headers["authorization"] = "Bearer " + deployment.api_key.reveal()
    options = deployment.options
    if options is not None:
        if options.organization:
            headers["openai-organization"] = options.organization
        if options.project:
            headers["openai-project"] = options.project
    return headers


async def _error(response: UpstreamResponse, deployment: Deployment) -> Exception:
    raw = await response.read()
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError:
        payload = raw[:500].decode("utf-8", "replace")
    secret = deployment.api_key.reveal() if deployment.api_key else ""
    return upstream_error(
        response.status,
        payload,
        provider=deployment.provider,
        deployment=deployment.id,
        secrets=(secret,),
        retry_after=response.headers.get("retry-after"),
    )


async def _chunks(response: UpstreamResponse, deployment: Deployment) -> AsyncIterator[bytes]:
    decoder = SSEDecoder()
    async for block in response.iter_bytes():
        for _event, data in decoder.feed(block):
            if data == b"[DONE]":
                return
            if b'"error"' in data[:16]:
                raise upstream_error(
                    502, orjson.loads(data), provider=deployment.provider, deployment=deployment.id
                )
            yield data
    for _event, data in decoder.flush():
        if data != b"[DONE]":
            yield data
