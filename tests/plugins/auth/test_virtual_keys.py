"""Virtual keys over real HTTP with the openai SDK, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from datetime import UTC, datetime, timedelta

import openai
import pytest

from litegate import GatewayError, Limits, Principal
from litegate.db import Role, queries
from litegate.db.queries import EVERY_KEY, KEY_CHANGES_CHANNEL
from litegate.plugins.auth import virtual_keys
from litegate.plugins.auth.virtual_keys import KeyRecord, VirtualKeys
from litegate.state import MemoryState, StateUnavailable, open_state

from .conftest import Spy, chat, gateway_toml, new_key, revoke_and_announce

PREFIX = "auth-test:"


@pytest.fixture
def kv(tmp_path) -> str:
    return f"disk:{tmp_path}/kv"


def serve(serve_gateway, records_url: str, kv: str, auth: str = "", spy: bool = False):
    toml = gateway_toml(records_url, kv, PREFIX, auth)
    if spy:
        Spy.seen = []
        toml = toml.replace("[[models]]", '[[pipeline]]\nplugin = "spy"\n\n[[models]]', 1)
    return serve_gateway(toml, plugins={"spy": Spy})


async def test_a_key_calls_its_models_and_is_refused_others(
    serve_gateway, records, records_url, kv
):
    async with records.session() as session:
        team = await queries.create_team(session, name="t", allowed_models=["gpt-4o*"])
    _id, secret = await new_key(records, team_id=team.id, allowed_models=["gpt-4o"])
    server = serve(serve_gateway, records_url, kv)

    reply = chat(server.base_url, secret, "gpt-4o")
    assert reply.choices[0].message.content
    for model in ("gpt-4o-mini", "claude"):  # narrowed out by the key; not the team's
        with pytest.raises(openai.PermissionDeniedError) as raised:
            chat(server.base_url, secret, model)
        assert raised.value.status_code == 403
        assert raised.value.body["code"] == "model_not_allowed"
        assert secret not in raised.value.response.text


async def test_a_revoked_key_is_refused_on_the_next_request(
    serve_gateway, records, records_url, kv
):
    key_id, secret = await new_key(records)
    server = serve(serve_gateway, records_url, kv)
    chat(server.base_url, secret)  # now cached by the worker

    await revoke_and_announce(records, key_id, kv, PREFIX)
    revoked_at = time.monotonic()
    while True:
        try:
            chat(server.base_url, secret)
        except openai.AuthenticationError as error:
            assert error.body["code"] == "invalid_api_key"
            assert secret not in error.response.text
            break
        assert time.monotonic() - revoked_at < 1.0, "the revoked key still works after 1 s"
        time.sleep(0.02)


async def test_a_changed_team_reaches_its_cached_keys_at_once(
    serve_gateway, records, records_url, kv
):
    """A key carries its team's settings; when the team changes, the admin API announces
    `EVERY_KEY` and every worker forgets its cached keys, so the next request sees it."""
    async with records.session() as session:
        team = await queries.create_team(session, name="t", allowed_models=["gpt-4o*"])
    _id, secret = await new_key(records, team_id=team.id)
    server = serve(serve_gateway, records_url, kv)
    chat(server.base_url, secret, "gpt-4o")  # now cached by the worker

    async with records.session() as session:
        await queries.update_team(session, team.id, allowed_models=["claude*"])
    state = await open_state(kv, prefix=PREFIX)
    try:
        await state.publish(KEY_CHANGES_CHANNEL, EVERY_KEY.encode())
    finally:
        await state.aclose()
    changed_at = time.monotonic()
    while True:
        try:
            chat(server.base_url, secret, "gpt-4o")
        except openai.PermissionDeniedError as error:
            assert error.body["code"] == "model_not_allowed"
            break
        assert time.monotonic() - changed_at < 1.0, "the team's old models still work after 1 s"
        time.sleep(0.02)


async def test_unusable_keys_are_401(serve_gateway, records, records_url, kv):
    past = datetime.now(UTC) - timedelta(minutes=1)
    _, expired = await new_key(records, expires_at=past)
    _, disabled = await new_key(records, enabled=False)
    old_id, rotated_out = await new_key(records)
    graced_id, graced = await new_key(records)
    async with records.session() as session:
        await queries.rotate_key(session, old_id, grace=timedelta(0))
        _, successor = await queries.rotate_key(session, graced_id, grace=timedelta(hours=1))
    server = serve(serve_gateway, records_url, kv)

    unknown = "sk-lg-" + secrets.token_urlsafe(32)
    for secret in (expired, disabled, rotated_out, unknown, "not-a-key-at-all"):
        with pytest.raises(openai.AuthenticationError) as raised:
            chat(server.base_url, secret)
        assert raised.value.body["code"] == "invalid_api_key"
        assert secret not in raised.value.response.text
    # Within its grace period a rotated key still works, beside its successor.
    assert chat(server.base_url, graced).choices
    assert chat(server.base_url, successor).choices
    # The static keys still work next to the virtual ones.
    assert chat(server.base_url, "sk-master-topsecret-1").choices


async def test_the_principal_carries_the_key_team_user_and_limits(
    serve_gateway, records, records_url, kv
):
    async with records.session() as session:
        org = await queries.create_org(session, name="acme")
        team = await queries.create_team(
            session, name="ml", org_id=org.id, allowed_models=["gpt-4o*"], rpm_limit=60,
            tpm_limit=10_000,
        )  # fmt: skip
        user = await queries.create_user(session, role=Role.TEAM_ADMIN, team_id=team.id)
    key_id, secret = await new_key(
        records, name="ci", team_id=team.id, user_id=user.id, rpm_limit=5, max_parallel=2
    )
    _, bare = await new_key(records)
    server = serve(serve_gateway, records_url, kv, spy=True)

    chat(server.base_url, secret, "gpt-4o-mini")
    chat(server.base_url, bare, "claude")
    keyed, unattached = Spy.seen
    assert (keyed.id, keyed.kind, keyed.user, keyed.team, keyed.org) == (
        key_id, "virtual", user.id, team.id, org.id,
    )  # fmt: skip
    assert keyed.role == "team_admin" and keyed.metadata == {"key_name": "ci"}
    assert keyed.models == ("gpt-4o*",)  # inherited from the team
    assert keyed.limits == Limits(rpm=5, tpm=10_000, max_parallel=2)  # own, else the team's
    assert (unattached.role, unattached.models, unattached.limits) == ("member", None, None)


async def test_unknown_keys_are_remembered_in_a_bounded_cache(
    make_gateway, records, records_url, kv
):
    auth = "negative_cache_size = 10\nkey_cache_size = 5\n"
    gateway = make_gateway(gateway_toml(records_url, kv, PREFIX, auth))
    await gateway.start()
    plugin = gateway.plugins[0]
    for _ in range(50):
        with pytest.raises(Exception, match="Invalid API key"):
            await gateway.authenticate({"authorization": "Bearer sk-lg-" + secrets.token_hex(8)})
    assert len(plugin.virtual._missing) == 10
    secrets_ = [(await new_key(records))[1] for _ in range(8)]
    for secret in secrets_:
        assert (await gateway.authenticate({"x-api-key": secret})).kind == "virtual"
    assert len(plugin.virtual._found) == 5
    await gateway.aclose()


async def test_a_lookup_that_overlaps_a_change_is_not_cached(
    make_gateway, records, records_url, kv
):
    gateway = make_gateway(gateway_toml(records_url, kv, PREFIX))
    await gateway.start()
    virtual = gateway.plugins[0].virtual
    _key_id, secret = await new_key(records)
    headers = {"x-api-key": secret}

    load = virtual._load

    async def load_then_revoke(key_hash: str):
        record = await load(key_hash)
        virtual.invalidate(key_hash)  # a change announced while the lookup ran
        return record

    virtual._load = load_then_revoke
    await gateway.authenticate(headers)
    assert len(virtual._found) == 0
    virtual._load = load
    await gateway.authenticate(headers)
    assert len(virtual._found) == 1
    await gateway.aclose()


async def test_concurrent_requests_with_a_new_key_share_one_lookup(
    make_gateway, records, records_url, kv
):
    gateway = make_gateway(gateway_toml(records_url, kv, PREFIX))
    await gateway.start()
    virtual = gateway.plugins[0].virtual
    _, secret = await new_key(records)
    loads = 0
    load = virtual._load

    async def counted(key_hash: str):
        nonlocal loads
        loads += 1
        await asyncio.sleep(0.05)
        return await load(key_hash)

    virtual._load = counted
    principals = await asyncio.gather(
        *(gateway.authenticate({"x-api-key": secret}) for _ in range(20))
    )
    assert loads == 1 and {p.kind for p in principals} == {"virtual"}
    assert len({id(p) for p in principals}) == 20  # each call has its own principal
    await gateway.aclose()


async def test_a_failing_database_is_503_without_the_key(
    make_gateway, records, records_url, kv, caplog
):
    gateway = make_gateway(gateway_toml(records_url, kv, PREFIX))
    await gateway.start()
    _, secret = await new_key(records)
    db = await gateway.open_db()
    await db.aclose()  # the database goes away under the gateway
    with pytest.raises(GatewayError) as raised:
        await gateway.authenticate({"authorization": f"Bearer {secret}"})
    assert (raised.value.status, raised.value.code) == (503, "auth_unavailable")
    assert secret not in raised.value.body().decode() and secret not in caplog.text
    await gateway.aclose()


async def test_the_listener_survives_a_broken_subscription(monkeypatch):
    monkeypatch.setattr(virtual_keys, "RESUBSCRIBE_DELAY", 0.01)
    keys = VirtualKeys(ttl=60, negative_ttl=5, size=10, negative_size=10)
    record = KeyRecord(Principal("k", "virtual"), True, None, None, None)
    keys._found.put("h1", record, 60)
    state = MemoryState("t:")

    class Broken:
        async def __anext__(self):
            raise StateUnavailable("the store went away")

        def __aiter__(self):
            return self

        async def aclose(self):
            pass

    listener = asyncio.create_task(keys._listen(state, Broken()))
    # Broken: the cache is emptied (changes may be missed), then it subscribes again.
    while keys._generation < 2:
        await asyncio.sleep(0.01)
    assert len(keys._found) == 0
    keys._found.put("h2", record, 60)
    keys._found.put("h3", record, 60)
    await state.publish(KEY_CHANGES_CHANNEL, b"h2")
    while keys._found.get("h2") is not None:
        await asyncio.sleep(0.01)
    assert keys._found.get("h3") is record
    listener.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await listener
    await state.aclose()
