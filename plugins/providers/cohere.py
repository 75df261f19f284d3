"""`cohere`: Cohere's v2 API -- chat, embed and rerank -- in OpenAI's terms.

- chat: ``POST /v2/chat``. System and developer messages become ``system``; tools are
  OpenAI-shaped (``type: function``), ``tool_choice`` becomes ``REQUIRED``/``NONE`` (a named tool
  is forced by offering only that tool, required); images go as ``image_url`` parts; JSON mode
  and JSON schema become ``response_format {type: json_object, json_schema}``; ``top_p`` is
  ``p``; ``reasoning_effort`` becomes ``thinking``, and thinking parts and tool plans come back
  as ``reasoning_content``. The v2 event stream becomes ``chat.completion.chunk`` deltas, tool
  arguments streamed, usage last.
- embeddings: ``POST /v2/embed`` with the deployment's ``input_type`` (float vectors, packed
  to base64 here when the client asks for it, as the openai SDK does by default).
- rerank: ``POST /v2/rerank``, answered in the Cohere/Jina shape the gateway serves.

Usage is counted from ``billed_units`` when Cohere reports it (what it charges for), else from
``tokens``. Cohere's errors are ``{"id", "message"}``; 498 (a deny-listed token in the request
or answer) becomes ``content_policy_violation``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import attrs
import orjson

from litegate import Call, Deployment, GatewayError, Reply, ReplyStream, hookimpl
from litegate.provider import ProviderAdapter
from litegate.sse import SSEDecoder
from litegate.translation import (
    ChunkBuilder,
    chat_response,
    check_params,
    embeddings_response,
    provider_error,
)
from litegate.translation.chunks import usage_dict
from litegate.translation.errors import CONTENT_POLICY
from litegate.translation.images import read_image_part
from litegate.translation.reasoning import THINKING_BUDGETS
from litegate.transport import UpstreamResponse

__all__ = ["CohereProvider"]

_CHAT_PARAMS = frozenset(
    {
        "model",
        "messages",
        "stream",
        "stream_options",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "response_format",
        "stop",
        "temperature",
        "top_p",
        "max_tokens",
        "max_completion_tokens",
        "seed",
        "frequency_penalty",
        "presence_penalty",
        "n",
        "reasoning_effort",
    }
)
_EMBED_PARAMS = frozenset({"model", "input", "encoding_format", "dimensions"})
_RERANK_PARAMS = frozenset(
    {"model", "query", "documents", "top_n", "return_documents", "max_tokens_per_doc"}
)
_FINISH = {
    "COMPLETE": "stop",
    "STOP_SEQUENCE": "stop",
    "MAX_TOKENS": "length",
    "TOOL_CALL": "tool_calls",
}
_TOOL_CHOICE = {"none": "NONE", "required": "REQUIRED"}
_INPUT_TYPES = ("search_document", "search_query", "classification", "clustering")


class CohereProvider(ProviderAdapter):
    default_api_base = "https://api.cohere.com"
    api_key_env = "CO_API_KEY"

    @attrs.frozen
    class Options:
        #: `input_type` sent to /v2/embed: search_document, search_query, classification or
        #: clustering.
        input_type: str = attrs.field(
            default="search_document", validator=attrs.validators.in_(_INPUT_TYPES)
        )
        #: How /v2/embed shortens inputs longer than the model takes: NONE, START or END
        #: (Cohere's default is END).
        truncate: str | None = attrs.field(
            default=None,
            validator=attrs.validators.optional(attrs.validators.in_(("NONE", "START", "END"))),
        )

    @hookimpl
    async def provider_call(self, call: Call, deployment: Deployment) -> Reply | ReplyStream:
        endpoint = call.endpoint
        drop = deployment.drop_unsupported
        stream = False
        if endpoint == "chat":
            path, body = "/v2/chat", chat_request(call.request, deployment.model, drop)
            stream = call.stream
            if stream:
                body["stream"] = True
        elif endpoint == "embeddings":
            options = deployment.options or self.Options()
            path, body = "/v2/embed", embed_request(call.request, deployment.model, options, drop)
        elif endpoint == "rerank":
            path, body = "/v2/rerank", rerank_request(call.request, deployment.model, drop)
        else:
            raise GatewayError(
                400,
                f"The provider '{deployment.provider}' does not serve '{endpoint}'.",
                code="unsupported_endpoint",
            )
        headers = {
            "content-type": "application/json",
            "accept": "text/event-stream" if stream else "application/json",
        }
        if deployment.api_key:
            headers["authorization"] = "Bearer " + deployment.api_key.reveal()
        assert deployment.client is not None
        response = await deployment.client.post(
            path,
            orjson.dumps(body),
            headers,
            total_timeout=None if stream else deployment.timeout,
            connect_timeout=deployment.connect_timeout,
            read_timeout=deployment.timeout if stream else None,
        )
        if response.status >= 400:
            raise cohere_error(response.status, await response.read(), response, deployment)
        if stream:
            return ReplyStream(chat_chunks(response, deployment), close=response.close)
        data = orjson.loads(await response.read())
        if endpoint == "chat":
            return Reply(chat_reply(data, deployment))
        if endpoint == "embeddings":
            as_base64 = call.request.get("encoding_format") == "base64"
            return Reply(embed_reply(data, deployment.model, as_base64))
        return Reply(rerank_reply(data, deployment.model, body["documents"], call.request))


# -- chat: the request -----------------------------------------------------------------------


def chat_request(request: dict[str, Any], model: str, drop: bool) -> dict[str, Any]:
    request = check_params(request, _CHAT_PARAMS, provider="cohere", drop=drop)
    if request.get("n") not in (None, 1):
        request = _unsupported_value(request, "n", "only n = 1", drop)
    if request.get("parallel_tool_calls") is False:
        request = _unsupported_value(request, "parallel_tool_calls", "no false value", drop)
    body: dict[str, Any] = {"model": model, "messages": _messages(request["messages"])}
    tools = request.get("tools")
    if tools:
        body["tools"] = [_tool(tool, f"tools[{i}]") for i, tool in enumerate(tools)]
        if any(isinstance(t.get("function"), dict) and t["function"].get("strict") for t in tools):
            body["strict_tools"] = True
    choice = request.get("tool_choice")
    if choice is not None and choice != "auto" and (tools or choice != "none"):
        _tool_choice(choice, body)
    response_format = request.get("response_format")
    if response_format is not None:
        body["response_format"] = _response_format(response_format)
    stop = request.get("stop")
    if stop is not None:
        body["stop_sequences"] = [stop] if isinstance(stop, str) else stop
    for ours, theirs in (
        ("temperature", "temperature"),
        ("seed", "seed"),
        ("frequency_penalty", "frequency_penalty"),
        ("presence_penalty", "presence_penalty"),
    ):
        value = request.get(ours)
        if value is not None:
            body[theirs] = value
    top_p = request.get("top_p")
    if top_p is not None:
        body["p"] = min(max(top_p, 0.01), 0.99)  # Cohere's documented range for p
    max_tokens = request.get("max_completion_tokens") or request.get("max_tokens")
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    effort = request.get("reasoning_effort")
    if effort == "none":
        body["thinking"] = {"type": "disabled"}
    elif effort is not None:
        # The gateway's one effort -> budget scale (shared with the anthropic and bedrock adapters).
        budget = THINKING_BUDGETS.get(effort)
        if budget is None:
            raise _invalid("reasoning_effort", f"none or one of {', '.join(THINKING_BUDGETS)}")
        body["thinking"] = {"type": "enabled", "token_budget": budget}
    return body


def _messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        role = message["role"]
        content = message.get("content")
        if role in ("system", "developer"):
            out.append({"role": "system", "content": _text(content, where)})
        elif role == "user":
            out.append({"role": "user", "content": _user_content(content, where)})
        elif role == "assistant":
            out.append(_assistant(message, where))
        elif role == "tool":
            call_id = message.get("tool_call_id")
            if not isinstance(call_id, str):
                raise _invalid(f"{where}.tool_call_id", "the id of the tool call answered")
            out.append({"role": "tool", "tool_call_id": call_id, "content": _text(content, where)})
        else:
            raise GatewayError(
                400,
                f"The provider 'cohere' does not take '{role}' messages ({where}); send tool "
                "results as role 'tool' with a tool_call_id.",
                param=f"{where}.role",
                code="unsupported_value",
            )
    return out


def _text(content: Any, where: str) -> Any:
    """Text-only content: a string, or an array of text parts."""
    if content is None or isinstance(content, str):
        return content or ""
    parts = []
    for index, part in enumerate(content):
        if part.get("type") != "text":
            raise _unsupported_part(part, f"{where}.content[{index}]")
        parts.append({"type": "text", "text": part["text"]})
    return parts


def _user_content(content: Any, where: str) -> Any:
    if content is None or isinstance(content, str):
        return content or ""
    parts: list[dict[str, Any]] = []
    for index, part in enumerate(content):
        kind = part.get("type")
        if kind == "text":
            parts.append({"type": "text", "text": part["text"]})
        elif kind == "image_url":
            at = f"{where}.content[{index}]"
            image = read_image_part(part, at)
            url = image.url or f"data:{image.media_type};base64,{image.base64}"
            image_url = {"url": url}
            if image.detail in ("auto", "low", "high"):
                image_url["detail"] = image.detail
            parts.append({"type": "image_url", "image_url": image_url})
        else:
            raise _unsupported_part(part, f"{where}.content[{index}]")
    return parts


def _assistant(message: dict[str, Any], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {"role": "assistant"}
    content = message.get("content")
    if isinstance(content, list):  # text and refusal parts; Cohere wants the text
        content = "".join(p.get("text") or p.get("refusal") or "" for p in content)
    reasoning = message.get("reasoning_content")
    tool_calls = message.get("tool_calls")
    if tool_calls:
        out["tool_calls"] = [
            {
                "id": call.get("id"),
                "type": "function",
                "function": {
                    "name": call["function"]["name"],
                    "arguments": call["function"].get("arguments") or "{}",
                },
            }
            for call in tool_calls
        ]
        if reasoning:
            out["tool_plan"] = reasoning
        if content:
            out["content"] = content
    elif reasoning:
        out["content"] = [
            {"type": "thinking", "thinking": reasoning},
            {"type": "text", "text": content or ""},
        ]
    else:
        out["content"] = content or ""
    return out


def _tool(tool: dict[str, Any], where: str) -> dict[str, Any]:
    function = tool.get("function")
    if tool.get("type") != "function" or not isinstance(function, dict):
        raise GatewayError(
            400,
            f"The provider 'cohere' takes only function tools ({where}).",
            param=f"{where}.type",
            code="unsupported_value",
        )
    out = {
        "name": function.get("name"),
        "parameters": function.get("parameters") or {"type": "object", "properties": {}},
    }
    if function.get("description"):
        out["description"] = function["description"]
    return {"type": "function", "function": out}


def _tool_choice(choice: Any, body: dict[str, Any]) -> None:
    if not body.get("tools"):
        raise _invalid("tool_choice", "auto or none when the request has no tools")
    if isinstance(choice, str) and choice in _TOOL_CHOICE:
        body["tool_choice"] = _TOOL_CHOICE[choice]
        return
    name = choice.get("function", {}).get("name") if isinstance(choice, dict) else None
    named = [t for t in body["tools"] if t["function"]["name"] == name]
    if not named:
        raise _invalid("tool_choice", "auto, none, required, or a function named in 'tools'")
    # Cohere can't force one tool by name; offering only that tool and requiring a call can.
    body["tools"] = named
    body["tool_choice"] = "REQUIRED"


def _response_format(value: dict[str, Any]) -> dict[str, Any]:
    kind = value.get("type")
    if kind in ("text", "json_object"):
        return {"type": kind}
    if kind == "json_schema":
        schema = value.get("json_schema")
        schema = schema.get("schema") if isinstance(schema, dict) else None
        if not isinstance(schema, dict):
            raise _invalid("response_format.json_schema.schema", "a JSON schema object")
        return {"type": "json_object", "json_schema": schema}
    raise _invalid("response_format.type", "text, json_object or json_schema")


# -- chat: the answer ------------------------------------------------------------------------


def chat_reply(data: dict[str, Any], deployment: Deployment) -> dict[str, Any]:
    finish = _finish(data.get("finish_reason"), None, deployment)
    message = data.get("message") or {}
    texts: list[str] = []
    thoughts: list[str] = []
    for part in message.get("content") or ():
        if part.get("type") == "text":
            texts.append(part.get("text") or "")
        elif part.get("type") == "thinking":
            thoughts.append(part.get("thinking") or "")
    if message.get("tool_plan"):
        thoughts.append(message["tool_plan"])
    tool_calls = [
        {
            "id": call.get("id"),
            "type": "function",
            "function": {
                "name": (call.get("function") or {}).get("name"),
                "arguments": (call.get("function") or {}).get("arguments") or "{}",
            },
        }
        for call in message.get("tool_calls") or ()
    ]
    return chat_response(
        deployment.model,
        content="".join(texts) if texts or not tool_calls else None,
        finish_reason=finish,
        usage=_usage(data.get("usage")),
        tool_calls=tool_calls or None,
        reasoning_content="\n".join(thoughts) or None,
        response_id=data.get("id"),
    )


def _finish(reason: Any, error: Any, deployment: Deployment) -> str:
    mapped = _FINISH.get(reason)
    if mapped is not None:
        return mapped
    where = f"provider '{deployment.provider}' (deployment '{deployment.id}')"
    if reason == "TIMEOUT":
        raise GatewayError(504, f"The upstream {where} timed out.", code="upstream_timeout")
    if reason == "ERROR":
        detail = f": {error}" if isinstance(error, str) and error else "."
        raise GatewayError(
            502, f"The upstream {where} failed to finish its answer{detail}", code="upstream_error"
        )
    return "stop"


def _usage(usage: Any) -> dict[str, Any] | None:
    if not isinstance(usage, dict):
        return None
    billed = usage.get("billed_units") or {}
    tokens = usage.get("tokens") or {}
    prompt = _count(billed, tokens, "input_tokens")
    completion = _count(billed, tokens, "output_tokens")
    cached = int(usage.get("cached_tokens") or 0)
    return usage_dict(max(prompt, cached), completion, cached=cached)


def _count(billed: dict[str, Any], tokens: dict[str, Any], key: str) -> int:
    value = billed.get(key)
    if value is None:
        value = tokens.get(key)
    return int(value or 0)


async def chat_chunks(
    response: UpstreamResponse, deployment: Deployment
) -> AsyncIterator[dict[str, Any]]:
    """Cohere's v2 chat events as OpenAI chunks; `message-end` is the last event."""
    decoder = SSEDecoder()
    stream = _ChatStream(deployment)
    async for block in response.iter_bytes():
        for _name, data in decoder.feed(block):
            for chunk in stream.feed(data):
                yield chunk
            if stream.done:
                return
    for _name, data in decoder.flush():
        for chunk in stream.feed(data):
            yield chunk
    if not stream.done:
        raise GatewayError(
            502,
            f"The upstream provider '{deployment.provider}' (deployment '{deployment.id}') "
            "ended its stream before the answer was complete.",
            code="upstream_error",
        )


class _ChatStream:
    """The state of one translated stream: its chunk builder, and whether it ended."""

    __slots__ = ("builder", "deployment", "done")

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self.builder: ChunkBuilder | None = None
        self.done = False

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        if data == b"[DONE]" or self.done:
            return []
        event = orjson.loads(data)
        kind = event.get("type")
        delta = event.get("delta") or {}
        message = delta.get("message") or {}
        builder = self.builder
        if builder is None:
            builder = self.builder = ChunkBuilder(self.deployment.model, event.get("id"))
        if kind in ("content-delta", "content-start"):
            content = message.get("content") or {}
            if content.get("text"):
                return [builder.text(content["text"])]
            if content.get("thinking"):
                return [builder.reasoning(content["thinking"])]
        elif kind == "tool-call-delta":
            function = (message.get("tool_calls") or {}).get("function") or {}
            if function.get("arguments"):
                return [builder.tool_call_arguments(event.get("index", 0), function["arguments"])]
        elif kind == "tool-call-start":
            call = message.get("tool_calls") or {}
            function = call.get("function") or {}
            index = event.get("index", 0)
            chunks = [builder.tool_call_start(index, call.get("id"), function.get("name"))]
            if function.get("arguments"):
                chunks.append(builder.tool_call_arguments(index, function["arguments"]))
            return chunks
        elif kind == "tool-plan-delta":
            if message.get("tool_plan"):
                return [builder.reasoning(message["tool_plan"])]
        elif kind == "message-start":
            return [builder.text("")]
        elif kind == "message-end":
            self.done = True
            finish = _finish(delta.get("finish_reason"), delta.get("error"), self.deployment)
            usage = _usage(delta.get("usage"))
            if usage is None:
                return [builder.finish(finish)]
            return [builder.finish(finish), builder.usage(usage)]
        return []


# -- embeddings ------------------------------------------------------------------------------


def embed_request(request: dict[str, Any], model: str, options: Any, drop: bool) -> dict[str, Any]:
    request = check_params(request, _EMBED_PARAMS, provider="cohere", drop=drop)
    texts = request["input"]
    texts = [texts] if isinstance(texts, str) else texts
    if not all(isinstance(text, str) for text in texts):
        raise GatewayError(
            400,
            "The provider 'cohere' embeds text, not token ids; send 'input' as strings.",
            param="input",
            code="unsupported_value",
        )
    encoding = request.get("encoding_format")
    if encoding not in (None, "float", "base64"):
        raise _invalid("encoding_format", "float or base64")
    body: dict[str, Any] = {
        "model": model,
        "texts": texts,
        "input_type": options.input_type,
        "embedding_types": ["float"],
    }
    if request.get("dimensions") is not None:
        body["output_dimension"] = request["dimensions"]
    if options.truncate:
        body["truncate"] = options.truncate
    return body


def embed_reply(data: dict[str, Any], model: str, as_base64: bool) -> dict[str, Any]:
    vectors = (data.get("embeddings") or {}).get("float") or []
    return embeddings_response(vectors, model=model, as_base64=as_base64, tokens=_meta_tokens(data))


def _meta_tokens(data: dict[str, Any]) -> int:
    meta = data.get("meta") or {}
    return _count(meta.get("billed_units") or {}, meta.get("tokens") or {}, "input_tokens")


# -- rerank ----------------------------------------------------------------------------------


def rerank_request(request: dict[str, Any], model: str, drop: bool) -> dict[str, Any]:
    request = check_params(request, _RERANK_PARAMS, provider="cohere", drop=drop)
    query = request.get("query")
    if not isinstance(query, str) or not query:
        raise _invalid("query", "a non-empty string")
    documents = request.get("documents")
    if not isinstance(documents, list) or not documents:
        raise _invalid("documents", "a non-empty array of strings or {text} objects")
    texts = []
    for index, document in enumerate(documents):
        if isinstance(document, dict):
            document = document.get("text")
        if not isinstance(document, str):
            raise _invalid(f"documents[{index}]", "a string or an object with a 'text' string")
        texts.append(document)
    body: dict[str, Any] = {"model": model, "query": query, "documents": texts}
    for key in ("top_n", "max_tokens_per_doc"):
        value = request.get(key)
        if value is not None:
            if type(value) is not int or value < 1:
                raise _invalid(key, "a positive integer")
            body[key] = value
    return body


def rerank_reply(
    data: dict[str, Any], model: str, texts: list[str], request: dict[str, Any]
) -> dict[str, Any]:
    with_documents = request.get("return_documents") is True
    results = []
    for result in data.get("results") or ():
        item: dict[str, Any] = {
            "index": result.get("index"),
            "relevance_score": result.get("relevance_score"),
        }
        if with_documents and isinstance(item["index"], int) and item["index"] < len(texts):
            item["document"] = {"text": texts[item["index"]]}
        results.append(item)
    tokens = _meta_tokens(data)
    billed = (data.get("meta") or {}).get("billed_units") or {}
    usage: dict[str, Any] = {"prompt_tokens": tokens, "total_tokens": tokens}
    if billed.get("search_units") is not None:
        usage["search_units"] = int(billed["search_units"])
    body = {"object": "list", "results": results, "model": model, "usage": usage}
    if data.get("id"):
        body["id"] = data["id"]
    return body


# -- errors ----------------------------------------------------------------------------------


def cohere_error(
    status: int, raw: bytes, response: UpstreamResponse, deployment: Deployment
) -> GatewayError:
    """Cohere's ``{"id", "message"}`` errors as the client's error."""
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError:
        payload = None
    message = payload.get("message") if isinstance(payload, dict) else None
    if not isinstance(message, str):
        message = raw[:500].decode("utf-8", "replace").strip() or None
    if status == 498:
        # Cohere's "invalid token": the request or the answer held a deny-listed token.
        return GatewayError(
            400, message or "Cohere refused a deny-listed token.", code=CONTENT_POLICY
        )
    if status == 499:
        return GatewayError(
            499, "Cohere reports the request as cancelled.", code="upstream_cancelled"
        )
    secret = deployment.api_key.reveal() if deployment.api_key else ""
    return provider_error(
        status,
        message,
        provider=deployment.provider,
        deployment=deployment.id,
        secrets=(secret,),
        retry_after=response.headers.get("retry-after"),
    )


def _unsupported_value(request: dict[str, Any], key: str, takes: str, drop: bool) -> dict[str, Any]:
    if drop:
        return {k: v for k, v in request.items() if k != key}
    raise GatewayError(
        400,
        f"The provider 'cohere' takes {takes} for '{key}'. Change or remove it, or set "
        "drop_unsupported = true on this model to have the gateway drop it.",
        param=key,
        code="unsupported_parameter",
    )


def _unsupported_part(part: dict[str, Any], where: str) -> GatewayError:
    return GatewayError(
        400,
        f"The provider 'cohere' does not take '{part.get('type')}' content here ({where}).",
        param=f"{where}.type",
        code="unsupported_value",
    )


def _invalid(param: str, expected: str) -> GatewayError:
    return GatewayError(
        400, f"Invalid value for '{param}': expected {expected}.", param=param, code="invalid_value"
    )
