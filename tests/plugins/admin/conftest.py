"""A served gateway with the admin plugin over a seeded records database (SQLite and
PostgreSQL), and a client per role.

The auth plugin's static keys stand for each role; org/team/user scoping comes from the
`team`/`org`/`user` fields of those keys, pointing at rows seeded before the server starts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import attrs
import httpx
import pytest

from litegate.db import Database, Role, queries

MASTER_KEY = "sk-master-canary-0123456789"
#: role -> the static key that carries it.
ROLE_KEYS = {
    "admin": "sk-static-admin-canary-0123",
    "org_admin": "sk-static-orgadmin-canary-0123",
    "team_admin": "sk-static-teamadmin-canary-0123",
    "member": "sk-static-member-canary-0123",
    "viewer": "sk-static-viewer-canary-0123",
}


@attrs.frozen
class World:
    """The seeded rows: organization acme with team platform (tom its team_admin, alice a
    member), and organization globex with team other (bob a member)."""

    url: str
    kv: str
    db_url: str
    acme: str
    globex: str
    platform: str
    other: str
    olga: str
    tom: str
    alice: str
    bob: str

    def client(self, role: str = "master") -> httpx.Client:
        key = MASTER_KEY if role == "master" else ROLE_KEYS[role]
        # A fresh connection per request: a kept-alive one the server times out while the
        # test works with another client would fail at random on a loaded machine.
        return httpx.Client(
            base_url=self.url + "/admin/v1",
            headers={"authorization": f"Bearer {key}"},
            limits=httpx.Limits(max_keepalive_connections=0),
            timeout=30,
        )


async def _seed(url: str) -> dict[str, str]:
    db = Database(url)
    await db.upgrade()
    async with db, db.session() as session:
        acme = await queries.create_org(session, name="acme")
        globex = await queries.create_org(session, name="globex")
        platform = await queries.create_team(session, name="platform", org_id=acme.id)
        other = await queries.create_team(session, name="other", org_id=globex.id)
        olga = await queries.create_user(
            session, role=Role.ORG_ADMIN, email="olga@acme.test", org_id=acme.id
        )
        tom = await queries.create_user(
            session, role=Role.TEAM_ADMIN, email="tom@acme.test", org_id=acme.id,
            team_id=platform.id,
        )  # fmt: skip
        alice = await queries.create_user(
            session, email="alice@acme.test", org_id=acme.id, team_id=platform.id
        )
        bob = await queries.create_user(
            session, email="bob@globex.test", org_id=globex.id, team_id=other.id
        )
        return {
            "acme": acme.id,
            "globex": globex.id,
            "platform": platform.id,
            "other": other.id,
            "olga": olga.id,
            "tom": tom.id,
            "alice": alice.id,
            "bob": bob.id,
        }


def config_toml(world: dict[str, str], kv: str, db_url: str, extra: str = "") -> str:
    scopes = {
        "admin": "",
        "org_admin": f'org = "{world["acme"]}", user = "{world["olga"]}"',
        "team_admin": f'org = "{world["acme"]}", team = "{world["platform"]}", '
        f'user = "{world["tom"]}"',
        "member": f'org = "{world["acme"]}", team = "{world["platform"]}", '
        f'user = "{world["alice"]}"',
        "viewer": f'org = "{world["acme"]}", team = "{world["platform"]}"',
    }
    keys = ",\n".join(
        f'  {{ name = "{role}-key", key = "{key}", role = "{role}"'
        + (f", {scopes[role]}" if scopes[role] else "")
        + " }"
        for role, key in ROLE_KEYS.items()
    )
    return f"""
[state]
kv = "{kv}"
db = "{db_url}"

[[pipeline]]
plugin = "auth"
master_key = "{MASTER_KEY}"
keys = [
{keys}
]

[[pipeline]]
plugin = "admin"
{extra}

[[models]]
name = "m"
provider = "mock"
"""


@pytest.fixture
def world(serve_gateway, records_url: str, tmp_path: Path) -> Iterator[World]:
    ids = asyncio.run(_seed(records_url))
    kv = f"disk:{tmp_path}/kv"
    server = serve_gateway(config_toml(ids, kv, records_url))
    yield World(url=server.url, kv=kv, db_url=records_url, **ids)
