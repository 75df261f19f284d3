"""Shallow checks of request bodies: the right types at the top level and in messages,
numbers within OpenAI's documented ranges, what each message role must carry.

Deep validation of every field is the provider's job (and costs time on the hot path); we
check what we rely on, so a wrong type is a 400 naming the field, never a 500 later, and
what OpenAI itself refuses (``n: 0``, ``max_tokens: -1``, a user message without content),
so a client gets the same 400 whichever provider the model maps to.
"""

from __future__ import annotations

from typing import Any, cast

from .errors import GatewayError
from .multipart import UploadedFile

__all__ = ["validate"]

_NUMBER = (int, float)
_Schema = dict[str, tuple[type, ...]]
_COMMON: _Schema = {
    "model": (str,),
    "stream": (bool,),
    "stream_options": (dict,),
    "temperature": _NUMBER,
    "top_p": _NUMBER,
    "n": (int,),
    "max_tokens": (int,),
    "max_completion_tokens": (int,),
    "presence_penalty": _NUMBER,
    "frequency_penalty": _NUMBER,
    "seed": (int,),
    "user": (str,),
    "stop": (str, list),
    "logit_bias": (dict,),
    "metadata": (dict,),
}
_CHAT: _Schema = {
    **_COMMON,
    "messages": (list,),
    "tools": (list,),
    "tool_choice": (str, dict),
    "response_format": (dict,),
    "parallel_tool_calls": (bool,),
    "logprobs": (bool,),
    "top_logprobs": (int,),
}
_COMPLETIONS: _Schema = {**_COMMON, "prompt": (str, list), "echo": (bool,), "suffix": (str,)}
_EMBEDDINGS: _Schema = {
    "model": (str,),
    "input": (str, list),
    "encoding_format": (str,),
    "dimensions": (int,),
    "user": (str,),
}
_IMAGES: _Schema = {
    "model": (str,),
    "prompt": (str,),
    "n": (int,),
    "size": (str,),
    "quality": (str,),
    "style": (str,),
    "response_format": (str,),
    "background": (str,),
    "output_format": (str,),
    "user": (str,),
}
_SPEECH: _Schema = {
    "model": (str,),
    "input": (str,),
    "voice": (str, dict),
    "instructions": (str,),
    "response_format": (str,),
    "speed": _NUMBER,
}
_TRANSCRIPTIONS: _Schema = {
    "model": (str,),
    "file": (UploadedFile,),
    "language": (str,),
    "prompt": (str,),
    "response_format": (str,),
    "temperature": _NUMBER,
    "timestamp_granularities": (list,),
}
_MODERATIONS: _Schema = {"model": (str,), "input": (str, list)}
_RERANK: _Schema = {
    "model": (str,),
    "query": (str,),
    "documents": (list,),
    "top_n": (int,),
    "return_documents": (bool,),
}
_SCHEMAS: dict[str, _Schema] = {
    "chat": _CHAT,
    "completions": _COMPLETIONS,
    "embeddings": _EMBEDDINGS,
    "images": _IMAGES,
    "speech": _SPEECH,
    "transcriptions": _TRANSCRIPTIONS,
    "moderations": _MODERATIONS,
    "rerank": _RERANK,
}
_REQUIRED = {
    "chat": ("model", "messages"),
    "completions": ("model", "prompt"),
    "embeddings": ("model", "input"),
    "images": ("model", "prompt"),
    "speech": ("model", "input", "voice"),
    "transcriptions": ("model", "file"),
    "moderations": ("model", "input"),
    "rerank": ("model", "query", "documents"),
}
#: The ranges OpenAI's API reference gives, per endpoint: a value outside is a 400 here, the
#: same whichever provider the model maps to (one that does not check would take it).
_Range = tuple[float | None, float | None]
_COMMON_RANGES: dict[str, _Range] = {
    "temperature": (0, 2),
    "top_p": (0, 1),
    "n": (1, 128),
    "max_tokens": (1, None),
    "max_completion_tokens": (1, None),
    "presence_penalty": (-2, 2),
    "frequency_penalty": (-2, 2),
}
_RANGES: dict[str, dict[str, _Range]] = {
    "chat": {**_COMMON_RANGES, "top_logprobs": (0, 20)},
    "completions": _COMMON_RANGES,
    "embeddings": {"dimensions": (1, None)},
    "images": {"n": (1, 10)},
    "speech": {"speed": (0.25, 4)},
    "transcriptions": {"temperature": (0, 1)},
    "rerank": {"top_n": (1, None)},
}
_NO_RANGES: dict[str, _Range] = {}
_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
#: Roles whose messages must have content (an assistant's may instead call tools).
_CONTENT_REQUIRED = frozenset({"system", "developer", "user", "tool"})
_TYPE_NAMES = {
    str: "a string",
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    list: "an array",
    dict: "an object",
    UploadedFile: "a file",
}


def validate(endpoint: str, body: Any) -> None:
    if not isinstance(body, dict):
        raise GatewayError(400, "The request body must be a JSON object.", code="invalid_json")
    schema = _SCHEMAS[endpoint]
    for name in _REQUIRED[endpoint]:
        if body.get(name) is None:
            raise _missing(name)
    ranges = _RANGES.get(endpoint, _NO_RANGES)
    for name, value in body.items():
        expected = schema.get(name)
        if expected is None or value is None:
            continue
        if not isinstance(value, expected) or (isinstance(value, bool) and bool not in expected):
            raise _wrong_type(name, value, expected)
        bounds = ranges.get(name)
        if bounds is not None:
            low, high = bounds
            number = cast(float, value)  # a number: ranges are only on numeric fields
            if (low is not None and number < low) or (high is not None and number > high):
                raise _out_of_range(name, number, low, high)
    if endpoint == "chat":
        _validate_messages(body["messages"])
    elif endpoint == "rerank" and not body["documents"]:
        raise GatewayError(
            400, "'documents' must not be empty.", param="documents", code="invalid_value"
        )
    elif endpoint == "embeddings":
        _validate_embedding_input(body["input"])
        encoding = body.get("encoding_format")
        if encoding is not None and encoding not in ("float", "base64"):
            raise GatewayError(
                400,
                f"Invalid value for 'encoding_format': expected 'float' or 'base64', got "
                f"{_short(encoding)}.",
                param="encoding_format",
                code="invalid_value",
            )


def _validate_messages(messages: list[Any]) -> None:
    if not messages:
        raise GatewayError(
            400,
            "'messages' must contain at least one message.",
            param="messages",
            code="invalid_value",
        )
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise _wrong_type(where, message, (dict,))
        role = message.get("role")
        if role not in _ROLES:
            raise GatewayError(
                400,
                f"Invalid value for '{where}.role': expected one of "
                f"{', '.join(sorted(_ROLES))}, got {_short(role)}.",
                param=f"{where}.role",
                code="invalid_value",
            )
        content = message.get("content")
        if isinstance(content, list):
            _validate_parts(content, f"{where}.content")
        elif content is not None and not isinstance(content, str):
            raise _wrong_type(f"{where}.content", content, (str, list))
        elif content is None and (
            role in _CONTENT_REQUIRED
            or (role == "assistant" and not _stands_without_content(message))
        ):
            raise _missing(f"{where}.content")
        if role == "tool" and not isinstance(message.get("tool_call_id"), str):
            if message.get("tool_call_id") is None:
                raise _missing(f"{where}.tool_call_id")
            raise _wrong_type(f"{where}.tool_call_id", message["tool_call_id"], (str,))


def _stands_without_content(message: dict[str, Any]) -> bool:
    """An assistant message without content must call a tool, or carry audio or a refusal
    (a model's refused answer, replayed in the conversation)."""
    return bool(
        message.get("tool_calls")
        or message.get("function_call")
        or message.get("audio")
        or message.get("refusal")
    )


def _missing(name: str) -> GatewayError:
    return GatewayError(
        400, f"Missing required parameter: '{name}'.", param=name, code="missing_required_parameter"
    )


def _out_of_range(name: str, value: float, low: float | None, high: float | None) -> GatewayError:
    """OpenAI's wording and codes: integer_below_min_value, decimal_above_max_value, ..."""
    kind = "integer" if isinstance(value, int) else "decimal"
    below = low is not None and value < low
    bound = low if below else high
    side = "below minimum" if below else "above maximum"
    shown = f"{bound:g}" if isinstance(bound, float) else str(bound)
    return GatewayError(
        400,
        f"Invalid '{name}': {kind} {side} value. Expected a value "
        f"{'>=' if below else '<='} {shown}, but got {value!r} instead.",
        param=name,
        code=f"{kind}_{'below_min' if below else 'above_max'}_value",
    )


def _validate_parts(parts: list[Any], where: str) -> None:
    for index, part in enumerate(parts):
        at = f"{where}[{index}]"
        if not isinstance(part, dict):
            raise _wrong_type(at, part, (dict,))
        kind = part.get("type")
        if not isinstance(kind, str):
            raise GatewayError(
                400,
                f"Missing or invalid '{at}.type': expected a string.",
                param=f"{at}.type",
                code="invalid_value",
            )
        if kind == "text" and not isinstance(part.get("text"), str):
            raise _wrong_type(f"{at}.text", part.get("text"), (str,))


def _validate_embedding_input(value: Any) -> None:
    """A string, or an array of strings, of token ids, or of token-id arrays."""
    if value in ("", []):
        raise GatewayError(400, "'input' must not be empty.", param="input", code="invalid_value")
    if isinstance(value, str):
        return
    for index, item in enumerate(value):
        fine = (
            isinstance(item, str)
            or (type(item) is int)
            or (isinstance(item, list) and item and all(type(t) is int for t in item))
        )
        if not fine:
            raise GatewayError(
                400,
                f"Invalid value for 'input[{index}]': expected a string, a token id or an "
                "array of token ids.",
                param=f"input[{index}]",
                code="invalid_value",
            )


def _wrong_type(name: str, value: Any, expected: tuple[type, ...]) -> GatewayError:
    wanted = " or ".join(dict.fromkeys(_TYPE_NAMES[t] for t in expected))
    return GatewayError(
        400,
        f"Invalid type for '{name}': expected {wanted}, but got {_json_type(value)}.",
        param=name,
        code="invalid_type",
    )


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    for kind, noun in _TYPE_NAMES.items():
        if isinstance(value, kind):
            return noun
    return "null" if value is None else type(value).__name__


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
