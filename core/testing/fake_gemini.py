"""A fake Gemini upstream over real HTTP: the Gemini API (AI Studio) and Gemini on Vertex AI,
plus an OAuth token endpoint for Vertex service accounts.

It checks what arrives the way Google does: the path and method, ``alt=sse`` on streams,
the credential (``x-goog-api-key``, never a ``key=`` query; or a Vertex ``Bearer`` token it
issued itself), and every body field against the documented request shape -- unknown fields
are a 400 ``Invalid JSON payload received. Unknown name ...`` like Google's parser answers.
It answers in Google's formats: pretty-printed JSON, and SSE events ``data: {...}\\r\\n\\r\\n``
with ``": "`` after keys, each chunk a whole `GenerateContentResponse`.

Behaviour is scripted by the model name, so parallel tests don't interfere:

- ``error-<status>``: that status as a `google.rpc.Status` error (429 adds a RetryInfo of 7s)
- ``too-long``: the 400 Gemini sends for a prompt over the context window
- ``blocked``: a prompt blocked by `promptFeedback.blockReason` (no candidates)
- ``unsafe`` / ``truncated`` / ``malformed``: finishReason SAFETY / MAX_TOKENS /
  MALFORMED_FUNCTION_CALL
- ``stream-error``: one chunk, then an in-stream error event; ``no-finish``: a stream that
  ends without a finishReason
- ``...parallel...``: with tools, one call per declared function
- ``...cached...``: usage reports cached prompt tokens

Otherwise the answer follows the request: function calls when tools are offered (arguments
made up from the schema), a summary of the function responses after a tool turn, JSON made up
from `responseSchema` for JSON mode, a note about the images it got, thoughts (and thought
signatures) when `includeThoughts` is set, and `candidateCount` candidates.

Vertex credentials: `service_account_info()` makes a service-account key (RSA, with
`cryptography`) whose ``token_uri`` is this fake's ``/token``; the endpoint checks the signed
JWT grant (signature, issuer, audience, scope, lifetime) before issuing a token.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import re
import time
from typing import Any

import orjson
from aiohttp import web

from .upstream import FakeUpstream

__all__ = ["FakeGemini"]

REPLY = "Hello from the fake Gemini."
THOUGHT = "Let me think about that first."
SIGNATURE = base64.b64encode(b"fake-thought-signature").decode()
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def _names(text: str) -> set[str]:
    return set(text.split())


# The fields Google's parser knows (anything else is "Unknown name"), in lowerCamelCase.
_REQUEST_KEYS = _names(
    "contents systemInstruction tools toolConfig safetySettings generationConfig cachedContent"
)
_PART_DATA = _names(
    "text inlineData fileData functionCall functionResponse executableCode codeExecutionResult"
)
_PART_META = _names("thought thoughtSignature videoMetadata mediaResolution")
_CONFIG_KEYS = _names(
    "candidateCount stopSequences maxOutputTokens temperature topP topK seed presencePenalty "
    "frequencyPenalty responseMimeType responseSchema responseJsonSchema responseModalities "
    "thinkingConfig responseLogprobs logprobs mediaResolution speechConfig imageConfig"
)
_SCHEMA_KEYS = _names(
    "type format title description nullable enum maxItems minItems properties required "
    "minProperties maxProperties minLength maxLength pattern example anyOf propertyOrdering "
    "default items minimum maximum"
)
_TYPES = {"STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL"}
_FUNCTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$")


class Invalid(Exception):
    """A request Google would refuse with 400 INVALID_ARGUMENT."""


class FakeGemini(FakeUpstream):
    name = "fake Gemini upstream"

    def __init__(self, api_key: str = "gemini-test-key", token_lifetime: int = 3599) -> None:
        super().__init__()
        self.url = f"http://127.0.0.1:{self.port}"
        self.api_key = api_key
        self.token_lifetime = token_lifetime
        #: Every model call: path, query, headers, body, api ("gemini"/"vertex"), model, method.
        self.requests: list[dict[str, Any]] = []
        #: Every accepted token grant: the JWT's header and claims.
        self.token_requests: list[dict[str, Any]] = []
        self._tokens: dict[str, float] = {}
        self._public_keys: dict[str, Any] = {}
        self._ids = itertools.count(1)

    # -- routes ----------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1beta/models/{spec}", self._gemini)
        app.router.add_post(
            "/v1/projects/{project}/locations/{location}/publishers/google/models/{spec}",
            self._vertex,
        )
        app.router.add_post("/token", self._token)

    # -- service accounts and tokens -------------------------------------------------------

    def service_account_info(
        self, email: str = "gateway@test-project.iam.gserviceaccount.com"
    ) -> dict[str, Any]:
        """A service-account key whose token_uri is this fake (a new RSA key per call)."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        key_id = f"key-{next(self._ids)}"
        self._public_keys[key_id] = (email, key.public_key())
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        return {
            "type": "service_account",
            "project_id": "test-project",
            "private_key_id": key_id,
            "private_key": pem,
            "client_email": email,
            "client_id": "1234567890",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": f"{self.url}/token",
        }

    def revoke_tokens(self) -> None:
        """Refuse every token issued so far (as if they were revoked)."""
        self._tokens.clear()

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        try:
            if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
                raise Invalid("unsupported_grant_type")
            header, claims = self._verify_grant(str(form.get("assertion", "")))
        except Invalid as exc:
            return _json({"error": "invalid_grant", "error_description": str(exc)}, 400)
        token = f"ya29.fake-{next(self._ids)}-{base64.b32encode(bytes(8)).decode()[:8]}"
        self._tokens[token] = time.time() + self.token_lifetime
        self.token_requests.append({"header": header, "claims": claims})
        return _json(
            {"access_token": token, "expires_in": self.token_lifetime, "token_type": "Bearer"}
        )

    def _verify_grant(self, assertion: str) -> tuple[dict[str, Any], dict[str, Any]]:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        pieces = assertion.split(".")
        if len(pieces) != 3:
            raise Invalid("The assertion is not a JWT.")
        header = json.loads(_b64url(pieces[0]))
        claims = json.loads(_b64url(pieces[1]))
        known = self._public_keys.get(header.get("kid"))
        if header.get("alg") != "RS256" or known is None:
            raise Invalid("Invalid JWT: unknown key or algorithm.")
        email, public_key = known
        try:
            public_key.verify(
                _b64url(pieces[2]),
                f"{pieces[0]}.{pieces[1]}".encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except InvalidSignature:
            raise Invalid("Invalid JWT Signature.") from None
        now = time.time()
        # Google's token endpoint wants its own URI as the audience, whatever token_uri the
        # key file names (google-auth always sends this one).
        if claims.get("iss") != email or claims.get("aud") != GOOGLE_TOKEN_AUDIENCE:
            raise Invalid("Invalid JWT: wrong issuer or audience.")
        if SCOPE not in str(claims.get("scope", "")).split():
            raise Invalid("Invalid JWT: the cloud-platform scope is missing.")
        iat, exp = claims.get("iat", 0), claims.get("exp", 0)
        if not (iat - 60 <= now < exp) or exp - iat > 3600:
            raise Invalid("Invalid JWT: Token must be a short-lived token (60 minutes).")
        return header, claims

    # -- model calls -----------------------------------------------------------------------

    async def _gemini(self, request: web.Request) -> web.StreamResponse:
        if "key" in request.query:
            return _rpc_error(400, "API keys in the URL end up in logs; the fake refuses them.")
        given = request.headers.get("x-goog-api-key")
        if given is None:
            return _rpc_error(
                403,
                "Method doesn't allow unregistered callers (callers without established "
                "identity). Please use API Key or other form of API consumer identity to call "
                "this API.",
            )
        if given != self.api_key:
            return _rpc_error(
                400, "API key not valid. Please pass a valid API key.", reason="API_KEY_INVALID"
            )
        return await self._call(request, "gemini")

    async def _vertex(self, request: web.Request) -> web.StreamResponse:
        auth = request.headers.get("authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        if "x-goog-api-key" in request.headers or self._tokens.get(token, 0) < time.time():
            return _rpc_error(
                401,
                "Request had invalid authentication credentials. Expected OAuth 2 access "
                "token, login cookie or other valid authentication credential.",
            )
        return await self._call(request, "vertex")

    async def _call(self, request: web.Request, api: str) -> web.StreamResponse:
        model, _, method = request.match_info["spec"].partition(":")
        raw = await request.read()
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return _rpc_error(400, "Invalid JSON payload received.")
        self.requests.append(
            {
                "path": request.path,
                "query": dict(request.query),
                "headers": dict(request.headers),
                "body": body,
                "api": api,
                "model": model,
                "method": method,
            }
        )
        if request.headers.get("content-type", "").split(";")[0] != "application/json":
            return _rpc_error(400, "The request must be application/json.")
        scripted = _scripted(model)
        if scripted is not None:
            return scripted
        try:
            if method == "generateContent":
                _check_generate(body)
                return _json(self._answer(model, body), pretty=True)
            if method == "streamGenerateContent":
                if request.query.get("alt") != "sse":
                    raise Invalid("The fake streams only with alt=sse.")
                _check_generate(body)
                return await self._stream(request, model, body)
            if method == "batchEmbedContents" and api == "gemini":
                return _json(_batch_embed(model, body), pretty=True)
            if method == "predict" and api == "vertex":
                return _json(_predict(body), pretty=True)
        except Invalid as exc:
            return _rpc_error(400, str(exc))
        return _rpc_error(404, f"Method '{method}' is not served for {api} models.")

    # -- answers ---------------------------------------------------------------------------

    def _answer(self, model: str, body: dict[str, Any]) -> dict[str, Any]:
        config = body.get("generationConfig") or {}
        thinking = config.get("thinkingConfig") or {}
        show_thoughts = thinking.get("includeThoughts") is True
        thought_tokens = 7 if show_thoughts or thinking.get("thinkingBudget", 0) > 0 else 0
        candidates = []
        output_tokens = 0
        for index in range(config.get("candidateCount") or 1):
            parts, finish = _parts(model, body, show_thoughts, index)
            output_tokens += sum(
                len(p.get("text", "").split()) + 5 * ("functionCall" in p)
                for p in parts
                if not p.get("thought")
            )
            candidates.append(
                {
                    "content": {"parts": parts, "role": "model"},
                    "finishReason": finish,
                    "index": index,
                    **({"safetyRatings": _ratings("HIGH")} if finish == "SAFETY" else {}),
                    **(
                        {"finishMessage": "Malformed function call: print(1"}
                        if finish == "MALFORMED_FUNCTION_CALL"
                        else {}
                    ),
                }
            )
        prompt = _prompt_tokens(body)
        usage: dict[str, Any] = {
            "promptTokenCount": prompt,
            "candidatesTokenCount": output_tokens,
            "totalTokenCount": prompt + output_tokens + thought_tokens,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
        }
        if thought_tokens:
            usage["thoughtsTokenCount"] = thought_tokens
        if "cached" in model:
            usage["cachedContentTokenCount"] = prompt // 2
        answer: dict[str, Any] = {"candidates": candidates, "usageMetadata": usage}
        if "blocked" in model:
            answer = {
                "promptFeedback": {"blockReason": "SAFETY", "safetyRatings": _ratings("HIGH")},
                "usageMetadata": {"promptTokenCount": prompt, "totalTokenCount": prompt},
            }
        answer["modelVersion"] = model
        answer["responseId"] = f"fakeResp{next(self._ids)}x"
        return answer

    async def _stream(
        self, request: web.Request, model: str, body: dict[str, Any]
    ) -> web.StreamResponse:
        whole = self._answer(model, body)
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        events = list(_stream_events(whole))
        if model == "no-finish":
            events = events[:-1]
        for number, event in enumerate(events):
            await response.write(b"data: " + _dumps(event) + b"\r\n\r\n")
            if number == 0 and model == "stream-error":
                error = {
                    "error": {
                        "code": 503,
                        "message": "The model is overloaded. Please try again later.",
                        "status": "UNAVAILABLE",
                    }
                }
                await response.write(b"data: " + _dumps(error) + b"\r\n\r\n")
                break
        await response.write_eof()
        return response


# -- request checks --------------------------------------------------------------------------


def _check_generate(body: Any) -> None:
    if not isinstance(body, dict):
        raise Invalid("Invalid JSON payload received. Expected an object.")
    _known(body, _REQUEST_KEYS, "")
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise Invalid("* GenerateContentRequest.contents: contents is not specified")
    for index, content in enumerate(contents):
        where = f"contents[{index}]"
        _known(content, {"role", "parts"}, where)
        if content.get("role") not in ("user", "model"):
            raise Invalid(f"Please use a valid role: user, model. ({where}.role)")
        _check_parts(content.get("parts"), where)
    system = body.get("systemInstruction")
    if system is not None:
        _known(system, {"role", "parts"}, "system_instruction")
        _check_parts(system.get("parts"), "system_instruction")
        if any("text" not in part for part in system["parts"]):
            raise Invalid("system_instruction takes text parts only.")
    for index, tool in enumerate(body.get("tools") or ()):
        where = f"tools[{index}]"
        _known(tool, {"functionDeclarations", "googleSearch", "codeExecution", "urlContext"}, where)
        for number, declaration in enumerate(tool.get("functionDeclarations") or ()):
            at = f"{where}.function_declarations[{number}]"
            _known(
                declaration,
                {"name", "description", "parameters", "parametersJsonSchema", "response"},
                at,
            )
            if not _FUNCTION_NAME.match(str(declaration.get("name", ""))):
                raise Invalid(f"* GenerateContentRequest.{at}.name: Invalid function name.")
            if "parameters" in declaration:
                _check_schema(declaration["parameters"], f"{at}.parameters")
    tool_config = body.get("toolConfig")
    if tool_config is not None:
        _known(tool_config, {"functionCallingConfig"}, "tool_config")
        calling = tool_config.get("functionCallingConfig") or {}
        _known(calling, {"mode", "allowedFunctionNames"}, "tool_config.function_calling_config")
        if calling.get("mode") not in ("AUTO", "ANY", "NONE", "VALIDATED"):
            raise Invalid("Invalid value at 'tool_config.function_calling_config.mode'.")
        if calling.get("allowedFunctionNames") and calling.get("mode") not in ("ANY", "VALIDATED"):
            raise Invalid("allowed_function_names should only be set when the mode is ANY.")
    config = body.get("generationConfig")
    if config is not None:
        _known(config, _CONFIG_KEYS, "generation_config")
        stops = config.get("stopSequences")
        if stops is not None and (not isinstance(stops, list) or len(stops) > 5):
            raise Invalid("generation_config.stop_sequences: at most 5 stop sequences.")
        if "responseSchema" in config:
            if config.get("responseMimeType") != "application/json":
                raise Invalid("response_schema needs response_mime_type application/json.")
            _check_schema(config["responseSchema"], "generation_config.response_schema")
        thinking = config.get("thinkingConfig")
        if thinking is not None:
            _known(
                thinking,
                {"includeThoughts", "thinkingBudget", "thinkingLevel"},
                "generation_config.thinking_config",
            )


def _check_parts(parts: Any, where: str) -> None:
    if not isinstance(parts, list) or not parts:
        raise Invalid(f"* GenerateContentRequest.{where}.parts: must not be empty")
    for index, part in enumerate(parts):
        at = f"{where}.parts[{index}]"
        _known(part, _PART_DATA | _PART_META, at)
        data = [key for key in part if key in _PART_DATA]
        if len(data) != 1:
            raise Invalid(
                f"* GenerateContentRequest.{at}.data: required oneof field 'data' must have "
                "one initialized field"
            )
        kind = data[0]
        value = part[kind]
        if kind == "text" and not isinstance(value, str):
            raise Invalid(f"Invalid value at '{at}.text', expected a string.")
        if kind == "inlineData":
            _known(value, {"mimeType", "data"}, f"{at}.inline_data")
            _bytes(value.get("data"), f"{at}.inline_data.data")
            if not isinstance(value.get("mimeType"), str):
                raise Invalid(f"{at}.inline_data.mime_type is required.")
        if kind == "fileData":
            _known(value, {"mimeType", "fileUri"}, f"{at}.file_data")
            if not str(value.get("fileUri", "")).startswith(("https://", "http://", "gs://")):
                raise Invalid(f"{at}.file_data.file_uri is not a supported URI.")
        if kind == "functionCall":
            _known(value, {"id", "name", "args"}, f"{at}.function_call")
            if not isinstance(value.get("args", {}), dict) or not value.get("name"):
                raise Invalid(f"{at}.function_call needs a name and an args object.")
        if kind == "functionResponse":
            _known(value, {"id", "name", "response"}, f"{at}.function_response")
            if not isinstance(value.get("response"), dict) or not value.get("name"):
                raise Invalid(f"{at}.function_response needs a name and a response object.")
        if "thoughtSignature" in part:
            _bytes(part["thoughtSignature"], f"{at}.thought_signature")


def _check_schema(schema: Any, where: str) -> None:
    _known(schema, _SCHEMA_KEYS, where)
    kind = schema.get("type")
    if kind is not None and str(kind).upper() not in _TYPES:
        raise Invalid(f"Invalid value at '{where}.type' ({kind}).")
    properties = schema.get("properties")
    if properties is not None:
        if not properties:
            raise Invalid(
                f"* GenerateContentRequest.{where}.properties: should be non-empty for OBJECT type"
            )
        for name, value in properties.items():
            _check_schema(value, f"{where}.properties[{name}].value")
    if "items" in schema:
        _check_schema(schema["items"], f"{where}.items")
    for index, variant in enumerate(schema.get("anyOf") or ()):
        _check_schema(variant, f"{where}.any_of[{index}]")
    enum = schema.get("enum")
    if enum is not None and not all(isinstance(v, str) for v in enum):
        raise Invalid(f"Invalid value at '{where}.enum', expected strings.")


def _known(value: Any, allowed: set[str], where: str) -> None:
    if not isinstance(value, dict):
        raise Invalid(f"Invalid value at '{where}': expected an object.")
    for key in value:
        if key not in allowed:
            at = f" at '{where}'" if where else ""
            raise Invalid(
                f'Invalid JSON payload received. Unknown name "{key}"{at}: Cannot find field.'
            )


def _bytes(value: Any, where: str) -> None:
    try:
        base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        try:
            base64.urlsafe_b64decode(str(value))
        except (binascii.Error, ValueError):
            raise Invalid(
                f"Invalid value at '{where}' (TYPE_BYTES), Base64 decoding failed."
            ) from None


# -- made-up answers -------------------------------------------------------------------------


def _parts(
    model: str, body: dict[str, Any], show_thoughts: bool, index: int
) -> tuple[list[dict[str, Any]], str]:
    config = body.get("generationConfig") or {}
    parts: list[dict[str, Any]] = [{"text": THOUGHT, "thought": True}] if show_thoughts else []
    last = body["contents"][-1]["parts"]
    responses = [p["functionResponse"] for p in last if "functionResponse" in p]
    calling = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
    declarations = [
        d for tool in body.get("tools") or () for d in tool.get("functionDeclarations") or ()
    ]
    allowed = calling.get("allowedFunctionNames")
    if allowed:
        declarations = [d for d in declarations if d["name"] in allowed]
    if responses:
        summary = ", ".join(f"{r['name']}={_dumps(r['response']).decode()}" for r in responses)
        text = f"The tools said: {summary}"
    elif (
        declarations
        and calling.get("mode") != "NONE"
        and not any("functionCall" in p for p in last)
    ):
        chosen = declarations if "parallel" in model else declarations[:1]
        for number, declaration in enumerate(chosen):
            call: dict[str, Any] = {
                "functionCall": {
                    "name": declaration["name"],
                    "args": _sample(declaration.get("parameters") or {}, ""),
                }
            }
            if show_thoughts and number == 0:
                call["thoughtSignature"] = SIGNATURE
            parts.append(call)
        return parts, "MALFORMED_FUNCTION_CALL" if "malformed" in model else "STOP"
    elif config.get("responseMimeType") == "application/json":
        schema = config.get("responseSchema")
        text = _dumps(_sample(schema, "") if schema else {"answer": "fake"}).decode()
    else:
        images = [
            p.get("inlineData") or p.get("fileData")
            for p in last
            if "inlineData" in p or "fileData" in p
        ]
        text = REPLY
        if images:
            text = f"I see {len(images)} image(s): " + ", ".join(
                f"{i['mimeType']} ({len(base64.b64decode(i['data']))} bytes)"
                if "data" in i
                else f"{i.get('mimeType')} at {i['fileUri']}"
                for i in images
            )
        if index:
            text += f" (candidate {index})"
    finish = "STOP"
    limit = config.get("maxOutputTokens")
    if "truncated" in model or (isinstance(limit, int) and limit < len(text.split())):
        text = " ".join(text.split()[: max(1, (limit or 3))])
        finish = "MAX_TOKENS"
    if "unsafe" in model:
        finish = "SAFETY"
    part: dict[str, Any] = {"text": text}
    if show_thoughts:
        part["thoughtSignature"] = SIGNATURE
    parts.append(part)
    return parts, finish


def _sample(schema: dict[str, Any], name: str) -> Any:
    if schema.get("enum"):
        return schema["enum"][0]
    if schema.get("anyOf"):
        return _sample(schema["anyOf"][0], name)
    kind = str(schema.get("type", "OBJECT" if "properties" in schema else "STRING")).upper()
    if kind == "OBJECT":
        return {key: _sample(value, key) for key, value in (schema.get("properties") or {}).items()}
    if kind == "ARRAY":
        return [_sample(schema.get("items") or {}, name)]
    return {"INTEGER": 3, "NUMBER": 1.5, "BOOLEAN": True, "NULL": None}.get(
        kind, f"{name or 'value'}-1"
    )


def _stream_events(whole: dict[str, Any]) -> Any:
    """Split a whole answer the way Gemini streams it: thoughts and text in word pieces, each
    function call whole, then a last chunk with the finishReason; usage in every chunk."""
    meta = {k: whole[k] for k in ("modelVersion", "responseId")}
    usage = whole["usageMetadata"]
    if "promptFeedback" in whole:
        yield {"promptFeedback": whole["promptFeedback"], "usageMetadata": usage, **meta}
        return
    for candidate in whole["candidates"]:
        index = candidate["index"]
        for part in candidate["content"]["parts"]:
            if "text" in part:
                words = part["text"].split(" ")
                for number, word in enumerate(words):
                    piece = {**part, "text": word if number == 0 else " " + word}
                    if number:
                        piece.pop("thoughtSignature", None)
                    yield {
                        "candidates": [
                            {"content": {"parts": [piece], "role": "model"}, "index": index}
                        ],
                        "usageMetadata": usage,
                        **meta,
                    }
            else:
                yield {
                    "candidates": [{"content": {"parts": [part], "role": "model"}, "index": index}],
                    "usageMetadata": usage,
                    **meta,
                }
        last = {k: v for k, v in candidate.items() if k != "content"}
        yield {
            "candidates": [{"content": {"role": "model"}, **last}],
            "usageMetadata": usage,
            **meta,
        }


def _prompt_tokens(body: dict[str, Any]) -> int:
    contents = [*body["contents"], body.get("systemInstruction") or {"parts": []}]
    words = sum(
        len(str(part.get("text", "")).split()) for content in contents for part in content["parts"]
    )
    return max(words, 1)


def _vector(text: str, dims: int) -> list[float]:
    return [((len(text) + i) % 7) / 7.0 for i in range(dims)]


def _batch_embed(model: str, body: dict[str, Any]) -> dict[str, Any]:
    _known(body, {"requests"}, "")
    embeddings = []
    for index, item in enumerate(body.get("requests") or ()):
        where = f"requests[{index}]"
        _known(item, {"model", "content", "taskType", "title", "outputDimensionality"}, where)
        if item.get("model") != f"models/{model}":
            raise Invalid(f"{where}.model: must be the model of the URL (models/{model}).")
        _check_parts(item.get("content", {}).get("parts"), f"{where}.content")
        text = item["content"]["parts"][0]["text"]
        embeddings.append({"values": _vector(text, item.get("outputDimensionality") or 8)})
    if not embeddings:
        raise Invalid("* BatchEmbedContentsRequest.requests: must not be empty")
    return {"embeddings": embeddings}


def _predict(body: dict[str, Any]) -> dict[str, Any]:
    _known(body, {"instances", "parameters"}, "")
    parameters = body.get("parameters") or {}
    _known(parameters, {"outputDimensionality", "autoTruncate"}, "parameters")
    predictions = []
    for index, instance in enumerate(body.get("instances") or ()):
        _known(instance, {"content", "task_type", "title"}, f"instances[{index}]")
        text = str(instance.get("content", ""))
        predictions.append(
            {
                "embeddings": {
                    "statistics": {"truncated": False, "token_count": len(text.split())},
                    "values": _vector(text, parameters.get("outputDimensionality") or 8),
                }
            }
        )
    return {"predictions": predictions, "metadata": {"billableCharacterCount": 0}}


def _ratings(probability: str) -> list[dict[str, str]]:
    return [{"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": probability}]


# -- wire formats ----------------------------------------------------------------------------


def _dumps(data: Any, pretty: bool = False) -> bytes:
    # Google's JSON: ": " after keys, "," between items (or 2-space indents), <>& escaped.
    text = json.dumps(
        data, ensure_ascii=False, indent=2 if pretty else None, separators=(",", ": ")
    )
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").encode()


def _json(data: Any, status: int = 200, pretty: bool = False) -> web.Response:
    return web.Response(
        body=_dumps(data, pretty),
        status=status,
        headers={"content-type": "application/json; charset=UTF-8"},
    )


def _rpc_error(status: int, message: str, reason: str | None = None) -> web.Response:
    error: dict[str, Any] = {
        "code": status,
        "message": message,
        "status": _STATUS_NAMES.get(status, "UNKNOWN"),
    }
    if reason is not None:
        error["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": reason,
                "domain": "googleapis.com",
            }
        ]
    if status == 429:
        error["details"] = [
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}
        ]
    return _json({"error": error}, status, pretty=True)


def _scripted(model: str) -> web.Response | None:
    if model.startswith("error-"):
        status = int(model.split("-", 1)[1])
        return _rpc_error(status, f"Scripted upstream error {status}.")
    if model == "too-long":
        return _rpc_error(
            400,
            "The input token count (1234567) exceeds the maximum number of tokens allowed "
            "(1048576).",
        )
    return None


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
