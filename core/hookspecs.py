"""The plugin contract: every hook a plugin may implement, grouped by lifecycle phase.

Each spec's docstring says how it is dispatched, in which order, what an impl may change,
what it returns and whether it may raise. `docs/hooks.md` is generated from these
docstrings; a test fails when a hook lacks one.

Dispatch modes (run by `litegate.dispatch`, never by ``pm.hook.X()`` on the request path):

- **first**: impls run in pipeline order; the first non-None result wins, the rest are skipped.
- **each**: every impl runs, in pipeline order (``shutdown``: reverse order).
- **collect**: every impl runs; their results (lists) are concatenated.
- **chain**: each impl receives the previous one's output; response-side chains run in
  *reverse* pipeline order (onion). Returning None means "unchanged".
- **wrap**: impls return async context managers, entered in pipeline order, exited in reverse.
- **targeted**: only the provider adapter chosen for the call runs.
- **notify**: after the response; exceptions are logged and swallowed.

Impls may be ``async def`` or plain ``def`` anywhere except ``on_stream_chunk`` (sync: it runs
per chunk) and ``routes`` (sync: it runs while the app is built). Hooks are called with
keyword arguments, and an impl may accept any subset of them, so adding an argument never
breaks an existing plugin. ``tryfirst``/``trylast`` and pluggy wrappers are refused: the order
in ``pipeline.toml`` is the only order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, TypeVar

from .markers import hookspec

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

    from .call import Attempt, Call, Principal, Retry
    from .deployment import Deployment
    from .errors import GatewayError
    from .gateway import Gateway
    from .replies import Reply, ReplyStream

__all__ = ["MODES", "REQUEST_SIDE", "RESPONSE_SIDE"]

F = TypeVar("F", bound=Callable[..., Any])

#: hook name -> dispatch mode; the dispatcher and the docs read this.
MODES: dict[str, str] = {}


def _mode(mode: str) -> Callable[[F], F]:
    def register(fn: F) -> F:
        MODES[fn.__name__] = mode
        return hookspec(fn)

    return register


# ---------------------------------------------------------------------------------------------
# Lifecycle


@_mode("each")
def startup(gateway: Gateway) -> None:
    """Runs once when the gateway starts (ASGI lifespan start, or the first in-process call).

    Mode: each, in pipeline order. Open connections, start background tasks, warm caches.
    Background tasks live on the event loop that started the gateway: the server's loop, or
    for ``chat_sync`` the gateway's private loop, where they only progress while a
    ``chat_sync`` call (or ``close()``) runs.
    May raise: an exception stops start-up and is reported with the plugin's name.
    """


@_mode("each")
def shutdown(gateway: Gateway) -> None:
    """Runs once when the gateway stops (lifespan shutdown or ``Gateway.aclose()``).

    Mode: each, in *reverse* pipeline order, so a plugin shuts down before those it builds on.
    Flush queues and close connections here. Exceptions are logged and the rest still run.
    """


@_mode("collect")
def routes(gateway: Gateway) -> Sequence[BaseRoute] | None:
    """Extra HTTP routes (Starlette `Route`/`Mount`) to serve beside the OpenAI API.

    Mode: collect, once when the app is built. Return a list of routes or None. A route is
    responsible for its own authorization (``gateway.authenticate(headers)`` helps).
    """


# ---------------------------------------------------------------------------------------------
# Request side, in pipeline order. Each plugin's request-side hooks run when the call
# reaches that plugin's place in the chain: authenticate, then pre_call, then cache_lookup.


@_mode("first")
def authenticate(call: Call) -> Principal | None:
    """Identify the caller from ``call.headers``.

    Mode: first. Return a `Principal`, or None when the request carries no credential this
    plugin understands (the next authenticate impl then tries). When every impl returned
    None, the core rejects the call with 401. Raise `GatewayError` (401/403) to reject a
    credential this plugin owns but refuses. Never put the presented secret in a message.
    Not called for in-process calls (the caller is the process owner) nor once a principal
    is set.
    """


@_mode("each")
def pre_call(call: Call) -> None:
    """Check or change the call before it goes upstream (limits, budgets, PII masking).

    Mode: each, in pipeline order. May change ``call.request`` and ``call.stash``. Raise
    `GatewayError` to reject (for example 429). A rejected call gets no response-side hooks:
    every plugin's ``on_failure`` runs (they all see every call's end) and every
    ``call_scope`` -- entered for all plugins before the request side -- exits with the error.
    """


@_mode("first")
def cache_lookup(call: Call) -> Reply | None:
    """Answer the call without going upstream (a cache hit).

    Mode: first. Return a `Reply` (or, for ``call.stream``, a `ReplyStream`) to short-circuit:
    no route, no provider; the response-side hooks of the plugins already passed still run
    (in reverse order). Return None to go on. Set ``call.cache_hit`` when answering.
    """


@_mode("first")
def route(call: Call, deployments: Sequence[Deployment]) -> Deployment | None:
    """Choose the deployment for the call among those of its alias.

    Mode: first. Return one of `deployments`, or None to leave the choice to the next impl
    (with no impl at all, the first deployment is used). May raise `GatewayError` (for
    example 429 when every deployment is at its limit).
    """


@_mode("wrap")
def call_scope(call: Call) -> AbstractAsyncContextManager[None] | None:
    """Wrap the whole call, request side to last byte (timing, tracing, concurrency slots).

    Mode: wrap. Return an async context manager or None. Entered in pipeline order before the
    first request-side hook; exited in reverse after the response (streams: after the last
    chunk), with the exception when the call failed. May raise on entry to reject.
    """


# ---------------------------------------------------------------------------------------------
# The provider call


@_mode("targeted")
def provider_call(call: Call, deployment: Deployment) -> Reply | ReplyStream:
    """Send the call to the upstream provider and translate its answer back (adapters only).

    Mode: targeted: only the adapter of ``deployment.provider`` runs. Read the canonical
    request from ``call.request`` (OpenAI format) and ``call.endpoint``; return a `Reply`
    (OpenAI-shaped body) or, when ``call.stream``, a `ReplyStream` of OpenAI chunks.
    Raise `GatewayError` for upstream errors (see ``litegate.errors.upstream_error``);
    `UpstreamTimeout` and `UpstreamConnectionError` from the transport become 504 and 502.
    """
    raise NotImplementedError  # a spec: pluggy never calls this body


@_mode("first")
def retry(
    call: Call,
    error: GatewayError,
    attempt: Attempt,
    deployments: Mapping[str, Sequence[Deployment]],
) -> Retry | None:
    """An upstream attempt failed: say what to try next (retries, fallbacks).

    Mode: first, in pipeline order. Called after each failed attempt -- a `GatewayError`
    from the adapter, or an upstream timeout (504) or connection error (502) -- with the
    error the client would get, the failed `attempt` (also ``call.attempts[-1]``) and every
    alias's deployments. Return a `Retry` naming the next deployment (of ``call.alias`` for a
    retry, of another alias for a fallback) and a delay in seconds, or None to give up: the
    error then goes to the client. Every attempt is recorded in ``call.attempts``; after
    ``litegate.pipeline.MAX_ATTEMPTS`` (10) the core gives up whatever the impls say.
    Streams: an attempt fails up to its first chunk (the core reads it before answering);
    after a chunk reached the client, errors end the stream with an error event instead.
    With no impl, calls go to one deployment exactly as before, at no cost.
    May change ``call.stash`` and ``call.response_headers``. May raise `GatewayError` to
    replace the error.
    """


# ---------------------------------------------------------------------------------------------
# Response side, in reverse pipeline order


@_mode("chain")
def on_stream_chunk(call: Call, chunk: dict[str, Any]) -> dict[str, Any] | None:
    """See (and change) each streamed chunk before it is sent. Synchronous: it runs per chunk.

    Mode: chain, reverse pipeline order. Return the chunk (changed or not), or None to
    *drop* it (buffer it in ``call.stash`` to send later, e.g. across a PII token boundary).
    Implementing this hook turns off byte passthrough of streams for every call.
    """


@_mode("chain")
def on_stream_end(call: Call, tail: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """Runs when the upstream stream ended, before the final usage chunk and ``[DONE]``.

    Mode: chain, reverse pipeline order. `tail` holds chunks the inner plugins want to send
    last; return a new list (to flush what you buffered) or None for unchanged.
    """


@_mode("chain")
def post_call(call: Call, response: dict[str, Any], reply: Reply) -> dict[str, Any] | None:
    """See (and change) a whole non-streamed response body before it is sent.

    Mode: chain, reverse pipeline order, for plugins the call passed. Return the new body (or
    the same dict, changed in place) or None for unchanged: never change it in place and
    return None. The core re-encodes a body only when a plugin returned one, else the
    upstream's bytes go out as they came. May raise `GatewayError` to replace the response
    with an error.

    Taking `response` makes the core parse the body for you. Take `reply` instead (without
    `response`) to look at the answer before it is parsed: ``reply.raw`` holds the
    upstream's bytes (None when an adapter built the body), ``reply.data`` parses them on
    first read. An implementation that returns None without reading ``reply.data`` costs no
    parse (PII masking looks for a ``<`` in the bytes first). Return a new body as with
    `response`; do not assign ``reply.data`` yourself.
    """


# ---------------------------------------------------------------------------------------------
# Events, after the response went out


@_mode("notify")
def on_success(call: Call) -> None:
    """The call finished and its response (or whole stream) was sent.

    Mode: notify, reverse pipeline order. ``call.usage``, ``call.status``, ``call.latency``
    and ``call.ttft`` are final. Exceptions are logged and swallowed. Keep it cheap or hand the
    work to a background task: it runs on the request's task.
    """


@_mode("notify")
def on_failure(call: Call, error: GatewayError) -> None:
    """The call ended with an error (rejected, upstream failure, client gone mid-stream).

    Mode: notify, reverse pipeline order. ``error`` is what the client got (status 499 with
    code ``client_disconnected`` when the client went away). Exceptions are swallowed.
    """


REQUEST_SIDE = ("authenticate", "pre_call", "cache_lookup")
RESPONSE_SIDE = ("on_stream_chunk", "on_stream_end", "post_call", "on_success", "on_failure")
