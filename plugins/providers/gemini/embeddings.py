"""OpenAI embeddings responses from the vectors Gemini (or Vertex) sent back."""

from __future__ import annotations

from typing import Any

from litegate.translation import embeddings_response, wants_base64

__all__ = ["embedding_list", "encoding_format"]


def encoding_format(request: dict[str, Any]) -> bool:
    """True when the client asked for base64 (the openai SDK's default), False for floats."""
    return wants_base64(request)


def embedding_list(
    vectors: list[list[float]], *, model: str, as_base64: bool, tokens: int
) -> dict[str, Any]:
    return embeddings_response(vectors, model=model, as_base64=as_base64, tokens=tokens)
