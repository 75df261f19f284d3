"""Shared state: the counters, limits, values and messages that rate limits, budgets, the
router, tenancy and the response cache keep, behind one small async interface, `State`.

``[state] kv`` picks the backend; `open_state` opens it:

``memory:`` → `MemoryState`
    A dict in this process. Atomic within its event loop; nothing is shared with other
    processes, and nothing survives a restart. For tests and single-process use.
``disk:PATH`` → `DiskState` (the default, ``disk:.litegate/kv``)
    A diskcache (SQLite) directory shared by every worker process of one host. Each
    operation is one SQLite transaction, so it is atomic across those processes; values
    survive restarts. Operations block for ~10-200 us (see `_disk.py`); pub/sub is a change
    log polled every 0.2 s.
``redis://…`` / ``rediss://…`` → `RedisState` (needs ``litegate[redis]``)
    One Redis for every instance on every host. Each read-modify-write is one Lua script,
    atomic on the server; windows and slots run on the server's clock. Pub/sub is Redis's.

Every backend gives every operation the same meaning (one contract test suite runs on all
three), and namespaces keys and channels under a prefix so gateways can share a store.
"""

from __future__ import annotations

from ._base import State, StateError, StateUnavailable, Subscription, Window, redact
from ._disk import DiskState
from ._memory import MemoryState

__all__ = [
    "DiskState",
    "MemoryState",
    "State",
    "StateError",
    "StateUnavailable",
    "Subscription",
    "Window",
    "open_state",
]

_SCHEMES = "memory:, disk:PATH, redis://HOST[:PORT][/DB] or rediss://…"


async def open_state(url: str, *, prefix: str = "litegate:") -> State:
    """Open the backend `url` names (see above), its keys under `prefix`.

    Async because it checks that Redis answers; a `ValueError` names a malformed URL, a
    `StateUnavailable` an unreachable server. The caller owns the result: `aclose()` it.
    """
    if url == "memory:":
        return MemoryState(prefix)
    if url.startswith("disk:"):
        path = url.removeprefix("disk:")
        if not path:
            raise ValueError('"disk:" needs a directory, like "disk:.litegate/kv"')
        return DiskState(path, prefix)
    if url.startswith(("redis://", "rediss://")):
        try:
            from ._redis import RedisState
        except ImportError:
            raise ValueError(
                "a redis:// state needs the redis client: pip install 'litegate[redis]'"
            ) from None
        return await RedisState.connect(url, prefix)
    raise ValueError(f"expected a state URL like {_SCHEMES}, got {redact(url)!r}")
