"""The Call: one request's state as it travels through the chain.

Plugins talk to each other only through the Call and through hooks. Per-plugin data goes in
``call.stash`` under a typed `StashKey`, never in ad-hoc attributes.
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

import attrs

if TYPE_CHECKING:
    from .deployment import Deployment
    from .errors import GatewayError

__all__ = ["Attempt", "Call", "Limits", "Principal", "Retry", "StashKey", "Usage"]

T = TypeVar("T")


class StashKey(Generic[T]):
    """A typed key for `Call.stash`: ``KEY = StashKey[int]("ratelimit.tokens")``."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"StashKey({self.name!r})"


if TYPE_CHECKING:

    class Stash:
        """`Call.stash`: what plugins keep for later hooks of the same call, under typed keys."""

        def __getitem__(self, key: StashKey[T]) -> T: ...

        def __setitem__(self, key: StashKey[T], value: T) -> None: ...

        @overload
        def get(self, key: StashKey[T]) -> T | None: ...

        @overload
        def get(self, key: StashKey[T], default: T) -> T: ...

        def get(self, key: StashKey[T], default: T | None = None) -> T | None: ...

        def __contains__(self, key: StashKey[Any]) -> bool: ...

else:

    class Stash(dict):
        """At run time a plain dict: its item access and `get` stay in C (a wrapper's
        methods cost a Python frame each, and plugins use the stash on every call). The
        typed interface above is what type checkers see."""

        __slots__ = ()


@attrs.frozen
class Limits:
    """Rate limits that come with a principal (a virtual key's, inherited from its team unless
    narrowed). None means no limit of that kind; the ratelimit plugin enforces them."""

    #: Requests per minute.
    rpm: int | None = None
    #: Tokens (prompt + completion) per minute.
    tpm: int | None = None
    #: Requests in flight at once.
    max_parallel: int | None = None


@attrs.define(slots=True, eq=False)
class Principal:
    """Who is calling. `kind` says how they proved it (master, static, virtual, jwt, ...).

    `id` is the credential's id (a virtual key's id, a static key's name, a JWT's subject);
    `user`, `team` and `org` are the ids it belongs to, for limits, budgets and spend.
    """

    id: str
    kind: str
    team: str | None = None
    #: admin, org_admin, team_admin, member or viewer (see `litegate.db.Role`).
    role: str | None = None
    metadata: dict[str, Any] = attrs.field(factory=dict)
    user: str | None = None
    org: str | None = None
    #: Model aliases (or glob patterns) this principal may call; None means any.
    models: tuple[str, ...] | None = None
    limits: Limits | None = None

    def may_use(self, alias: str) -> bool:
        """Whether `models` lets this principal call `alias` (an alias or a glob like
        ``gpt-4o*``; no list means any)."""
        models = self.models
        if models is None:
            return True
        return any(alias == pattern or fnmatch.fnmatchcase(alias, pattern) for pattern in models)

    def for_call(self) -> Principal:
        """A copy of its own for one call, with its own `metadata` dict (plugins may add to
        it). Built field by field: `attrs.evolve` reads the class's fields every time
        (~19,000 instructions a copy, against ~4,000). A test checks every field is here."""
        return Principal(
            id=self.id,
            kind=self.kind,
            team=self.team,
            role=self.role,
            metadata=dict(self.metadata),
            user=self.user,
            org=self.org,
            models=self.models,
            limits=self.limits,
            allowed_parameters=self.allowed_parameters,
        )

    #: Request parameters this principal may send although they are refused by default
    #: (``api_version``, ...: see `litegate.request_limits.FORBIDDEN_PARAMETERS`). Set only
    #: from operator config, never from the request.
    allowed_parameters: frozenset[str] = frozenset()


@attrs.define(slots=True, eq=False)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0

    @classmethod
    def from_openai(cls, data: Any) -> Usage | None:
        if not isinstance(data, dict):
            return None
        prompt = _int(data.get("prompt_tokens"))
        completion = _int(data.get("completion_tokens"))
        prompt_details = data.get("prompt_tokens_details")
        completion_details = data.get("completion_tokens_details")
        return cls(
            prompt_tokens=prompt,
            completion_tokens=completion,
            total_tokens=_int(data.get("total_tokens")) or prompt + completion,
            cached_tokens=_int(prompt_details.get("cached_tokens"))
            if isinstance(prompt_details, dict)
            else 0,
            reasoning_tokens=_int(completion_details.get("reasoning_tokens"))
            if isinstance(completion_details, dict)
            else 0,
        )


def _int(value: Any) -> int:
    return value if type(value) is int else 0


@attrs.define(slots=True, eq=False)
class Attempt:
    """One try against one deployment; `Call.attempts` lists them in order."""

    #: The deployment's id ("alias#index").
    deployment: str
    #: `time.perf_counter()` when the attempt began and ended.
    started: float
    ended: float | None = None
    #: 200 on success; otherwise the status of the error the attempt ended with.
    status: int | None = None
    #: The error's code (``upstream_timeout``, ``rate_limit_exceeded``, ...) or, for an
    #: unexpected exception, its type name. None on success.
    error: str | None = None

    @property
    def duration(self) -> float | None:
        return None if self.ended is None else self.ended - self.started


@attrs.frozen
class Retry:
    """What a ``retry`` impl answers: try `deployment` next, after `delay` seconds."""

    #: The next deployment: of the same alias (a retry) or another one (a fallback).
    deployment: Deployment
    delay: float = 0.0


@attrs.define(slots=True, eq=False)
class Call:
    id: str
    #: What was asked: "chat", "completions", "embeddings", "images", "speech",
    #: "transcriptions", "moderations" or "rerank".
    endpoint: str
    #: The canonical (OpenAI-shaped) request body. Stages may change it.
    request: dict[str, Any]
    #: The model alias the client asked for.
    alias: str
    stream: bool = False
    #: Request headers, lower-case names (empty for in-process calls).
    headers: Mapping[str, str] = attrs.field(factory=dict)
    principal: Principal | None = None
    deployment: Deployment | None = None
    attempts: list[Attempt] = attrs.field(factory=list)
    started: float = attrs.field(factory=time.perf_counter)
    started_at: float = attrs.field(factory=time.time)
    #: Seconds from start to the first byte of the answer (streams) or the whole answer.
    ttft: float | None = None
    ended: float | None = None
    usage: Usage | None = None
    cost: float | None = None
    status: int | None = None
    error: GatewayError | None = None
    cache_hit: bool = False
    #: Headers added to the HTTP response (``x-litegate-*``, rate-limit headers, ...).
    response_headers: dict[str, str] = attrs.field(factory=dict)
    #: Extra fields for the call's log line and events (a guardrail's flags, ...): plain
    #: JSON values, never message contents or secrets.
    log_fields: dict[str, Any] = attrs.field(factory=dict)
    stash: Stash = attrs.field(factory=Stash)

    @property
    def latency(self) -> float | None:
        return None if self.ended is None else self.ended - self.started
