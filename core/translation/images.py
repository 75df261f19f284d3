"""Reading OpenAI `image_url` content parts: data URLs decoded, other URLs passed on.

Providers that need inline bytes for a remote URL call `inline_remote_images` first, which
fetches each one through the gateway's guarded fetcher (`litegate.safe_fetch`): public
addresses only, size and time capped.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any

import attrs

from ..errors import GatewayError

if TYPE_CHECKING:
    from ..safe_fetch import SafeFetcher

__all__ = ["ImageData", "inline_remote_images", "read_image_part"]


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


async def inline_remote_images(request: dict[str, Any], fetcher: SafeFetcher) -> dict[str, Any]:
    """`request` with every http(s) `image_url` in its messages replaced by a data URL of the
    fetched bytes (a shallow copy; the caller's request is left alone). Unchanged when it has
    no remote image. A refused or failed fetch is the 400 `SafeFetcher` raises."""
    messages = request.get("messages")
    if not isinstance(messages, list) or not any(_remote_parts(m) for m in messages):
        return request
    inlined = []
    for message in messages:
        if not _remote_parts(message):
            inlined.append(message)
            continue
        parts = []
        for part in message["content"]:
            url = _remote_url(part)
            if url is None:
                parts.append(part)
                continue
            fetched = await fetcher.fetch(url)
            media_type = fetched.content_type or "application/octet-stream"
            data = base64.b64encode(fetched.data).decode("ascii")
            image = dict(part["image_url"]) if isinstance(part["image_url"], dict) else {}
            image["url"] = f"data:{media_type};base64,{data}"
            parts.append({**part, "image_url": image})
        inlined.append({**message, "content": parts})
    return {**request, "messages": inlined}


def _remote_parts(message: Any) -> bool:
    content = message.get("content") if isinstance(message, dict) else None
    return isinstance(content, list) and any(_remote_url(part) for part in content)


def _remote_url(part: Any) -> str | None:
    if not isinstance(part, dict) or part.get("type") != "image_url":
        return None
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    if isinstance(url, str) and url.startswith(("http://", "https://")):
        return url
    return None
