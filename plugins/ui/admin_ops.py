"""The admin API's own handlers, called in-process: a UI form becomes the JSON body of the
same operation (`plugins.admin`), so it takes the same checks (roles, scope, rights), writes
the same audit entries and announces key changes on the same channel."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson
from starlette.requests import Request

from litegate import Gateway, GatewayError, Principal
from litegate.plugins.admin.context import Admin
from litegate.plugins.admin.plugin import OPERATIONS
from litegate.plugins.admin.rbac import ACTIONS

__all__ = ["AdminCalls", "allowed"]

_BY_ID = {op.operation_id: op for op in OPERATIONS}


def allowed(principal: Principal, operation_id: str) -> bool:
    """Whether `principal`'s role may run the admin operation at all."""
    return principal.role in ACTIONS[_BY_ID[operation_id].action]


class AdminCalls:
    def __init__(self, gateway: Gateway, page_size: int) -> None:
        self.admin = Admin(gateway, page_size=page_size, rotation_grace=86400.0)

    async def __call__(
        self,
        operation_id: str,
        principal: Principal,
        body: dict[str, Any] | None = None,
        *,
        path: dict[str, str] | None = None,
        query: dict[str, str] | None = None,
    ) -> Any:
        """Run the operation as `principal`; its JSON answer (a `GatewayError` as raised)."""
        op = _BY_ID[operation_id]
        if principal.role not in ACTIONS[op.action]:
            raise GatewayError(
                403,
                f"This needs one of the roles {', '.join(sorted(ACTIONS[op.action]))}; "
                f"yours is {principal.role or 'none'}.",
                code="insufficient_role",
            )
        raw = orjson.dumps(body) if body is not None else b""
        scope = {
            "type": "http",
            "method": op.method,
            "path": op.full_path,
            "headers": [(b"content-type", b"application/json")],
            "query_string": urlencode(query or {}).encode(),
            "path_params": path or {},
        }

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": raw, "more_body": False}

        response = await op.bind(self.admin)(Request(scope, receive), principal)
        return orjson.loads(bytes(response.body))
