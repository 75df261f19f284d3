"""A served gateway with the UI, the admin API, the request log, cost and spend over a
SQLite records database, and a browser-like client that signs in."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
import httpx
import pytest

MASTER_KEY = "sk-master-ui-canary-0123456789"
VIEWER_KEY = "sk-viewer-ui-canary-0123456789"
MEMBER_KEY = "sk-member-ui-canary-0123456789"
TEAM_ADMIN_KEY = "sk-teamadmin-ui-canary-0123456789"

TOML = """
[state]
kv = "memory:"
db = "{db}"

[[pipeline]]
plugin = "auth"
master_key = "{master}"
virtual_keys = true
keys = [
  {{ name = "viewer-key", key = "{viewer}", role = "viewer" }},
  {{ name = "member-key", key = "{member}", role = "member", user = "nobody" }},
  {{ name = "team-admin-key", key = "{team_admin}", role = "team_admin", team = "t-ui" }},
]

[[pipeline]]
plugin = "logging"

[[pipeline]]
plugin = "router"

[[pipeline]]
plugin = "admin"

[[pipeline]]
plugin = "cost"

[[pipeline]]
plugin = "spend"
flush_interval = "50ms"

[[pipeline]]
plugin = "request_log"
flush_interval = "50ms"

[[pipeline]]
plugin = "ui"

[[models]]
name = "m"
provider = "mock"
pricing = {{ input_per_million = 1000, output_per_million = 2000 }}

[[models]]
name = "other"
provider = "mock"
"""


@attrs.frozen
class Served:
    url: str
    clients: list[httpx.Client] = attrs.field(factory=list)

    def client(self) -> httpx.Client:
        client = httpx.Client(base_url=self.url, timeout=30, follow_redirects=False)
        self.clients.append(client)
        return client

    def close(self) -> None:
        for client in self.clients:
            client.close()

    def sign_in(self, credential: str = MASTER_KEY) -> httpx.Client:
        """A client holding a signed-in session (cookie), like a browser."""
        client = self.client()
        response = sign_in(client, credential)
        assert response.status_code == 303, response.text
        return client

    def chat(self, model: str = "m", key: str = MASTER_KEY) -> httpx.Response:
        return httpx.post(
            self.url + "/v1/chat/completions",
            headers={"authorization": f"Bearer {key}"},
            json={"model": model, "messages": [{"role": "user", "content": "hello"}]},
            timeout=30,
        )

    def wait_logged(self, count: int, client: httpx.Client, *, spend: bool = True) -> None:
        """Until the request log and the spend ledger hold `count` calls."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            page = client.get("/ui/overview").text
            found = re.search(r'id="total-requests">(\d+)<', page)
            logged = found is not None and int(found.group(1)) >= count
            if logged and (not spend or "No spend in" not in client.get("/ui/spend").text):
                return
            time.sleep(0.1)
        raise AssertionError(f"{count} calls never reached the request log")


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def sign_in(client: httpx.Client, credential: str) -> httpx.Response:
    form = client.get("/ui/login")
    assert form.status_code == 200
    return client.post("/ui/login", data={"csrf": csrf_of(form.text), "credential": credential})


@pytest.fixture
def served(serve_gateway: Callable[..., object], tmp_path: Path) -> Iterator[Served]:
    toml = TOML.format(
        db=f"sqlite:///{tmp_path}/records.db",
        master=MASTER_KEY,
        viewer=VIEWER_KEY,
        member=MEMBER_KEY,
        team_admin=TEAM_ADMIN_KEY,
    )
    server = serve_gateway(toml)
    served = Served(server.url)  # type: ignore[attr-defined]
    yield served
    served.close()
