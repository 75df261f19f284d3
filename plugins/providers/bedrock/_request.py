"""OpenAI chat requests as Bedrock Converse requests.

- ``system``/``developer`` messages become top-level ``system`` blocks; tool results become
  ``toolResult`` blocks in a user turn; consecutive same-role turns are merged (Bedrock wants
  user and assistant to alternate).
- Images must be inline (``image.source.bytes``): base64 data URLs are passed on, remote URLs
  are refused with a 400 until the gateway's guarded fetcher exists.
- ``tool_choice``: auto -> ``auto``, required -> ``any``, a named function -> ``tool``; none ->
  no ``toolConfig`` at all. (Converse has no "none": when the history holds tool blocks,
  Bedrock insists on ``toolConfig``, so the tools are sent with no choice, which is "auto".)
- ``response_format`` json_schema/json_object: by default a forced tool whose input schema is
  the requested schema; its input comes back as the message content (Bedrock's documented way
  to get structured output from any tool-capable model). With ``structured_output = "native"``
  a json_schema goes in ``outputConfig.textFormat`` instead (models that support it).
- ``reasoning_effort`` for Anthropic Claude models becomes
  ``additionalModelRequestFields.thinking`` with the anthropic adapter's token budgets
  (`THINKING_BUDGETS`); for OpenAI gpt-oss models it is passed on as ``reasoning_effort``.
  For other families it is refused (or dropped, with ``drop_unsupported``): their reasoning
  switches differ per model. Earlier thinking (``thinking_blocks`` on assistant messages, with
  their signatures) goes back as ``reasoningContent`` blocks.
- ``user`` and ``metadata`` become ``requestMetadata`` (filterable in invocation logs).
"""

from __future__ import annotations

from typing import Any

import orjson

from litegate import GatewayError
from litegate.translation import check_params, read_image_part
from litegate.translation.reasoning import THINKING_BUDGETS

__all__ = ["JSON_TOOL", "SUPPORTED", "converse_body", "reasoning_family"]

PROVIDER = "bedrock"
#: The forced tool's name when the json_schema has none.
JSON_TOOL = "json_response"

SUPPORTED = frozenset(
    {
        "model",
        "messages",
        "stream",
        "stream_options",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "stop",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "response_format",
        "reasoning_effort",
        "user",
        "metadata",
        "n",
    }
)
_IMAGE_FORMATS = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/gif": "gif",
    "image/webp": "webp",
}
#: Room for the answer when reasoning is on and the client set no max_tokens.
_ANSWER_TOKENS = 4096


def reasoning_family(model: str) -> str | None:
    """Which reasoning request shape `model` takes: "anthropic", "gpt-oss" or None."""
    if "anthropic.claude" in model:
        return "anthropic"
    if "openai.gpt-oss" in model:
        return "gpt-oss"
    return None


def converse_body(
    request: dict[str, Any],
    *,
    family: str | None,
    drop: bool,
    native_json: bool,
) -> tuple[dict[str, Any], str | None]:
    """The Converse body, and the name of the forced JSON tool when one was added."""
    request = check_params(request, _supported(request, family), provider=PROVIDER, drop=drop)
    system, messages, has_tool_blocks = _messages(request["messages"])
    body: dict[str, Any] = {"messages": messages}
    if system:
        body["system"] = system

    inference: dict[str, Any] = {}
    max_tokens = request.get("max_completion_tokens") or request.get("max_tokens")
    if max_tokens is not None:
        inference["maxTokens"] = max_tokens
    if request.get("temperature") is not None:
        inference["temperature"] = request["temperature"]
    if request.get("top_p") is not None:
        inference["topP"] = request["top_p"]
    stop = request.get("stop")
    if stop:
        inference["stopSequences"] = [stop] if isinstance(stop, str) else stop

    additional, thinking = _reasoning(request, family, inference)
    if additional:
        body["additionalModelRequestFields"] = additional
    if inference:
        body["inferenceConfig"] = inference

    tools, choice = _tools(request)
    offered = [] if request.get("tool_choice") == "none" else tools
    json_tool = None
    response_format = request.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") != "text":
        if native_json and response_format.get("type") == "json_schema":
            body["outputConfig"] = _output_config(response_format)
        else:
            json_tool, spec = _json_tool(response_format, offered)
            if thinking:
                pass  # Anthropic refuses forced tools while thinking: the model is only asked
            elif not offered:
                choice = {"tool": {"name": json_tool}}
            elif choice is None or "auto" in choice:
                choice = {"any": {}}  # a tool of the client's, or the answer as JSON
            offered = [*offered, spec]
    if offered:
        body["toolConfig"] = (
            {"tools": offered, "toolChoice": choice} if choice else {"tools": offered}
        )
    elif tools and has_tool_blocks:
        body["toolConfig"] = {"tools": tools}  # Bedrock wants it whenever tool blocks appear

    metadata = _metadata(request)
    if metadata:
        body["requestMetadata"] = metadata
    return body, json_tool


def _supported(request: dict[str, Any], family: str | None) -> frozenset[str]:
    refused = set()
    if request.get("n") not in (None, 1):
        refused.add("n")
    if request.get("parallel_tool_calls") is False:
        refused.add("parallel_tool_calls")
    if family is None and request.get("reasoning_effort") not in (None, "none"):
        refused.add("reasoning_effort")
    return SUPPORTED - refused if refused else SUPPORTED


# -- messages ---------------------------------------------------------------------------------


def _messages(
    messages: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], bool]:
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    has_tool_blocks = False
    for index, message in enumerate(messages):
        role = message.get("role")
        where = f"messages[{index}]"
        if role in ("system", "developer"):
            system.extend({"text": text} for text in _texts(message.get("content"), where) if text)
            continue
        if role == "user":
            blocks = _user_blocks(message.get("content"), where)
        elif role == "assistant":
            blocks = _assistant_blocks(message, where)
            has_tool_blocks = has_tool_blocks or bool(message.get("tool_calls"))
        elif role == "tool":
            blocks = [_tool_result(message, where)]
            role = "user"
            has_tool_blocks = True
        else:
            raise GatewayError(
                400,
                f"The provider '{PROVIDER}' does not take messages with role '{role}'.",
                param=f"{where}.role",
                code="invalid_value",
            )
        if not blocks:
            continue  # an empty turn (Bedrock refuses those); its neighbours may then merge
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    return system, turns, has_tool_blocks


def _texts(content: Any, where: str) -> list[str]:
    if isinstance(content, str):
        return [content]
    if content is None:
        return []
    texts = []
    for index, part in enumerate(content):
        if part.get("type") != "text":
            raise _unsupported_part(part, f"{where}.content[{index}]")
        texts.append(part.get("text") or "")
    return texts


def _user_blocks(content: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"text": content}]
    blocks: list[dict[str, Any]] = []
    for index, part in enumerate(content or ()):
        kind = part.get("type")
        if kind == "text":
            blocks.append({"text": part.get("text") or ""})
        elif kind == "image_url":
            blocks.append(_image(part, f"{where}.content[{index}]"))
        else:
            raise _unsupported_part(part, f"{where}.content[{index}]")
    return blocks


def _image(part: dict[str, Any], where: str) -> dict[str, Any]:
    image = read_image_part(part, where)
    if image.base64 is None:
        raise GatewayError(
            400,
            f"The provider '{PROVIDER}' needs images inline: send the image as a base64 data "
            "URL (data:image/png;base64,...). Remote image URLs are not fetched for it.",
            param=f"{where}.image_url.url",
            code="invalid_value",
        )
    image_format = _IMAGE_FORMATS.get(image.media_type or "")
    if image_format is None:
        raise GatewayError(
            400,
            f"The provider '{PROVIDER}' takes png, jpeg, gif and webp images, not "
            f"'{image.media_type}'.",
            param=f"{where}.image_url.url",
            code="invalid_value",
        )
    return {"image": {"format": image_format, "source": {"bytes": image.base64}}}


def _unsupported_part(part: Any, where: str) -> GatewayError:
    kind = part.get("type") if isinstance(part, dict) else None
    return GatewayError(
        400,
        f"The provider '{PROVIDER}' does not take '{kind}' content parts here.",
        param=f"{where}.type",
        code="invalid_value",
    )


def _assistant_blocks(message: dict[str, Any], where: str) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    # Thinking goes first, signed as the model produced it; unsigned reasoning text can't be
    # sent back (Bedrock would refuse it), so only `thinking_blocks` are replayed.
    for block in message.get("thinking_blocks") or ():
        if block.get("type") == "thinking":
            reasoning: dict[str, Any] = {"text": block.get("thinking") or ""}
            if block.get("signature"):
                reasoning["signature"] = block["signature"]
            blocks.append({"reasoningContent": {"reasoningText": reasoning}})
        elif block.get("type") == "redacted_thinking":
            blocks.append({"reasoningContent": {"redactedContent": block.get("data")}})
    content = message.get("content")
    if isinstance(content, str):
        if content:
            blocks.append({"text": content})
    elif content:
        for index, part in enumerate(content):
            kind = part.get("type")
            text = part.get("text") if kind == "text" else part.get("refusal")
            if kind not in ("text", "refusal"):
                raise _unsupported_part(part, f"{where}.content[{index}]")
            if text:
                blocks.append({"text": text})
    for index, call in enumerate(message.get("tool_calls") or ()):
        function = call.get("function") or {}
        blocks.append(
            {
                "toolUse": {
                    "toolUseId": call.get("id"),
                    "name": function.get("name"),
                    "input": _arguments(
                        function.get("arguments"), f"{where}.tool_calls[{index}].function"
                    ),
                }
            }
        )
    return blocks


def _arguments(arguments: Any, where: str) -> Any:
    if not arguments:
        return {}
    try:
        value = orjson.loads(arguments)
    except (orjson.JSONDecodeError, TypeError):
        value = None
    if not isinstance(value, dict):
        raise GatewayError(
            400,
            f"'{where}.arguments' must be a JSON object for the provider '{PROVIDER}'.",
            param=f"{where}.arguments",
            code="invalid_value",
        )
    return value


def _tool_result(message: dict[str, Any], where: str) -> dict[str, Any]:
    content = message.get("content")
    if isinstance(content, str) or content is None:
        blocks: list[dict[str, Any]] = [{"text": content or ""}]
    else:
        blocks = _user_blocks(content, where)
    return {"toolResult": {"toolUseId": message.get("tool_call_id"), "content": blocks}}


# -- tools, structured output, reasoning ------------------------------------------------------


def _tools(request: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    tools = []
    for tool in request.get("tools") or ():
        function = tool.get("function") or {}
        spec: dict[str, Any] = {
            "name": function.get("name"),
            "inputSchema": {"json": function.get("parameters") or _EMPTY_OBJECT},
        }
        if function.get("description"):
            spec["description"] = function["description"]
        tools.append({"toolSpec": spec})
    choice = request.get("tool_choice")
    if choice is None or choice == "none":
        return tools, None
    if choice == "auto":
        return tools, {"auto": {}}
    if choice == "required":
        return tools, {"any": {}}
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        return tools, {"tool": {"name": choice["function"].get("name")}}
    raise GatewayError(
        400,
        "'tool_choice' must be none, auto, required or a named function.",
        param="tool_choice",
        code="invalid_value",
    )


_EMPTY_OBJECT: dict[str, Any] = {"type": "object", "properties": {}}


def _json_tool(
    response_format: dict[str, Any], tools: list[dict[str, Any]]
) -> tuple[str, dict[str, Any]]:
    spec = response_format.get("json_schema") or {}
    schema = spec.get("schema") or {"type": "object"}
    name = spec.get("name") or JSON_TOOL
    if any(tool["toolSpec"]["name"] == name for tool in tools):
        name = JSON_TOOL
    description = spec.get("description") or "Give your answer as this tool's input."
    return name, {
        "toolSpec": {"name": name, "description": description, "inputSchema": {"json": schema}}
    }


def _output_config(response_format: dict[str, Any]) -> dict[str, Any]:
    spec = response_format.get("json_schema") or {}
    definition: dict[str, Any] = {
        "schema": orjson.dumps(spec.get("schema") or {"type": "object"}).decode(),
        "name": spec.get("name") or JSON_TOOL,
    }
    if spec.get("description"):
        definition["description"] = spec["description"]
    return {"textFormat": {"type": "json_schema", "structure": {"jsonSchema": definition}}}


def _reasoning(
    request: dict[str, Any], family: str | None, inference: dict[str, Any]
) -> tuple[dict[str, Any], bool]:
    """additionalModelRequestFields for reasoning, and whether Anthropic thinking is on."""
    effort = request.get("reasoning_effort")
    if effort in (None, "none") or family is None:
        return {}, False
    if family == "gpt-oss":
        return {"reasoning_effort": effort}, False
    budget = THINKING_BUDGETS.get(effort)
    if budget is None:
        raise GatewayError(
            400,
            f"'reasoning_effort' must be one of {', '.join(THINKING_BUDGETS)} or none.",
            param="reasoning_effort",
            code="invalid_value",
        )
    max_tokens = inference.get("maxTokens")
    if max_tokens is None:
        inference["maxTokens"] = budget + _ANSWER_TOKENS
    elif max_tokens <= budget:
        raise GatewayError(
            400,
            f"max_tokens ({max_tokens}) must be larger than the reasoning budget ({budget} "
            f"tokens) for the provider '{PROVIDER}' at reasoning_effort '{effort}'.",
            param="max_tokens",
            code="invalid_value",
        )
    return {"thinking": {"type": "enabled", "budget_tokens": budget}}, True


def _metadata(request: dict[str, Any]) -> dict[str, str]:
    metadata = request.get("metadata")
    found = {str(k): str(v) for k, v in metadata.items()} if isinstance(metadata, dict) else {}
    if request.get("user"):
        found["user"] = request["user"]
    return found
