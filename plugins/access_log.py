"""`logging`: one JSON line per finished call.

Fields: request id, principal, endpoint, model alias, deployment, status, latency, time to
first token, tokens. Never message contents (unless `include_messages`), never secrets:
the line is built from named Call fields, not from headers or bodies.
"""

from __future__ import annotations

import sys
import time
from typing import IO, Any

import attrs
import orjson

from litegate import Call, GatewayError, hookimpl


class AccessLogPlugin:
    @attrs.frozen
    class Config:
        #: Where lines go: "stdout", "stderr", or a file path (appended to).
        path: str = "stdout"
        #: Also log the request's messages. Off by default: prompts are often personal data.
        include_messages: bool = False

    def __init__(self, config: Config) -> None:
        self.config = config
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
        self._stream.write(
            orjson.dumps(event_fields(call, error, self.config.include_messages)).decode() + "\n"
        )
        self._stream.flush()


def event_fields(
    call: Call, error: GatewayError | None, include_messages: bool = False
) -> dict[str, Any]:
    """The fields of one finished call, shared by every sink (log line, webhook, ...)."""
    usage = call.usage
    fields: dict[str, Any] = {
        "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(call.started_at))
        + f".{int(call.started_at % 1 * 1000):03d}Z",
        "request_id": call.id,
        "principal": call.principal.id if call.principal else None,
        "endpoint": call.endpoint,
        "model": call.alias,
        "deployment": call.deployment.id if call.deployment else None,
        "provider": call.deployment.provider if call.deployment else None,
        "stream": call.stream,
        "status": call.status,
        "latency_ms": _ms(call.latency),
        "ttft_ms": _ms(call.ttft),
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
                "ms": _ms(attempt.duration),
            }
            for attempt in call.attempts
        ]
    if call.log_fields:  # added by plugins (guardrail flags, ...)
        fields.update(call.log_fields)
    if error is not None:
        fields["error_code"] = error.code
        fields["error_type"] = error.type
    if include_messages:
        fields["messages"] = call.request.get("messages") or call.request.get("input")
    return fields


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


def _open(path: str) -> IO[str]:
    if path == "stdout":
        return sys.stdout
    if path == "stderr":
        return sys.stderr
    return open(path, "a", encoding="utf-8")
