"""Virtual keys: the secret is shown once and stored only as a hash; lists page stably;
updates, revocation and rotation; hostile-looking input is only ever data."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import inspect, select, text

from litegate.db import VirtualKey, queries

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


async def test_create_stores_only_a_hash_and_a_prefix(db):
    async with db.session() as session:
        key, secret = await queries.create_key(session, name="ci", rpm_limit=60)
    assert secret.startswith(queries.SECRET_PREFIX)
    assert len(secret) > 40
    assert key.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret.startswith(key.prefix) and len(key.prefix) < 16
    async with db.session() as session:
        stored = (await session.execute(text("SELECT * FROM virtual_keys"))).mappings().one()
    assert secret not in {str(value) for value in stored.values()}
    assert stored["key_hash"] == key.key_hash


async def test_find_by_secret_and_by_hash(db):
    async with db.session() as session:
        key, secret = await queries.create_key(session, name="app")
    async with db.session() as session:
        found = await queries.find_key(session, secret)
        assert found is not None and found.id == key.id
        assert (await queries.get_key_by_hash(session, key.key_hash)).id == key.id
        assert await queries.find_key(session, secret + "x") is None
        assert await queries.get_key(session, "missing") is None


async def test_create_refuses_unknown_fields(db):
    with pytest.raises(TypeError, match=r"no settable field.*key_hash"):
        async with db.session() as session:
            await queries.create_key(session, key_hash="chosen")


async def test_update_changes_only_what_is_named(db):
    async with db.session() as session:
        key, _ = await queries.create_key(
            session, name="old", tpm_limit=1000, allowed_models=["a"], meta={"x": 1}
        )
    async with db.session() as session:
        updated = await queries.update_key(
            session,
            key.id,
            name="new",
            allowed_models=["gpt-4o", "claude-*"],
            max_budget=Decimal("5.25"),
            enabled=False,
        )
        assert updated is not None
        assert await queries.update_key(session, "missing", name="x") is None
    async with db.session() as session:
        loaded = await queries.get_key(session, key.id)
    assert loaded is not None
    assert (loaded.name, loaded.tpm_limit, loaded.enabled) == ("new", 1000, False)
    assert loaded.allowed_models == ["gpt-4o", "claude-*"]
    assert loaded.max_budget == Decimal("5.25")
    assert loaded.meta == {"x": 1}
    assert not loaded.usable_at(NOW)


async def test_revoke_keeps_the_first_time(db):
    async with db.session() as session:
        key, _ = await queries.create_key(session)
        assert key.usable_at(NOW)
    async with db.session() as session:
        revoked = await queries.revoke_key(session, key.id, at=NOW)
        assert revoked is not None and revoked.revoked_at == NOW
        again = await queries.revoke_key(session, key.id, at=NOW + timedelta(hours=1))
        assert again is not None and again.revoked_at == NOW
        assert await queries.revoke_key(session, "missing") is None
    async with db.session() as session:
        loaded = await queries.get_key(session, key.id)
    assert loaded is not None and not loaded.usable_at(NOW)


async def test_expiry(db):
    async with db.session() as session:
        key, _ = await queries.create_key(session, expires_at=NOW + timedelta(days=1))
    assert key.usable_at(NOW)
    assert not key.usable_at(NOW + timedelta(days=1))


async def test_rotate_copies_settings_and_gives_the_old_key_a_grace_period(db):
    async with db.session() as session:
        team = await queries.create_team(session, name="t")
        old, old_secret = await queries.create_key(
            session, name="svc", team_id=team.id, allowed_models=["m"], meta={"a": [1]}
        )
    async with db.session() as session:
        rotated = await queries.rotate_key(session, old.id, grace=timedelta(hours=1), at=NOW)
        assert rotated is not None
        assert await queries.rotate_key(session, "missing", grace=timedelta(0)) is None
    _new, new_secret = rotated
    assert new_secret != old_secret
    async with db.session() as session:
        old_loaded = await queries.find_key(session, old_secret)
        new_loaded = await queries.find_key(session, new_secret)
    assert old_loaded is not None and new_loaded is not None
    assert new_loaded.rotated_from == old.id
    assert (new_loaded.name, new_loaded.team_id) == ("svc", team.id)
    assert new_loaded.allowed_models == ["m"] and new_loaded.meta == {"a": [1]}
    assert old_loaded.grace_until == NOW + timedelta(hours=1)
    assert old_loaded.usable_at(NOW + timedelta(minutes=59))
    assert not old_loaded.usable_at(NOW + timedelta(hours=1))
    assert new_loaded.usable_at(NOW + timedelta(days=1))


async def test_list_filters(db):
    async with db.session() as session:
        team = await queries.create_team(session, name="t")
        user = await queries.create_user(session, email="u@example.com")
        in_team, _ = await queries.create_key(session, team_id=team.id)
        revoked, _ = await queries.create_key(session, team_id=team.id)
        mine, _ = await queries.create_key(session, user_id=user.id)
        await queries.revoke_key(session, revoked.id)
    async with db.session() as session:
        by_team = await queries.list_keys(session, team_id=team.id)
        active = await queries.list_keys(session, team_id=team.id, include_revoked=False)
        by_user = await queries.list_keys(session, user_id=user.id)
    assert {k.id for k in by_team.items} == {in_team.id, revoked.id}
    assert [k.id for k in active.items] == [in_team.id]
    assert [k.id for k in by_user.items] == [mine.id]


async def test_pages_are_stable_while_keys_are_added(db):
    async with db.session() as session:
        made = [(await queries.create_key(session, name=f"k{i}"))[0] for i in range(7)]
        # Same creation instant for all: the id must break the tie.
        for key in made:
            key.created_at = NOW
    expected = sorted(key.id for key in made)
    seen: list[str] = []
    cursor = None
    added = False
    while True:
        async with db.session() as session:
            page = await queries.list_keys(session, cursor=cursor, limit=3)
            seen += [key.id for key in page.items]
            if not added:
                # Keys created mid-way come after everything already listed.
                late = [(await queries.create_key(session, name="late"))[0] for _ in range(2)]
                added = True
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen[:7] == expected
    assert sorted(seen[7:]) == sorted(key.id for key in late)
    assert len(seen) == len(set(seen)) == 9


async def test_bad_cursors_and_limits_are_refused(db):
    async with db.session() as session:
        for cursor in ("garbage", "W10", "WyJ4IiwgMV0"):  # not JSON, [], ["x", 1]
            with pytest.raises(ValueError, match="invalid cursor"):
                await queries.list_keys(session, cursor=cursor)
        for limit in (0, queries.MAX_PAGE_SIZE + 1):
            with pytest.raises(ValueError, match="limit"):
                await queries.list_keys(session, limit=limit)


HOSTILE = ["' OR 1=1 --", "x'); DROP TABLE virtual_keys; --", '" OR ""="', "\\'; --", "%_*"]


@pytest.mark.parametrize("hostile", HOSTILE)
async def test_sql_shaped_input_is_data(db, hostile):
    async with db.session() as session:
        key, _ = await queries.create_key(session, name=hostile, meta={hostile: hostile})
        team = await queries.create_team(session, name=hostile)
    async with db.session() as session:
        assert await queries.get_key_by_hash(session, hostile) is None
        assert await queries.find_key(session, hostile) is None
        assert await queries.get_key(session, hostile) is None
        assert (await queries.list_keys(session, team_id=hostile)).items == []
        assert (await queries.list_teams(session, org_id=hostile)).items == []
        assert await queries.update_key(session, hostile, name="x") is None
        assert await queries.revoke_key(session, hostile) is None
        loaded = await queries.get_key(session, key.id)
        assert loaded is not None and loaded.name == hostile
        assert loaded.meta == {hostile: hostile}
        assert (await queries.get_team(session, team.id)).name == hostile
        named = await session.scalars(select(VirtualKey.id).where(VirtualKey.name == hostile))
        assert list(named) == [key.id]
        tables = await session.run_sync(lambda s: inspect(s.connection()).get_table_names())
    assert "virtual_keys" in tables
