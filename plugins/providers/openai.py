"""`openai`: OpenAI and any server that speaks its API (`api_base` picks which).

The shared OpenAI-compatible passthrough (`openai_compatible`) with OpenAI's own headers:
requests go out as the client sent them (with the deployment's model name); answers come
back byte for byte. Streams always ask upstream for usage so the gateway can count tokens;
the core drops that final chunk again when the client did not ask for it.
"""

from __future__ import annotations

import attrs

from litegate import Deployment

from .openai_compatible import OpenAICompatibleProvider, Preset


class OpenAIProvider(OpenAICompatibleProvider):
    preset = Preset("openai", api_base="https://api.openai.com/v1", api_key_env="OPENAI_API_KEY")
    default_api_base = preset.api_base
    api_key_env = preset.api_key_env

    @attrs.frozen
    class Options:
        #: Sent as the `OpenAI-Organization` header.
        organization: str | None = None
        #: Sent as the `OpenAI-Project` header.
        project: str | None = None
        #: Extra headers sent upstream with every request.
        headers: dict[str, str] = attrs.field(factory=dict)

    async def upstream_headers(self, deployment: Deployment) -> dict[str, str]:
        headers = await super().upstream_headers(deployment)
        options = deployment.options
        if options is not None:
            if options.organization:
                headers["openai-organization"] = options.organization
            if options.project:
                headers["openai-project"] = options.project
        return headers
