"""A fake Anthropic Messages API over real HTTP, for tests of the anthropic adapter and of
the gateway's own ``/v1/messages``.

It checks what arrives the way Anthropic would: the path (``/v1/messages``), the
``x-api-key`` and ``anthropic-version`` headers, the body against the JSON Schema of the
request (``specs/anthropic-messages.schema.json`` from the shared wire-format references, when
it is there -- found through ``LITEGATE_ANTHROPIC_SCHEMA`` or ``../shared/specs`` beside the
checkout; needs the ``jsonschema`` package) and the rules the schema can't say (always):
required fields, no system role in messages, alternating turns, tool results in
the user turn right after the matching tool uses, non-empty text blocks, a thinking budget
of at least 1024 below ``max_tokens``. A request that breaks one gets Anthropic's 400 and is
listed in `problems`.

Answers are real Messages and real event streams; what is in them follows the request:

- thinking enabled: a thinking block with a signature comes first
- tools offered (tool_choice not ``none``) and the last turn is not a tool result: a
  ``tool_use`` of the first tool, its input made from the tool's schema; with ``parallel``
  in the model name, two of them (unless ``disable_parallel_tool_use``)
- ``output_config.format``: the text is a JSON object made from the schema
- otherwise the text `REPLY`; streams send it word by word, tool input as JSON fragments

Scripted by the model name: ``error-<status>`` answers that status with Anthropic's error
body (400 is "prompt is too long", 429 adds ``retry-after: 7``, 529 is ``overloaded_error``);
``stream-error`` sends a few events, then an ``error`` event after the 200.
"""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from .fake_openai import FakeOpenAI
from .upstream import FakeUpstream

__all__ = ["REPLY", "SCHEMA_PATH", "FakeAnthropic", "ScriptedOpenAI"]

REPLY = "Hello from the fake Anthropic upstream."
SIGNATURE = "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"
THINKING = "The user greets me. I should greet back."
VERSION = "2023-06-01"
#: The request schema: ``shared/specs`` beside the repository, unless
#: ``$LITEGATE_ANTHROPIC_SCHEMA`` or the constructor names another file.
SCHEMA_PATH = Path(__file__).resolve().parents[3] / "shared/specs/anthropic-messages.schema.json"
_REQUEST_SCHEMAS = {
    False: "MessageCreateParamsNonStreaming (request body, stream=false)",
    True: "MessageCreateParamsStreaming (request body, stream=true)",
}
_ERRORS = {
    400: ("invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum"),
    401: ("authentication_error", "invalid x-api-key"),
    403: ("permission_error", "Your API key does not have permission to use this resource."),
    404: ("not_found_error", "model: not found"),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Number of request tokens has exceeded your per-minute limit."),
    500: ("api_error", "Internal server error"),
    529: ("overloaded_error", "Overloaded"),
}


def _load_validators(path: Path) -> dict[bool, Any] | None:
    if not path.is_file():
        return None  # a checkout without the shared references: the hand-written rules only
    try:
        import jsonschema
    except ImportError:  # pragma: no cover - a test dependency
        raise RuntimeError(
            "FakeAnthropic checks request bodies with the jsonschema package: "
            "pip install jsonschema"
        ) from None
    schemas = json.loads(path.read_text())["schemas"]
    validators = {}
    for stream, name in _REQUEST_SCHEMAS.items():
        cls = jsonschema.validators.validator_for(schemas[name])
        validators[stream] = cls(schemas[name])
    return validators


class FakeAnthropic(FakeUpstream):
    name = "fake Anthropic upstream"

    def __init__(self, schema_path: Path | str | None = None) -> None:
        super().__init__()
        path = schema_path or os.environ.get("LITEGATE_ANTHROPIC_SCHEMA") or SCHEMA_PATH
        self._validators = _load_validators(Path(path))
        #: What goes into `api_base` (the adapter appends /v1/messages).
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.requests: list[dict[str, Any]] = []
        self.problems: list[str] = []
        self._ids = itertools.count(1)

    # -- routes ----------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/{tail:.*}", self._handle)

    # -- checking what arrives -------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        record: dict[str, Any] = {
            "method": request.method,
            "path": request.path,
            "query": request.query_string,
            "headers": dict(request.headers),
            "raw": raw,
            "body": None,
        }
        self.requests.append(record)
        if request.method != "POST" or request.path != "/v1/messages":
            return _error(404, "not_found_error", f"Not found: {request.method} {request.path}")
        if not request.headers.get("x-api-key"):
            return _error(401, "authentication_error", "x-api-key header is required")
        if request.headers.get("anthropic-version") != VERSION:
            return self._refuse("anthropic-version: header is required and must be " + VERSION)
        if not request.headers.get("content-type", "").startswith("application/json"):
            return self._refuse("content-type must be application/json")
        try:
            body = record["body"] = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return self._refuse("The request body is not valid JSON.")
        if not isinstance(body, dict):
            return self._refuse("The request body must be a JSON object.")
        problem = self._check(body)
        if problem is not None:
            return self._refuse(problem)
        model = str(body["model"])
        if model.startswith("error-"):
            status = int(model.split("-", 1)[1])
            kind, message = _ERRORS.get(status, ("api_error", f"Scripted error {status}."))
            return _error(status, kind, message, {"retry-after": "7"} if status == 429 else None)
        blocks = self._answer(body)
        if body.get("stream"):
            return await self._stream(request, body, blocks)
        return _json(self._message(body, blocks, final=True))

    def _refuse(self, problem: str) -> web.Response:
        self.problems.append(problem)
        return _error(400, "invalid_request_error", problem)

    def _check(self, body: dict[str, Any]) -> str | None:
        for field in ("model", "max_tokens", "messages"):
            if field not in body:
                return f"body: '{field}' is a required property"
        if self._validators is not None:
            validator = self._validators[body.get("stream") is True]
            error = next(iter(validator.iter_errors(body)), None)
            if error is not None:
                where = ".".join(str(p) for p in error.absolute_path) or "body"
                return f"{where}: {error.message[:300]}"
        messages = body["messages"]
        if not messages:
            return "messages: at least one message is required"
        if body["max_tokens"] < 1:
            return "max_tokens: must be at least 1"
        thinking = body.get("thinking") or {}
        if thinking.get("type") == "enabled":
            budget = thinking["budget_tokens"]
            if budget < 1024 or budget >= body["max_tokens"]:
                return "thinking.budget_tokens: must be >= 1024 and less than max_tokens"
        if body.get("tool_choice") and not body.get("tools"):
            return "tool_choice: may only be specified while providing tools"
        previous_uses: set[str] = set()
        for index, message in enumerate(messages):
            where = f"messages.{index}"
            role = message["role"]
            if role not in ("user", "assistant"):
                return f"{where}.role: must be user or assistant (system goes in 'system')"
            if index and messages[index - 1]["role"] == role:
                return f"{where}: roles must alternate between user and assistant"
            content = message["content"]
            blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
            final_assistant = role == "assistant" and index == len(messages) - 1
            if not content and not final_assistant:
                return (
                    f"{where}: all messages must have non-empty content except for the "
                    "optional final assistant message"
                )
            if any(b.get("type") == "text" and not b.get("text") for b in blocks) and content:
                return f"{where}: text content blocks must be non-empty"
            results = [b.get("tool_use_id") for b in blocks if b.get("type") == "tool_result"]
            if results and role != "user":
                return f"{where}: tool_result blocks belong in user messages"
            if (results or previous_uses) and set(results) != previous_uses:
                return (
                    f"{where}: each tool_use in the previous message needs exactly one "
                    "tool_result here, and each tool_result a tool_use"
                )
            if blocks[: len(results)] != [b for b in blocks if b.get("type") == "tool_result"]:
                return f"{where}: tool_result blocks must come first in the message"
            previous_uses = {b["id"] for b in blocks if b.get("type") == "tool_use"}
        return None

    # -- answering -------------------------------------------------------------------------

    def _answer(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        blocks: list[dict[str, Any]] = []
        if (body.get("thinking") or {}).get("type") == "enabled":
            blocks.append({"type": "thinking", "thinking": THINKING, "signature": SIGNATURE})
        tools = body.get("tools") or []
        choice = (body.get("tool_choice") or {}).get("type")
        last = body["messages"][-1]["content"]
        answered = isinstance(last, list) and any(b.get("type") == "tool_result" for b in last)
        if tools and choice != "none" and not answered:
            tool = tools[0]
            count = 2 if "parallel" in body["model"] else 1
            if (body.get("tool_choice") or {}).get("disable_parallel_tool_use"):
                count = 1
            if choice == "tool":
                tool = next(t for t in tools if t["name"] == body["tool_choice"]["name"])
            for _ in range(count):
                blocks.append(
                    {
                        "type": "tool_use",
                        "id": f"toolu_fake{next(self._ids)}",
                        "name": tool["name"],
                        "input": _sample(tool.get("input_schema") or {}),
                    }
                )
            return blocks
        fmt = (body.get("output_config") or {}).get("format")
        text = orjson.dumps(_sample(fmt["schema"])).decode() if fmt else REPLY
        blocks.append({"type": "text", "text": text})
        return blocks

    def _message(
        self, body: dict[str, Any], blocks: list[dict[str, Any]], *, final: bool
    ) -> dict[str, Any]:
        uses_tool = any(b["type"] == "tool_use" for b in blocks)
        output = sum(len(orjson.dumps(b)) // 4 for b in blocks) + 1
        return {
            "id": f"msg_fake{next(self._ids)}",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": blocks if final else [],
            "stop_reason": ("tool_use" if uses_tool else "end_turn") if final else None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": len(orjson.dumps(body["messages"])) // 4 + 1,
                "cache_creation_input_tokens": 2,
                "cache_read_input_tokens": 3,
                "output_tokens": output if final else 1,
                "service_tier": "standard",
            },
        }

    async def _stream(
        self, request: web.Request, body: dict[str, Any], blocks: list[dict[str, Any]]
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"content-type": "text/event-stream; charset=utf-8", "request-id": "req_1"}
        )
        await response.prepare(request)
        final = self._message(body, blocks, final=True)
        start = self._message(body, blocks, final=False)
        start["id"] = final["id"]
        await _event(response, "message_start", {"message": start})
        await _event(response, "ping", {})
        for index, block in enumerate(blocks):
            if body["model"] == "stream-error" and index == 0:
                await _event(response, "content_block_start", _start(index, block))
                await _event(
                    response,
                    "error",
                    {"error": {"type": "overloaded_error", "message": "Overloaded"}},
                )
                return response
            await _event(response, "content_block_start", _start(index, block))
            for delta in _deltas(block):
                await _event(response, "content_block_delta", {"index": index, "delta": delta})
            await _event(response, "content_block_stop", {"index": index})
        await _event(
            response,
            "message_delta",
            {
                "delta": {"stop_reason": final["stop_reason"], "stop_sequence": None},
                "usage": {"output_tokens": final["usage"]["output_tokens"]},
            },
        )
        await _event(response, "message_stop", {})
        return response


def _start(index: int, block: dict[str, Any]) -> dict[str, Any]:
    empty = {
        "text": {"type": "text", "text": ""},
        "thinking": {"type": "thinking", "thinking": "", "signature": ""},
        "tool_use": {
            "type": "tool_use",
            "id": block.get("id"),
            "name": block.get("name"),
            "input": {},
        },
    }
    return {"index": index, "content_block": empty[block["type"]]}


def _deltas(block: dict[str, Any]) -> list[dict[str, Any]]:
    kind = block["type"]
    if kind == "text":
        words = block["text"].split(" ")
        pieces = [w if i == 0 else " " + w for i, w in enumerate(words)]
        return [{"type": "text_delta", "text": p} for p in pieces]
    if kind == "thinking":
        half = len(block["thinking"]) // 2
        return [
            {"type": "thinking_delta", "thinking": block["thinking"][:half]},
            {"type": "thinking_delta", "thinking": block["thinking"][half:]},
            {"type": "signature_delta", "signature": block["signature"]},
        ]
    text = orjson.dumps(block["input"]).decode()
    cuts = [0, len(text) // 3, 2 * len(text) // 3, len(text)]
    fragments = [""] + [text[a:b] for a, b in itertools.pairwise(cuts)]  # Anthropic opens with ""
    return [{"type": "input_json_delta", "partial_json": f} for f in fragments]


def _sample(schema: dict[str, Any]) -> Any:
    """A value that fits `schema` (enough of JSON Schema for tests)."""
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        return {name: _sample(sub) for name, sub in (schema.get("properties") or {}).items()}
    if kind == "array":
        return [_sample(schema["items"])] if isinstance(schema.get("items"), dict) else []
    samples: dict[Any, Any] = {"integer": 1, "number": 1.5, "boolean": True, "null": None}
    return samples.get(kind, "fake")


def _json(data: dict[str, Any], status: int = 200, headers: Any = None) -> web.Response:
    all_headers = {"request-id": "req_fake", **(headers or {})}
    return web.Response(
        body=orjson.dumps(data), status=status, content_type="application/json", headers=all_headers
    )


def _error(
    status: int, kind: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    body = {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_fake"}
    return _json(body, status, headers)


async def _event(response: web.StreamResponse, kind: str, payload: dict[str, Any]) -> None:
    data = orjson.dumps({"type": kind, **payload})
    await response.write(b"event: " + kind.encode() + b"\ndata: " + data + b"\n\n")


class ScriptedOpenAI(FakeOpenAI):
    """`FakeOpenAI` with two more scripted models, for tests of ``/v1/messages`` in front of
    an OpenAI upstream (what's not scripted answers as `FakeOpenAI` does):

    - ``tool-call``: a call of the request's first tool, arguments made from its schema --
      unless there are no tools or the last message is a tool result (the ordinary answer)
    - ``reasoning``: ``reasoning_content``, then text, then (with tools) a tool call
    """

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        peek = orjson.loads(await request.read())
        model = peek.get("model")
        last = (peek.get("messages") or [{}])[-1]
        scripted = model == "reasoning" or (model == "tool-call" and peek.get("tools"))
        if not scripted or last.get("role") == "tool":
            return await super()._chat(request)
        body = await self._read(request)
        deltas: list[dict[str, Any]] = []
        if model == "reasoning":
            deltas += [{"reasoning_content": "Let me "}, {"reasoning_content": "think."}]
            deltas += [{"content": "Here "}, {"content": "goes."}]
        tools = body.get("tools") or []
        if tools:
            function = tools[0]["function"]
            arguments = orjson.dumps(_sample(function.get("parameters") or {})).decode()
            third = max(1, len(arguments) // 3)
            call = {"index": 0, "id": "call_fake1", "type": "function"}
            deltas.append(
                {"tool_calls": [{**call, "function": {"name": function["name"], "arguments": ""}}]}
            )
            for start in range(0, len(arguments), third):
                piece = arguments[start : start + third]
                deltas.append({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
        finish = "tool_calls" if tools else "stop"
        usage = {
            "prompt_tokens": 20,
            "completion_tokens": 10,
            "total_tokens": 30,
            "prompt_tokens_details": {"cached_tokens": 4},
            "completion_tokens_details": {"reasoning_tokens": 2},
        }
        base = {"id": "chatcmpl-scripted", "created": 1, "model": body["model"]}
        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
            for delta in deltas:
                for key in ("content", "reasoning_content"):
                    if key in delta:
                        message[key] = (message.get(key) or "") + delta[key]
            if tools:
                message["tool_calls"] = [
                    {**call, "function": {"name": function["name"], "arguments": arguments}}
                ]
            choice = {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}
            return _json({**base, "object": "chat.completion", "choices": [choice], "usage": usage})
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        base["object"] = "chat.completion.chunk"
        deltas[0] = {"role": "assistant", **deltas[0]}
        for delta, reason in [*((d, None) for d in deltas), ({}, finish)]:
            choice = {"index": 0, "delta": delta, "finish_reason": reason, "logprobs": None}
            await response.write(b"data: " + orjson.dumps({**base, "choices": [choice]}) + b"\n\n")
        if (body.get("stream_options") or {}).get("include_usage"):
            chunk = {**base, "choices": [], "usage": usage}
            await response.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
        await response.write(b"data: [DONE]\n\n")
        return response
