"""Server-sent events: an incremental decoder for upstream streams, and the encoder we send.

Upstream network reads split events anywhere; the decoder buffers until a blank line ends an
event. Only what a provider needs is kept: the event name and the joined data lines.
"""

from __future__ import annotations

__all__ = ["DONE", "SSEDecoder", "encode_event"]

DONE = b"data: [DONE]\n\n"


def encode_event(payload: bytes) -> bytes:
    return b"data: " + payload + b"\n\n"


class SSEDecoder:
    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, block: bytes) -> list[tuple[bytes | None, bytes]]:
        """Return the `(event name, data)` of every event completed by `block`."""
        # `find`, not `in`, on this path: ``bytes in bytes`` first tries the needle as an
        # integer and formats and clears a TypeError (~1,300 instructions each time).
        if block.find(b"\r") >= 0:
            block = block.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        buffer = self._buffer + block if self._buffer else block
        if buffer.find(b"\n\n") < 0:
            self._buffer = buffer
            return []
        *complete, self._buffer = buffer.split(b"\n\n")
        events = []
        for raw in complete:
            event = _parse(raw)
            if event is not None:
                events.append(event)
        return events

    def flush(self) -> list[tuple[bytes | None, bytes]]:
        """The last event when the stream ended without a blank line after it."""
        raw, self._buffer = self._buffer, b""
        event = _parse(raw.strip(b"\n")) if raw.strip() else None
        return [event] if event is not None else []


def _parse(raw: bytes) -> tuple[bytes | None, bytes] | None:
    if raw.startswith(b"data: ") and raw.find(b"\n") < 0:  # the common case: one data line
        return None, raw[6:]
    name = None
    data: list[bytes] = []
    for line in raw.split(b"\n"):
        if not line or line.startswith(b":"):
            continue
        field, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if field == b"data":
            data.append(value)
        elif field == b"event":
            name = value
    if not data:
        return None
    return name, b"\n".join(data)
