"""`vertex`: Gemini on Google Cloud Vertex AI.

The request and response formats are Gemini's (see `gemini`); what differs is the URL
(`/v1/projects/{project}/locations/{location}/publishers/google/models/{model}:{method}` on
`{location}-aiplatform.googleapis.com`, or `aiplatform.googleapis.com` for "global") and the
credentials: a service-account key, exchanged by google-auth for an OAuth access token.

The token is cached and fetched again a few minutes before it expires, in a worker thread
(google-auth is synchronous), never per request. Its HTTP exchange uses `http.client`
directly, so no environment proxy ever sees the signed grant.
"""

from __future__ import annotations

import asyncio
import datetime
import http.client
import json
import os
import threading
import time
import urllib.parse
from collections.abc import Mapping
from typing import Any

import attrs

from litegate import Deployment, GatewayError
from litegate.config_types import Secret

from .gemini import GeminiAdapter

__all__ = ["VertexProvider"]

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
#: Fetch a new token this long before the current one expires.
_REFRESH_MARGIN = 300.0
_TOKEN_TIMEOUT = 30.0


class VertexProvider(GeminiAdapter):
    #: None: the host depends on `location` and is set at start-up (unless `api_base` is set).
    default_api_base = None

    @attrs.frozen
    class Options:
        #: The Google Cloud project id.
        project: str
        #: A Vertex AI region ("us-central1", "europe-west4", ...) or "global".
        location: str = "global"
        #: The service-account key: a path to its JSON file, or the JSON text itself
        #: (e.g. ``credentials = "${VERTEX_SERVICE_ACCOUNT_JSON}"``).
        credentials: Secret | None = None
        #: The API version in the URL path.
        api_version: str = "v1"

    def __init__(self) -> None:
        #: deployment id -> its token source (deployments with the same key share one).
        self._tokens: dict[str, _TokenSource] = {}

    def check_deployment(self, deployment: Deployment) -> str | None:
        options = deployment.options
        if deployment.api_key:
            return (
                "api_key is not used by vertex: set credentials (the path of a "
                "service-account JSON file, or its JSON text)"
            )
        if options is None or not options.credentials:
            return (
                "credentials is required for vertex: the path of a service-account JSON "
                'file, or its JSON text (for example credentials = "${VERTEX_CREDENTIALS}")'
            )
        try:
            credentials, key = _load_credentials(options.credentials.reveal())
        except ImportError:
            return "the vertex provider needs google-auth: pip install 'litegate[vertex]'"
        except (OSError, ValueError) as exc:
            return f"credentials: {_describe(exc)}"
        for other in self._tokens.values():
            if other.key == key:
                self._tokens[deployment.id] = other
                break
        else:
            self._tokens[deployment.id] = _TokenSource(credentials, key)
        return None

    def api_base_for(self, options: Any) -> str | None:
        # The host follows each deployment's location.
        return base_url(options.location) if isinstance(options, self.Options) else None

    def model_path(self, deployment: Deployment, method: str) -> str:
        options = deployment.options
        model = deployment.model
        name = model if "/" in model else "publishers/google/models/" + model
        return (
            f"/{options.api_version}/projects/{options.project}/locations/{options.location}"
            f"/{name}:{method}"
        )

    async def auth(self, deployment: Deployment) -> tuple[dict[str, str], str]:
        token = await self._tokens[deployment.id].token(deployment)
        return {"content-type": "application/json", "authorization": "Bearer " + token}, token

    def credentials_refused(self, deployment: Deployment) -> None:
        self._tokens[deployment.id].forget()  # revoked or expired early: fetch a new one

    async def embed(
        self, texts: list[str], dimensions: int | None, deployment: Deployment
    ) -> tuple[list[list[float]], int]:
        body: dict[str, Any] = {"instances": [{"content": text} for text in texts]}
        if dimensions is not None:
            body["parameters"] = {"outputDimensionality": dimensions}
        response, _ = await self.send(deployment, "predict", body)
        data = await self.read_json(response, deployment)
        predictions = data.get("predictions") if isinstance(data, dict) else None
        if not isinstance(predictions, list) or len(predictions) != len(texts):
            raise GatewayError(
                502,
                f"The upstream provider '{deployment.provider}' (deployment "
                f"'{deployment.id}') answered without one embedding per input.",
                code="upstream_error",
            )
        vectors, tokens = [], 0
        for prediction in predictions:
            embeddings = prediction.get("embeddings") or {}
            vectors.append(embeddings.get("values") or [])
            tokens += (embeddings.get("statistics") or {}).get("token_count", 0)
        return vectors, int(tokens)


def base_url(location: str) -> str:
    if location == "global":
        return "https://aiplatform.googleapis.com"
    return f"https://{location}-aiplatform.googleapis.com"


def _load_credentials(value: str) -> tuple[Any, tuple[str, str, str]]:
    from google.oauth2 import service_account  # optional: litegate[vertex]

    text = value.strip()
    if text.startswith("{"):
        try:
            info = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"the JSON text is not valid JSON ({exc.msg})") from None
    else:
        with open(os.path.expanduser(text), encoding="utf-8") as file:
            try:
                info = json.load(file)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{text} is not valid JSON ({exc.msg})") from None
    if not isinstance(info, dict) or info.get("type") != "service_account":
        raise ValueError(
            'expected a service-account key (a JSON object with "type": "service_account")'
        )
    credentials = service_account.Credentials.from_service_account_info(info, scopes=[SCOPE])
    key = (
        str(info.get("client_email")),
        str(info.get("private_key_id")),
        str(info.get("token_uri")),
    )
    return credentials, key


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return f"can't read the file ({exc.strerror or type(exc).__name__})"
    return str(exc)


class _TokenSource:
    """An access token for one service account, fetched again shortly before it expires.

    The fast path (a valid token) is one clock read. Fetching runs in a worker thread; the
    lock makes concurrent callers wait for one exchange instead of each starting their own.
    """

    __slots__ = ("_credentials", "_fresh_until", "_lock", "_token", "key")

    def __init__(self, credentials: Any, key: tuple[str, str, str]) -> None:
        self._credentials = credentials
        self.key = key
        self._lock = threading.Lock()
        self._token: str | None = None
        self._fresh_until = 0.0

    async def token(self, deployment: Deployment) -> str:
        token = self._token
        if token is not None and time.monotonic() < self._fresh_until:
            return token
        try:
            return await asyncio.to_thread(self._refresh)
        except Exception as exc:
            raise GatewayError(
                502,
                f"The provider '{deployment.provider}' (deployment '{deployment.id}') could "
                f"not get an access token for its service account: {_token_problem(exc)}",
                code="upstream_auth_failed",
            ) from None

    def forget(self) -> None:
        self._fresh_until = 0.0

    def _refresh(self) -> str:
        with self._lock:
            if self._token is not None and time.monotonic() < self._fresh_until:
                return self._token
            self._credentials.refresh(_HttpRequest())
            token: str = self._credentials.token
            expiry = self._credentials.expiry  # naive UTC, per google-auth
            lifetime = 3600.0
            if expiry is not None:
                now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
                lifetime = (expiry - now).total_seconds()
            margin = min(_REFRESH_MARGIN, lifetime / 2)
            self._fresh_until = time.monotonic() + lifetime - margin
            self._token = token
            return token


def _token_problem(exc: Exception) -> str:
    # google-auth's RefreshError carries the token endpoint's error ("invalid_grant: ...");
    # it never contains the key or a token.
    text = str(exc.args[0]) if exc.args else type(exc).__name__
    return text[:300]


class _HttpRequest:
    """google-auth's transport interface over `http.client` (stdlib, no proxies, no pool:
    a token is fetched about once an hour)."""

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **_kwargs: Any,
    ) -> _HttpResponse:
        from google.auth import exceptions

        parts = urllib.parse.urlsplit(url)
        connection_class = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        connection = connection_class(parts.netloc, timeout=timeout or _TOKEN_TIMEOUT)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        try:
            connection.request(method, path, body=body, headers=dict(headers or {}))
            response = connection.getresponse()
            return _HttpResponse(response.status, dict(response.getheaders()), response.read())
        except (OSError, http.client.HTTPException) as exc:
            raise exceptions.TransportError(f"{parts.netloc}: {type(exc).__name__}") from exc
        finally:
            connection.close()


@attrs.frozen
class _HttpResponse:
    status: int
    headers: dict[str, str]
    data: bytes
