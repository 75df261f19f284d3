"""Virtual keys: secrets whose SHA-256 is looked up in the records database.

A found key becomes a `Principal` (its user, team, organization, role, models and limits).
Lookups are cached in memory for a short time, unusable and unknown keys more briefly, and
every worker drops a key from its cache when a change to it is announced on the
`KEY_CHANGES_CHANNEL` of ``[state] kv`` (disk: every worker of the host; Redis: every host).
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import attrs

from litegate import GatewayError, Limits, Principal

from .cache import TTLCache

if TYPE_CHECKING:
    from litegate import Gateway
    from litegate.db import Database, Team, User, VirtualKey
    from litegate.state import State, Subscription

__all__ = ["KeyRecord", "VirtualKeys", "models_allowed", "narrow_models", "record_of"]

log = logging.getLogger("litegate.auth")

#: How long the listener waits before subscribing again after the store failed.
RESUBSCRIBE_DELAY = 1.0


def invalid_key() -> GatewayError:
    return GatewayError(
        401,
        "Invalid API key: it is unknown, disabled, expired or revoked.",
        code="invalid_api_key",
    )


@attrs.frozen
class KeyRecord:
    """What the cache keeps of a key: who it authenticates as, and when it may."""

    principal: Principal
    enabled: bool
    expires_at: datetime | None
    revoked_at: datetime | None
    grace_until: datetime | None

    def usable_at(self, now: datetime) -> bool:
        """`VirtualKey.usable_at`, on the cached copy (a key may expire while cached)."""
        return (
            self.enabled
            and self.revoked_at is None
            and (self.expires_at is None or now < self.expires_at)
            and (self.grace_until is None or now < self.grace_until)
        )

    def new_principal(self) -> Principal:
        """A principal of its own per call: plugins may add to its metadata."""
        return self.principal.for_call()


def models_allowed(alias: str, patterns: Sequence[str]) -> bool:
    """Whether `alias` is one of `patterns` (aliases or fnmatch globs such as ``gpt-4o*``)."""
    return any(alias == pattern or fnmatch.fnmatchcase(alias, pattern) for pattern in patterns)


def narrow_models(
    key_models: Sequence[str] | None, team_models: Sequence[str] | None
) -> tuple[str, ...] | None:
    """The models a key may call: its team's unless the key narrows them.

    A key's entry counts only where the team allows it (matched as a name against the
    team's patterns); a team pattern counts where a key's pattern covers it. So a key can
    narrow its team's list but never widen it.
    """
    if key_models is None:
        return None if team_models is None else tuple(team_models)
    if team_models is None:
        return tuple(key_models)
    kept = [entry for entry in key_models if models_allowed(entry, team_models)]
    kept += [entry for entry in team_models if models_allowed(entry, key_models)]
    return tuple(dict.fromkeys(kept))


def record_of(key: VirtualKey, team: Team | None, user: User | None) -> KeyRecord:
    limits = Limits(
        rpm=_first(key.rpm_limit, team.rpm_limit if team else None),
        tpm=_first(key.tpm_limit, team.tpm_limit if team else None),
        max_parallel=_first(key.max_parallel, team.max_parallel if team else None),
    )
    org = team.org_id if team is not None and team.org_id else (user.org_id if user else None)
    principal = Principal(
        key.id,
        "virtual",
        team=key.team_id,
        role=str(user.role) if user is not None and user.role else "member",
        metadata={"key_name": key.name} if key.name else {},
        user=key.user_id,
        org=org,
        models=narrow_models(key.allowed_models, team.allowed_models if team else None),
        limits=None if limits == Limits() else limits,
    )
    return KeyRecord(principal, key.enabled, key.expires_at, key.revoked_at, key.grace_until)


def _first(own: int | None, inherited: int | None) -> int | None:
    return own if own is not None else inherited


class VirtualKeys:
    """Finds presented secrets in the database, with an invalidated in-memory cache.

    `ttl`: how long a found key is trusted without asking the database again;
    `negative_ttl`: the same for unknown keys (kept in a smaller cache of their own, so
    random keys cannot push the known ones out).
    """

    def __init__(
        self,
        *,
        ttl: float,
        negative_ttl: float,
        size: int,
        negative_size: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.negative_ttl = negative_ttl
        self._found: TTLCache[KeyRecord] = TTLCache(size, clock)
        self._missing: TTLCache[bool] = TTLCache(negative_size, clock)
        # Bumped by every invalidation: a lookup that overlapped one does not cache its
        # answer, which may predate the change.
        self._generation = 0
        # One database lookup per key at a time: concurrent requests with the same new key
        # wait for it instead of each asking the database.
        self._inflight: dict[str, asyncio.Task[KeyRecord | None]] = {}
        self._db: Database | None = None
        self._listener: asyncio.Task[None] | None = None

    async def connect(self, gateway: Gateway) -> None:
        """Open the database and start listening for key changes (from `startup`)."""
        config = gateway.config
        if config.state.kv == "memory:" and config.server.workers > 1:
            log.warning(
                '[state] kv = "memory:" with %d workers: a key revoked through one worker '
                "stays cached in the others for up to %ss; use disk: or redis://",
                config.server.workers,
                self.ttl,
            )
        self._db = await gateway.open_db()
        state = await gateway.open_state()
        subscription = await self._subscribe(state)
        self._listener = asyncio.get_running_loop().create_task(
            self._listen(state, subscription), name="auth: key changes"
        )

    async def aclose(self) -> None:
        listener, self._listener = self._listener, None
        tasks = [*self._inflight.values(), *([listener] if listener else [])]
        self._inflight.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def lookup(self, key_hash: str, now: datetime) -> Principal:
        """The principal of the key whose secret hashes to `key_hash`; 401 when it is
        unknown or not usable at `now`."""
        record = self._found.get(key_hash)
        if record is None:
            if self._missing.get(key_hash):
                raise invalid_key()
            record = await self._shared_load(key_hash)
        if record is None or not record.usable_at(now):
            raise invalid_key()
        return record.new_principal()

    def invalidate(self, key_hash: str | None) -> None:
        """Forget one key (by hash), or everything (None: messages may have been lost)."""
        self._generation += 1
        if key_hash is None:
            self._found.clear()
            self._missing.clear()
            self._inflight.clear()  # later requests must not join a lookup from before
        else:
            self._found.discard(key_hash)
            self._missing.discard(key_hash)
            self._inflight.pop(key_hash, None)

    async def _shared_load(self, key_hash: str) -> KeyRecord | None:
        task = self._inflight.get(key_hash)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._load(key_hash))
            self._inflight[key_hash] = task
            task.add_done_callback(lambda done: self._forget_lookup(key_hash, done))
        # Shielded: a client that goes away does not cancel the others' lookup.
        return await asyncio.shield(task)

    def _forget_lookup(self, key_hash: str, task: asyncio.Task[KeyRecord | None]) -> None:
        if self._inflight.get(key_hash) is task:
            del self._inflight[key_hash]
        if not task.cancelled():
            task.exception()  # retrieved, even when every waiter went away

    async def _load(self, key_hash: str) -> KeyRecord | None:
        if self._db is None:
            raise GatewayError(503, "The key store is not open yet.", code="auth_unavailable")
        from litegate.db import Team, User, queries

        generation = self._generation
        try:
            async with self._db.session() as session:
                key = await queries.get_key_by_hash(session, key_hash)
                record = None
                if key is not None:
                    team = await session.get(Team, key.team_id) if key.team_id else None
                    user = await session.get(User, key.user_id) if key.user_id else None
                    record = record_of(key, team, user)
        except Exception:
            log.exception("virtual key lookup failed")
            raise GatewayError(
                503, "The key store is unavailable; try again shortly.", code="auth_unavailable"
            ) from None
        if generation == self._generation:
            if record is None:
                self._missing.put(key_hash, True, self.negative_ttl)
            else:
                self._found.put(key_hash, record, self.ttl)
        return record

    async def _subscribe(self, state: State) -> Subscription:
        from litegate.db.queries import KEY_CHANGES_CHANNEL

        subscription = state.subscribe(KEY_CHANGES_CHANNEL)
        await subscription.__aenter__()
        return subscription

    async def _listen(self, state: State, subscription: Subscription) -> None:
        from litegate.state import StateError, StateUnavailable

        while True:
            try:
                async for message in subscription:
                    self.invalidate(_hash_of(message))
                return  # the state was closed: the gateway is stopping
            except StateUnavailable:
                log.warning("key change listener lost the state store; resubscribing")
            except Exception:
                log.exception("key change listener failed; resubscribing")
            finally:
                await subscription.aclose()
            while True:
                self.invalidate(None)  # changes may be missed meanwhile
                await asyncio.sleep(RESUBSCRIBE_DELAY)
                try:
                    subscription = await self._subscribe(state)
                    break
                except StateUnavailable:
                    continue
                except StateError:
                    return  # the state was closed meanwhile: the gateway is stopping
            self.invalidate(None)


def _hash_of(message: bytes | None) -> str | None:
    """The key hash a change message names; None (forget everything) for `EVERY_KEY` or
    when unreadable."""
    from litegate.db.queries import EVERY_KEY

    if message is None:
        return None
    try:
        text = message.decode("ascii")
    except UnicodeDecodeError:
        return None
    return None if text == EVERY_KEY else text
