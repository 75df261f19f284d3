"""OpenAI embeddings from Bedrock's embedding models, through InvokeModel.

- Amazon Titan text embeddings take one text per call (``{"inputText", "dimensions",
  "normalize"}`` -> ``{"embedding", "inputTextTokenCount"}``), so a list of inputs becomes
  concurrent calls. v2 normalizes (as OpenAI's embeddings are) and takes ``dimensions``
  (256, 512 or 1024); v1 takes neither; the multimodal model takes ``dimensions`` as
  ``embeddingConfig.outputEmbeddingLength``.
- Cohere embed models take up to 96 texts per call (``{"texts", "input_type"}`` ->
  ``{"embeddings"}``); token counts come from the ``x-amzn-bedrock-input-token-count`` header.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from litegate import GatewayError
from litegate.translation import check_params, embeddings_response

__all__ = ["embedding_family", "embeddings"]

PROVIDER = "bedrock"
_SUPPORTED = frozenset({"model", "input", "encoding_format", "dimensions", "user"})
_COHERE_BATCH = 96
_CONCURRENCY = 8

#: Sends one InvokeModel body; returns the parsed answer and the input token count header.
Invoke = Callable[[bytes], Awaitable[tuple[dict[str, Any], int | None]]]


def embedding_family(model: str) -> str | None:
    if "titan-embed-text-v2" in model:
        return "titan-v2"
    if "titan-embed-image" in model:
        return "titan-image"
    if "titan-embed" in model:
        return "titan-v1"
    if "cohere.embed" in model:
        return "cohere"
    return None


async def embeddings(
    request: dict[str, Any],
    *,
    model: str,
    family: str | None,
    input_type: str,
    drop: bool,
    invoke: Invoke,
) -> dict[str, Any]:
    if family is None:
        raise GatewayError(
            400,
            f"The provider '{PROVIDER}' makes embeddings with Amazon Titan and Cohere embedding "
            f"models; '{model}' is neither.",
            code="unsupported_model",
        )
    supported = _SUPPORTED if family != "titan-v1" else _SUPPORTED - {"dimensions"}
    request = check_params(request, supported, provider=PROVIDER, drop=drop)
    texts = _texts(request["input"])
    dimensions = request.get("dimensions")
    if family == "cohere":
        vectors, tokens = await _cohere(texts, dimensions, input_type, invoke)
    else:
        vectors, tokens = await _titan(texts, family, dimensions, invoke)
    as_base64 = request.get("encoding_format") == "base64"
    return embeddings_response(vectors, model=model, as_base64=as_base64, tokens=tokens)


def _texts(inputs: Any) -> list[str]:
    if isinstance(inputs, str):
        return [inputs]
    if inputs and all(isinstance(item, str) for item in inputs):
        return list(inputs)
    raise GatewayError(
        400,
        f"The provider '{PROVIDER}' embeds text: 'input' must be a string or a list of strings "
        "(token arrays are not accepted).",
        param="input",
        code="invalid_value",
    )


async def _titan(
    texts: list[str], family: str, dimensions: int | None, invoke: Invoke
) -> tuple[list[list[float]], int]:
    limit = asyncio.Semaphore(_CONCURRENCY)

    async def one(text: str) -> tuple[dict[str, Any], int | None]:
        body: dict[str, Any] = {"inputText": text}
        if family == "titan-v2":
            if dimensions is not None:
                body["dimensions"] = dimensions
            body["normalize"] = True
        elif family == "titan-image" and dimensions is not None:
            body["embeddingConfig"] = {"outputEmbeddingLength": dimensions}
        async with limit:
            return await invoke(orjson.dumps(body))

    answers = await _all([one(text) for text in texts])
    vectors = [answer["embedding"] for answer, _ in answers]
    tokens = sum(answer.get("inputTextTokenCount") or header or 0 for answer, header in answers)
    return vectors, tokens


async def _cohere(
    texts: list[str], dimensions: int | None, input_type: str, invoke: Invoke
) -> tuple[list[list[float]], int]:
    calls = []
    for start in range(0, len(texts), _COHERE_BATCH):
        body: dict[str, Any] = {
            "texts": texts[start : start + _COHERE_BATCH],
            "input_type": input_type,
        }
        if dimensions is not None:
            body["output_dimension"] = dimensions  # embed v4; v3 models refuse it
        calls.append(invoke(orjson.dumps(body)))
    vectors: list[list[float]] = []
    tokens = 0
    for answer, header in await _all(calls):
        found = answer.get("embeddings")
        if isinstance(found, dict):  # asked for by type: {"float": [...]}
            found = found.get("float")
        vectors.extend(found or ())
        tokens += header or 0
    return vectors, tokens


async def _all(
    calls: list[Awaitable[tuple[dict[str, Any], int | None]]],
) -> list[tuple[dict[str, Any], int | None]]:
    """Every call's answer; on the first failure the others are cancelled, not left running."""
    tasks = [asyncio.ensure_future(call) for call in calls]
    try:
        return await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
