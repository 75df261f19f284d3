"""Structural limits on request bodies, and the parameters a client may never send.

`validation.py` checks types; this module checks shape and trust: how deep the JSON nests,
how many messages and tools a request carries, and that no field anywhere in it tries to
choose where the gateway sends credentials (``api_base``, ``api_key``, custom headers...).
A client that could set those would make the gateway send the operator's provider key to a
host of the client's choosing (LiteLLM's advisories of 2024-2025). The check walks every
object at any depth, except inside JSON Schemas (tool parameters, structured-output
schemas), whose property names are the client's own vocabulary and never read by us.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import attrs

from .errors import GatewayError

__all__ = ["FORBIDDEN_PARAMETERS", "RequestLimits", "check_request"]

#: Fields that pick an upstream, its credentials or its headers. Refused at any depth unless
#: the operator allows one for a key (`Principal.allowed_parameters`).
FORBIDDEN_PARAMETERS = frozenset(
    {
        "api_base",
        "base_url",
        "api_key",
        "api_version",
        "api_type",
        "azure_endpoint",
        "azure_ad_token",
        "headers",
        "extra_headers",
        "default_headers",
        "extra_query",
        "custom_llm_provider",
        "organization",
        "proxy",
        "proxies",
        "aws_access_key_id",
        "aws_secret_access_key",
        "aws_session_token",
        "aws_region_name",
        "aws_profile_name",
        "aws_role_name",
        "vertex_credentials",
        "vertex_project",
        "vertex_location",
    }
)

#: Keys whose value is a JSON Schema written by the client (its property names are data).
_SCHEMA_KEYS = frozenset({"parameters", "input_schema", "schema"})


@attrs.frozen
class RequestLimits:
    """The `[server]` limits that apply to a parsed body (see `ServerConfig`)."""

    max_depth: int = 32
    max_messages: int = 2048
    max_tools: int = 512


def check_request(
    body: dict[str, Any],
    limits: RequestLimits,
    allowed: Collection[str] = (),
    *,
    trusted: bool = False,
) -> None:
    """Raise a 400 naming the first problem: too many messages/tools, nesting deeper than
    `limits.max_depth`, or a forbidden parameter (unless in `allowed`, or the caller is
    `trusted` code in the same process)."""
    for name, limit in (("messages", limits.max_messages), ("tools", limits.max_tools)):
        items = body.get(name)
        if isinstance(items, list) and len(items) > limit:
            raise GatewayError(
                400,
                f"Too many entries in '{name}': {len(items)}, this gateway accepts at most "
                f"{limit} ([server] max_{name}).",
                param=name,
                code="too_many_items",
            )
    forbidden = frozenset() if trusted else FORBIDDEN_PARAMETERS.difference(allowed)
    _walk(body, "", 1, limits.max_depth, forbidden)


def _walk(value: Any, path: str, depth: int, max_depth: int, forbidden: frozenset[str]) -> None:
    if depth > max_depth:
        raise GatewayError(
            400,
            f"The request nests deeper than {max_depth} levels (at '{path}'); "
            "flatten it or ask the operator to raise [server] max_json_depth.",
            param=path or None,
            code="nesting_too_deep",
        )
    if type(value) is dict:
        for key, item in value.items():
            at = f"{path}.{key}" if path else key
            if key in forbidden:
                raise GatewayError(
                    400,
                    f"The parameter '{at}' is not allowed: the gateway decides where requests "
                    "go and with which credentials.",
                    param=at,
                    code="forbidden_parameter",
                )
            if type(item) is dict or type(item) is list:
                # A JSON Schema's property names are the client's vocabulary: depth only.
                inner = frozenset() if key in _SCHEMA_KEYS else forbidden
                _walk(item, at, depth + 1, max_depth, inner)
    elif type(value) is list:
        for index, item in enumerate(value):
            if type(item) is dict or type(item) is list:
                _walk(item, f"{path}[{index}]", depth + 1, max_depth, forbidden)
