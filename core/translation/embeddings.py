"""OpenAI embeddings responses from the vectors a provider sent back.

OpenAI's ``encoding_format = "base64"`` (what the openai SDK asks for by default) is the
little-endian float32 bytes of each vector, base64-encoded; every adapter answers the same.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Sequence
from typing import Any

from ..errors import GatewayError

__all__ = ["embeddings_response", "encode_vector", "wants_base64"]


def wants_base64(request: dict[str, Any]) -> bool:
    """True when the client asked for base64, False for floats; 400 for anything else."""
    fmt = request.get("encoding_format") or "float"
    if fmt not in ("float", "base64"):
        raise GatewayError(
            400,
            "'encoding_format' must be 'float' or 'base64'.",
            param="encoding_format",
            code="invalid_value",
        )
    return fmt == "base64"


def encode_vector(vector: Sequence[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")


def embeddings_response(
    vectors: Sequence[Sequence[float]], *, model: str, as_base64: bool, tokens: int
) -> dict[str, Any]:
    data = [
        {
            "object": "embedding",
            "index": index,
            "embedding": encode_vector(vector) if as_base64 else list(vector),
        }
        for index, vector in enumerate(vectors)
    ]
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
