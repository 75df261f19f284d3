"""The call itself, shared by `gemini` (AI Studio) and `vertex`: they differ only in where the
request goes and how it is authenticated, which each adapter supplies."""

from __future__ import annotations

from typing import Any

import attrs
import orjson

from litegate import Call, Deployment, GatewayError, Reply, ReplyStream, hookimpl
from litegate.provider import ProviderAdapter
from litegate.translation import check_params
from litegate.transport import UpstreamResponse

from .embeddings import embedding_list, encoding_format
from .request import chat_body, embed_texts
from .response import chat_completion, error_from_body, stream_chunks

__all__ = ["GeminiAdapter", "GeminiProvider"]

_EMBEDDING_PARAMS = frozenset({"model", "input", "encoding_format", "dimensions", "user"})


class GeminiAdapter(ProviderAdapter):
    """The Gemini `generateContent` protocol; subclasses say where and as whom."""

    def model_path(self, deployment: Deployment, method: str) -> str:
        """The URL path (and query) of `method` for the deployment's model."""
        raise NotImplementedError

    async def auth(self, deployment: Deployment) -> tuple[dict[str, str], str]:
        """The headers that authenticate a request, and the secret in them (to scrub)."""
        raise NotImplementedError

    async def embed(
        self, texts: list[str], dimensions: int | None, deployment: Deployment
    ) -> tuple[list[list[float]], int]:
        """The vectors for `texts` and the tokens they counted."""
        raise NotImplementedError

    def credentials_refused(self, deployment: Deployment) -> None:
        """The upstream answered 401: forget any cached credential (the next call gets anew)."""

    @hookimpl
    async def provider_call(self, call: Call, deployment: Deployment) -> Reply | ReplyStream:
        if call.endpoint == "embeddings":
            return await self._embeddings(call, deployment)
        if call.endpoint != "chat":
            raise GatewayError(
                400,
                f"The provider '{deployment.provider}' does not serve '{call.endpoint}'.",
                code="unsupported_endpoint",
            )
        body = chat_body(
            call.request, provider=deployment.provider, drop=deployment.drop_unsupported
        )
        stream = call.stream
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        response, secret = await self.send(deployment, method, body, stream=stream)
        if not stream:
            data = await self.read_json(response, deployment)
            return Reply(
                chat_completion(
                    data,
                    model=deployment.model,
                    provider=deployment.provider,
                    deployment=deployment.id,
                )
            )
        chunks = stream_chunks(
            response,
            model=deployment.model,
            provider=deployment.provider,
            deployment=deployment.id,
            secrets=(secret,),
        )
        return ReplyStream(chunks, close=response.close)

    async def send(
        self, deployment: Deployment, method: str, body: dict[str, Any], *, stream: bool = False
    ) -> tuple[UpstreamResponse, str]:
        """POST `body` to the model's `method`; raise the translated error on a 4xx/5xx."""
        headers, secret = await self.auth(deployment)
        assert deployment.client is not None
        response = await deployment.client.post(
            self.model_path(deployment, method),
            orjson.dumps(body),
            headers,
            total_timeout=None if stream else deployment.timeout,
            connect_timeout=deployment.connect_timeout,
            read_timeout=deployment.timeout if stream else None,
        )
        if response.status >= 400:
            if response.status == 401:
                self.credentials_refused(deployment)
            raw = await response.read()
            try:
                payload: Any = orjson.loads(raw)
            except orjson.JSONDecodeError:
                payload = raw[:500].decode("utf-8", "replace")
            raise error_from_body(
                response.status,
                payload,
                provider=deployment.provider,
                deployment=deployment.id,
                secrets=(secret,),
                retry_after=response.headers.get("retry-after"),
            )
        return response, secret

    async def read_json(self, response: UpstreamResponse, deployment: Deployment) -> Any:
        try:
            return orjson.loads(await response.read())
        except orjson.JSONDecodeError:
            raise GatewayError(
                502,
                f"The upstream provider '{deployment.provider}' (deployment "
                f"'{deployment.id}') answered with a body that is not JSON.",
                code="upstream_error",
            ) from None

    async def _embeddings(self, call: Call, deployment: Deployment) -> Reply:
        request = check_params(
            call.request,
            _EMBEDDING_PARAMS,
            provider=deployment.provider,
            drop=deployment.drop_unsupported,
        )
        as_base64 = encoding_format(request)
        texts = embed_texts(request, deployment.provider)
        vectors, tokens = await self.embed(texts, request.get("dimensions"), deployment)
        return Reply(
            embedding_list(vectors, model=deployment.model, as_base64=as_base64, tokens=tokens)
        )


class GeminiProvider(GeminiAdapter):
    """`gemini`: the Gemini API of Google AI Studio (generativelanguage.googleapis.com).

    The key goes in the `x-goog-api-key` header, never in the URL (URLs end up in logs).
    """

    default_api_base = "https://generativelanguage.googleapis.com"
    api_key_env = "GEMINI_API_KEY"

    @attrs.frozen
    class Options:
        #: The API version in the URL path.
        api_version: str = "v1beta"

    def check_deployment(self, deployment: Deployment) -> str | None:
        if not deployment.api_key:
            return "the gemini provider needs an API key: set api_key, or GEMINI_API_KEY"
        return None

    def model_path(self, deployment: Deployment, method: str) -> str:
        version = deployment.options.api_version if deployment.options else "v1beta"
        model = deployment.model
        name = model if "/" in model else "models/" + model  # also tunedModels/...
        return f"/{version}/{name}:{method}"

    async def auth(self, deployment: Deployment) -> tuple[dict[str, str], str]:
        assert deployment.api_key is not None
        key = deployment.api_key.reveal()
        return {"content-type": "application/json", "x-goog-api-key": key}, key

    async def embed(
        self, texts: list[str], dimensions: int | None, deployment: Deployment
    ) -> tuple[list[list[float]], int]:
        model = deployment.model
        name = model if "/" in model else "models/" + model
        requests: list[dict[str, Any]] = []
        for text in texts:
            item: dict[str, Any] = {"model": name, "content": {"parts": [{"text": text}]}}
            if dimensions is not None:
                item["outputDimensionality"] = dimensions
            requests.append(item)
        response, _ = await self.send(deployment, "batchEmbedContents", {"requests": requests})
        data = await self.read_json(response, deployment)
        embeddings = data.get("embeddings") if isinstance(data, dict) else None
        if not isinstance(embeddings, list) or len(embeddings) != len(texts):
            raise GatewayError(
                502,
                f"The upstream provider '{deployment.provider}' (deployment "
                f"'{deployment.id}') answered without one embedding per input.",
                code="upstream_error",
            )
        metadata = data.get("usageMetadata") or {}
        tokens = metadata.get("promptTokenCount", 0) if isinstance(metadata, dict) else 0
        return [item.get("values") or [] for item in embeddings], tokens
