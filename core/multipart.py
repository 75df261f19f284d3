"""multipart/form-data for audio transcriptions: parsed from clients, re-encoded upstream.

Parsing uses Starlette's parser (python-multipart underneath). Encoding is small enough to
do here: one boundary, text fields and file fields, nothing streamed.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, Mapping
from typing import Any

import attrs
from starlette.datastructures import Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from .errors import GatewayError

__all__ = ["UploadedFile", "encode_multipart", "parse_multipart"]


@attrs.frozen(repr=False)
class UploadedFile:
    """A file a client uploaded (audio to transcribe). Its bytes never show in reprs."""

    filename: str
    content_type: str
    data: bytes

    def __repr__(self) -> str:
        return f"UploadedFile({self.filename!r}, {self.content_type!r}, {len(self.data)} bytes)"


#: Form fields that are numbers on the wire of the JSON endpoints.
_FLOAT_FIELDS = frozenset({"temperature", "speed"})


async def parse_multipart(body: bytes, headers: Mapping[str, str]) -> dict[str, Any]:
    content_type = headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise GatewayError(
            400,
            "This endpoint takes multipart/form-data (a file upload).",
            code="invalid_content_type",
        )

    async def stream() -> AsyncGenerator[bytes, None]:
        yield body

    parser = MultiPartParser(
        Headers({"content-type": content_type}), stream(), max_files=4, max_fields=100
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise GatewayError(
            400, f"The multipart body is malformed: {exc.message}", code="invalid_multipart"
        ) from None
    request: dict[str, Any] = {}
    try:
        for key, raw in form.multi_items():
            name = key.removesuffix("[]")
            value: Any = raw
            if isinstance(raw, UploadFile):
                value = UploadedFile(
                    raw.filename or "upload",
                    raw.content_type or "application/octet-stream",
                    await raw.read(),
                )
            elif name in _FLOAT_FIELDS:
                value = _number(name, raw)
            if key.endswith("[]"):
                request.setdefault(name, []).append(value)
            else:
                request[name] = value
    finally:
        await form.close()
    return request


def _number(name: str, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise GatewayError(
            400,
            f"Invalid value for '{name}': expected a number, got {value!r}.",
            param=name,
            code="invalid_type",
        ) from None


def encode_multipart(fields: Mapping[str, Any]) -> tuple[bytes, str]:
    """Encode `fields` (str, numbers, lists of those, UploadedFile) as multipart/form-data."""
    boundary = uuid.uuid4().hex
    parts: list[bytes] = []
    for name, value in fields.items():
        if value is None:
            continue
        values = value if isinstance(value, list) else [value]
        field = f"{name}[]" if isinstance(value, list) else name
        for item in values:
            parts.append(_part(boundary, field, item))
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def _part(boundary: str, name: str, value: Any) -> bytes:
    safe = name.replace('"', "%22")
    if isinstance(value, UploadedFile):
        filename = value.filename.replace('"', "%22").replace("\r", "").replace("\n", "")
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{safe}"; '
            f'filename="{filename}"\r\nContent-Type: {value.content_type}\r\n\r\n'
        )
        return head.encode() + value.data + b"\r\n"
    text = str(value).lower() if isinstance(value, bool) else str(value)
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="{safe}"\r\n\r\n'
    return head.encode() + text.encode() + b"\r\n"
