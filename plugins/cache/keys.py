"""Cache keys: a hash of the normalised request, scoped by tenant.

The key covers the endpoint, whether the answer is streamed, the tenant scope and every
request field that can change the answer (the alias is the ``model`` field). Fields that
cannot change it -- who the end user is, metadata, storage and stream options -- are left
out, so requests differing only in them share an answer. JSON objects are hashed with sorted
keys, so field order never matters; list order does (messages, tools, stop sequences).
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from litegate import Principal

__all__ = ["IGNORED_FIELDS", "prompt_text", "request_key", "semantic_bucket", "tenant_of"]

#: Request fields that never change the answer.
IGNORED_FIELDS = frozenset({"user", "metadata", "stream", "stream_options", "store"})
_SORTED = orjson.OPT_SORT_KEYS


def tenant_of(principal: Principal | None, scope: str) -> str:
    """Who may share answers with this caller: ``team:ID``, else ``KIND:ID`` of the
    credential (``static:ci-bot``, ``virtual:k-12``), or ``global`` when so configured."""
    if scope == "global":
        return "global"
    if principal is None:
        return "anonymous"
    if principal.team:
        return f"team:{principal.team}"
    return f"{principal.kind}:{principal.id}"


def _digest(parts: list[Any]) -> str:
    return hashlib.blake2b(orjson.dumps(parts, option=_SORTED), digest_size=20).hexdigest()


def _normalised(request: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in request.items() if k not in IGNORED_FIELDS}


def request_key(tenant: str, endpoint: str, stream: bool, request: dict[str, Any]) -> str:
    """The exact-match key of `request` for `tenant` (40 hex digits)."""
    return _digest([tenant, endpoint, stream, _normalised(request)])


def prompt_text(endpoint: str, request: dict[str, Any]) -> str | None:
    """What the semantic cache embeds: the last user message (chat) or the prompt
    (completions); None when there is no plain text to embed."""
    if endpoint == "completions":
        prompt = request.get("prompt")
        return prompt if isinstance(prompt, str) and prompt.strip() else None
    index = _last_user(request)
    if index is None:
        return None
    content = request["messages"][index].get("content")
    if isinstance(content, list):
        texts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "text"]
        if len(texts) != len(content):
            return None  # images, audio: a text embedding would not see them
        content = "\n".join(t for t in texts if isinstance(t, str))
    return content if isinstance(content, str) and content.strip() else None


def semantic_bucket(tenant: str, endpoint: str, stream: bool, request: dict[str, Any]) -> str:
    """The key of everything but the embedded text: answers are only compared with answers
    to the same tenant, alias, parameters, system prompt and earlier conversation."""
    rest = _normalised(request)
    if endpoint == "completions":
        rest["prompt"] = None
    else:
        index = _last_user(request)
        messages = list(request.get("messages") or ())
        if index is not None:
            messages[index] = {**messages[index], "content": None}
        rest["messages"] = messages
    return _digest(["semantic", tenant, endpoint, stream, rest])


def _last_user(request: dict[str, Any]) -> int | None:
    messages = request.get("messages")
    if not isinstance(messages, list):
        return None
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if isinstance(message, dict) and message.get("role") == "user":
            return index
    return None
