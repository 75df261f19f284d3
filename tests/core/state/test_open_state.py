"""`open_state`: one URL names the backend; bad URLs say what is expected."""

from __future__ import annotations

import sys

import pytest

from litegate.state import DiskState, MemoryState, open_state


async def test_memory_and_disk(tmp_path):
    memory = await open_state("memory:", prefix="a:")
    assert isinstance(memory, MemoryState) and memory.prefix == "a:"
    disk = await open_state(f"disk:{tmp_path}/nested/kv")
    try:
        assert isinstance(disk, DiskState) and disk.prefix == "litegate:"
        assert (tmp_path / "nested" / "kv").is_dir()
    finally:
        await memory.aclose()
        await disk.aclose()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("disk:", "needs a directory"),
        ("memory:x", "expected a state URL like memory:, disk:PATH, redis://"),
        ("sqlite:///kv.db", "got 'sqlite:///kv.db'"),
        ("http://user:pw@example.test", "got 'http://user:***@example.test'"),
    ],
)
async def test_bad_urls(url: str, message: str):
    with pytest.raises(ValueError, match=message.replace("*", r"\*")) as caught:
        await open_state(url)
    assert ":pw@" not in str(caught.value)


async def test_redis_without_its_client_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "litegate.state._redis", None)
    with pytest.raises(ValueError, match=r"pip install 'litegate\[redis\]'"):
        await open_state("redis://127.0.0.1:6379/0")


@pytest.mark.services
async def test_redis(redis_url: str):
    state = await open_state(redis_url, prefix="litegate-test-open:")
    try:
        assert type(state).__name__ == "RedisState"
        assert state.prefix == "litegate-test-open:"
        assert await state.get("never-set") is None
    finally:
        await state.aclose()
