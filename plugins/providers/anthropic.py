"""`anthropic`: Claude through the Anthropic Messages API (``POST /v1/messages``).

Canonical (OpenAI) requests are translated to Messages requests and the answers back,
streams included (`litegate.translation.anthropic` has the mapping and its choices).
The client's ``anthropic-beta`` header is passed on.

Calls that came in through the gateway's own ``/v1/messages`` are sent upstream as the
client wrote them, model replaced, as long as no plugin changed the request on the way (see
`OriginalRequest`); their answers go back to that client untranslated as well.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import attrs
import orjson

from litegate import Call, Deployment, GatewayError, Reply, ReplyStream, hookimpl
from litegate.provider import ProviderAdapter
from litegate.sse import SSEDecoder
from litegate.translation.anthropic import (
    ERROR_STATUSES,
    ORIGINAL_REQUEST,
    anthropic_error,
    retry_after,
)
from litegate.translation.anthropic_outbound import to_anthropic_request, to_openai_response
from litegate.translation.anthropic_stream import ChunksFromEvents
from litegate.transport import UpstreamResponse

_PATH = "/v1/messages"


class AnthropicProvider(ProviderAdapter):
    default_api_base = "https://api.anthropic.com"
    api_key_env = "ANTHROPIC_API_KEY"

    @attrs.frozen
    class Options:
        #: Sent as ``max_tokens`` (which Anthropic requires) when the request has none.
        default_max_tokens: int = attrs.field(default=4096, validator=attrs.validators.ge(1))
        #: The ``anthropic-version`` header.
        anthropic_version: str = "2023-06-01"

    _defaults = Options()

    @hookimpl
    async def provider_call(self, call: Call, deployment: Deployment) -> Reply | ReplyStream:
        if call.endpoint != "chat":
            raise GatewayError(
                400,
                f"The provider '{deployment.provider}' serves chat only, not '{call.endpoint}'.",
                code="unsupported_endpoint",
            )
        options = deployment.options or self._defaults
        original = call.stash.get(ORIGINAL_REQUEST)
        native = original is not None and original.unchanged(call.request)
        if original is not None and native:
            body = {**original.body, "model": deployment.model}
        else:
            original = None
            body = to_anthropic_request(
                call.request,
                model=deployment.model,
                default_max_tokens=options.default_max_tokens,
                provider=deployment.provider,
                drop=deployment.drop_unsupported,
            )
        stream = call.stream
        assert deployment.client is not None
        response = await deployment.client.post(
            _PATH,
            orjson.dumps(body),
            _headers(deployment, options, call.headers),
            total_timeout=None if stream else deployment.timeout,
            connect_timeout=deployment.connect_timeout,
            read_timeout=deployment.timeout if stream else None,
        )
        if response.status >= 400:
            raise await _error(response, deployment)
        if not stream:
            raw = await response.read()
            reply = to_openai_response(_parse(raw, deployment))
            if original is None:
                return Reply(reply)
            encoded = orjson.dumps(reply)
            original.reply, original.reply_openai = raw, encoded
            return Reply(raw=encoded)
        events: list[bytes] | None = None
        if original is not None and original.raw_events:
            events = original.events = []
        return ReplyStream(_chunks(response, deployment, events), close=response.close)


def _headers(deployment: Deployment, options: Any, incoming: Any) -> dict[str, str]:
    headers = {
        "content-type": "application/json",
        "accept": "application/json",
        "anthropic-version": options.anthropic_version,
    }
    if deployment.api_key:
        headers["x-api-key"] = deployment.api_key.reveal()
    beta = incoming.get("anthropic-beta")
    if beta:
        headers["anthropic-beta"] = beta
    return headers


def _parse(raw: bytes, deployment: Deployment) -> dict[str, Any]:
    try:
        message = orjson.loads(raw)
    except orjson.JSONDecodeError:
        message = None
    if not isinstance(message, dict):
        raise GatewayError(
            502,
            f"The upstream provider '{deployment.provider}' (deployment '{deployment.id}') "
            "answered with a body that is not a Messages API reply.",
            code="upstream_error",
        )
    return message


async def _error(response: UpstreamResponse, deployment: Deployment) -> GatewayError:
    raw = await response.read()
    try:
        payload: Any = orjson.loads(raw)
    except orjson.JSONDecodeError:
        payload = raw[:500].decode("utf-8", "replace")
    return anthropic_error(
        response.status,
        payload,
        provider=deployment.provider,
        deployment=deployment.id,
        secrets=(deployment.api_key.reveal(),) if deployment.api_key else (),
        retry_after=retry_after(response.headers),
    )


async def _chunks(
    response: UpstreamResponse, deployment: Deployment, events: list[bytes] | None
) -> AsyncIterator[dict[str, Any]]:
    """OpenAI chunks from the upstream's events; with `events`, also the events themselves
    (re-framed exactly: ``event:`` and ``data:`` lines) for the inbound API to send on."""
    reader = ChunksFromEvents(deployment.model)
    decoder = SSEDecoder()
    blocks = response.iter_bytes()
    while True:
        block = await anext(blocks, None)
        for name, data in decoder.feed(block) if block is not None else decoder.flush():
            event = orjson.loads(data)
            if name == b"error" or event.get("type") == "error":
                raise _stream_error(event, deployment)
            if events is not None:
                events.append(b"event: " + (name or b"") + b"\ndata: " + data + b"\n\n")
            for chunk in reader.feed(event):
                yield chunk
        if block is None:
            break
    if not reader.done:
        raise GatewayError(
            502,
            f"The upstream provider '{deployment.provider}' (deployment '{deployment.id}') "
            "ended its stream before message_stop.",
            code="upstream_error",
        )


def _stream_error(event: dict[str, Any], deployment: Deployment) -> GatewayError:
    error = event.get("error")
    kind = error.get("type") if isinstance(error, dict) else None
    return anthropic_error(
        ERROR_STATUSES.get(kind or "", 500),
        event,
        provider=deployment.provider,
        deployment=deployment.id,
        secrets=(deployment.api_key.reveal(),) if deployment.api_key else (),
    )
