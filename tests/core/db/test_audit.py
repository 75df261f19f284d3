"""The audit log: entries appended with secrets masked, listed newest first."""

from __future__ import annotations

from datetime import UTC, datetime

from litegate.db import queries
from litegate.db.queries import MASK


async def test_append_masks_secrets_at_any_depth(db):
    before = {"name": "old", "key_hash": "abc", "nested": {"API_KEY": "sk-1", "ok": [1]}}
    after = {"name": "new", "key": "sk-lg-secret", "list": [{"password": "p", "x": 1}]}
    async with db.session() as session:
        entry = await queries.append_audit(
            session,
            actor="user:ada",
            action="key.update",
            target_type="key",
            target_id="k1",
            before=before,
            after=after,
        )
    async with db.session() as session:
        page = await queries.list_audit(session)
    [loaded] = page.items
    assert loaded.id == entry.id and loaded.at.tzinfo is UTC
    assert loaded.before == {
        "name": "old",
        "key_hash": MASK,
        "nested": {"API_KEY": MASK, "ok": [1]},
    }
    assert loaded.after == {"name": "new", "key": MASK, "list": [{"password": MASK, "x": 1}]}
    assert before["key_hash"] == "abc"  # the caller's dict is left alone


async def test_snapshot_of_a_row_is_json_ready_and_maskable(db):
    async with db.session() as session:
        key, secret = await queries.create_key(session, name="ci", expires_at=datetime.now(UTC))
        entry = await queries.append_audit(
            session,
            actor="master-key",
            action="key.create",
            target_type="key",
            target_id=key.id,
            after=queries.snapshot(key),
        )
    assert entry.before is None
    assert entry.after is not None
    assert entry.after["key_hash"] == MASK and entry.after["name"] == "ci"
    assert entry.after["expires_at"] == key.expires_at.isoformat()
    assert secret not in str(entry.after) and key.key_hash not in str(entry.after)


async def test_list_newest_first_with_filters_and_pages(db):
    async with db.session() as session:
        for i in range(5):
            await queries.append_audit(
                session,
                actor="user:a" if i % 2 else "user:b",
                action="team.update",
                target_type="team",
                target_id=f"t{i % 2}",
            )
    async with db.session() as session:
        first = await queries.list_audit(session, limit=2)
        second = await queries.list_audit(session, limit=2, cursor=first.next_cursor)
        third = await queries.list_audit(session, limit=2, cursor=second.next_cursor)
        by_actor = await queries.list_audit(session, actor="user:a")
        by_target = await queries.list_audit(session, target_type="team", target_id="t0")
    ids = [e.id for e in first.items + second.items + third.items]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 5
    assert third.next_cursor is None
    assert {e.actor for e in by_actor.items} == {"user:a"} and len(by_actor.items) == 2
    assert {e.target_id for e in by_target.items} == {"t0"} and len(by_target.items) == 3
