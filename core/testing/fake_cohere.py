"""A fake Cohere v2 API over real HTTP, for tests: ``/v2/chat``, ``/v2/embed``, ``/v2/rerank``.

It checks what arrives the way Cohere documents it -- ``Authorization: Bearer`` with `API_KEY`,
only documented body fields (anything else is a 400, as an OpenAI parameter leaking through
would be), message roles and content part types, ``tool_choice`` values, ``p`` within
0.01..0.99 -- and answers in Cohere's v2 JSON, streams as ``event:`` + ``data:`` lines.

The model name scripts behaviour: ``error-<status>`` (that status, Cohere's error body; 429
adds retry-after), ``overflow`` (400 "too many tokens"), ``blocked`` (498), ``broken``
(``finish_reason: ERROR``). Requests with tools get a tool plan and one call per tool; a
``json_object`` format gets JSON (built from ``json_schema`` when given); image parts are
counted; ``thinking`` enabled adds a thinking part; ``max_tokens`` under 3 stops early.
"""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import orjson
from aiohttp import web

from .upstream import FakeUpstream

__all__ = ["FakeCohere"]

API_KEY = "co-test-key-0123456789"
REPLY = "Hello from the fake Cohere."
THOUGHT = "The user greets me; I greet back."
_CHAT_FIELDS = frozenset(
    {
        "stream", "model", "messages", "tools", "strict_tools", "documents", "citation_options",
        "response_format", "safety_mode", "max_tokens", "stop_sequences", "temperature", "seed",
        "frequency_penalty", "presence_penalty", "k", "p", "logprobs", "tool_choice", "thinking",
        "priority",
    }
)  # fmt: skip
_EMBED_FIELDS = frozenset(
    {
        "texts", "images", "model", "input_type", "inputs", "max_tokens", "output_dimension",
        "embedding_types", "truncate", "priority",
    }
)  # fmt: skip
_RERANK_FIELDS = frozenset(
    {"model", "query", "documents", "top_n", "max_tokens_per_doc", "priority"}
)
_PARTS = {
    "system": {"text"},
    "user": {"text", "image_url"},
    "assistant": {"text", "thinking"},
    "tool": {"text", "document"},
}


class FakeCohere(FakeUpstream):
    name = "fake Cohere upstream"
    API_KEY = API_KEY

    def __init__(self) -> None:
        super().__init__()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.requests: list[dict[str, Any]] = []
        #: Raw SSE bytes of each stream sent, in order.
        self.streams: list[bytes] = []
        self._ids = itertools.count(1)

    # -- routes ----------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v2/chat", self._chat)
        app.router.add_post("/v2/embed", self._embed)
        app.router.add_post("/v2/rerank", self._rerank)

    # -- checks shared by the endpoints ----------------------------------------------------

    async def _read(
        self, request: web.Request, fields: frozenset[str], required: tuple[str, ...]
    ) -> tuple[dict[str, Any], web.Response | None]:
        body = orjson.loads(await request.read())
        self.requests.append({"path": request.path, "headers": dict(request.headers), "body": body})
        if request.headers.get("authorization") != f"Bearer {API_KEY}":
            return body, _error(401, "invalid api token")
        for key in body:
            if key not in fields:
                return body, _error(
                    400, f"invalid request: unknown field: parameter {key} is not a valid field"
                )
        for key in required:
            if key not in body:
                return body, _error(400, f"invalid request: {key} must be specified")
        model = str(body.get("model", ""))
        if model.startswith("error-"):
            status = int(model.split("-", 1)[1])
            response = _error(status, f"Scripted upstream error {status}.")
            if status == 429:
                response.headers["retry-after"] = "1"
            return body, response
        if model == "overflow":
            return body, _error(
                400,
                "too many tokens: size limit exceeded by 1411 tokens. Try using shorter or "
                "fewer inputs, or setting prompt_truncation='AUTO'.",
            )
        if model == "blocked":
            return body, _error(498, "blocked output: please adjust your prompt and try again")
        return body, None

    # -- /v2/chat --------------------------------------------------------------------------

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body, refused = await self._read(request, _CHAT_FIELDS, ("model", "messages"))
        if refused is not None:
            return refused
        problem = _check_chat(body)
        if problem:
            return _error(400, f"invalid request: {problem}")
        message, finish = _answer(body)
        usage = _usage(body, message)
        ident = str(uuid.uuid4())
        if body["model"] == "broken":
            finish = "ERROR"
        if body.get("stream"):
            return await self._stream(request, ident, message, finish, usage)
        return _json({"id": ident, "message": message, "finish_reason": finish, "usage": usage})

    async def _stream(
        self,
        request: web.Request,
        ident: str,
        message: dict[str, Any],
        finish: str,
        usage: dict[str, Any],
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"content-type": "text/event-stream", "cache-control": "no-cache"}
        )
        await response.prepare(request)
        events: list[dict[str, Any]] = [
            {"id": ident, "type": "message-start", "delta": {"message": {"role": "assistant"}}}
        ]
        if message.get("tool_plan"):
            for word in _pieces(message["tool_plan"]):
                events.append(
                    {"type": "tool-plan-delta", "delta": {"message": {"tool_plan": word}}}
                )
        for index, call in enumerate(message.get("tool_calls") or ()):
            function = call["function"]
            start = {**call, "function": {"name": function["name"], "arguments": ""}}
            events.append(
                {
                    "type": "tool-call-start",
                    "index": index,
                    "delta": {"message": {"tool_calls": start}},
                }
            )
            arguments = function["arguments"]
            for at in range(0, len(arguments), 5):
                piece = {"function": {"arguments": arguments[at : at + 5]}}
                events.append(
                    {
                        "type": "tool-call-delta",
                        "index": index,
                        "delta": {"message": {"tool_calls": piece}},
                    }
                )
            events.append({"type": "tool-call-end", "index": index})
        for index, part in enumerate(message.get("content") or ()):
            kind = part["type"]
            events.append(
                {
                    "type": "content-start",
                    "index": index,
                    "delta": {"message": {"content": {"type": kind, kind: ""}}},
                }
            )
            for word in _pieces(part[kind]):
                events.append(
                    {
                        "type": "content-delta",
                        "index": index,
                        "delta": {"message": {"content": {kind: word}}},
                    }
                )
            events.append({"type": "content-end", "index": index})
        end: dict[str, Any] = {"finish_reason": finish, "usage": usage}
        if finish == "ERROR":
            end["error"] = "internal server error, this has been reported to our developers"
        events.append({"type": "message-end", "delta": end})
        sent = b"".join(
            b"event: " + e["type"].encode() + b"\ndata: " + orjson.dumps(e) + b"\n\n"
            for e in events
        )
        self.streams.append(sent)
        for event in sent.split(b"\n\n")[:-1]:
            await response.write(event + b"\n\n")
        return response

    # -- /v2/embed -------------------------------------------------------------------------

    async def _embed(self, request: web.Request) -> web.StreamResponse:
        body, refused = await self._read(request, _EMBED_FIELDS, ("model", "input_type"))
        if refused is not None:
            return refused
        texts = body.get("texts")
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            return _error(400, "invalid request: texts must be a list of strings")
        if body["input_type"] not in (
            "search_document",
            "search_query",
            "classification",
            "clustering",
            "image",
        ):
            return _error(400, f"invalid request: input_type {body['input_type']} is not valid")
        if body.get("output_dimension") not in (None, 256, 512, 1024, 1536):
            return _error(400, "invalid request: output_dimension must be 256, 512, 1024 or 1536")
        dims = body.get("output_dimension") or 8
        vectors = [[((len(t) + i) % 7) / 7.0 for i in range(dims)] for t in texts]
        tokens = sum(len(t.split()) for t in texts)
        return _json(
            {
                "id": str(uuid.uuid4()),
                "texts": texts,
                "embeddings": {"float": vectors},
                "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": tokens}},
                "response_type": "embeddings_by_type",
            }
        )

    # -- /v2/rerank ------------------------------------------------------------------------

    async def _rerank(self, request: web.Request) -> web.StreamResponse:
        body, refused = await self._read(request, _RERANK_FIELDS, ("model", "query", "documents"))
        if refused is not None:
            return refused
        documents = body["documents"]
        if not isinstance(documents, list) or not all(isinstance(d, str) for d in documents):
            return _error(400, "invalid request: documents must be a list of strings")
        words = set(str(body["query"]).lower().split())
        scores = [
            (len(words & set(doc.lower().split())) + 1) / (len(words) + 2) for doc in documents
        ]
        ranked = sorted(range(len(documents)), key=lambda i: -scores[i])
        ranked = ranked[: body.get("top_n") or len(ranked)]
        return _json(
            {
                "results": [{"index": i, "relevance_score": scores[i]} for i in ranked],
                "id": str(uuid.uuid4()),
                "meta": {"api_version": {"version": "2"}, "billed_units": {"search_units": 1}},
            }
        )


def _check_chat(body: dict[str, Any]) -> str | None:
    for index, message in enumerate(body["messages"]):
        role = message.get("role")
        if role not in _PARTS:
            return f"messages[{index}].role {role!r} is not valid"
        if role == "tool" and not isinstance(message.get("tool_call_id"), str):
            return f"messages[{index}] needs a tool_call_id"
        content = message.get("content")
        if role == "assistant" and content is None and not message.get("tool_calls"):
            return f"messages[{index}] needs content or tool_calls"
        if isinstance(content, list):
            for part in content:
                if part.get("type") not in _PARTS[role]:
                    return f"messages[{index}]: content type {part.get('type')!r} is not valid"
                if part["type"] == "image_url" and not isinstance(
                    (part.get("image_url") or {}).get("url"), str
                ):
                    return f"messages[{index}]: image_url needs a url"
        elif content is not None and not isinstance(content, str):
            return f"messages[{index}].content must be a string or an array"
    if body.get("tool_choice") not in (None, "REQUIRED", "NONE"):
        return "tool_choice must be REQUIRED or NONE"
    if body.get("tool_choice") == "REQUIRED" and not body.get("tools"):
        return "tool_choice REQUIRED needs tools"
    p = body.get("p")
    if p is not None and not 0.01 <= p <= 0.99:
        return "p must be between 0.01 and 0.99"
    response_format = body.get("response_format")
    if response_format is not None and response_format.get("type") not in ("text", "json_object"):
        return "response_format.type must be text or json_object"
    thinking = body.get("thinking")
    if thinking is not None and thinking.get("type") not in ("enabled", "disabled"):
        return "thinking.type must be enabled or disabled"
    for tool in body.get("tools") or ():
        if tool.get("type") != "function" or "name" not in (tool.get("function") or {}):
            return "tools must be functions with a name"
    return None


def _answer(body: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The fake's assistant message and finish reason for a chat request."""
    messages = body["messages"]
    last = messages[-1]
    tools = body.get("tools") or []
    content: list[dict[str, Any]] = []
    if (body.get("thinking") or {}).get("type") == "enabled":
        content.append({"type": "thinking", "thinking": THOUGHT})
    if tools and body.get("tool_choice") != "NONE" and last.get("role") != "tool":
        calls: list[dict[str, Any]] = []
        for tool in tools:
            function = tool["function"]
            properties = (function.get("parameters") or {}).get("properties") or {}
            arguments = {name: _sample(spec) for name, spec in properties.items()}
            calls.append(
                {
                    "id": f"{function['name']}_{uuid.uuid4().hex[:12]}",
                    "type": "function",
                    "function": {
                        "name": function["name"],
                        "arguments": orjson.dumps(arguments).decode(),
                    },
                }
            )
        names = " and ".join(call["function"]["name"] for call in calls)
        message = {
            "role": "assistant",
            "tool_plan": f"I will call {names}.",
            "tool_calls": calls,
        }
        if content:
            message["content"] = content
        return message, "TOOL_CALL"
    text, finish = REPLY, "COMPLETE"
    user = last.get("content")
    response_format = body.get("response_format") or {}
    if last.get("role") == "tool":
        text = f"The tool said: {_plain(user)}"
    elif response_format.get("type") == "json_object":
        schema = response_format.get("json_schema") or {}
        properties = schema.get("properties") or {"answer": {"type": "string"}}
        text = orjson.dumps({k: _sample(v) for k, v in properties.items()}).decode()
    elif isinstance(user, list) and any(p.get("type") == "image_url" for p in user):
        images = sum(1 for p in user if p.get("type") == "image_url")
        text = f"I see {images} image(s)."
    max_tokens = body.get("max_tokens")
    if isinstance(max_tokens, int) and max_tokens < 3:
        text, finish = "Hello", "MAX_TOKENS"
    content.append({"type": "text", "text": text})
    return {"role": "assistant", "content": content}, finish


def _plain(content: Any) -> str:
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content)
    return str(content)


def _sample(spec: Any) -> Any:
    kind = str(spec.get("type")) if isinstance(spec, dict) else ""
    samples: dict[str, Any] = {"integer": 1, "number": 1.5, "boolean": True, "array": []}
    return samples.get(kind, "Paris")


def _pieces(text: str) -> list[str]:
    words = text.split(" ")
    return [word if i == 0 else " " + word for i, word in enumerate(words)]


def _usage(body: dict[str, Any], message: dict[str, Any]) -> dict[str, Any]:
    prompt = sum(len(_plain(m.get("content", "")).split()) for m in body["messages"]) or 1
    output = sum(len(str(part.get("text", "")).split()) for part in message.get("content") or ())
    output = output or len(message.get("tool_calls") or ()) * 10
    return {
        "billed_units": {"input_tokens": prompt, "output_tokens": output},
        "tokens": {"input_tokens": prompt + 60, "output_tokens": output + 2},
        "cached_tokens": 0,
    }


def _error(status: int, message: str) -> web.Response:
    return _json({"id": str(uuid.uuid4()), "message": message}, status)


def _json(data: dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")
