"""Finding token usage in an OpenAI-shaped body without parsing the whole of it.

Embedding responses can be megabytes of floats; the usage object is a few dozen bytes near
the end. A JSON string can't contain ``"usage"`` followed by a quote unescaped, so a match
on the key is a real key.
"""

from __future__ import annotations

import orjson

from .call import Usage

__all__ = ["usage_from_body"]

_KEY = b'"usage"'


def usage_from_body(raw: bytes) -> Usage | None:
    at = raw.rfind(_KEY)
    if at < 0:
        return None
    start = raw.find(b"{", at + len(_KEY), at + len(_KEY) + 8)
    if start < 0:
        return None  # "usage": null
    depth = 0
    for end in range(start, min(len(raw), start + 4096)):
        byte = raw[end]
        if byte == 0x7B:  # {
            depth += 1
        elif byte == 0x7D:  # }
            depth -= 1
            if depth == 0:
                try:
                    return Usage.from_openai(orjson.loads(raw[start : end + 1]))
                except orjson.JSONDecodeError:
                    return None
    return None
