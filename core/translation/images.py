"""Reading OpenAI `image_url` content parts: data URLs decoded, other URLs passed on.

Providers that need inline bytes for a remote URL must fetch it through the gateway's guarded
fetcher (the hardening issue); until then they reject remote URLs with a clear 400.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import attrs

from ..errors import GatewayError

__all__ = ["ImageData", "read_image_part"]


@attrs.frozen
class ImageData:
    #: The image as a URL when it was given as one (not a data URL).
    url: str | None = None
    #: For data URLs: the media type and the base64 text (kept encoded: most providers want it).
    media_type: str | None = None
    base64: str | None = None
    #: OpenAI's "detail" hint (low, high, auto) when given.
    detail: str | None = None

    def decoded(self) -> bytes:
        assert self.base64 is not None
        return base64.b64decode(self.base64)


def read_image_part(part: dict[str, Any], where: str) -> ImageData:
    image = part.get("image_url")
    if isinstance(image, str):
        url, detail = image, None
    elif isinstance(image, dict) and isinstance(image.get("url"), str):
        url, detail = image["url"], image.get("detail")
    else:
        raise GatewayError(
            400,
            f"'{where}.image_url' must have a 'url' string.",
            param=f"{where}.image_url",
            code="invalid_value",
        )
    if not url.startswith("data:"):
        if not url.startswith(("http://", "https://")):
            raise GatewayError(
                400,
                f"'{where}.image_url.url' must be an http(s) or data URL.",
                param=f"{where}.image_url.url",
                code="invalid_value",
            )
        return ImageData(url=url, detail=detail)
    header, comma, data = url.partition(",")
    if not comma or not header.endswith(";base64"):
        raise GatewayError(
            400,
            f"'{where}.image_url.url' must be a base64 data URL (data:<type>;base64,<data>).",
            param=f"{where}.image_url.url",
            code="invalid_value",
        )
    media_type = header[len("data:") : -len(";base64")] or "application/octet-stream"
    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise GatewayError(
            400,
            f"'{where}.image_url.url' has invalid base64 data.",
            param=f"{where}.image_url.url",
            code="invalid_value",
        ) from None
    return ImageData(media_type=media_type, base64=data, detail=detail)
