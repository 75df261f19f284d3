"""OpenAI -> Anthropic requests and Anthropic -> OpenAI replies: what the ``anthropic``
adapter sends and reads back. The tables and the choices made are in `anthropic`."""

from __future__ import annotations

from typing import Any

import orjson

from ..errors import GatewayError
from .anthropic import (
    JSON_OBJECT_INSTRUCTION,
    MIN_BUDGET,
    PDF,
    STOP_TO_FINISH,
    SUPPORTED,
    THINKING_BUDGETS,
    TOOL_CHOICE_TO_ANTHROPIC,
    invalid,
    to_openai_usage,
)
from .chunks import chat_response
from .images import read_image_part
from .params import check_params

__all__ = ["to_anthropic_request", "to_openai_response"]

# -- OpenAI request -> Anthropic request (the adapter) --------------------------------------


def to_anthropic_request(
    request: dict[str, Any],
    *,
    model: str,
    default_max_tokens: int,
    provider: str,
    drop: bool,
) -> dict[str, Any]:
    request = check_params(request, SUPPORTED, provider=provider, drop=drop)
    if request.get("n") not in (None, 1) and not drop:
        raise GatewayError(
            400,
            f"The provider '{provider}' answers with one choice only ('n' must be 1). Remove "
            "it, or set drop_unsupported = true on this model to have the gateway drop it.",
            param="n",
            code="unsupported_parameter",
        )
    system, messages = _anthropic_messages(request["messages"])
    body: dict[str, Any] = {"model": model, "max_tokens": 0, "messages": messages}

    response_format = request.get("response_format")
    if isinstance(response_format, dict):
        kind = response_format.get("type")
        if kind == "json_schema":
            spec = response_format.get("json_schema")
            schema = spec.get("schema") if isinstance(spec, dict) else None
            if not isinstance(schema, dict):
                raise invalid("response_format.json_schema.schema", "must be an object")
            body["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
        elif kind == "json_object":
            system.append({"type": "text", "text": JSON_OBJECT_INSTRUCTION})
    if system:
        only = system[0]
        body["system"] = only["text"] if len(system) == 1 and len(only) == 2 else system

    limit = request.get("max_completion_tokens") or request.get("max_tokens")
    effort = request.get("reasoning_effort")
    budget = THINKING_BUDGETS.get(effort) if isinstance(effort, str) else None
    if budget is not None:
        if limit is None:
            limit = default_max_tokens + budget
        elif limit <= MIN_BUDGET:
            raise GatewayError(
                400,
                f"'reasoning_effort' needs max_tokens above {MIN_BUDGET} with provider "
                f"'{provider}' (thinking takes at least {MIN_BUDGET} tokens of it).",
                param="max_completion_tokens",
                code="invalid_value",
            )
        else:
            budget = min(budget, limit - 1)
        body["thinking"] = {"type": "enabled", "budget_tokens": budget}
    elif effort is not None and effort != "none" and not drop:
        raise invalid("reasoning_effort", f"must be one of none, {', '.join(THINKING_BUDGETS)}")
    body["max_tokens"] = limit or default_max_tokens

    stop = request.get("stop")
    if stop:
        body["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    temperature = request.get("temperature")
    if temperature is not None:
        body["temperature"] = min(temperature, 1)
    if request.get("top_p") is not None:
        body["top_p"] = request["top_p"]
    if request.get("user"):
        body["metadata"] = {"user_id": request["user"]}
    tools = request.get("tools")
    if tools:
        body["tools"] = _anthropic_tools(tools)
        choice = _anthropic_tool_choice(request.get("tool_choice"))
        if request.get("parallel_tool_calls") is False and choice.get("type") != "none":
            choice["disable_parallel_tool_use"] = True
        if choice != {"type": "auto"}:
            body["tool_choice"] = choice
    if request.get("stream"):
        body["stream"] = True
    return body


def _anthropic_messages(
    messages: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """System blocks hoisted out; consecutive same-role messages merged (tool results join
    the user turn they belong to), as Anthropic requires alternating turns."""
    system: list[dict[str, Any]] = []
    out: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        role = message["role"]
        content: str | list[dict[str, Any]]
        if role == "user":
            content = _user_content(message.get("content"), where)
        elif role == "assistant":
            content = _assistant_content(message, where)
        elif role == "tool":
            role, content = "user", [_tool_result(message, where)]
        elif role in ("system", "developer"):
            system.extend(_text_blocks(message.get("content"), where))
            continue
        else:  # "function": the pre-tools API, which has no tool ids to answer
            raise invalid(f"{where}.role", "'function' messages are not supported; use 'tool'")
        if out and out[-1]["role"] == role:
            out[-1]["content"] = _blocks(out[-1]["content"]) + _blocks(content)
        else:
            out.append({"role": role, "content": content})
    return system, out


def _blocks(content: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"type": "text", "text": content}] if isinstance(content, str) else content


def _text_blocks(content: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks = []
    for part in content or ():
        if part.get("type") == "text":
            blocks.append(_text_block(part))
    return blocks


def _text_block(part: dict[str, Any]) -> dict[str, Any]:
    block = {"type": "text", "text": part["text"]}
    if "cache_control" in part:
        block["cache_control"] = part["cache_control"]
    return block


def _user_content(content: Any, where: str) -> str | list[dict[str, Any]]:
    if isinstance(content, str) or content is None:
        return content or ""
    blocks = []
    for index, part in enumerate(content):
        at = f"{where}.content[{index}]"
        kind = part["type"]
        if kind == "text":
            blocks.append(_text_block(part))
        elif kind == "image_url":
            image = read_image_part(part, at)
            source = (
                {"type": "url", "url": image.url}
                if image.url is not None
                else {"type": "base64", "media_type": image.media_type, "data": image.base64}
            )
            block = {"type": "image", "source": source}
            if "cache_control" in part:
                block["cache_control"] = part["cache_control"]
            blocks.append(block)
        elif kind == "file":
            blocks.append(_document(part, at))
        else:
            raise invalid(f"{at}.type", f"'{kind}' content is not supported by Anthropic")
    return blocks


def _document(part: dict[str, Any], where: str) -> dict[str, Any]:
    file = part.get("file")
    data = file.get("file_data") if isinstance(file, dict) else None
    prefix = f"data:{PDF};base64,"
    if not isinstance(data, str) or not data.startswith(prefix):
        raise invalid(f"{where}.file", "Anthropic takes files as PDF data URLs in 'file_data'")
    block: dict[str, Any] = {
        "type": "document",
        "source": {"type": "base64", "media_type": PDF, "data": data[len(prefix) :]},
    }
    if isinstance(file, dict) and file.get("filename"):
        block["title"] = file["filename"]
    return block


def _assistant_content(message: dict[str, Any], where: str) -> str | list[dict[str, Any]]:
    content = message.get("content")
    thinking = message.get("thinking_blocks")
    calls = message.get("tool_calls")
    if isinstance(content, str) and not thinking and not calls:
        return content
    blocks: list[dict[str, Any]] = []
    if isinstance(thinking, list):
        blocks += [b for b in thinking if b.get("type") in ("thinking", "redacted_thinking")]
    if isinstance(content, str):
        if content:
            blocks.append({"type": "text", "text": content})
    elif content:
        for part in content:
            text = part.get("text") if part.get("type") == "text" else part.get("refusal")
            if text:
                blocks.append({"type": "text", "text": text})
    for index, call in enumerate(calls or ()):
        at = f"{where}.tool_calls[{index}]"
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise invalid(f"{at}.function", "must have a 'name'")
        blocks.append(
            {
                "type": "tool_use",
                "id": call.get("id") or f"toolu_{index}",
                "name": function["name"],
                "input": _arguments(function.get("arguments"), f"{at}.function.arguments"),
            }
        )
    return blocks


def _arguments(arguments: Any, where: str) -> dict[str, Any]:
    if not arguments:
        return {}
    try:
        value = orjson.loads(arguments)
    except (orjson.JSONDecodeError, TypeError):
        raise invalid(where, "must be a JSON object in a string") from None
    if not isinstance(value, dict):
        raise invalid(where, "must be a JSON object in a string")
    return value


def _tool_result(message: dict[str, Any], where: str) -> dict[str, Any]:
    call_id = message.get("tool_call_id")
    if not isinstance(call_id, str):
        raise invalid(f"{where}.tool_call_id", "is required on 'tool' messages")
    content = message.get("content")
    result: dict[str, Any] = {"type": "tool_result", "tool_use_id": call_id}
    if isinstance(content, str):
        result["content"] = content
    elif content:
        result["content"] = _user_content(content, where)
    return result


def _anthropic_tools(tools: list[Any]) -> list[dict[str, Any]]:
    out = []
    for index, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise invalid(f"tools[{index}].function", "must have a 'name'")
        converted: dict[str, Any] = {
            "name": function["name"],
            "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
        }
        if function.get("description"):
            converted["description"] = function["description"]
        if function.get("strict") is True:
            converted["strict"] = True
        out.append(converted)
    return out


def _anthropic_tool_choice(choice: Any) -> dict[str, Any]:
    if choice is None:
        return {"type": "auto"}
    if isinstance(choice, str):
        kind = TOOL_CHOICE_TO_ANTHROPIC.get(choice)
        if kind is None:
            raise invalid("tool_choice", "must be auto, none, required or a named function")
        return {"type": kind}
    function = choice.get("function")
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise invalid("tool_choice.function", "must have a 'name'")
    return {"type": "tool", "name": function["name"]}


def to_openai_response(message: dict[str, Any]) -> dict[str, Any]:
    texts: list[str] = []
    reasoning: list[str] = []
    thinking: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    for block in message.get("content") or ():
        kind = block.get("type")
        if kind == "text":
            texts.append(block["text"])
        elif kind == "tool_use":
            arguments = orjson.dumps(block.get("input") or {}).decode()
            calls.append(
                {
                    "id": block["id"],
                    "type": "function",
                    "function": {"name": block["name"], "arguments": arguments},
                }
            )
        elif kind == "thinking":
            reasoning.append(block.get("thinking", ""))
            thinking.append(block)
        elif kind == "redacted_thinking":
            thinking.append(block)
    return chat_response(
        message.get("model") or "",
        content="".join(texts) if texts or not calls else None,
        finish_reason=STOP_TO_FINISH.get(message.get("stop_reason") or "", "stop"),
        usage=to_openai_usage(message.get("usage")),
        tool_calls=calls or None,
        reasoning_content="".join(reasoning) or None,
        response_id=message.get("id"),
        extra_message={"thinking_blocks": thinking} if thinking else None,
    )
