"""Anthropic -> OpenAI requests and OpenAI -> Anthropic replies: what the gateway's own
``/v1/messages`` API reads and answers. The tables and the choices made are in `anthropic`."""

from __future__ import annotations

from typing import Any

import orjson

from .anthropic import (
    FINISH_TO_STOP,
    PDF,
    TOOL_CHOICE_TO_OPENAI,
    budget_to_effort,
    invalid,
    to_anthropic_usage,
)

__all__ = ["to_anthropic_message", "to_openai_request"]

# -- Anthropic request -> OpenAI request (the inbound API) ----------------------------------


def to_openai_request(body: Any) -> dict[str, Any]:
    """The canonical request for a Messages body; raises 400 on what can't be read."""
    if not isinstance(body, dict):
        raise invalid("body", "must be a JSON object")
    for name, expected in (("model", str), ("max_tokens", int), ("messages", list)):
        if not isinstance(body.get(name), expected) or isinstance(body.get(name), bool):
            raise invalid(name, "is required" if name not in body else "has the wrong type")
    _check_ranges(body)
    thinking = body.get("thinking")
    keep_thinking = isinstance(thinking, dict) and thinking.get("type") != "disabled"
    messages: list[dict[str, Any]] = []
    system = body.get("system")
    if system:
        messages.append({"role": "system", "content": _openai_text(system, "system")})
    for index, message in enumerate(body["messages"]):
        _openai_messages(message, f"messages[{index}]", keep_thinking, messages)
    request: dict[str, Any] = {
        "model": body["model"],
        "messages": messages,
        "max_completion_tokens": body["max_tokens"],
    }
    for name in ("temperature", "top_p"):
        if body.get(name) is not None:
            request[name] = body[name]
    if body.get("stop_sequences"):
        request["stop"] = body["stop_sequences"]
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str):
        request["user"] = metadata["user_id"]
    given_tools = body.get("tools") or []
    if not isinstance(given_tools, list):
        raise invalid("tools", "must be an array of tools")
    tools = [_openai_tool(t) for t in given_tools if _is_custom_tool(t)]
    if tools:
        request["tools"] = tools
        choice = body.get("tool_choice")
        if isinstance(choice, dict):
            kind = choice.get("type")
            if kind == "tool" and isinstance(choice.get("name"), str):
                request["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
            elif kind in TOOL_CHOICE_TO_OPENAI:
                request["tool_choice"] = TOOL_CHOICE_TO_OPENAI[kind]
            if choice.get("disable_parallel_tool_use") is True:
                request["parallel_tool_calls"] = False
    if keep_thinking and isinstance(thinking, dict):
        budget = thinking.get("budget_tokens")
        if type(budget) is int:
            request["reasoning_effort"] = budget_to_effort(budget)
    output = body.get("output_config")
    if isinstance(output, dict):
        if isinstance(output.get("effort"), str):
            request["reasoning_effort"] = output["effort"]
        fmt = output.get("format")
        if isinstance(fmt, dict) and isinstance(fmt.get("schema"), dict):
            request["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "output", "schema": fmt["schema"], "strict": True},
            }
    if body.get("stream") is True:
        request["stream"] = True
        request["stream_options"] = {"include_usage": True}
    return request


#: Anthropic's ranges, checked here under Anthropic's names (the OpenAI request they become
#: is checked again, under OpenAI's: its temperature goes to 2).
_RANGES = (("temperature", 0.0, 1.0), ("top_p", 0.0, 1.0), ("top_k", 0, None))


def _check_ranges(body: dict[str, Any]) -> None:
    if body["max_tokens"] < 1:
        raise invalid("max_tokens", f"must be at least 1, got {body['max_tokens']}")
    for name, low, high in _RANGES:
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise invalid(name, "must be a number")
        if value < low or (high is not None and value > high):
            bounds = f"between {low:g} and {high:g}" if high is not None else f"at least {low}"
            raise invalid(name, f"must be {bounds}, got {value}")


def _openai_text(content: Any, where: str) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise invalid(where, "must be a string or an array of text blocks")
    parts = [
        {"type": "text", "text": _string(b, "text", f"{where}[{i}]")}
        for i, b in enumerate(content)
        if _is_text(b)
    ]
    return parts[0]["text"] if len(parts) == 1 else parts


def _is_text(block: Any) -> bool:
    return isinstance(block, dict) and block.get("type") == "text" and "text" in block


def _string(block: dict[str, Any], field: str, where: str, default: str | None = "") -> str:
    """`block[field]`, which must be a string (`default` when absent; None: required)."""
    value = block.get(field, default)
    if not isinstance(value, str):
        raise invalid(f"{where}.{field}", "must be a string" if field in block else "is required")
    return value


def _openai_messages(
    message: Any, where: str, keep_thinking: bool, out: list[dict[str, Any]]
) -> None:
    if not isinstance(message, dict):
        raise invalid(where, "must be an object")
    role = message.get("role")
    content = message.get("content")
    if role == "system":
        out.append({"role": "system", "content": _openai_text(content, f"{where}.content")})
        return
    if role not in ("user", "assistant"):
        raise invalid(f"{where}.role", "must be 'user' or 'assistant'")
    if isinstance(content, str):
        out.append({"role": role, "content": content})
        return
    if not isinstance(content, list):
        raise invalid(f"{where}.content", "must be a string or an array of content blocks")
    if not content and role == "user":  # (an assistant's may be empty: a prefill)
        raise invalid(f"{where}.content", "must not be empty")
    if role == "assistant":
        out.append(_openai_assistant(content, where, keep_thinking))
        return
    parts: list[dict[str, Any]] = []
    for index, block in enumerate(content):
        if not isinstance(block, dict):
            raise invalid(f"{where}.content[{index}]", "must be an object")
        if block.get("type") == "tool_result":
            out.append(_openai_tool_message(block, f"{where}.content[{index}]", parts))
        else:
            part = _openai_part(block, f"{where}.content[{index}]")
            if part is not None:
                parts.append(part)
    if parts:
        only_text = len(parts) == 1 and parts[0]["type"] == "text"
        out.append({"role": "user", "content": parts[0]["text"] if only_text else parts})


def _openai_part(block: dict[str, Any], where: str) -> dict[str, Any] | None:
    kind = block.get("type")
    if kind == "text":
        return {"type": "text", "text": _string(block, "text", where)}
    source = block.get("source")
    if not isinstance(source, dict):
        return None
    at = f"{where}.source"
    if kind == "image":
        url: Any
        if source.get("type") == "base64":
            media = _string(source, "media_type", at, None)
            url = f"data:{media};base64,{_string(source, 'data', at, None)}"
        elif source.get("type") == "url":
            url = _string(source, "url", at, None)
        else:
            return None
        return {"type": "image_url", "image_url": {"url": url}}
    if kind == "document":
        if source.get("type") == "base64" and source.get("media_type") == PDF:
            file = {"file_data": f"data:{PDF};base64,{_string(source, 'data', at, None)}"}
            title = block.get("title")
            file["filename"] = title if isinstance(title, str) and title else "document.pdf"
            return {"type": "file", "file": file}
        if source.get("type") == "text":
            return {"type": "text", "text": _string(source, "data", at)}
    return None  # no OpenAI counterpart: see the module docstring


def _openai_tool_message(
    block: dict[str, Any], where: str, parts: list[dict[str, Any]]
) -> dict[str, Any]:
    call_id = block.get("tool_use_id")
    if not isinstance(call_id, str):
        raise invalid(f"{where}.tool_use_id", "is required")
    content = block.get("content")
    if isinstance(content, list):
        texts = []
        for index, item in enumerate(content):
            if _is_text(item):
                texts.append(_string(item, "text", f"{where}.content[{index}]"))
            elif isinstance(item, dict):
                # Images can't go in a tool message: they go in the next user turn.
                part = _openai_part(item, f"{where}.content[{index}]")
                if part is not None:
                    parts.append(part)
        content = "\n".join(texts)
    return {"role": "tool", "tool_call_id": call_id, "content": content or ""}


def _arguments(value: Any, where: str) -> str:
    try:
        return orjson.dumps(value or {}).decode()
    except TypeError:  # JSON from a client always serialises; this is for in-process callers
        raise invalid(where, "must be a JSON object") from None


def _openai_assistant(content: list[Any], where: str, keep_thinking: bool) -> dict[str, Any]:
    texts: list[str] = []
    reasoning: list[str] = []
    thinking: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    for index, block in enumerate(content):
        if not isinstance(block, dict):
            raise invalid(f"{where}.content[{index}]", "must be an object")
        kind = block.get("type")
        at = f"{where}.content[{index}]"
        if kind == "text":
            texts.append(_string(block, "text", at))
        elif kind == "tool_use":
            calls.append(
                {
                    "id": _string(block, "id", at, None),
                    "type": "function",
                    "function": {
                        "name": _string(block, "name", at, None),
                        "arguments": _arguments(block.get("input"), f"{at}.input"),
                    },
                }
            )
        elif kind in ("thinking", "redacted_thinking") and keep_thinking:
            thinking.append(block)
            if kind == "thinking":
                reasoning.append(_string(block, "thinking", at))
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(texts) if texts or not calls else None,
    }
    if calls:
        message["tool_calls"] = calls
    if thinking:
        message["reasoning_content"] = "".join(reasoning)
        message["thinking_blocks"] = thinking
    return message


def _is_custom_tool(tool: Any) -> bool:
    return (
        isinstance(tool, dict)
        and tool.get("type") in (None, "custom")
        and isinstance(tool.get("name"), str)
    )


def _openai_tool(tool: dict[str, Any]) -> dict[str, Any]:
    function: dict[str, Any] = {
        "name": tool["name"],
        "parameters": tool.get("input_schema") or {"type": "object", "properties": {}},
    }
    if tool.get("description"):
        function["description"] = tool["description"]
    if tool.get("strict") is True:
        function["strict"] = True
    return {"type": "function", "function": function}


def to_anthropic_message(response: dict[str, Any]) -> dict[str, Any]:
    choices = response.get("choices") or [{}]
    choice = choices[0]
    message = choice.get("message") or {}
    content: list[dict[str, Any]] = []
    thinking = message.get("thinking_blocks")
    if isinstance(thinking, list) and thinking:
        content += thinking
    elif message.get("reasoning_content"):
        content.append(
            {"type": "thinking", "thinking": message["reasoning_content"], "signature": ""}
        )
    text = message.get("content") or message.get("refusal")
    if isinstance(text, str) and text:
        content.append({"type": "text", "text": text})
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        content.append(
            {
                "type": "tool_use",
                "id": call.get("id"),
                "name": function.get("name"),
                "input": _loose_arguments(function.get("arguments")),
            }
        )
    return {
        "id": response.get("id"),
        "type": "message",
        "role": "assistant",
        "model": response.get("model"),
        "content": content,
        "stop_reason": FINISH_TO_STOP.get(choice.get("finish_reason") or "", "end_turn"),
        "stop_sequence": None,
        "usage": to_anthropic_usage(response.get("usage")),
    }


def _loose_arguments(arguments: Any) -> dict[str, Any]:
    """A model's arguments that are not a JSON object come back as ``{}``."""
    try:
        value = orjson.loads(arguments) if arguments else {}
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}
