from __future__ import annotations

import pytest

from litegate.plugins.auth.cache import TTLCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_entries_expire_at_their_own_deadline():
    clock = Clock()
    cache: TTLCache[str] = TTLCache(10, clock)
    cache.put("a", "A", 5)
    cache.put("b", "B", 60)
    clock.now = 5
    assert cache.get("a") is None and cache.get("b") == "B"
    cache.put("c", "C", 0)  # not kept at all
    assert cache.get("c") is None


def test_bounded_least_recently_used_first():
    cache: TTLCache[int] = TTLCache(3, Clock())
    for number in range(3):
        cache.put(str(number), number, 60)
    assert cache.get("0") == 0  # now the most recently used
    cache.put("3", 3, 60)
    assert len(cache) == 3 and cache.get("1") is None and cache.get("0") == 0
    for number in range(1000):
        cache.put(f"flood-{number}", number, 60)
    assert len(cache) == 3


def test_discard_and_clear():
    cache: TTLCache[int] = TTLCache(3, Clock())
    cache.put("a", 1, 60)
    cache.discard("a")
    cache.discard("missing")
    assert cache.get("a") is None
    cache.put("b", 2, 60)
    cache.clear()
    assert len(cache) == 0


def test_size_must_be_positive():
    with pytest.raises(ValueError, match="at least 1"):
        TTLCache(0)
