"""OpenAI embeddings responses from the vectors Gemini (or Vertex) sent back."""

from __future__ import annotations

import base64
import struct
from typing import Any

from litegate import GatewayError

__all__ = ["embedding_list", "encoding_format"]


def encoding_format(request: dict[str, Any]) -> bool:
    """True when the client asked for base64 (the openai SDK's default), False for floats."""
    fmt = request.get("encoding_format") or "float"
    if fmt not in ("float", "base64"):
        raise GatewayError(
            400,
            "'encoding_format' must be 'float' or 'base64'.",
            param="encoding_format",
            code="invalid_value",
        )
    return fmt == "base64"


def embedding_list(
    vectors: list[list[float]], *, model: str, as_base64: bool, tokens: int
) -> dict[str, Any]:
    data = []
    for index, vector in enumerate(vectors):
        embedding: Any = vector
        if as_base64:
            embedding = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
