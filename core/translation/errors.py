"""Provider errors in the client's terms: status class, OpenAI error type, the provider's own
message -- and the two conditions the router acts on, recognised per provider:
``context_length_exceeded`` and ``content_policy_violation``."""

from __future__ import annotations

import re

from ..errors import GatewayError, upstream_error

__all__ = ["CONTENT_POLICY", "CONTEXT_LENGTH", "classify_error", "provider_error"]

CONTEXT_LENGTH = "context_length_exceeded"
CONTENT_POLICY = "content_policy_violation"

# Phrases providers use; each was taken from the provider's documented error messages.
_CONTEXT_PATTERNS = re.compile(
    r"context[_ ]length|context window|maximum context|prompt is too long|too many tokens|"
    r"too many input tokens|"
    r"input is too long|exceeds the maximum number of tokens|token limit|input length and "
    r"`max_tokens` exceed|model_context_window_exceeded|input token count.*exceeds",
    re.IGNORECASE,
)
_POLICY_PATTERNS = re.compile(
    r"content[_ ]policy|content[_ ]filter|safety|blocked|responsible ai|guardrail|"
    r"prohibited content|violat",
    re.IGNORECASE,
)


def classify_error(status: int, message: str | None, code: str | None = None) -> str | None:
    """`context_length_exceeded`, `content_policy_violation` or None."""
    text = f"{code or ''} {message or ''}"
    if status in (400, 413, 422) and _CONTEXT_PATTERNS.search(text):
        return CONTEXT_LENGTH
    if status in (400, 403, 422) and _POLICY_PATTERNS.search(text):
        return CONTENT_POLICY
    return None


def provider_error(
    status: int,
    message: str | None,
    *,
    provider: str,
    deployment: str,
    code: str | None = None,
    param: str | None = None,
    secrets: tuple[str, ...] = (),
    retry_after: str | None = None,
) -> GatewayError:
    """The GatewayError for an upstream error, with context/policy errors recognised."""
    error = upstream_error(
        status,
        {"error": {"message": message, "code": code, "param": param}},
        provider=provider,
        deployment=deployment,
        secrets=secrets,
        retry_after=retry_after,
    )
    recognised = classify_error(status, message, code)
    if recognised is not None:
        error.code = recognised
        if error.status >= 500:
            error.status, error.type = 400, "invalid_request_error"
    return error
