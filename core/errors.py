"""One error type for the whole request path, and its OpenAI-shaped body.

A stage rejects a call by raising `GatewayError` (Envoy's "local reply"). The HTTP layer and
the in-process API both turn it into the body OpenAI clients expect:
``{"error": {"message", "type", "param", "code"}}`` -- all four keys present, per the spec.
"""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["GatewayError", "error_body", "error_type_for_status", "upstream_error"]

_TYPE_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    408: "timeout_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    431: "invalid_request_error",
}


def error_type_for_status(status: int) -> str:
    if status >= 500:
        return "api_error"
    return _TYPE_BY_STATUS.get(status, "invalid_request_error")


class GatewayError(Exception):
    """A rejection the client can act on: HTTP status, machine code, human message.

    `headers` are added to the HTTP response (for example ``retry-after``).
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.type = type or error_type_for_status(status)
        self.headers = headers or {}

    def to_dict(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }

    def body(self) -> bytes:
        return orjson.dumps(self.to_dict())

    def __repr__(self) -> str:
        return f"GatewayError({self.status}, {self.code!r}, {self.message!r})"


def error_body(status: int, message: str, code: str | None = None) -> bytes:
    return GatewayError(status, message, code=code).body()


# Upstream statuses whose class the client should see unchanged; everything else 5xx-ish
# becomes 502 (the gateway is healthy, its upstream is not).
_KEPT_STATUSES = frozenset({400, 401, 403, 404, 409, 413, 422, 429})


def upstream_error(
    status: int,
    payload: Any,
    *,
    provider: str,
    deployment: str,
    secrets: tuple[str, ...] = (),
    retry_after: str | None = None,
) -> GatewayError:
    """Map an upstream error response to the error the client sees.

    401/403 from upstream mean the *operator's* credentials were refused: the client gets the
    status class but our own message (upstream messages echo parts of the key).
    """
    where = f"provider '{provider}' (deployment '{deployment}')"
    upstream = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(upstream, dict):
        upstream = {"message": payload if isinstance(payload, str) else None}
    message = upstream.get("message")
    message = message if isinstance(message, str) and message else None
    code = upstream.get("code")
    code = str(code) if code is not None else None
    param = upstream.get("param") if isinstance(upstream.get("param"), str) else None

    if status in (401, 403):
        return GatewayError(
            status,
            f"The upstream {where} rejected the gateway's credentials ({status}). "
            "This is a gateway configuration problem; tell its operator.",
            code="upstream_auth_failed",
        )
    if status in _KEPT_STATUSES:
        text = _scrub(message or f"Upstream {where} answered {status}.", secrets)
        headers = {"retry-after": retry_after} if retry_after else None
        return GatewayError(status, text, code=code, param=param, headers=headers)
    if status == 408 or status == 504:
        return GatewayError(504, f"The upstream {where} timed out.", code="upstream_timeout")
    detail = f": {_scrub(message, secrets)}" if message else "."
    return GatewayError(
        502, f"The upstream {where} failed with status {status}{detail}", code="upstream_error"
    )


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 8:
            text = text.replace(secret, "[redacted]")
    return text
