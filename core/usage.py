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


#: How far the usage object may reach (it is a few dozen bytes, a few hundred with details).
_MAX_USAGE = 4096


def usage_from_body(raw: bytes) -> Usage | None:
    at = raw.rfind(_KEY)
    if at < 0:
        return None
    start = raw.find(b"{", at + len(_KEY), at + len(_KEY) + 8)
    if start < 0:
        return None  # "usage": null
    # The object ends at the first "}" with as many "{" before it: found by searches in C
    # (a loop over its bytes in Python cost ~20,000 instructions a call). Its values are
    # numbers and objects of numbers, so no brace is inside a string.
    limit = min(len(raw), start + _MAX_USAGE)
    end = start
    while True:
        end = raw.find(b"}", end + 1, limit)
        if end < 0:
            return None
        if raw.count(b"{", start, end) == raw.count(b"}", start, end) + 1:
            break
    try:
        return Usage.from_openai(orjson.loads(raw[start : end + 1]))
    except orjson.JSONDecodeError:
        return None
