from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest

from litegate import Call, Principal, hookimpl
from litegate.db import Database, queries
from litegate.db.queries import KEY_CHANGES_CHANNEL
from litegate.state import open_state

MESSAGES = [{"role": "user", "content": "hi"}]

MODELS = """
[[models]]
name = "gpt-4o"
provider = "mock"

[[models]]
name = "gpt-4o-mini"
provider = "mock"

[[models]]
name = "claude"
provider = "mock"
"""


class Spy:
    """A plugin that records the principal each call carries (put it after auth)."""

    seen: list[Principal] = []

    @hookimpl
    def pre_call(self, call: Call) -> None:
        assert call.principal is not None
        Spy.seen.append(call.principal)


def gateway_toml(db_url: str, kv: str, prefix: str = "litegate:", auth: str = "") -> str:
    return (
        f'[state]\nkv = "{kv}"\nprefix = "{prefix}"\ndb = "{db_url}"\n\n'
        f'[[pipeline]]\nplugin = "auth"\nmaster_key = "sk-master-topsecret-1"\n'
        f"virtual_keys = true\n{auth}\n" + MODELS
    )


def client(base_url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=20)


def chat(base_url: str, key: str, model: str = "gpt-4o") -> Any:
    with client(base_url, key) as sdk:
        return sdk.chat.completions.create(model=model, messages=MESSAGES)


@pytest.fixture
async def records(records_url) -> AsyncIterator[Database]:
    """The records database the gateway under test will use, migrated, for seeding."""
    db = Database(records_url)
    await db.connect()
    await db.upgrade()
    try:
        yield db
    finally:
        await db.aclose()


async def new_key(db: Database, **fields: Any) -> tuple[str, str]:
    """(key id, secret) of a new key with `fields`."""
    async with db.session() as session:
        key, secret = await queries.create_key(session, **fields)
    return key.id, secret


async def revoke_and_announce(db: Database, key_id: str, kv: str, prefix: str) -> None:
    """What the admin API does on revoke: change the row, then tell every worker."""
    async with db.session() as session:
        key = await queries.revoke_key(session, key_id)
        assert key is not None
        key_hash = key.key_hash
    state = await open_state(kv, prefix=prefix)
    try:
        await state.publish(KEY_CHANGES_CHANNEL, key_hash.encode())
    finally:
        await state.aclose()
