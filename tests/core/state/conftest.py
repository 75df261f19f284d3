"""Each contract test runs on every backend: memory, disk (a directory under tmp_path) and
Redis (the test server, under a key prefix of this test's own, whose keys are deleted
afterwards; nothing else on the server is touched)."""

from __future__ import annotations

import multiprocessing
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from multiprocessing.pool import Pool

import pytest

from litegate.state import DiskState, MemoryState, State

BACKENDS = ["memory", "disk", pytest.param("redis", marks=pytest.mark.services)]

#: Opens another State on the same store as the test's `state` (another worker, another
#: instance; skips on memory); `prefix` defaults to the test's own.
OpenSibling = Callable[..., Awaitable[State]]


async def forget_prefix(redis_url: str, prefix: str) -> None:
    """Delete the keys under `prefix` (ours alone: a uuid), never anything else."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=prefix + "*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture
def prefix() -> str:
    return f"test-{uuid.uuid4().hex}:"


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path) -> str:
    """What `open_state` would be given: ``memory:``, ``disk:PATH`` or the Redis URL."""
    if request.param == "memory":
        return "memory:"
    if request.param == "disk":
        return f"disk:{tmp_path}/kv"
    url: str = request.getfixturevalue("redis_url")
    return url


@pytest.fixture
async def open_sibling(backend: str, prefix: str) -> AsyncIterator[OpenSibling]:
    opened: list[State] = []

    async def open_sibling(other_prefix: str | None = None) -> State:
        chosen = prefix if other_prefix is None else other_prefix
        state: State
        if backend == "memory:":
            if opened:
                pytest.skip("a MemoryState shares nothing with another one")
            state = MemoryState(chosen)
        elif backend.startswith("disk:"):
            state = DiskState(backend.removeprefix("disk:"), chosen)
        else:
            from litegate.state._redis import RedisState

            state = await RedisState.connect(backend, chosen)
        opened.append(state)
        return state

    yield open_sibling
    for state in opened:
        await state.aclose()
    if backend.startswith("redis"):
        for used in {state.prefix for state in opened}:
            await forget_prefix(backend, used)


@pytest.fixture
async def state(open_sibling: OpenSibling) -> State:
    return await open_sibling()


@pytest.fixture(scope="session", autouse=True)
def spawn_pool() -> Iterator[Pool]:
    """Worker processes (spawned, as Hypercorn's are) for races across processes.

    Started with the first test here, so they import litegate (most of a second each)
    while the contract tests sleep through their TTLs, not while a race test waits.
    """
    from . import workers

    pool = multiprocessing.get_context("spawn").Pool(workers.PROCESSES, workers.warm_up)
    try:
        yield pool
    finally:
        pool.close()
        pool.join()
