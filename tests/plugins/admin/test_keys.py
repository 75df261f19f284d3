"""`/admin/v1/keys` over real HTTP: create (secret once), read, list in pages, update,
revoke and rotate (each announced on the key-changes channel)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import httpx

from litegate.db import Database, queries
from litegate.state import open_state

from .conftest import MASTER_KEY


def test_create_shows_the_secret_once(world):
    with world.client() as admin:
        created = admin.post(
            "/keys",
            json={"name": "ci", "team_id": world.platform, "allowed_models": ["gpt-*"],
                  "rpm_limit": 60, "max_budget": 12.5, "metadata": {"app": "ci"}},
        )  # fmt: skip
        assert created.status_code == 201, created.text
        key = created.json()
        secret = key["key"]
        assert secret.startswith(queries.SECRET_PREFIX)
        assert secret.startswith(key["prefix"]) and len(key["prefix"]) < len(secret)
        assert key["team_id"] == world.platform
        assert key["allowed_models"] == ["gpt-*"]
        assert key["max_budget"] == 12.5
        assert key["metadata"] == {"app": "ci"}
        assert key["enabled"] is True and key["revoked_at"] is None

        read = admin.get(f"/keys/{key['id']}")
        assert read.status_code == 200
        assert "key" not in read.json() and "key_hash" not in read.json()
        listed = admin.get("/keys").json()
        assert [item["id"] for item in listed["data"]] == [key["id"]]
        for text in (read.text, admin.get("/keys").text):
            assert secret not in text


def test_the_stored_key_authenticates_by_its_hash(world):
    with world.client() as admin:
        key = admin.post("/keys", json={"name": "x"}).json()

    async def find():
        async with Database(world.db_url) as db, db.session() as session:
            return await queries.find_key(session, key["key"])

    found = asyncio.run(find())
    assert found is not None and found.id == key["id"]


def test_pages_walk_every_key_once(world):
    with world.client() as admin:
        made = [admin.post("/keys", json={"name": f"k{i}"}).json()["id"] for i in range(5)]
        seen, cursor, pages = [], None, 0
        while True:
            params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
            page = admin.get("/keys", params=params).json()
            seen += [item["id"] for item in page["data"]]
            pages += 1
            assert page["has_more"] is (page["next_cursor"] is not None)
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == made and pages == 3

        assert admin.get("/keys", params={"cursor": "garbage"}).json()["error"]["param"] == "cursor"
        for limit in ("0", "1001", "x"):
            bad = admin.get("/keys", params={"limit": limit})
            assert bad.status_code == 400 and bad.json()["error"]["param"] == "limit"


def test_update_and_filters(world):
    with world.client() as admin:
        key = admin.post("/keys", json={"name": "a", "team_id": world.platform}).json()
        admin.post("/keys", json={"name": "b", "team_id": world.other})
        patched = admin.patch(
            f"/keys/{key['id']}",
            json={"enabled": False, "expires_at": "2030-01-01T00:00:00Z", "tpm_limit": 1000},
        )
        assert patched.status_code == 200, patched.text
        body = patched.json()
        assert body["enabled"] is False and body["tpm_limit"] == 1000
        assert datetime.fromisoformat(body["expires_at"]) == datetime.fromisoformat(
            "2030-01-01T00:00:00+00:00"
        )
        only = admin.get("/keys", params={"team_id": world.platform}).json()["data"]
        assert [item["name"] for item in only] == ["a"]


def test_bad_input_is_400_naming_the_field(world):
    with world.client() as admin:
        cases = [
            ({"name": 5}, "name"),
            ({"rpm_limit": -1}, "rpm_limit"),
            ({"rpm_limit": 2**40}, "rpm_limit"),
            ({"rpm_limit": True}, "rpm_limit"),
            ({"allowed_models": "gpt-4"}, "allowed_models"),
            ({"expires_at": "tomorrow"}, "expires_at"),
            ({"expires_at": "2030-01-01T00:00:00"}, "expires_at"),
            ({"max_budget": "lots"}, "max_budget"),
            ({"max_budget": "NaN"}, "max_budget"),
            ({"budget_period": "hourly"}, "budget_period"),
            ({"metadata": [1]}, "metadata"),
            ({"name": "a\x00b"}, "name"),
            ({"enabled": None}, "enabled"),
            ({"team_id": "no-such-team"}, "team_id"),
            ({"key_hash": "abc"}, "key_hash"),
            ({"prefix": "sk-"}, "prefix"),
        ]
        for body, field in cases:
            response = admin.post("/keys", json=body)
            assert response.status_code == 400, (body, response.text)
            error = response.json()["error"]
            assert error["param"] == field, (body, error)
            assert set(error) == {"message", "type", "param", "code"}
        assert admin.post("/keys", content=b"{not json").status_code == 400
        assert admin.post("/keys", json=[1, 2]).status_code == 400
        assert admin.patch("/keys/nope", json={"name": "x"}).status_code == 404
        assert admin.get("/keys/nope").status_code == 404
        assert admin.get("/keys/" + "x" * 500).status_code == 404
        assert admin.get("/keys/a%00b").status_code == 404
        assert admin.delete("/keys/nope").status_code == 404
        assert admin.post("/keys/nope/rotate").status_code == 404


async def test_revoke_is_announced_and_idempotent(world):
    state = await open_state(world.kv)
    headers = {"authorization": f"Bearer {MASTER_KEY}"}
    async with httpx.AsyncClient(base_url=world.url + "/admin/v1", headers=headers) as admin:
        key = (await admin.post("/keys", json={"name": "doomed"})).json()
        key_hash = queries.hash_secret(key["key"])
        async with state.subscribe(queries.KEY_CHANGES_CHANNEL) as messages:
            revoked = await admin.delete(f"/keys/{key['id']}")
            assert revoked.status_code == 200
            assert revoked.json()["revoked_at"] is not None
            message = await asyncio.wait_for(anext(messages), 10)
            assert message == key_hash.encode()

            again = await admin.post(f"/keys/{key['id']}/revoke")
            assert again.json()["revoked_at"] == revoked.json()["revoked_at"]
            assert await asyncio.wait_for(anext(messages), 10) == key_hash.encode()

            updated = await admin.patch(f"/keys/{key['id']}", json={"name": "renamed"})
            assert updated.status_code == 200
            assert await asyncio.wait_for(anext(messages), 10) == key_hash.encode()

        assert (await admin.post(f"/keys/{key['id']}/rotate")).status_code == 409
        listed = (await admin.get("/keys", params={"include_revoked": "false"})).json()
        assert key["id"] not in [item["id"] for item in listed["data"]]
    await state.aclose()


async def test_rotate_gives_a_new_secret_and_a_grace_period(world):
    state = await open_state(world.kv)
    headers = {"authorization": f"Bearer {MASTER_KEY}"}
    async with httpx.AsyncClient(base_url=world.url + "/admin/v1", headers=headers) as admin:
        old = (await admin.post("/keys", json={"name": "svc", "rpm_limit": 5})).json()
        async with state.subscribe(queries.KEY_CHANGES_CHANNEL) as messages:
            rotated = await admin.post(f"/keys/{old['id']}/rotate", json={"grace_period": "1h"})
            assert rotated.status_code == 201, rotated.text
            assert (
                await asyncio.wait_for(anext(messages), 10)
                == queries.hash_secret(old["key"]).encode()
            )
        new = rotated.json()
        assert new["key"] != old["key"] and new["id"] != old["id"]
        assert new["rotated_from"] == old["id"] and new["rpm_limit"] == 5
        before = (await admin.get(f"/keys/{old['id']}")).json()
        grace = datetime.fromisoformat(before["grace_until"]) - datetime.fromisoformat(
            rotated.json()["created_at"]
        )
        assert timedelta(minutes=59) < grace <= timedelta(hours=1, seconds=5)
        bad = await admin.post(f"/keys/{new['id']}/rotate", json={"grace_period": "forever"})
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "grace_period"
    await state.aclose()


async def test_team_and_user_changes_are_announced_for_every_key(world):
    """Keys carry their team's and user's settings: changing either tells every worker's
    auth cache to forget its keys (`EVERY_KEY`)."""
    state = await open_state(world.kv)
    headers = {"authorization": f"Bearer {MASTER_KEY}"}
    async with (
        httpx.AsyncClient(base_url=world.url + "/admin/v1", headers=headers) as admin,
        state.subscribe(queries.KEY_CHANGES_CHANNEL) as messages,
    ):
        changed = await admin.patch(f"/teams/{world.platform}", json={"rpm_limit": 5})
        assert changed.status_code == 200, changed.text
        assert await asyncio.wait_for(anext(messages), 10) == queries.EVERY_KEY.encode()
        changed = await admin.patch(f"/users/{world.alice}", json={"max_budget": 3})
        assert changed.status_code == 200, changed.text
        assert await asyncio.wait_for(anext(messages), 10) == queries.EVERY_KEY.encode()
    await state.aclose()
