"""`logging`: one JSON line per finished call.

Fields: request id, principal, endpoint, model alias, deployment, status, latency, time to
first token, tokens, and the trace id (the `tracing` plugin's, else the client's
``traceparent``). Never message contents (unless `include_messages`, and then passed
through `redact`), never secrets: the line is built from named Call fields, not from
headers or bodies.
"""

from __future__ import annotations

import importlib
import re
import sys
import time
from collections.abc import Callable
from typing import IO, Any

import attrs
import orjson

from litegate import Call, GatewayError, StashKey, hookimpl

__all__ = [
    "TRACE_ID",
    "AccessLogPlugin",
    "event_fields",
    "load_redactor",
    "milliseconds",
    "redact",
    "trace_id",
]

#: The call's trace id (32 hex digits); the `tracing` plugin sets it for every traced call.
TRACE_ID = StashKey[str]("trace_id")


class AccessLogPlugin:
    @attrs.frozen
    class Config:
        #: Where lines go: "stdout", "stderr", or a file path (appended to).
        path: str = "stdout"
        #: Also log the request's messages. Off by default: prompts are often personal data.
        include_messages: bool = False
        #: Pass logged messages through the redactor (API keys, bearer tokens, e-mail
        #: addresses, card-like numbers become ``[REDACTED]``). Only with `include_messages`.
        redact: bool = True
        #: Another redactor instead of the built-in one: "package.module:function", a
        #: function taking and returning the messages (for example a PII engine's).
        redactor: str | None = None

    def __init__(self, config: Config) -> None:
        self.config = config
        self._redactor = load_redactor(config.redactor) if config.redact else None
        self._stream: IO[str] = _open(config.path)

    @hookimpl
    def on_success(self, call: Call) -> None:
        self._write(call, None)

    @hookimpl
    def on_failure(self, call: Call, error: GatewayError) -> None:
        self._write(call, error)

    @hookimpl
    def shutdown(self) -> None:
        self._stream.flush()
        if self._stream not in (sys.stdout, sys.stderr):
            self._stream.close()

    def _write(self, call: Call, error: GatewayError | None) -> None:
        config = self.config
        fields = event_fields(call, error, config.include_messages, self._redactor)
        self._stream.write(orjson.dumps(fields).decode() + "\n")
        self._stream.flush()


def event_fields(
    call: Call,
    error: GatewayError | None,
    include_messages: bool = False,
    redactor: Callable[[Any], Any] | None = None,
) -> dict[str, Any]:
    """The fields of one finished call, shared by every sink (log line, webhook, ...)."""
    usage = call.usage
    fields: dict[str, Any] = {
        "ts": _timestamp(call.started_at),
        "request_id": call.id,
        "trace_id": trace_id(call),
        "principal": call.principal.id if call.principal else None,
        "endpoint": call.endpoint,
        "model": call.alias,
        "deployment": call.deployment.id if call.deployment else None,
        "provider": call.deployment.provider if call.deployment else None,
        "stream": call.stream,
        "status": call.status,
        "latency_ms": milliseconds(call.latency),
        "ttft_ms": milliseconds(call.ttft),
        "prompt_tokens": usage.prompt_tokens if usage else None,
        "completion_tokens": usage.completion_tokens if usage else None,
        "total_tokens": usage.total_tokens if usage else None,
        "cache_hit": call.cache_hit,
    }
    if len(call.attempts) > 1:  # retries or fallbacks: say what each attempt met
        fields["attempts"] = [
            {
                "deployment": attempt.deployment,
                "status": attempt.status,
                "error": attempt.error,
                "ms": milliseconds(attempt.duration),
            }
            for attempt in call.attempts
        ]
    if call.log_fields:  # added by plugins (guardrail flags, ...)
        fields.update(call.log_fields)
    if error is not None:
        fields["error_code"] = error.code
        fields["error_type"] = error.type
    if include_messages:
        messages = call.request.get("messages") or call.request.get("input")
        fields["messages"] = redactor(messages) if redactor is not None else messages
    return fields


def trace_id(call: Call) -> str | None:
    """The call's trace id: the tracing plugin's, else the one in the client's traceparent."""
    found = call.stash.get(TRACE_ID)
    if found is not None:
        return found
    parent = call.headers.get("traceparent")
    if parent and len(parent) >= 35 and parent[2] == "-":
        candidate = parent[3:35]
        if all(c in "0123456789abcdef" for c in candidate) and candidate != "0" * 32:
            return candidate
    return None


_SECRETS = re.compile(
    r"(?i)\b(?:sk|pk|rk|lg|xox[abpr]|ghp|gho|ghs|glpat)[-_][A-Za-z0-9_\-]{8,}"
    r"|\bAKIA[0-9A-Z]{16}\b"
    r"|\bbearer\s+[A-Za-z0-9._\-~+/]{8,}=*"
    r"|\beyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]*"
    r"|[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}"
    r"|\b(?:\d[ \-]?){13,19}\b"
)
REDACTED = "[REDACTED]"


def load_redactor(name: str | None) -> Callable[[Any], Any]:
    """The redactor named "package.module:function", or the built-in `redact` for None."""
    if name is None:
        return redact
    module_name, _, attribute = name.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"redactor: expected 'package.module:function', got {name!r}")
    try:
        found = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"redactor: cannot load {name!r}: {exc}") from None
    if not callable(found):
        raise ValueError(f"redactor: {name!r} is not callable")
    return found


def redact(value: Any) -> Any:
    """`value` (strings, lists, dicts at any depth) with obvious secrets and personal data
    replaced: API keys and tokens, bearer credentials, JWTs, e-mail addresses, card-like
    digit runs. A small safety net for logs, not a PII engine (that is the `pii` plugin)."""
    if isinstance(value, str):
        return _SECRETS.sub(REDACTED, value)
    if isinstance(value, list):
        return [redact(item) for item in value]
    if isinstance(value, dict):
        return {key: redact(item) for key, item in value.items()}
    return value


def milliseconds(seconds: float | None) -> float | None:
    # Two decimals by integer arithmetic: `round(x, 2)` goes through a correctly rounded
    # decimal conversion (~2,500 instructions, twice a line).
    return None if seconds is None else int(seconds * 100_000 + 0.5) / 100


#: The last second formatted by `_timestamp`, and its text: a busy gateway logs many calls
#: a second, and `strftime` + `gmtime` cost ~7,000 instructions a line.
_last_second: tuple[int, str] = (-1, "")


def _timestamp(started_at: float) -> str:
    """``2026-11-28T21:38:05.123Z`` for a Unix time."""
    global _last_second
    second = int(started_at)
    if second != _last_second[0]:
        _last_second = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
    return f"{_last_second[1]}.{int(started_at % 1 * 1000):03d}Z"


def _open(path: str) -> IO[str]:
    if path == "stdout":
        return sys.stdout
    if path == "stderr":
        return sys.stderr
    return open(path, "a", encoding="utf-8")
