"""The gateway's own log records (warnings, errors, reloads) as text or JSON lines.

``[server] log_format = "json"`` makes `litegate serve` (and ``litegate.asgi``) write every
record as one JSON object with the request id and trace id of the request being served,
when there is one. Per-call access lines are the `logging` plugin's (also JSON).
"""

from __future__ import annotations

import logging
import sys
import time
from contextvars import ContextVar
from typing import Any

import orjson

__all__ = ["REQUEST_ID", "TRACE_ID", "JsonFormatter", "configure"]

#: The id of the HTTP request being served (set by the request-id middleware).
REQUEST_ID: ContextVar[str | None] = ContextVar("litegate_request_id", default=None)
#: The trace id of the call being served (set by the `tracing` plugin).
TRACE_ID: ContextVar[str | None] = ContextVar("litegate_trace_id", default=None)

_TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, message, request_id, trace_id, and
    the exception's traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = REQUEST_ID.get()
        if request_id is not None:
            fields["request_id"] = request_id
        trace_id = TRACE_ID.get()
        if trace_id is not None:
            fields["trace_id"] = trace_id
        if record.exc_info:
            fields["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(fields).decode()


def configure(log_format: str) -> None:
    """Send the gateway's records to stderr as text or JSON, unless the server (or the user)
    configured logging already."""
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(_TEXT))
    root.addHandler(handler)
    root.setLevel(logging.INFO)
