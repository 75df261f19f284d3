"""Helpers for the cache's tests: an auth plugin that gives callers teams, and a
deterministic embedder so the semantic cache can be tested without a model."""

from __future__ import annotations

import re
from typing import Any

import openai
import pytest

from litegate import Call, Deployment, Principal, Reply, hookimpl
from litegate.provider import ProviderAdapter
from litegate.translation import embeddings_response


class TeamAuth:
    """``Bearer TEAM.NAME`` is member NAME of team TEAM; ``Bearer NAME`` has no team;
    ``Bearer root`` is an admin."""

    @hookimpl
    def authenticate(self, call: Call) -> Principal | None:
        token = call.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not token:
            return None
        if token == "root":
            return Principal("root", "test", role="admin")
        team, _, name = token.rpartition(".")
        return Principal(name, "test", team=team or None, role="member")


#: Concepts of the test embedder: a text's vector counts the words of each concept.
CONCEPTS = {
    "capital": {"capital", "capitol", "seat"},
    "france": {"france", "french", "paris"},
    "weather": {"weather", "rain", "sunny", "forecast"},
}


def embed(text: str) -> list[float]:
    words = re.findall(r"[a-z]+", text.lower())
    return [float(sum(word in synonyms for word in words)) for synonyms in CONCEPTS.values()]


class ConceptEmbedder(ProviderAdapter):
    """Embeddings by concept counts: paraphrases land close, other topics far apart."""

    uses_http = False

    def __init__(self) -> None:
        self.calls: list[Any] = []

    @hookimpl
    def provider_call(self, call: Call, deployment: Deployment) -> Reply:
        inputs = call.request["input"]
        inputs = [inputs] if isinstance(inputs, str) else inputs
        self.calls.append(inputs)
        return Reply(
            embeddings_response(
                [embed(text) for text in inputs], model=deployment.model, as_base64=False, tokens=1
            )
        )


def client(server: Any, key: str = "alpha.ann") -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key=key, max_retries=0)


def ask(client: openai.OpenAI, content: str = "hello there", **params: Any) -> tuple[str, Any]:
    """One chat call: the ``x-litegate-cache`` header and the parsed completion."""
    raw = client.chat.completions.with_raw_response.create(
        model="m", messages=[{"role": "user", "content": content}], **params
    )
    return raw.headers.get("x-litegate-cache"), raw.parse()


@pytest.fixture
def serve_cache(serve_gateway, tmp_path):
    """Serve `cache_toml` (placeholders: ``{tmp}``) with the test auth and embedder."""

    def serve(toml: str) -> Any:
        return serve_gateway(
            toml.replace("{tmp}", str(tmp_path)),
            plugins={"teams": TeamAuth},
            providers={"concepts": ConceptEmbedder},
        )

    return serve
