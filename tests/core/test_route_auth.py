"""`guarded` routes: authenticated by the pipeline's authenticate hooks, checked by role."""

from __future__ import annotations

import httpx
from starlette.responses import JSONResponse
from starlette.routing import Route

from litegate import hookimpl
from litegate.route_auth import guarded

CONFIG = """
[[pipeline]]
plugin = "auth"
master_key = "sk-master-canary"
keys = [{ name = "app", key = "sk-member-canary", role = "member" }]

[[pipeline]]
plugin = "whoami"

[[models]]
name = "m"
provider = "mock"
"""

NO_AUTH = """
[[pipeline]]
plugin = "whoami"

[[models]]
name = "m"
provider = "mock"
"""


class WhoAmI:
    def __init__(self, config: object = None) -> None:
        pass

    @hookimpl
    def routes(self, gateway):
        async def me(request, principal):
            return JSONResponse({"id": principal.id, "role": principal.role})

        return [
            Route("/whoami", guarded(gateway, me)),
            Route("/admin-only", guarded(gateway, me, roles={"admin"})),
        ]


def test_roles_and_rejections(serve_gateway):
    server = serve_gateway(CONFIG, plugins={"whoami": WhoAmI})
    with httpx.Client(base_url=server.url) as client:
        member = {"authorization": "Bearer sk-member-canary"}
        master = {"authorization": "Bearer sk-master-canary"}
        assert client.get("/whoami", headers=member).json() == {"id": "app", "role": "member"}
        assert client.get("/admin-only", headers=master).json()["role"] == "admin"

        denied = client.get("/admin-only", headers=member)
        assert denied.status_code == 403
        assert denied.json()["error"]["code"] == "insufficient_role"

        missing = client.get("/whoami")
        assert missing.status_code == 401
        assert set(missing.json()["error"]) == {"message", "type", "param", "code"}

        wrong = client.get("/whoami", headers={"authorization": "Bearer sk-wrong-canary"})
        assert wrong.status_code == 401
        assert "canary" not in wrong.text


def test_without_an_auth_plugin_guarded_routes_refuse_everyone(serve_gateway):
    server = serve_gateway(NO_AUTH, plugins={"whoami": WhoAmI})
    with httpx.Client(base_url=server.url) as client:
        assert client.get("/whoami", headers={"authorization": "Bearer x"}).status_code == 401
