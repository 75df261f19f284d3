"""A fake Amazon Bedrock Runtime over real HTTP, for tests of the bedrock provider.

It checks what a real endpoint checks: the SigV4 signature (recomputed with botocore from the
request as received and the known test credentials; a mismatch is the 403 AWS sends), or a
Bedrock API key; the path and the body against botocore's service model for Bedrock Runtime;
and the conversation rules Converse enforces (first turn from the user, alternating roles,
no blank text, ``toolConfig`` whenever tool blocks appear). It answers Converse with JSON and
ConverseStream with binary AWS event-stream frames (the encoder here is test code; the adapter
decodes with botocore), and InvokeModel for Titan and Cohere embedding models.

Behaviour is scripted by the model id:

- ``error-<ExceptionName>``: that HTTP error (status from the service model), e.g.
  ``error-ThrottlingException``; ``error-context`` and ``error-context-tokens``: the two
  ValidationException wordings for an over-long prompt. Anywhere in the id, so an embedding
  model can fail too: ``amazon.titan-embed-text-v2:error-ThrottlingException``
- ``stream-error-<exceptionType>``: a stream that fails after its first text delta with an
  in-stream exception frame, e.g. ``stream-error-throttlingException``
- ``stop-<stopReason>``: that stop reason; ``truncated``: a stream that ends mid-answer;
  ``corrupt``: a stream frame whose checksum is wrong; ``cached``: usage with cache tokens
- anything else: a deterministic answer. Tools are called when forced (``toolChoice`` any or
  tool) or when the last user text names them (several names: parallel calls); a turn of tool
  results is answered with their text; ``additionalModelRequestFields.thinking`` adds a
  signed reasoning block; ``outputConfig`` JSON is answered with a sample of its schema.

Every request is recorded in `requests` (raw path, model id, action, headers, parsed body).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime
import hashlib
import hmac
import itertools
import math
import re
import struct
import uuid
from typing import Any
from urllib.parse import unquote

import botocore.session
import orjson
from aiohttp import web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.validate import ParamValidator

from .upstream import FakeUpstream

__all__ = ["FakeBedrock"]

REPLY = "Hello from the fake Bedrock."
REASONING = "The user greets me, so I greet them back."
SIGNATURE = "fake-signature-EqQBCkgIARABGAIiQL"
_PATH = re.compile(r"^/model/([^/]+)/(converse|converse-stream|invoke)$")
_AUTH = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, "
    r"SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$"
)
_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check "
    "your AWS Secret Access Key and signing method. Consult the service documentation for "
    "details."
)
_INVALID_TOKEN = "The security token included in the request is invalid."
_PADDING = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0"


class FakeBedrock(FakeUpstream):
    name = "fake Bedrock upstream"

    def __init__(
        self,
        region: str = "us-east-1",
        *,
        access_key: str = "AKIAFAKEBEDROCK00001",
        secret_key: str = "fakeSecretKey/For+Tests/0123456789abcdefgh",
        session_token: str | None = None,
        api_key: str = "bedrock-api-key-fake-0123456789",
    ) -> None:
        super().__init__()
        self.region = region
        self.access_key = access_key
        self.secret_key = secret_key
        self.session_token = session_token
        self.api_key = api_key
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.requests: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self._model = botocore.session.get_session().get_service_model("bedrock-runtime")
        self._validator = ParamValidator()

    # -- routes ----------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/{tail:.*}", self._handle)

    # -- the request -----------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        match = _PATH.match(request.raw_path)
        if request.method != "POST" or match is None:
            return _error(404, "UnknownOperationException", "Unknown operation.")
        model_id, action = unquote(match.group(1)), match.group(2)
        record: dict[str, Any] = {
            "path": request.raw_path,
            "model": model_id,
            "action": action,
            "headers": dict(request.headers),
            "body": None,
        }
        self.requests.append(record)
        refused = self._check_auth(request, raw)
        if refused is not None:
            return refused
        if request.headers.get("content-type") != "application/json":
            return _error(415, "UnsupportedMediaTypeException", "Unsupported media type.")
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return _error(400, "SerializationException", "Could not parse the request body.")
        record["body"] = body
        if "error-" in model_id and not model_id.startswith("stream-error-"):
            return self._scripted_error(model_id.split("error-", 1)[1])
        if action == "invoke":
            return self._invoke(model_id, body)
        problem = self._check_converse(model_id, action, body)
        if problem is not None:
            return _error(400, "ValidationException", problem)
        answer = _answer(model_id, body)
        if action == "converse":
            return _json(
                {
                    "output": {"message": {"role": "assistant", "content": answer["content"]}},
                    "stopReason": answer["stopReason"],
                    "usage": answer["usage"],
                    "metrics": {"latencyMs": 12},
                },
                headers={"x-amzn-requestid": self._request_id()},
            )
        return await self._stream(request, model_id, answer)

    def _request_id(self) -> str:
        return str(uuid.UUID(int=next(self._ids)))

    def _check_auth(self, request: web.Request, raw: bytes) -> web.Response | None:
        header = request.headers.get("Authorization")
        if not header:
            return _error(
                403, "MissingAuthenticationTokenException", "Missing Authentication Token"
            )
        if header.startswith("Bearer "):
            if hmac.compare_digest(header[len("Bearer ") :], self.api_key):
                return None
            return _error(403, "UnrecognizedClientException", _INVALID_TOKEN)
        match = _AUTH.match(header)
        if match is None:
            return _error(403, "IncompleteSignatureException", "Malformed Authorization header.")
        access_key, day, region, service, signed, signature = match.groups()
        if access_key != self.access_key:
            return _error(403, "UnrecognizedClientException", _INVALID_TOKEN)
        if region != self.region or service != "bedrock":
            return _error(
                403,
                "InvalidSignatureException",
                f"Credential should be scoped to a valid region and service 'bedrock', "
                f"not '{region}/{service}'.",
            )
        stamp = request.headers.get("X-Amz-Date", "")
        try:
            when = datetime.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.UTC)
        except ValueError:
            return _error(403, "IncompleteSignatureException", "X-Amz-Date is missing or bad.")
        skew = abs((datetime.datetime.now(datetime.UTC) - when).total_seconds())
        if skew > 300 or day != stamp[:8]:
            return _error(403, "InvalidSignatureException", f"Signature expired: {stamp}.")
        if self.session_token is not None:
            token = request.headers.get("X-Amz-Security-Token", "")
            if not hmac.compare_digest(token, self.session_token):
                return _error(403, "UnrecognizedClientException", _INVALID_TOKEN)
        names = signed.split(";")
        must_sign = {"host", "x-amz-date"}
        if self.session_token is not None:
            must_sign.add("x-amz-security-token")
        if not must_sign <= set(names) or any(name not in request.headers for name in names):
            return _error(403, "IncompleteSignatureException", "Required headers not signed.")
        # Recompute the signature the way AWS does: from the request exactly as it arrived.
        received = AWSRequest(
            "POST",
            f"http://{request.host}{request.raw_path}",
            data=raw,
            headers={name: request.headers[name] for name in names},
        )
        received.context["timestamp"] = stamp
        signer = SigV4Auth(
            Credentials(self.access_key, self.secret_key, self.session_token),
            "bedrock",
            self.region,
        )
        canonical = signer.canonical_request(received)
        expected = signer.signature(signer.string_to_sign(received, canonical), received)
        if not hmac.compare_digest(expected, signature):
            return _error(403, "InvalidSignatureException", _MISMATCH)
        return None

    def _scripted_error(self, name: str) -> web.Response:
        if name.startswith("context"):
            message = (
                "Input is too long for requested model."
                if name == "context"
                else "400 Bad Request: Too many input tokens. Max input tokens: 8192, "
                "request input token count: 9500"
            )
            return _error(400, "ValidationException", message)
        shape = self._model.shape_for(name)
        status = shape.metadata["error"]["httpStatusCode"]
        body: dict[str, Any] = {"message": f"Scripted {name}."}
        if name == "ModelErrorException":
            body.update(originalStatusCode=500, resourceName="model")
        headers = {"retry-after": "1"} if status == 429 else {}
        return _error(status, name, body["message"], body=body, headers=headers)

    def _check_converse(self, model_id: str, action: str, body: dict[str, Any]) -> str | None:
        operation = self._model.operation_model(
            "ConverseStream" if action == "converse-stream" else "Converse"
        )
        report = self._validator.validate({"modelId": model_id, **body}, operation.input_shape)
        if report.has_errors():
            return f"Malformed input request: {report.generate_report()}"
        return _conversation_problem(body)

    def _invoke(self, model_id: str, body: dict[str, Any]) -> web.Response:
        headers = {"x-amzn-requestid": self._request_id()}
        if "titan-embed" in model_id:
            allowed = {"inputText", "dimensions", "normalize", "embeddingTypes", "embeddingConfig"}
            text = body.get("inputText")
            dims = body.get("dimensions", 1024)
            if "embeddingConfig" in body:
                dims = body["embeddingConfig"].get("outputEmbeddingLength", 1024)
            if set(body) - allowed or not isinstance(text, str) or not text:
                return _error(400, "ValidationException", f"Malformed input request: {body}")
            if "v2" in model_id and dims not in (256, 512, 1024):
                return _error(400, "ValidationException", "dimensions must be 256, 512 or 1024")
            if "v2" not in model_id and set(body) - {"inputText", "embeddingConfig"}:
                return _error(400, "ValidationException", "extraneous key is not permitted")
            tokens = len(text.split())
            headers["x-amzn-bedrock-input-token-count"] = str(tokens)
            return _json(
                {"embedding": _vector(text, dims), "inputTextTokenCount": tokens}, headers=headers
            )
        if "cohere.embed" in model_id:
            allowed = {"texts", "input_type", "truncate", "embedding_types", "output_dimension"}
            texts = body.get("texts")
            kinds = {"search_document", "search_query", "classification", "clustering"}
            if (
                set(body) - allowed
                or not isinstance(texts, list)
                or not 0 < len(texts) <= 96
                or body.get("input_type") not in kinds
            ):
                return _error(400, "ValidationException", f"Malformed input request: {body}")
            dims = body.get("output_dimension", 1024)
            headers["x-amzn-bedrock-input-token-count"] = str(sum(len(t.split()) for t in texts))
            return _json(
                {
                    "id": str(uuid.uuid4()),
                    "texts": texts,
                    "embeddings": [_vector(t, dims) for t in texts],
                    "response_type": "embeddings_floats",
                },
                headers=headers,
            )
        return _error(400, "ValidationException", "The provided model doesn't support InvokeModel.")

    # -- the event stream ------------------------------------------------------------------

    async def _stream(
        self, request: web.Request, model_id: str, answer: dict[str, Any]
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={
                "content-type": "application/vnd.amazon.eventstream",
                "x-amzn-requestid": self._request_id(),
            }
        )
        await response.prepare(request)
        frames = list(_events(answer))
        if model_id.startswith("stream-error-"):
            kind = model_id[len("stream-error-") :]
            payload: dict[str, Any] = {"message": f"Scripted {kind}."}
            if kind == "validationException":
                payload["message"] = "Input is too long for requested model."
            if kind == "modelStreamErrorException":
                payload.update(originalStatusCode=500, originalMessage="The model crashed.")
            first_text = next(i for i, f in enumerate(frames) if f[0] == "contentBlockDelta")
            frames = frames[: first_text + 1]
            frames.append(("!" + kind, payload))
        elif model_id == "truncated":
            frames = frames[:3]
        for index, (kind, payload) in enumerate(frames):
            if kind.startswith("!"):
                data = _frame(
                    {
                        ":exception-type": kind[1:],
                        ":content-type": "application/json",
                        ":message-type": "exception",
                    },
                    orjson.dumps(payload),
                )
            else:
                payload = {**payload, "p": _PADDING[: 1 + (index * 7) % len(_PADDING)]}
                data = _frame(
                    {
                        ":event-type": kind,
                        ":content-type": "application/json",
                        ":message-type": "event",
                    },
                    orjson.dumps(payload),
                )
            if model_id == "corrupt" and index == 2:
                data = data[:-4] + bytes(4)
            # Frames cross network reads the way they do in real life: in uneven pieces.
            cut = len(data) // 3 if index % 2 else len(data)
            await response.write(data[:cut])
            if cut < len(data):
                await asyncio.sleep(0)
                await response.write(data[cut:])
        await response.write_eof()
        return response


# -- answers ---------------------------------------------------------------------------------


def _answer(model_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """The assistant message blocks, stop reason and usage for one Converse request."""
    content: list[dict[str, Any]] = []
    stop_reason = "end_turn"
    thinking = (body.get("additionalModelRequestFields") or {}).get("thinking") or {}
    if thinking.get("type") == "enabled":
        content.append(
            {"reasoningContent": {"reasoningText": {"text": REASONING, "signature": SIGNATURE}}}
        )
    calls = _tool_calls(body)
    output = (body.get("outputConfig") or {}).get("textFormat")
    if calls:
        content.extend({"toolUse": call} for call in calls)
        stop_reason = "tool_use"
    else:
        if output:
            schema = orjson.loads(output["structure"]["jsonSchema"]["schema"])
            text = orjson.dumps(_sample(schema)).decode()
        else:
            text = _reply_text(body)
        text, stop_reason = _limit(text, body.get("inferenceConfig") or {})
        content.append({"text": text})
    if model_id.startswith("stop-"):
        stop_reason = model_id[len("stop-") :]
    words = sum(len(_text_of(block).split()) for block in content)
    prompt = sum(len(_text_of(b).split()) for m in body["messages"] for b in m["content"])
    prompt += sum(len(b.get("text", "").split()) for b in body.get("system") or ())
    usage = {"inputTokens": prompt, "outputTokens": words, "totalTokens": prompt + words}
    if model_id == "cached":
        usage.update(cacheReadInputTokens=10, cacheWriteInputTokens=3)
        usage["totalTokens"] += 13
    return {"content": content, "stopReason": stop_reason, "usage": usage}


def _text_of(block: dict[str, Any]) -> str:
    if "text" in block:
        return str(block["text"])
    if "toolUse" in block:
        return orjson.dumps(block["toolUse"].get("input")).decode().replace(",", " ")
    if "reasoningContent" in block:
        return str(block["reasoningContent"].get("reasoningText", {}).get("text", ""))
    if "toolResult" in block:
        return " ".join(_text_of(b) for b in block["toolResult"]["content"])
    return ""


def _tool_calls(body: dict[str, Any]) -> list[dict[str, Any]]:
    config = body.get("toolConfig")
    last = body["messages"][-1]
    if not config or any("toolResult" in block for block in last["content"]):
        return []
    specs = [tool["toolSpec"] for tool in config["tools"] if "toolSpec" in tool]
    choice = config.get("toolChoice") or {"auto": {}}
    said = " ".join(block.get("text", "") for block in last["content"])
    if "tool" in choice:
        chosen = [spec for spec in specs if spec["name"] == choice["tool"]["name"]]
    else:
        chosen = [spec for spec in specs if spec["name"] in said]
        if not chosen and "any" in choice:
            chosen = specs[:1]
    return [
        {
            "toolUseId": f"tooluse_{index}{spec['name'][:8]}",
            "name": spec["name"],
            "input": _sample(spec["inputSchema"]["json"]),
        }
        for index, spec in enumerate(chosen)
    ]


def _sample(schema: dict[str, Any]) -> Any:
    """A value that fits `schema` (enough of JSON Schema for tests)."""
    kind = schema.get("type")
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "object" or "properties" in schema:
        return {name: _sample(sub) for name, sub in (schema.get("properties") or {}).items()}
    if kind == "array":
        return [_sample(schema.get("items") or {"type": "string"})]
    samples = {"integer": 42, "number": 1.5, "boolean": True, "null": None}
    return samples.get(kind, "sample") if isinstance(kind, str) else "sample"


def _reply_text(body: dict[str, Any]) -> str:
    last = body["messages"][-1]["content"]
    results = [_text_of(block) for block in last if "toolResult" in block]
    if results:
        return "Tool results: " + "; ".join(results)
    images = [block["image"] for block in last if "image" in block]
    if images:
        sizes = ", ".join(
            f"{image['format']} {len(base64.b64decode(image['source']['bytes']))} bytes"
            for image in images
        )
        return f"{REPLY} I see {len(images)} image(s): {sizes}."
    return REPLY


def _limit(text: str, inference: dict[str, Any]) -> tuple[str, str]:
    for stop in inference.get("stopSequences") or ():
        if stop in text:
            return text[: text.index(stop)], "stop_sequence"
    max_tokens = inference.get("maxTokens")
    words = text.split(" ")
    if max_tokens is not None and len(words) > max_tokens:
        return " ".join(words[:max_tokens]), "max_tokens"
    return text, "end_turn"


def _events(answer: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """ConverseStream's events for `answer`, in the order Bedrock sends them."""
    events: list[tuple[str, dict[str, Any]]] = [("messageStart", {"role": "assistant"})]
    for index, block in enumerate(answer["content"]):
        if "toolUse" in block:
            use = block["toolUse"]
            events.append(
                (
                    "contentBlockStart",
                    {
                        "contentBlockIndex": index,
                        "start": {"toolUse": {"toolUseId": use["toolUseId"], "name": use["name"]}},
                    },
                )
            )
            arguments = orjson.dumps(use["input"]).decode()
            third = max(1, len(arguments) // 3)
            for start in range(0, len(arguments), third):
                delta = {"toolUse": {"input": arguments[start : start + third]}}
                events.append(("contentBlockDelta", {"contentBlockIndex": index, "delta": delta}))
        elif "reasoningContent" in block:
            reasoning = block["reasoningContent"]["reasoningText"]
            for piece in _pieces(reasoning["text"]):
                thought = {"reasoningContent": {"text": piece}}
                events.append(("contentBlockDelta", {"contentBlockIndex": index, "delta": thought}))
            signed = {"reasoningContent": {"signature": reasoning["signature"]}}
            events.append(("contentBlockDelta", {"contentBlockIndex": index, "delta": signed}))
        else:  # text blocks start with their first delta, no contentBlockStart
            for piece in _pieces(block["text"]):
                text = {"text": piece}
                events.append(("contentBlockDelta", {"contentBlockIndex": index, "delta": text}))
        events.append(("contentBlockStop", {"contentBlockIndex": index}))
    events.append(("messageStop", {"stopReason": answer["stopReason"]}))
    events.append(("metadata", {"usage": answer["usage"], "metrics": {"latencyMs": 12}}))
    return events


def _pieces(text: str) -> list[str]:
    words = text.split(" ")
    return [word if i == 0 else " " + word for i, word in enumerate(words)]


def _conversation_problem(body: dict[str, Any]) -> str | None:
    """The rules Converse enforces beyond the shapes, in Bedrock's words."""
    messages = body["messages"]
    if not messages or messages[0]["role"] != "user":
        return (
            "A conversation must start with a user message. Try again with a conversation "
            "that starts with a user message."
        )
    has_tool_blocks = False
    tool_ids: set[str] = set()
    for index, message in enumerate(messages):
        if index and message["role"] == messages[index - 1]["role"]:
            return (
                "A conversation must alternate between user and assistant roles. Make sure the "
                "conversation alternates between user and assistant roles and try again."
            )
        for number, block in enumerate(message["content"]):
            if "text" in block and not block["text"].strip():
                return (
                    f"The text field in the ContentBlock object at messages.{index}.content."
                    f"{number} is blank. Add text to the text field, and try again."
                )
            if "image" in block:
                try:
                    base64.b64decode(block["image"]["source"]["bytes"], validate=True)
                except (binascii.Error, ValueError):
                    return "The image bytes are not valid base64."
            if "toolUse" in block:
                has_tool_blocks = True
                tool_ids.add(block["toolUse"]["toolUseId"])
            if "toolResult" in block:
                has_tool_blocks = True
                if block["toolResult"]["toolUseId"] not in tool_ids:
                    return "A toolResult block has a toolUseId no earlier toolUse block has."
    config = body.get("toolConfig")
    if has_tool_blocks and not config:
        return (
            "The toolConfig field must be defined when using toolUse and toolResult content blocks."
        )
    thinking = (body.get("additionalModelRequestFields") or {}).get("thinking") or {}
    choice = (config or {}).get("toolChoice") or {}
    if thinking.get("type") == "enabled" and ("any" in choice or "tool" in choice):
        return "Thinking may not be enabled when tool_choice forces tool use."
    return None


# -- wire helpers ----------------------------------------------------------------------------


def _frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One AWS event-stream message: prelude, prelude CRC, headers, payload, message CRC."""
    encoded = b"".join(
        bytes([len(name)]) + name.encode() + _string_header(value)
        for name, value in headers.items()
    )
    prelude = struct.pack(">II", 12 + len(encoded) + len(payload) + 4, len(encoded))
    prelude += struct.pack(">I", binascii.crc32(prelude))
    message = prelude + encoded + payload
    return message + struct.pack(">I", binascii.crc32(message))


def _string_header(value: str) -> bytes:
    """A header value of type 7 (string): two length bytes, then the UTF-8 text."""
    encoded = value.encode()
    return b"\x07" + struct.pack(">H", len(encoded)) + encoded


def _vector(text: str, dims: int) -> list[float]:
    seed = hashlib.sha256(text.encode()).digest()
    values = [((seed[i % 32] + i * 31) % 256) / 127.5 - 1.0 for i in range(dims)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


def _json(
    data: dict[str, Any], headers: dict[str, str] | None = None, status: int = 200
) -> web.Response:
    return web.Response(
        body=orjson.dumps(data), status=status, content_type="application/json", headers=headers
    )


def _error(
    status: int,
    kind: str,
    message: str,
    *,
    body: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    headers = {
        **(headers or {}),
        "x-amzn-ErrorType": f"{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/",
    }
    return _json(body or {"message": message}, headers=headers, status=status)
