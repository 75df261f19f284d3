"""The OpenAPI 3.1 document of the admin API, generated from the same operations the plugin
serves (so a route can't exist without being described)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from litegate.openapi import ERROR_SCHEMA

from .operation import PREFIX, Operation
from .rbac import ACTIONS

__all__ = ["OPENAPI_PATH", "document"]

OPENAPI_PATH = PREFIX + "/openapi.json"

_ERROR = ERROR_SCHEMA
_DELETED = {
    "type": "object",
    "required": ["id", "object", "deleted"],
    "properties": {
        "id": {"type": "string"},
        "object": {"type": "string"},
        "deleted": {"const": True},
    },
}
_ERRORS = {
    "400": "Invalid input; `error.param` names the field.",
    "401": "No valid credential.",
    "403": "The caller's role or rights don't allow it.",
    "404": "No such resource in the caller's scope.",
    "409": "It conflicts with existing data (a name taken, a row still in use).",
}
_QUERY_DOCS = {
    "cursor": "The `next_cursor` of the previous page.",
    "limit": "Items per page, 1 to 1000.",
    "include_revoked": 'Set to "false" to leave revoked keys out.',
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: Mapping[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _list_schema(item: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["object", "data", "next_cursor", "has_more"],
        "properties": {
            "object": {"const": "list"},
            "data": {"type": "array", "items": _ref(item)},
            "next_cursor": {
                "type": ["string", "null"],
                "description": "Pass as `cursor` for the next page; null on the last one.",
            },
            "has_more": {"type": "boolean"},
        },
    }


def _operation(op: Operation) -> dict[str, Any]:
    roles = sorted(ACTIONS[op.action])
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"{(\w+)}", op.path)
    ]
    for name in (*op.query, *(("cursor", "limit") if op.paged else ())):
        schema = (
            {"type": "integer", "minimum": 1, "maximum": 1000}
            if name == "limit"
            else {"type": "string"}
        )
        doc = _QUERY_DOCS.get(name, f"Only those with this {name}.")
        parameters.append({"name": name, "in": "query", "schema": schema, "description": doc})
    responses: dict[str, Any] = {
        str(op.status): _json(_ref(op.response), "Success.")
        if op.response
        else {"description": "Success."}
    }
    for status, text in _ERRORS.items():
        if status != "404" or (parameters and parameters[0]["in"] == "path"):
            responses[status] = _json(_ref("Error"), text)
    spec: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "description": f"Roles: {', '.join(roles)} (then narrowed to the caller's scope).",
        "tags": [op.path.split("/")[1]],
        "x-roles": roles,
        "parameters": parameters,
        "responses": responses,
    }
    if op.request:
        spec["requestBody"] = {
            "required": op.method != "POST" or not op.path.endswith("/rotate"),
            "content": {"application/json": {"schema": _ref(op.request)}},
        }
    return spec


def document(operations: Sequence[Operation], schemas: Mapping[str, Any]) -> dict[str, Any]:
    """The OpenAPI document of `operations`, with the component `schemas` they name."""
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(op.full_path, {})[op.method.lower()] = _operation(op)
    paths[OPENAPI_PATH] = {
        "get": {
            "operationId": "openapi",
            "summary": "This document.",
            "tags": ["meta"],
            "security": [],
            "responses": {"200": {"description": "The OpenAPI document."}},
        }
    }
    components = dict(schemas)
    components["Error"] = _ERROR
    components["Deleted"] = _DELETED
    for op in operations:
        if op.response and op.response.endswith("List"):
            components[op.response] = _list_schema(op.response.removesuffix("List"))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "litegate admin API",
            "version": "1",
            "description": "Keys, users, teams, organizations and the audit log. "
            "See docs/admin-api.md.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }
