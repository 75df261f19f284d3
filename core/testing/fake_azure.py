"""A fake Azure OpenAI resource (and Entra ID token endpoint) over real HTTP, for tests.

Data plane: ``POST /openai/deployments/{deployment}/{chat/completions|completions|embeddings}``
with a supported ``api-version`` query and either the ``api-key`` header or an
``Authorization: Bearer`` token that the fake Entra endpoint issued (or `STATIC_TOKEN`).
Answers are OpenAI-shaped with Azure's additions (``prompt_filter_results``,
``content_filter_results``; streams open with a ``choices: []`` filter chunk).

Also ``images/generations``, ``audio/speech`` (MP3 bytes) and ``audio/transcriptions``
(multipart).

Entra ID: ``POST /entra/{tenant}/oauth2/v2.0/token`` (client credentials) -- point a
deployment's ``authority`` at `authority`.

The deployment name scripts behaviour: ``missing`` (404 DeploymentNotFound), ``filtered``
(400 content filter on the prompt), ``filtered-output`` (200, every choice withheld by the
filter), ``overflow`` (400 context_length_exceeded), ``throttled`` (429 with retry-after).
Requests with tools get tool calls (one per tool, arguments streamed in pieces); a
``json_schema`` response format gets JSON built from the schema; image parts are counted.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import time
from typing import Any

import orjson
from aiohttp import web

from .fake_openai import embeddings_body
from .upstream import FakeUpstream

__all__ = ["FakeAzure"]

API_KEY = "azure-key-0123456789"
STATIC_TOKEN = "static-entra-token-0123456789"
TENANT = "tenant-1"
CLIENT_ID = "client-1"
CLIENT_SECRET = "client-secret-0123456789"
SCOPE = "https://cognitiveservices.azure.com/.default"
VERSIONS = frozenset({"2024-06-01", "2024-10-21", "2025-04-01-preview"})
MODEL = "gpt-4o-2024-11-20"
REPLY = "Hello from Azure."
_SAFE = {
    "hate": {"filtered": False, "severity": "safe"},
    "self_harm": {"filtered": False, "severity": "safe"},
    "sexual": {"filtered": False, "severity": "safe"},
    "violence": {"filtered": False, "severity": "safe"},
}
_PROMPT_FILTER = [{"prompt_index": 0, "content_filter_results": _SAFE}]


class FakeAzure(FakeUpstream):
    name = "fake Azure upstream"
    API_KEY = API_KEY
    STATIC_TOKEN = STATIC_TOKEN
    TENANT = TENANT
    CLIENT_ID = CLIENT_ID
    CLIENT_SECRET = CLIENT_SECRET

    def __init__(self) -> None:
        super().__init__()
        #: The resource endpoint: a deployment's ``api_base``.
        self.base_url = f"http://127.0.0.1:{self.port}"
        #: A deployment's ``authority`` for Entra ID tokens.
        self.authority = self.base_url + "/entra"
        self.requests: list[dict[str, Any]] = []
        self.token_requests: list[dict[str, str]] = []
        #: Raw SSE bytes of each stream sent, in order.
        self.streams: list[bytes] = []
        #: Tokens the fake Entra endpoint issued and still honours.
        self.issued: set[str] = set()
        #: ``expires_in`` of issued tokens, and a delay before answering token requests.
        self.token_lifetime = 3599
        self.token_delay = 0.0
        self._tokens = itertools.count(1)
        self._ids = itertools.count(1)

    # -- routes ----------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/openai/deployments/{deployment}/{operation:.+}", self._data_plane)
        app.router.add_post("/entra/{tenant}/oauth2/v2.0/token", self._token)

    # -- Entra ID --------------------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        self.token_requests.append({k: str(v) for k, v in form.items()})
        if self.token_delay:
            await asyncio.sleep(self.token_delay)
        good = (
            request.match_info["tenant"] == TENANT
            and form.get("grant_type") == "client_credentials"
            and form.get("client_id") == CLIENT_ID
            and form.get("client_secret") == CLIENT_SECRET
            and form.get("scope") == SCOPE
        )
        if not good:
            return _json(
                {
                    "error": "invalid_client",
                    "error_description": "AADSTS7000215: Invalid client secret provided.",
                    "error_codes": [7000215],
                },
                401,
            )
        token = f"entra-token-{next(self._tokens)}-0123456789"
        self.issued.add(token)
        return _json(
            {
                "token_type": "Bearer",
                "expires_in": self.token_lifetime,
                "ext_expires_in": self.token_lifetime,
                "access_token": token,
            }
        )

    # -- data plane ------------------------------------------------------------------------

    async def _data_plane(self, request: web.Request) -> web.StreamResponse:
        deployment = request.match_info["deployment"]
        operation = request.match_info["operation"]
        body: dict[str, Any]
        if request.content_type == "multipart/form-data":
            form = await request.post()
            upload = form["file"]
            assert isinstance(upload, web.FileField), "the file must arrive as a file part"
            body = {k: v for k, v in form.items() if k != "file"}
            body["file"] = (upload.filename, upload.content_type, upload.file.read())
        else:
            body = orjson.loads(await request.read())
        self.requests.append(
            {
                "path": request.path,
                "query": dict(request.query),
                "headers": dict(request.headers),
                "body": body,
            }
        )
        if request.query.get("api-version") not in VERSIONS:
            return _error(404, "404", "Resource not found")
        if not self._authorized(request):
            return _error(
                401,
                "401",
                "Access denied due to invalid subscription key or wrong API endpoint. Make sure "
                "to provide a valid key for an active subscription and use a correct regional "
                "API endpoint for your resource.",
            )
        scripted = _scripted(deployment)
        if scripted is not None:
            return scripted
        if operation == "chat/completions":
            return await self._chat(request, deployment, body)
        if operation == "completions":
            return _json(_completion(body, next(self._ids)))
        if operation == "embeddings":
            return _json(_embeddings(body))
        if operation == "images/generations":
            data = [
                {
                    "b64_json": base64.b64encode(b"fake-png").decode(),
                    "revised_prompt": body["prompt"],
                }
                for _ in range(body.get("n") or 1)
            ]
            return _json({"created": int(time.time()), "data": data})
        if operation == "audio/speech":
            return web.Response(
                body=b"ID3azure:" + body["input"].encode(), content_type="audio/mpeg"
            )
        if operation == "audio/transcriptions":
            return _json({"text": f"heard {len(body['file'][2])} bytes"})
        return _error(404, "404", "Resource not found")

    def _authorized(self, request: web.Request) -> bool:
        key = request.headers.get("api-key")
        if key is not None:
            return key == API_KEY
        auth = request.headers.get("authorization", "")
        token = auth.removeprefix("Bearer ")
        return auth.startswith("Bearer ") and (token == STATIC_TOKEN or token in self.issued)

    async def _chat(
        self, request: web.Request, deployment: str, body: dict[str, Any]
    ) -> web.StreamResponse:
        ident = f"chatcmpl-azure{next(self._ids)}"
        content, tool_calls = _answer(body)
        usage = _usage(body, content)
        if deployment == "filtered-output":
            return _json(
                {
                    "id": ident,
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": MODEL,
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "content_filter",
                            "logprobs": None,
                            "message": {"role": "assistant", "content": None, "refusal": None},
                            "content_filter_results": {
                                **_SAFE,
                                "violence": {"filtered": True, "severity": "medium"},
                            },
                        }
                    ],
                    "prompt_filter_results": _PROMPT_FILTER,
                    "usage": usage,
                }
            )
        if body.get("stream"):
            return await self._stream(request, body, ident, content, tool_calls, usage)
        message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
        if tool_calls:
            message["tool_calls"] = tool_calls
        return _json(
            {
                "choices": [
                    {
                        "content_filter_results": _SAFE,
                        "finish_reason": "tool_calls" if tool_calls else "stop",
                        "index": 0,
                        "logprobs": None,
                        "message": message,
                    }
                ],
                "created": int(time.time()),
                "id": ident,
                "model": MODEL,
                "object": "chat.completion",
                "prompt_filter_results": _PROMPT_FILTER,
                "system_fingerprint": "fp_fake",
                "usage": usage,
            }
        )

    async def _stream(
        self,
        request: web.Request,
        body: dict[str, Any],
        ident: str,
        content: str | None,
        tool_calls: list[dict[str, Any]],
        usage: dict[str, Any],
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        include_usage = (body.get("stream_options") or {}).get("include_usage") is True
        base: dict[str, Any] = {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": MODEL,
            "system_fingerprint": "fp_fake",
        }
        if include_usage:
            base["usage"] = None

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            choice = {
                "content_filter_results": {} if finish else _SAFE,
                "delta": delta,
                "finish_reason": finish,
                "index": 0,
                "logprobs": None,
            }
            return {**base, "choices": [choice]}

        events: list[dict[str, Any]] = [
            {
                "choices": [],
                "created": 0,
                "id": "",
                "model": "",
                "object": "",
                "prompt_filter_results": _PROMPT_FILTER,
            },
            chunk({"role": "assistant", "content": "", "refusal": None}),
        ]
        for index, call in enumerate(tool_calls):
            function = call["function"]
            start = {**call, "index": index, "function": {**function, "arguments": ""}}
            events.append(chunk({"tool_calls": [start]}))
            arguments = function["arguments"]
            for at in range(0, len(arguments), 7):
                piece = {"index": index, "function": {"arguments": arguments[at : at + 7]}}
                events.append(chunk({"tool_calls": [piece]}))
        for at, word in enumerate((content or "").split(" ") if content else ()):
            events.append(chunk({"content": word if at == 0 else " " + word}))
        events.append(chunk({}, "tool_calls" if tool_calls else "stop"))
        if include_usage:
            events.append({**base, "choices": [], "usage": usage})
        sent = b"".join(b"data: " + orjson.dumps(e) + b"\n\n" for e in events)
        sent += b"data: [DONE]\n\n"
        self.streams.append(sent)
        for event in sent.split(b"\n\n")[:-1]:
            await response.write(event + b"\n\n")
        return response


def _scripted(deployment: str) -> web.Response | None:
    if deployment == "missing":
        return _error(
            404,
            "DeploymentNotFound",
            "The API deployment for this resource does not exist. If you created the deployment "
            "within the last 5 minutes, please wait a moment and try again.",
        )
    if deployment == "filtered":
        return _json(
            {
                "error": {
                    "message": "The response was filtered due to the prompt triggering Azure "
                    "OpenAI's content management policy. Please modify your prompt and retry.",
                    "type": None,
                    "param": "prompt",
                    "code": "content_filter",
                    "status": 400,
                    "innererror": {
                        "code": "ResponsibleAIPolicyViolation",
                        "content_filter_result": {
                            **_SAFE,
                            "violence": {"filtered": True, "severity": "high"},
                        },
                    },
                }
            },
            400,
        )
    if deployment == "overflow":
        return _json(
            {
                "error": {
                    "message": "This model's maximum context length is 128000 tokens. However, "
                    "your messages resulted in 130512 tokens. Please reduce the length of the "
                    "messages.",
                    "type": "invalid_request_error",
                    "param": "messages",
                    "code": "context_length_exceeded",
                }
            },
            400,
        )
    if deployment == "throttled":
        response = _error(
            429,
            "429",
            "Requests to the ChatCompletions_Create Operation have "
            "exceeded call rate limit. Please retry after 1 second.",
        )
        response.headers["retry-after"] = "1"
        return response
    return None


def _answer(body: dict[str, Any]) -> tuple[str | None, list[dict[str, Any]]]:
    """The fake's reply to a chat request: (content, tool calls)."""
    messages = body.get("messages") or []
    last = messages[-1] if messages else {}
    tools = body.get("tools") or []
    if tools and last.get("role") != "tool" and body.get("tool_choice") != "none":
        calls = []
        for index, tool in enumerate(tools):
            function = tool["function"]
            properties = (function.get("parameters") or {}).get("properties") or {}
            arguments = {name: _sample(spec) for name, spec in properties.items()}
            calls.append(
                {
                    "id": f"call_fake{index}",
                    "type": "function",
                    "function": {
                        "name": function["name"],
                        "arguments": orjson.dumps(arguments).decode(),
                    },
                }
            )
        return None, calls
    if last.get("role") == "tool":
        return f"The tool said: {last.get('content')}", []
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        schema = response_format["json_schema"]["schema"]
        properties = schema.get("properties") or {}
        return orjson.dumps({k: _sample(v) for k, v in properties.items()}).decode(), []
    if response_format.get("type") == "json_object":
        return '{"answer": "hello"}', []
    content = last.get("content")
    if isinstance(content, list):
        images = sum(1 for part in content if part.get("type") == "image_url")
        if images:
            return f"I see {images} image(s).", []
    return REPLY, []


def _sample(spec: Any) -> Any:
    kind = str(spec.get("type")) if isinstance(spec, dict) else ""
    samples: dict[str, Any] = {"integer": 1, "number": 1.5, "boolean": True, "array": []}
    return samples.get(kind, "Paris")


def _usage(body: dict[str, Any], content: str | None) -> dict[str, Any]:
    prompt = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", [])) or 1
    completion = len((content or "x").split())
    return {
        "completion_tokens": completion,
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        "prompt_tokens": prompt,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "total_tokens": prompt + completion,
    }


def _completion(body: dict[str, Any], number: int) -> dict[str, Any]:
    return {
        "id": f"cmpl-azure{number}",
        "object": "text_completion",
        "created": int(time.time()),
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "text": REPLY,
                "finish_reason": "stop",
                "logprobs": None,
                "content_filter_results": _SAFE,
            }
        ],
        "usage": {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5},
    }


def _embeddings(body: dict[str, Any]) -> dict[str, Any]:
    return embeddings_body(body, "text-embedding-3-small")


def _error(status: int, code: str, message: str) -> web.Response:
    return _json({"error": {"code": code, "message": message}}, status)


def _json(data: dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")
