"""OpenAI Chat Completions <-> Anthropic Messages: the mapping tables, usage, errors, and the
client's original body.

The translation is in three modules that share these tables: `anthropic_outbound` (what the
``anthropic`` adapter sends and reads back), `anthropic_inbound` (what the gateway's own
``/v1/messages`` API reads and answers) and `anthropic_stream` (event streams, both ways).
Wire format: ``specs/anthropic.md``.

Beyond the OpenAI spec, an assistant message may carry ``thinking_blocks``: Anthropic's
``thinking`` (with its ``signature``) and ``redacted_thinking`` blocks exactly as received.
Replies put them next to ``reasoning_content``; a client that sends the assistant message back
unchanged on its next turn sends them back to Anthropic, which requires them during tool use
with thinking on.

Choices where the formats differ:
- ``response_format`` ``json_schema`` becomes Anthropic's native ``output_config.format``;
  ``json_object`` (no Anthropic equivalent) adds a system instruction to answer in JSON.
- ``reasoning_effort`` becomes ``thinking.budget_tokens`` (`THINKING_BUDGETS`); a budget
  coming in becomes the smallest effort whose budget covers it, ``output_config.effort`` the
  same effort.
- Anthropic temperatures stop at 1: higher OpenAI temperatures are sent as 1.
- Usage: Anthropic counts cached input apart from ``input_tokens``, OpenAI counts it in
  ``prompt_tokens`` (with ``cached_tokens`` = cache reads). Anthropic reports no separate
  thinking tokens, so ``reasoning_tokens`` is 0.
- Thinking blocks that come in through ``/v1/messages`` enter the canonical request only
  when that request turns thinking on (an OpenAI upstream may refuse the extra key).
- Content with no counterpart (server tools and their results, documents other than PDFs
  and plain text, citations, ``cache_control`` outside content parts, ``top_k``) is left out
  of the canonical request; an Anthropic deployment still gets it through `OriginalRequest`.
"""

from __future__ import annotations

import math
from typing import Any

import attrs
import orjson

from ..call import StashKey
from ..errors import GatewayError
from .chunks import usage_dict
from .errors import provider_error
from .reasoning import MIN_BUDGET, THINKING_BUDGETS

__all__ = [
    "BUDGET_TO_EFFORT",
    "ERROR_STATUSES",
    "ERROR_TYPES",
    "FINISH_TO_STOP",
    "JSON_OBJECT_INSTRUCTION",
    "MIN_BUDGET",
    "ORIGINAL_REQUEST",
    "PDF",
    "STOP_TO_FINISH",
    "SUPPORTED",
    "THINKING_BUDGETS",
    "TOOL_CHOICE_TO_ANTHROPIC",
    "TOOL_CHOICE_TO_OPENAI",
    "OriginalRequest",
    "anthropic_error",
    "budget_to_effort",
    "error_body",
    "invalid",
    "retry_after",
    "to_anthropic_usage",
    "to_openai_usage",
]

# -- mapping tables ------------------------------------------------------------------------

STOP_TO_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",  # no OpenAI equivalent; the turn did end
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
FINISH_TO_STOP = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}
TOOL_CHOICE_TO_ANTHROPIC = {"auto": "auto", "none": "none", "required": "any"}
TOOL_CHOICE_TO_OPENAI = {"auto": "auto", "none": "none", "any": "required"}
BUDGET_TO_EFFORT = (("low", 2048), ("medium", 8192))  # larger budgets: "high"
#: HTTP status -> Anthropic error type (what /v1/messages clients get).
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}
#: Anthropic error type -> HTTP status (for `error` events, which carry no status).
ERROR_STATUSES = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}
#: Canonical request keys the adapter translates; others are refused or dropped.
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
        "user",
        "n",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "response_format",
        "reasoning_effort",
    }
)
JSON_OBJECT_INSTRUCTION = "Respond with a single valid JSON object and nothing else."
PDF = "application/pdf"


# -- the client's original body ------------------------------------------------------------


@attrs.define(slots=True, eq=False)
class OriginalRequest:
    """What ``/v1/messages`` received, so an Anthropic deployment gets the client's own body.

    Rule: the adapter sends `body` (with its model replaced) only while ``call.request`` is
    still the very dict built from it and serializes to the same bytes as when it was built
    -- a plugin that replaced or edited the request (PII masking, say) sends the adapter back
    to translating the canonical request. One ``orjson.dumps`` of the request is the cost.

    On that path the adapter leaves the upstream's own answer here too: `reply` (the Message
    bytes, with `reply_openai`, the OpenAI body it returned for them) or `events` (SSE events
    not yet sent, when `raw_events` says no plugin looks at stream chunks).
    """

    body: dict[str, Any]
    request: dict[str, Any]
    fingerprint: bytes
    raw_events: bool = False
    reply: bytes | None = None
    reply_openai: bytes | None = None
    events: list[bytes] | None = None

    @classmethod
    def of(cls, body: dict[str, Any], request: dict[str, Any], raw_events: bool) -> OriginalRequest:
        return cls(body, request, orjson.dumps(request), raw_events)

    def unchanged(self, request: dict[str, Any]) -> bool:
        return request is self.request and orjson.dumps(request) == self.fingerprint

    def take_events(self) -> bytes:
        if not self.events:
            return b""
        data = b"".join(self.events)
        self.events.clear()
        return data


ORIGINAL_REQUEST: StashKey[OriginalRequest] = StashKey("anthropic.original_request")


def budget_to_effort(budget: int) -> str:
    for effort, limit in BUDGET_TO_EFFORT:
        if budget <= limit:
            return effort
    return "high"


def to_anthropic_usage(usage: Any) -> dict[str, Any]:
    if not isinstance(usage, dict):
        return {"input_tokens": 0, "output_tokens": 0}
    details = usage.get("prompt_tokens_details")
    cached = (details.get("cached_tokens") or 0) if isinstance(details, dict) else 0
    return {
        "input_tokens": max(0, (usage.get("prompt_tokens") or 0) - cached),
        "output_tokens": usage.get("completion_tokens") or 0,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
    }


def to_openai_usage(usage: Any) -> dict[str, Any]:
    """Anthropic counts cached input apart from ``input_tokens``; OpenAI counts it in."""
    if not isinstance(usage, dict):
        return usage_dict(0, 0)
    read = usage.get("cache_read_input_tokens") or 0
    created = usage.get("cache_creation_input_tokens") or 0
    prompt = (usage.get("input_tokens") or 0) + read + created
    return usage_dict(prompt, usage.get("output_tokens") or 0, cached=read)


def anthropic_error(
    status: int,
    payload: Any,
    *,
    provider: str,
    deployment: str,
    secrets: tuple[str, ...] = (),
    retry_after: str | None = None,
) -> GatewayError:
    """The GatewayError for an Anthropic error body (or `error` event) with `status`.

    529 ``overloaded_error`` becomes a retryable 503 (code ``upstream_overloaded``).
    """
    error = payload.get("error") if isinstance(payload, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    if not isinstance(message, str):
        message = payload if isinstance(payload, str) and payload else None
    kind = error.get("type") if isinstance(error, dict) else None
    overloaded = status == 529 or kind == "overloaded_error"
    result = provider_error(
        503 if overloaded else status,
        message,
        provider=provider,
        deployment=deployment,
        secrets=secrets,
        retry_after=retry_after,
    )
    if overloaded:
        result.status, result.code = 503, "upstream_overloaded"
        if retry_after:
            result.headers["retry-after"] = retry_after
    return result


def error_body(error: GatewayError, request_id: str | None = None) -> bytes:
    """An error in Anthropic's shape, typed by its status."""
    status = error.status
    kind = ERROR_TYPES.get(status) or ("api_error" if status >= 500 else "invalid_request_error")
    body: dict[str, Any] = {"type": "error", "error": {"type": kind, "message": error.message}}
    if request_id is not None:
        body["request_id"] = request_id
    return orjson.dumps(body)


def invalid(param: str, problem: str) -> GatewayError:
    return GatewayError(400, f"'{param}' {problem}.", param=param, code="invalid_value")


def retry_after(headers: Any) -> str | None:
    """``retry-after``, or Anthropic's ``retry-after-ms`` in whole seconds."""
    value = headers.get("retry-after")
    if value:
        return str(value)
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return str(max(1, math.ceil(float(millis) / 1000)))
        except ValueError:
            return None
    return None
