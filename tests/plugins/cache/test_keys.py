"""Cache keys and the memory tier, without a gateway."""

from __future__ import annotations

from litegate import Principal
from litegate.plugins.cache.keys import prompt_text, request_key, semantic_bucket, tenant_of
from litegate.plugins.cache.tiers import Entry, MemoryTier, Purges

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0}


def test_tenant_is_the_team_else_the_credential():
    assert tenant_of(Principal("k1", "virtual", team="t1"), "tenant") == "team:t1"
    assert tenant_of(Principal("k1", "virtual"), "tenant") == "virtual:k1"
    assert tenant_of(Principal("k1", "static"), "tenant") == "static:k1"
    assert tenant_of(Principal("k1", "virtual", team="t1"), "global") == "global"
    assert tenant_of(None, "tenant") == "anonymous"


def test_key_ignores_field_order_and_what_does_not_change_the_answer():
    key = request_key("team:a", "chat", False, CHAT)
    reordered = dict(reversed(CHAT.items()))
    assert request_key("team:a", "chat", False, reordered) == key
    extras = {**CHAT, "user": "u", "metadata": {"a": 1}, "stream_options": {}, "store": True}
    assert request_key("team:a", "chat", False, extras) == key


def test_key_changes_with_tenant_endpoint_stream_and_parameters():
    key = request_key("team:a", "chat", False, CHAT)
    assert request_key("team:b", "chat", False, CHAT) != key
    assert request_key("team:a", "completions", False, CHAT) != key
    assert request_key("team:a", "chat", True, CHAT) != key
    assert request_key("team:a", "chat", False, {**CHAT, "temperature": 1}) != key
    assert request_key("team:a", "chat", False, {**CHAT, "model": "n"}) != key
    assert request_key("team:a", "chat", False, {**CHAT, "seed": 1}) != key


def test_semantic_bucket_leaves_out_only_the_last_prompt():
    other_prompt = {**CHAT, "messages": [{"role": "user", "content": "hello"}]}
    bucket = semantic_bucket("team:a", "chat", False, CHAT)
    assert semantic_bucket("team:a", "chat", False, other_prompt) == bucket
    assert semantic_bucket("team:b", "chat", False, CHAT) != bucket
    assert semantic_bucket("team:a", "chat", False, {**CHAT, "temperature": 1}) != bucket
    system = {**CHAT, "messages": [{"role": "system", "content": "be terse"}, *CHAT["messages"]]}
    assert semantic_bucket("team:a", "chat", False, system) != bucket


def test_prompt_text():
    assert prompt_text("chat", CHAT) == "hi"
    parts = {"messages": [{"role": "user", "content": [{"type": "text", "text": "a"}]}]}
    assert prompt_text("chat", parts) == "a"
    image = {"type": "image_url", "image_url": {"url": "data:,"}}
    assert prompt_text("chat", {"messages": [{"role": "user", "content": [image]}]}) is None
    assert prompt_text("completions", {"prompt": "p"}) == "p"
    assert prompt_text("completions", {"prompt": ["p"]}) is None


def entry(key: str, size: int = 10, expires: float = 100.0, **meta: str) -> Entry:
    return Entry(
        key,
        "reply",
        b"x" * size,
        tenant=meta.get("tenant", "t"),
        model=meta.get("model", "m"),
        stored_at=1.0,
        expires_at=expires,
    )


def test_entries_round_trip():
    stored = entry("k", tenant="team:a", model="gpt")
    back = Entry.decode("k", stored.encode())
    assert back is not None
    assert (back.body, back.tenant, back.model, back.expires_at) == (
        b"x" * 10,
        "team:a",
        "gpt",
        100.0,
    )
    assert Entry.decode("k", b"garbage") is None


def test_memory_tier_evicts_least_recently_used_by_count_and_bytes():
    tier = MemoryTier(max_entries=2, max_bytes=25, ttl=50)
    tier.put(entry("a"), 0)
    tier.put(entry("b"), 0)
    assert tier.get("a", 0) is not None  # a is now the most recent
    tier.put(entry("c"), 0)
    assert tier.get("b", 0) is None and len(tier) == 2
    tier.put(entry("d", size=20), 0)  # 10 + 20 > 25: the oldest goes
    assert tier.get("a", 0) is None and tier.get("d", 0) is not None
    assert tier.bytes <= 25


def test_memory_tier_keeps_entries_no_longer_than_its_ttl_or_theirs():
    tier = MemoryTier(max_entries=10, max_bytes=1000, ttl=50)
    tier.put(entry("short", expires=10), 0)
    tier.put(entry("long", expires=1000), 0)
    assert tier.get("short", 9) is not None and tier.get("short", 10) is None
    assert tier.get("long", 49) is not None and tier.get("long", 50) is None


def test_purge_rules_cover_entries_stored_before_them():
    purges = Purges()
    assert not purges.covers(entry("a"))
    purges.merge({"tenant:other": 5.0})
    assert not purges.covers(entry("a"))
    purges.merge({"model:m": 0.5})
    assert not purges.covers(entry("a"))  # stored at 1.0, after the rule
    purges.merge({"model:m": 2.0})
    assert purges.covers(entry("a"))
    purges.expire(horizon=3.0)
    assert purges.rules == {"tenant:other": 5.0}
