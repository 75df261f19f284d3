"""`Gateway.open_db`: the records database, migrated on first use, closed with the gateway."""

from __future__ import annotations

from litegate.db import Database, queries

CONFIG = """
[state]
kv = "memory:"
db = "{url}"
migrate = {migrate}

[[models]]
name = "m"
provider = "mock"
"""


async def test_open_db_migrates_once_and_is_shared(make_gateway, records_url):
    gateway = make_gateway(CONFIG.format(url=records_url, migrate="true"))
    db = await gateway.open_db()
    assert await gateway.open_db() is db
    assert await db.current_revision() == Database.head_revision()
    async with db.session() as session:
        team = await queries.create_team(session, name="platform")
    async with db.session() as session:
        assert (await queries.get_team(session, team.id)).name == "platform"
    await gateway.aclose()
    assert gateway._db is None


async def test_migrate_off_leaves_the_schema_alone(make_gateway, records_url):
    gateway = make_gateway(CONFIG.format(url=records_url, migrate="false"))
    db = await gateway.open_db()
    assert await db.current_revision() is None
    await gateway.aclose()
