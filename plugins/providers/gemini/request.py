"""OpenAI chat requests to Gemini `GenerateContentRequest` bodies (camelCase on the wire).

- `system`/`developer` messages become `systemInstruction`; `assistant` becomes role `model`;
  `tool` results become `functionResponse` parts of a `user` turn, named by looking their
  `tool_call_id` up in the assistant turns before them (Gemini matches results by name).
- Images: data URLs become `inlineData`; http(s) URLs become `fileData{fileUri, mimeType}`,
  which Gemini fetches itself (public or signed URLs; some older models only take Files
  API or gs:// URIs there). `input_audio` and `file` data parts become `inlineData`.
- Thought signatures come back from clients the way Google's own OpenAI layer hands them
  out: ``extra_content.google.thought_signature`` on a tool call (or on the message, for a
  text turn). A function call without one gets Google's documented placeholder, so histories
  from other models or from clients that drop unknown fields still validate on Gemini 3.
"""

from __future__ import annotations

from typing import Any

import orjson

from litegate import GatewayError
from litegate.translation import check_params, read_image_part

from .schema import to_gemini_schema

__all__ = ["SUPPORTED", "chat_body", "embed_texts"]

#: The OpenAI chat parameters this translation understands. `user` is accepted and not sent:
#: Gemini has no end-user field. `stream_options` is the gateway's business.
SUPPORTED = frozenset(
    {
        "model",
        "messages",
        "stream",
        "stream_options",
        "temperature",
        "top_p",
        "top_k",
        "n",
        "max_tokens",
        "max_completion_tokens",
        "stop",
        "seed",
        "user",
        "presence_penalty",
        "frequency_penalty",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "response_format",
        "reasoning_effort",
    }
)
#: `reasoning_effort` to `thinkingBudget`: Google's own figures for its OpenAI layer.
THINKING_BUDGETS = {
    "none": 0,
    "minimal": 512,
    "low": 1024,
    "medium": 8192,
    "high": 24576,
    "xhigh": 32768,
}
#: Google's documented value for function calls that carry no signature of Gemini's own.
SKIP_SIGNATURE = "skip_thought_signature_validator"
_IMAGE_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "gif": "image/gif",
    "heic": "image/heic",
    "heif": "image/heif",
}
_AUDIO_TYPES = {"wav": "audio/wav", "mp3": "audio/mp3"}
_TOOL_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY"}


def chat_body(request: dict[str, Any], *, provider: str, drop: bool) -> dict[str, Any]:
    """The Gemini request body for an OpenAI chat request."""
    request = check_params(request, SUPPORTED, provider=provider, drop=drop)
    if request.get("parallel_tool_calls") is False and not drop:
        raise GatewayError(
            400,
            f"The provider '{provider}' can't turn off parallel tool calls "
            "('parallel_tool_calls': false). Remove it, or set drop_unsupported = true "
            "on this model to have the gateway drop it.",
            param="parallel_tool_calls",
            code="unsupported_parameter",
        )
    system, contents = _contents(request["messages"], provider)
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": system}
    tools = request.get("tools")
    if tools:
        body["tools"] = [{"functionDeclarations": _declarations(tools, provider)}]
    tool_choice = request.get("tool_choice")
    if tool_choice is not None:
        body["toolConfig"] = {"functionCallingConfig": _tool_choice(tool_choice)}
    config = _generation_config(request, provider)
    if config:
        body["generationConfig"] = config
    return body


def embed_texts(request: dict[str, Any], provider: str) -> list[str]:
    """The embedding inputs as strings (Gemini takes text, not token ids)."""
    given = request["input"]
    texts = given if isinstance(given, list) else [given]
    if not texts or not all(isinstance(text, str) for text in texts):
        raise GatewayError(
            400,
            f"The provider '{provider}' embeds text only: 'input' must be a string or an "
            "array of strings.",
            param="input",
            code="invalid_value",
        )
    return texts


# -- messages ------------------------------------------------------------------------------


def _contents(
    messages: list[dict[str, Any]], provider: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # tool_call_id -> function name, from the assistant turns
    for index, message in enumerate(messages):
        role = message["role"]
        where = f"messages[{index}]"
        if role in ("system", "developer"):
            system.extend(_text_parts(message.get("content"), where, provider))
            continue
        if role == "assistant":
            gemini_role, parts = "model", _assistant_parts(message, where, names)
        elif role == "user":
            gemini_role, parts = "user", _user_parts(message.get("content"), where, provider)
        else:  # tool, or the legacy function role
            gemini_role, parts = "user", [_function_response(message, where, names, provider)]
        if not parts:
            continue
        if contents and contents[-1]["role"] == gemini_role:
            contents[-1]["parts"].extend(parts)  # Gemini wants parallel results in one turn
        else:
            contents.append({"role": gemini_role, "parts": parts})
    if not contents:
        raise GatewayError(
            400,
            f"The provider '{provider}' needs at least one user or assistant message.",
            param="messages",
            code="invalid_value",
        )
    return system, contents


def _text_parts(content: Any, where: str, provider: str) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    parts = []
    for index, part in enumerate(content):
        if part.get("type") != "text" or not isinstance(part.get("text"), str):
            raise GatewayError(
                400,
                f"'{where}.content[{index}]': the provider '{provider}' takes only text here.",
                param=f"{where}.content[{index}]",
                code="invalid_value",
            )
        if part["text"]:
            parts.append({"text": part["text"]})
    return parts


def _user_parts(content: Any, where: str, provider: str) -> list[dict[str, Any]]:
    if content is None or isinstance(content, str):
        return [{"text": content}] if content else []
    parts: list[dict[str, Any]] = []
    for index, part in enumerate(content):
        at = f"{where}.content[{index}]"
        kind = part.get("type")
        if kind == "text":
            text = part.get("text")
            if isinstance(text, str) and text:
                parts.append({"text": text})
        elif kind == "image_url":
            image = read_image_part(part, at)
            if image.url is not None:
                parts.append(
                    {"fileData": {"mimeType": _guess_image(image.url), "fileUri": image.url}}
                )
            else:
                parts.append({"inlineData": {"mimeType": image.media_type, "data": image.base64}})
        elif kind == "input_audio":
            audio = part.get("input_audio") or {}
            mime = _AUDIO_TYPES.get(str(audio.get("format")))
            if mime is None or not isinstance(audio.get("data"), str):
                raise GatewayError(
                    400,
                    f"'{at}.input_audio' needs base64 'data' and a 'format' of wav or mp3.",
                    param=f"{at}.input_audio",
                    code="invalid_value",
                )
            parts.append({"inlineData": {"mimeType": mime, "data": audio["data"]}})
        elif kind == "file":
            parts.append(_file_part(part, at, provider))
        else:
            raise GatewayError(
                400,
                f"'{at}': the provider '{provider}' does not take '{kind}' content parts.",
                param=f"{at}.type",
                code="invalid_value",
            )
    return parts


def _file_part(part: dict[str, Any], at: str, provider: str) -> dict[str, Any]:
    file = part.get("file") or {}
    data = file.get("file_data")
    if isinstance(data, str) and data.startswith("data:"):
        image = read_image_part({"image_url": {"url": data}}, at)
        return {"inlineData": {"mimeType": image.media_type, "data": image.base64}}
    raise GatewayError(
        400,
        f"'{at}.file': the provider '{provider}' takes files as a base64 data URL in "
        "'file_data' (uploaded file ids are OpenAI's).",
        param=f"{at}.file",
        code="invalid_value",
    )


def _guess_image(url: str) -> str:
    path = url.split("?", 1)[0].split("#", 1)[0]
    extension = path.rsplit(".", 1)[-1].lower() if "." in path.rsplit("/", 1)[-1] else ""
    return _IMAGE_TYPES.get(extension, "image/jpeg")


def _assistant_parts(
    message: dict[str, Any], where: str, names: dict[str, str]
) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    content = message.get("content")
    if isinstance(content, str):
        if content:
            parts.append({"text": content})
    elif isinstance(content, list):
        for part in content:
            text = part.get("text") if part.get("type") == "text" else None
            if isinstance(text, str) and text:
                parts.append({"text": text})
    signature = _signature(message)
    if signature is not None and parts:
        parts[0]["thoughtSignature"] = signature
    tool_calls = message.get("tool_calls")
    if isinstance(tool_calls, list):
        for index, call in enumerate(tool_calls):
            parts.append(_function_call(call, f"{where}.tool_calls[{index}]", names, index == 0))
    legacy = message.get("function_call")
    if isinstance(legacy, dict) and not tool_calls:
        parts.append(_function_call({"function": legacy}, f"{where}.function_call", names, True))
    return parts


def _function_call(call: Any, where: str, names: dict[str, str], first: bool) -> dict[str, Any]:
    function = call.get("function") if isinstance(call, dict) else None
    name = function.get("name") if isinstance(function, dict) else None
    if not isinstance(name, str) or not name:
        raise GatewayError(
            400, f"'{where}.function.name' is required.", param=where, code="invalid_value"
        )
    raw = function.get("arguments") or "{}"  # type: ignore[union-attr]
    try:
        args = orjson.loads(raw) if isinstance(raw, str) else raw
    except orjson.JSONDecodeError:
        raise GatewayError(
            400,
            f"'{where}.function.arguments' must be a JSON object.",
            param=f"{where}.function.arguments",
            code="invalid_value",
        ) from None
    if not isinstance(args, dict):
        args = {"value": args}
    call_part: dict[str, Any] = {"name": name, "args": args}
    call_id = call.get("id")
    if isinstance(call_id, str) and call_id:
        names[call_id] = name
        if not call_id.startswith("call_"):  # an id Gemini itself gave; ours aren't sent back
            call_part["id"] = call_id
    part: dict[str, Any] = {"functionCall": call_part}
    signature = _signature(call)
    if signature is not None:
        part["thoughtSignature"] = signature
    elif first:
        part["thoughtSignature"] = SKIP_SIGNATURE
    return part


def _signature(holder: Any) -> str | None:
    extra = holder.get("extra_content") if isinstance(holder, dict) else None
    google = extra.get("google") if isinstance(extra, dict) else None
    signature = google.get("thought_signature") if isinstance(google, dict) else None
    return signature if isinstance(signature, str) and signature else None


def _function_response(
    message: dict[str, Any], where: str, names: dict[str, str], provider: str
) -> dict[str, Any]:
    call_id = message.get("tool_call_id")
    name = names.get(call_id) if isinstance(call_id, str) else None
    name = name or message.get("name")
    if not isinstance(name, str) or not name:
        raise GatewayError(
            400,
            f"'{where}.tool_call_id' does not match a tool call of an earlier assistant "
            f"message; the provider '{provider}' needs the function's name for a tool result.",
            param=f"{where}.tool_call_id",
            code="invalid_value",
        )
    content = message.get("content")
    if isinstance(content, list):
        content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
    response: Any = None
    if isinstance(content, str) and content[:1] == "{":
        try:
            response = orjson.loads(content)
        except orjson.JSONDecodeError:
            response = None
    if not isinstance(response, dict):
        response = {"output": content if content is not None else ""}
    result: dict[str, Any] = {"name": name, "response": response}
    if isinstance(call_id, str) and call_id and not call_id.startswith("call_"):
        result["id"] = call_id
    return {"functionResponse": result}


# -- tools ---------------------------------------------------------------------------------


def _declarations(tools: list[Any], provider: str) -> list[dict[str, Any]]:
    declarations = []
    for index, tool in enumerate(tools):
        where = f"tools[{index}]"
        function = tool.get("function") if isinstance(tool, dict) else None
        if (
            not isinstance(tool, dict)
            or tool.get("type") != "function"
            or not isinstance(function, dict)
        ):
            raise GatewayError(
                400,
                f"'{where}': the provider '{provider}' takes only function tools.",
                param=where,
                code="invalid_value",
            )
        name = function.get("name")
        if not isinstance(name, str) or not name:
            raise GatewayError(
                400,
                f"'{where}.function.name' is required.",
                param=f"{where}.function.name",
                code="invalid_value",
            )
        declaration: dict[str, Any] = {"name": name}
        if isinstance(function.get("description"), str):
            declaration["description"] = function["description"]
        parameters = function.get("parameters")
        if parameters is not None:
            schema = to_gemini_schema(
                parameters, where=f"{where}.function.parameters", provider=provider
            )
            if schema.get("properties"):  # Gemini refuses an OBJECT with no properties
                declaration["parameters"] = schema
        declarations.append(declaration)
    return declarations


def _tool_choice(choice: Any) -> dict[str, Any]:
    if isinstance(choice, str) and choice in _TOOL_MODES:
        return {"mode": _TOOL_MODES[choice]}
    if isinstance(choice, dict) and choice.get("type") == "function":
        function = choice.get("function")
        name = function.get("name") if isinstance(function, dict) else None
        if isinstance(name, str) and name:
            return {"mode": "ANY", "allowedFunctionNames": [name]}
    raise GatewayError(
        400,
        "'tool_choice' must be 'auto', 'none', 'required' or "
        '{"type": "function", "function": {"name": ...}}.',
        param="tool_choice",
        code="invalid_value",
    )


# -- generation config ---------------------------------------------------------------------


def _generation_config(request: dict[str, Any], provider: str) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for openai_name, gemini_name in (
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("top_k", "topK"),
        ("seed", "seed"),
        ("presence_penalty", "presencePenalty"),
        ("frequency_penalty", "frequencyPenalty"),
        ("n", "candidateCount"),
    ):
        value = request.get(openai_name)
        if value is not None:
            config[gemini_name] = value
    max_tokens = request.get("max_completion_tokens")
    if max_tokens is None:
        max_tokens = request.get("max_tokens")
    if max_tokens is not None:
        config["maxOutputTokens"] = max_tokens
    stop = request.get("stop")
    if stop:
        config["stopSequences"] = [stop] if isinstance(stop, str) else stop
    response_format = request.get("response_format")
    if response_format is not None:
        _response_format(response_format, config, provider)
    effort = request.get("reasoning_effort")
    if effort is not None:
        budget = THINKING_BUDGETS.get(effort)
        if budget is None:
            raise GatewayError(
                400,
                "'reasoning_effort' must be one of " + ", ".join(THINKING_BUDGETS) + ".",
                param="reasoning_effort",
                code="invalid_value",
            )
        config["thinkingConfig"] = (
            {"thinkingBudget": 0}
            if budget == 0
            else {"thinkingBudget": budget, "includeThoughts": True}
        )
    return config


def _response_format(value: Any, config: dict[str, Any], provider: str) -> None:
    kind = value.get("type") if isinstance(value, dict) else None
    if kind == "text":
        return
    if kind == "json_object":
        config["responseMimeType"] = "application/json"
        return
    if kind == "json_schema":
        config["responseMimeType"] = "application/json"
        spec = value.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if schema is not None:
            config["responseSchema"] = to_gemini_schema(
                schema,
                where="response_format.json_schema.schema",
                provider=provider,
                ordered=True,
            )
        return
    raise GatewayError(
        400,
        "'response_format.type' must be 'text', 'json_object' or 'json_schema'.",
        param="response_format",
        code="invalid_value",
    )
