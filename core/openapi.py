"""The OpenAPI 3.1 document of the gateway's public API, served at ``GET /openapi.json``.

It describes what litegate accepts and answers, not all of OpenAI's API: the request fields
the gateway reads (others pass through to the provider), the answers' outer shape, and the
error shape every 4xx and 5xx shares. The fuzzing tests (schemathesis) generate requests
from it, valid and invalid, and check no answer is a server error.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ERROR_SCHEMA", "public_openapi"]

#: The OpenAI error shape every 4xx and 5xx of the gateway's own routes has (the admin API's
#: document uses it too).
ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type", "param", "code"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"], "description": "The field at fault."},
                "code": {"type": ["string", "null"]},
            },
        }
    },
}
_ERROR = ERROR_SCHEMA
#: /v1/messages answers errors the way Anthropic does, so Anthropic SDKs can read them.
_ANTHROPIC_ERROR = {
    "type": "object",
    "required": ["type", "error"],
    "properties": {
        "type": {"const": "error"},
        "error": {
            "type": "object",
            "required": ["type", "message"],
            "properties": {"type": {"type": "string"}, "message": {"type": "string"}},
        },
    },
}
_OBJECT = {"type": "object"}
_CONTENT_PART = {
    "type": "object",
    "required": ["type"],
    "properties": {"type": {"type": "string"}, "text": {"type": "string"}},
}
_MESSAGE = {
    "type": "object",
    "required": ["role"],
    "properties": {
        "role": {"enum": ["system", "developer", "user", "assistant", "tool", "function"]},
        "content": {
            "oneOf": [
                {"type": "string"},
                {"type": "array", "items": _CONTENT_PART},
                {"type": "null"},
            ]
        },
        "name": {"type": "string"},
        "tool_call_id": {"type": "string"},
        "tool_calls": {"type": "array", "items": _OBJECT},
    },
}
_SAMPLING = {
    "model": {"type": "string"},
    "stream": {"type": "boolean"},
    "temperature": {"type": "number", "minimum": 0, "maximum": 2},
    "top_p": {"type": "number", "minimum": 0, "maximum": 1},
    "max_tokens": {"type": "integer", "minimum": 1},
    "n": {"type": "integer", "minimum": 1, "maximum": 8},
    "stop": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
    "user": {"type": "string"},
    "seed": {"type": "integer"},
}
_CHAT = {
    "type": "object",
    "required": ["model", "messages"],
    "properties": {
        **_SAMPLING,
        "messages": {"type": "array", "minItems": 1, "items": _MESSAGE},
        "tools": {"type": "array", "items": _OBJECT},
        "tool_choice": {"oneOf": [{"type": "string"}, _OBJECT]},
        "response_format": _OBJECT,
        "stream_options": _OBJECT,
    },
}
_COMPLETIONS = {
    "type": "object",
    "required": ["model", "prompt"],
    "properties": {
        **_SAMPLING,
        "prompt": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
    },
}
_EMBEDDINGS = {
    "type": "object",
    "required": ["model", "input"],
    "properties": {
        "model": {"type": "string"},
        "input": {
            "oneOf": [
                {"type": "string", "minLength": 1},
                {"type": "array", "minItems": 1, "items": {"type": "string"}},
            ]
        },
        "encoding_format": {"enum": ["float", "base64"]},
        "dimensions": {"type": "integer", "minimum": 1},
    },
}
_MODERATIONS = {
    "type": "object",
    "required": ["input"],
    "properties": {"model": {"type": "string"}, "input": {"type": "string"}},
}
_ANTHROPIC_MESSAGES = {
    "type": "object",
    "required": ["model", "max_tokens", "messages"],
    "properties": {
        "model": {"type": "string"},
        "max_tokens": {"type": "integer", "minimum": 1},
        "messages": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["role", "content"],
                "properties": {
                    "role": {"enum": ["user", "assistant"]},
                    "content": {"oneOf": [{"type": "string"}, {"type": "array", "items": _OBJECT}]},
                },
            },
        },
        "system": {"oneOf": [{"type": "string"}, {"type": "array", "items": _OBJECT}]},
        "stream": {"type": "boolean"},
        "temperature": {"type": "number", "minimum": 0, "maximum": 1},
    },
}


def _responses(
    success: str = "The answer (an SSE stream when `stream` is true).",
    error_schema: dict[str, Any] = _ERROR,
) -> dict[str, Any]:
    error = {"content": {"application/json": {"schema": error_schema}}}
    return {
        "200": {"description": success},
        "400": {"description": "The request is malformed or invalid.", **error},
        "401": {"description": "No or an unknown key.", **error},
        "403": {"description": "The key may not use this model.", **error},
        "404": {"description": "Unknown model.", **error},
        "408": {"description": "The body arrived too slowly.", **error},
        "413": {"description": "The body is too large.", **error},
        "429": {"description": "A rate limit or budget was hit.", **error},
        "503": {"description": "Overloaded, or no deployment could answer.", **error},
        "default": {"description": "Other errors, in the same shape.", **error},
    }


def _post(
    summary: str, schema: dict[str, Any], error_schema: dict[str, Any] = _ERROR
) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}},
            "responses": _responses(error_schema=error_schema),
        }
    }


def public_openapi() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "litegate",
            "version": "1",
            "description": "The OpenAI- and Anthropic-compatible API of a litegate gateway.",
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "x-api-key": {"type": "apiKey", "in": "header", "name": "x-api-key"},
            }
        },
        "security": [{"bearer": []}, {"x-api-key": []}],
        "paths": {
            "/v1/chat/completions": _post("Chat completion", _CHAT),
            "/v1/completions": _post("Text completion", _COMPLETIONS),
            "/v1/embeddings": _post("Embeddings", _EMBEDDINGS),
            "/v1/moderations": _post("Moderation", _MODERATIONS),
            "/v1/messages": _post("Anthropic Messages", _ANTHROPIC_MESSAGES, _ANTHROPIC_ERROR),
            "/v1/models": {"get": {"summary": "Models served", "responses": _responses()}},
            "/v1/models/{model}": {
                "get": {
                    "summary": "One model",
                    "parameters": [
                        {
                            "name": "model",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": _responses(),
                }
            },
            "/health": {
                "get": {
                    "summary": "Liveness",
                    "security": [],
                    "responses": {"200": {"description": "Up"}},
                }
            },
            "/health/ready": {
                "get": {
                    "summary": "Readiness",
                    "security": [],
                    "responses": {
                        "200": {"description": "Ready"},
                        "503": {"description": "Starting"},
                    },
                }
            },
        },
    }
