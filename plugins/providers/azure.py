"""`azure`: Azure OpenAI, which serves OpenAI's API behind per-deployment paths.

``POST {api_base}/openai/deployments/{model}/chat/completions?api-version={api_version}`` (and
``/completions``, ``/embeddings``, ``/images/generations``, ``/audio/speech``,
``/audio/transcriptions``), where ``model`` is the Azure deployment name. Credentials are
an ``api-key`` header, a static Entra ID token, or an Entra ID app (tenant, client id and
secret) whose client-credentials tokens are fetched and cached here.

Answers are OpenAI's format and pass through byte for byte, streams included. Azure's content
filter -- a 400 with code ``content_filter`` or an answer that finished with ``content_filter``
-- becomes the gateway's ``content_policy_violation``.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Mapping
from typing import Any, ClassVar

import attrs
import httpx
import orjson

from litegate import Deployment, GatewayError, Reply
from litegate.config_types import Secret
from litegate.translation.errors import CONTENT_POLICY
from litegate.transport import UpstreamConnectionError, UpstreamResponse, UpstreamTimeout

from .openai_compatible import (
    OpenAICompatibleProvider,
    Preset,
    error_fields,
    json_object_bytes,
    unsupported_endpoint,
)

__all__ = ["AzureOpenAIProvider", "EntraTokens"]

#: The newest generally available data-plane API version of the deployments API.
DEFAULT_API_VERSION = "2024-10-21"
SCOPE = "https://cognitiveservices.azure.com/.default"
_SUFFIXES = {
    "chat": "/chat/completions",
    "completions": "/completions",
    "embeddings": "/embeddings",
    "images": "/images/generations",
    "speech": "/audio/speech",
    "transcriptions": "/audio/transcriptions",
}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_VERSION = re.compile(r"^[A-Za-z0-9.-]+$")
_FILTERED = b'"content_filter"'


@attrs.frozen
class AzureOptions:
    """`[[models]]` keys of the azure provider."""

    #: The `api-version` query parameter sent with every call.
    api_version: str = DEFAULT_API_VERSION
    #: A static Entra ID (Azure AD) bearer token, used instead of the api key.
    azure_ad_token: Secret | None = None
    #: Entra ID tenant of the app whose client-credentials tokens authenticate the calls.
    tenant_id: str | None = None
    #: Entra ID application (client) id.
    client_id: str | None = None
    #: Entra ID client secret.
    client_secret: Secret | None = None
    #: Where Entra ID tokens come from (sovereign clouds use their own authority host).
    authority: str = "https://login.microsoftonline.com"


class AzureOpenAIProvider(OpenAICompatibleProvider):
    api_key_env = "AZURE_OPENAI_API_KEY"
    preset: ClassVar[Preset] = Preset("azure")
    Options: ClassVar[Any] = AzureOptions

    def __init__(self) -> None:
        # Shared by this adapter's deployments; holds tokens, never per-request data.
        self.tokens = EntraTokens()

    def check_deployment(self, deployment: Deployment) -> str | None:
        options: AzureOptions = deployment.options
        if not deployment.api_base:
            return "azure needs api_base, your resource's endpoint: https://NAME.openai.azure.com"
        if deployment.api_base.rstrip("/").endswith("/openai"):
            return "azure's api_base is the resource endpoint, without the trailing /openai"
        if not _NAME.match(deployment.model):
            return f"azure deployment name (model) {deployment.model!r} is not a valid name"
        if not _VERSION.match(options.api_version):
            return f"api_version {options.api_version!r} is not an Azure API version"
        app = (options.tenant_id, options.client_id, options.client_secret)
        if any(app) and not all(app):
            return "Entra ID needs tenant_id, client_id and client_secret together"
        if not (all(app) or options.azure_ad_token or deployment.api_key):
            return (
                "azure needs credentials: api_key (or AZURE_OPENAI_API_KEY), azure_ad_token, "
                "or tenant_id + client_id + client_secret"
            )
        return None

    def upstream_path(self, endpoint: str, deployment: Deployment) -> str:
        suffix = _SUFFIXES.get(endpoint)
        if suffix is None:
            raise unsupported_endpoint(deployment.provider, endpoint)
        version = deployment.options.api_version
        return f"/openai/deployments/{deployment.model}{suffix}?api-version={version}"

    async def upstream_headers(self, deployment: Deployment) -> dict[str, str]:
        headers = {"content-type": "application/json", "accept": "application/json"}
        options: AzureOptions = deployment.options
        if options.azure_ad_token:
            headers["authorization"] = "Bearer " + options.azure_ad_token.reveal()
        elif options.client_secret:
            token = await self.tokens.token(options, deployment)
            headers["authorization"] = "Bearer " + token
        elif deployment.api_key:
            headers["api-key"] = deployment.api_key.reveal()
        return headers

    def secrets(self, deployment: Deployment) -> tuple[str, ...]:
        options: AzureOptions = deployment.options
        found = [deployment.api_key, options.azure_ad_token, options.client_secret]
        values = tuple(secret.reveal() for secret in found if secret)
        return values + self.tokens.cached(options)

    def error_from(
        self, status: int, raw: bytes, headers: Mapping[str, str], deployment: Deployment
    ) -> GatewayError:
        if status == 401:
            self.tokens.forget(deployment.options)  # revoked early: fetch a new one next time
        if status in (400, 403) and (_FILTERED in raw or b"ResponsibleAI" in raw):
            message, code, param = error_fields(raw)
            if code == "content_filter" or _inner_code(raw) == "ResponsibleAIPolicyViolation":
                return GatewayError(
                    400,
                    message or "Azure's content filter refused the request.",
                    code=CONTENT_POLICY,
                    param=param,
                )
        return super().error_from(status, raw, headers, deployment)

    async def reply(
        self, response: UpstreamResponse, deployment: Deployment, endpoint: str = "chat"
    ) -> Reply:
        if not response.headers.get("content-type", "").startswith("application/json"):
            return await super().reply(response, deployment, endpoint)
        raw = json_object_bytes(await response.read())
        if _FILTERED in raw:
            filtered = _filtered_categories(raw)
            if filtered is not None:
                raise GatewayError(
                    400,
                    "Azure's content filter withheld the answer"
                    + (f" ({', '.join(filtered)})." if filtered else "."),
                    code=CONTENT_POLICY,
                )
        return Reply(raw=raw, status=200)


def _inner_code(raw: bytes) -> str | None:
    """The code under ``innererror`` (chat) or ``inner_error`` (images)."""
    try:
        error = orjson.loads(raw).get("error")
        inner = error.get("innererror") or error.get("inner_error")
        return str(inner["code"])
    except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError):
        return None


def _filtered_categories(raw: bytes) -> list[str] | None:
    """The categories that stopped every choice, or None when some choice was not filtered."""
    body = orjson.loads(raw)
    choices = body.get("choices") or []
    if not choices or any(c.get("finish_reason") != "content_filter" for c in choices):
        return None
    found: dict[str, None] = {}
    for choice in choices:
        results = choice.get("content_filter_results") or {}
        for category, result in results.items():
            if isinstance(result, dict) and result.get("filtered"):
                found[category] = None
    return list(found)


class EntraTokens:
    """Client-credentials tokens from Entra ID, cached until shortly before they expire.

    Concurrent callers that find no fresh token wait for one fetch. Fetching is rare (about
    hourly), so it uses httpx rather than the pooled upstream client.
    """

    #: Refresh this many seconds before expiry (at most a tenth of the token's lifetime).
    margin = 300.0

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, ...], tuple[str, float]] = {}
        self._locks: dict[tuple[str, ...], asyncio.Lock] = {}

    @staticmethod
    def _key(options: AzureOptions) -> tuple[str, ...]:
        return (options.authority, options.tenant_id or "", options.client_id or "")

    def cached(self, options: AzureOptions) -> tuple[str, ...]:
        entry = self._tokens.get(self._key(options))
        return (entry[0],) if entry else ()

    def forget(self, options: AzureOptions) -> None:
        self._tokens.pop(self._key(options), None)

    async def token(self, options: AzureOptions, deployment: Deployment) -> str:
        key = self._key(options)
        entry = self._tokens.get(key)
        if entry is not None and entry[1] > time.monotonic():
            return entry[0]
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            entry = self._tokens.get(key)
            if entry is not None and entry[1] > time.monotonic():
                return entry[0]
            token, lifetime = await self._fetch(options, deployment)
            fresh_for = lifetime - min(self.margin, lifetime / 10)
            self._tokens[key] = (token, time.monotonic() + fresh_for)
            return token

    async def _fetch(self, options: AzureOptions, deployment: Deployment) -> tuple[str, float]:
        assert options.client_secret is not None
        url = f"{options.authority.rstrip('/')}/{options.tenant_id}/oauth2/v2.0/token"
        form = {
            "grant_type": "client_credentials",
            "client_id": options.client_id or "",
            "client_secret": options.client_secret.reveal(),
            "scope": SCOPE,
        }
        timeout = httpx.Timeout(deployment.timeout, connect=deployment.connect_timeout)
        try:
            async with httpx.AsyncClient(timeout=timeout, trust_env=False) as http:
                response = await http.post(url, data=form)
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout("Entra ID token request timed out") from exc
        except httpx.HTTPError as exc:
            raise UpstreamConnectionError(
                f"cannot reach the Entra ID authority {options.authority}"
            ) from exc
        try:
            payload = response.json()
        except ValueError:
            payload = {}
        token = payload.get("access_token") if isinstance(payload, dict) else None
        if response.status_code != 200 or not isinstance(token, str):
            reason = payload.get("error") if isinstance(payload, dict) else None
            raise GatewayError(
                401 if response.status_code in (400, 401, 403) else 502,
                f"Entra ID refused a token for deployment '{deployment.id}' "
                f"(status {response.status_code}{', ' + str(reason) if reason else ''}). "
                "This is a gateway configuration problem; tell its operator.",
                code="upstream_auth_failed",
            )
        try:
            lifetime = float(payload.get("expires_in", 3600))
        except (TypeError, ValueError):
            lifetime = 3600.0
        return token, lifetime
