"""Runs one call through the chain: request side in pipeline order, route, provider, then the
response side in reverse order, then the success/failure events.

`Pipeline.start()` returns a `Run`; the caller (HTTP route or in-process API) sends what it
holds and ends it with `Run.finish()` -- or, for streams, by draining `Run.sse()` /
`Run.chunks()`, which finish by themselves. Either way the events fire exactly once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Mapping, Sequence
from contextlib import AsyncExitStack, aclosing
from typing import Any

import orjson

from .call import Attempt, Call, Usage
from .deployment import Deployment
from .dispatch import Dispatcher, Impl
from .errors import GatewayError
from .replies import Chunk, Reply, ReplyStream
from .request_limits import RequestLimits, check_request
from .sse import DONE, encode_event
from .transport import UpstreamConnectionError, UpstreamInvalidResponse, UpstreamTimeout
from .usage import usage_from_body
from .validation import validate

__all__ = ["Pipeline", "Run", "as_gateway_error"]

log = logging.getLogger("litegate.pipeline")

_AUTH, _AUTH_CHECK, _VALIDATE, _PRE, _CACHE = 0, 1, 2, 3, 4
_USAGE_KEYS = (b'"usage":{', b'"usage": {')
#: The most upstream attempts one call makes, whatever the retry hooks say.
MAX_ATTEMPTS = 10
#: What a failed attempt may raise and still be retried; anything else is a bug, not an outage.
_RETRYABLE = (GatewayError, UpstreamTimeout, UpstreamConnectionError)


class Pipeline:
    def __init__(
        self,
        dispatcher: Dispatcher,
        deployments: Mapping[str, Sequence[Deployment]],
        plugin_count: int,
        limits: RequestLimits | None = None,
    ) -> None:
        self.dispatcher = dispatcher
        self.limits = limits or RequestLimits()
        self.deployments = deployments
        self._last_index = plugin_count - 1
        steps: list[tuple[int, int, Impl | None]] = []
        for kind, hook in ((_AUTH, "authenticate"), (_PRE, "pre_call"), (_CACHE, "cache_lookup")):
            steps += [(impl.index, kind, impl) for impl in dispatcher.impls(hook)]
        auth = dispatcher.impls("authenticate")
        if auth:
            # After the last authenticator: nobody recognised the caller -> 401.
            steps.append((auth[-1].index, _AUTH_CHECK, None))
        # The body is checked once the caller is known: strangers get 401, not hints.
        steps.append((auth[-1].index if auth else -1, _VALIDATE, None))
        steps.sort(key=lambda step: (step[0], step[1]))
        self._steps = tuple(steps)
        self._route = dispatcher.impls("route")
        self._retry = dispatcher.impls("retry")
        self._post = dispatcher.impls("post_call")
        self._chunk_hooks = dispatcher.reversed("on_stream_chunk")
        self._end_hooks = dispatcher.reversed("on_stream_end")
        self._on_success = dispatcher.reversed("on_success")
        self._on_failure = dispatcher.reversed("on_failure")
        self._has_scopes = bool(dispatcher.impls("call_scope"))
        self._authenticators = auth

    @property
    def passthrough_streams(self) -> bool:
        return not self._chunk_hooks

    async def authenticate(self, call: Call) -> None:
        """Only the authenticate hooks, for routes outside the model pipeline (/v1/models)."""
        if call.principal is not None or not self._authenticators:
            return
        for impl in self._authenticators:
            principal = await impl(call=call)
            if principal is not None:
                call.principal = principal
                return
        raise _unauthenticated()

    async def start(self, call: Call) -> Run:
        """Run everything up to the answer. On error, the call is already finished; raises."""
        run = Run(self, call)
        try:
            if self._has_scopes:
                run.scopes = await self.dispatcher.enter_scopes(call=call)
            outcome, run.reached = await self._request_side(call)
            if outcome is None:
                outcome = await self._provider(call)
            if isinstance(outcome, ReplyStream):
                run.stream = outcome
            else:
                run.reply = await self._response_side(call, outcome, run.reached)
        except Exception as exc:
            error = as_gateway_error(exc, call)
            await run.finish(error)
            raise error from None
        except BaseException as exc:  # cancelled: the client went away
            await run.finish(exc)
            raise
        return run

    async def _request_side(self, call: Call) -> tuple[Reply | ReplyStream | None, int]:
        for index, kind, impl in self._steps:
            if kind == _PRE:
                await impl(call=call)  # type: ignore[misc]
            elif kind == _AUTH:
                if call.principal is None:
                    call.principal = await impl(call=call)  # type: ignore[misc]
            elif kind == _AUTH_CHECK:
                if call.principal is None:
                    raise _unauthenticated()
            elif kind == _VALIDATE:
                validate(call.endpoint, call.request)
                principal = call.principal
                check_request(
                    call.request,
                    self.limits,
                    principal.allowed_parameters if principal else (),
                    trusted=principal is not None and principal.kind == "in-process",
                )
            else:
                answer = await impl(call=call)  # type: ignore[misc]
                if answer is not None:
                    call.cache_hit = True
                    return answer, index
        return None, self._last_index

    async def _provider(self, call: Call) -> Reply | ReplyStream:
        deployments = self.deployments.get(call.alias)
        if not deployments:
            raise GatewayError(
                404,
                f"The model '{call.alias}' does not exist or is not served by this gateway. "
                "GET /v1/models lists the available models.",
                code="model_not_found",
                param="model",
            )
        deployment = None
        for impl in self._route:
            deployment = await impl(call=call, deployments=deployments)
            if deployment is not None:
                break
        if deployment is None:
            deployment = deployments[0]
        if not self._retry:
            return await self._attempt(call, deployment)
        while True:
            try:
                return await self._attempt(call, deployment, pre_read=call.stream)
            except _RETRYABLE as exc:
                error = as_gateway_error(exc, call)
                if len(call.attempts) >= MAX_ATTEMPTS:
                    raise error from None  # a retry impl that never gives up must not loop
                decision = None
                for impl in self._retry:
                    decision = await impl(
                        call=call,
                        error=error,
                        attempt=call.attempts[-1],
                        deployments=self.deployments,
                    )
                    if decision is not None:
                        break
                if decision is None:
                    raise error from None
                if decision.delay > 0:
                    await asyncio.sleep(decision.delay)
                deployment = decision.deployment

    async def _attempt(
        self, call: Call, deployment: Deployment, pre_read: bool = False
    ) -> Reply | ReplyStream:
        """One try against `deployment`, recorded in ``call.attempts``. With `pre_read`, a
        stream's first chunk is read here, so a stream failing before it can be retried."""
        call.deployment = deployment
        adapter = self.dispatcher.targeted[f"provider:{deployment.provider}"]
        attempt = Attempt(deployment.id, time.perf_counter())
        call.attempts.append(attempt)
        try:
            limit = deployment.routing.timeout
            if limit is None:
                outcome: Reply | ReplyStream = await adapter(call=call, deployment=deployment)
                if pre_read and isinstance(outcome, ReplyStream):
                    outcome = await _read_ahead(outcome)
            else:
                outcome = await _within(limit, adapter(call=call, deployment=deployment), pre_read)
        except BaseException as exc:
            attempt.ended = time.perf_counter()
            if isinstance(exc, _RETRYABLE):
                error = as_gateway_error(exc, call)
                attempt.status, attempt.error = error.status, error.code
            else:
                attempt.error = type(exc).__name__
            raise
        attempt.ended = time.perf_counter()
        attempt.status = 200
        return outcome

    async def _response_side(self, call: Call, reply: Reply, reached: int) -> Reply:
        call.ttft = time.perf_counter() - call.started
        if reply.content_type != "application/json":
            pass  # audio or text: nothing for JSON-minded plugins to see, no usage inside
        elif self._post:
            for impl in self.dispatcher.reversed("post_call", reached):
                # The body is parsed for the first plugin that takes `response` (or reads
                # `reply.data`); one that takes only `reply` may decide from the raw bytes.
                response = reply.data if "response" in impl.argnames else None
                changed = await impl(call=call, response=response, reply=reply)
                if changed is not None:
                    reply.data = changed  # re-encoded when sent; else the bytes go as they came
            body = reply.parsed
            if body is not None:
                call.usage = Usage.from_openai(body.get("usage"))
            else:
                assert reply.raw is not None
                call.usage = usage_from_body(reply.raw)
        elif reply.raw is not None:
            call.usage = usage_from_body(reply.raw)
        else:
            call.usage = Usage.from_openai(reply.data.get("usage"))
        call.status = reply.status
        return reply


class Run:
    """One started call: its reply or stream, and how to end it."""

    __slots__ = ("_finished", "call", "pipeline", "reached", "reply", "scopes", "stream")

    def __init__(self, pipeline: Pipeline, call: Call) -> None:
        self.pipeline = pipeline
        self.call = call
        self.reply: Reply | None = None
        self.stream: ReplyStream | None = None
        self.scopes: AsyncExitStack | None = None
        self.reached = -1
        self._finished = False

    async def finish(self, exc: BaseException | None = None) -> None:
        """Close the call's scopes and fire on_success / on_failure, once."""
        if self._finished:
            return
        self._finished = True
        call = self.call
        call.ended = time.perf_counter()
        error = None
        if exc is not None:
            # Cancelled (HTTP client gone) or closed early (in-process consumer stopped).
            gone = isinstance(exc, asyncio.CancelledError | GeneratorExit)
            error = _client_gone() if gone else as_gateway_error(exc, call)
            call.error = error
            call.status = error.status
        elif call.status is None:
            call.status = 200
        if self.scopes is not None:
            if exc is None:
                await self.scopes.aclose()
            else:
                await self.scopes.__aexit__(type(exc), exc, exc.__traceback__)
        dispatcher = self.pipeline.dispatcher
        if error is None:
            if self.pipeline._on_success:
                await dispatcher.notify(self.pipeline._on_success, call=call)
        elif self.pipeline._on_failure:
            await dispatcher.notify(self.pipeline._on_failure, call=call, error=error)

    async def sse(self) -> AsyncGenerator[bytes, None]:
        """The stream as server-sent-event bytes, ending in ``[DONE]`` (or an error event)."""
        async with aclosing(self._frames()) as frames:
            async for frame in frames:
                if type(frame) is bytes:
                    yield encode_event(frame)
                elif type(frame) is dict:
                    yield encode_event(orjson.dumps(frame))
                else:  # a GatewayError mid-stream: OpenAI clients raise on an error event
                    yield encode_event(frame.body())  # type: ignore[union-attr]
                    return
        yield DONE

    async def chunks(self) -> AsyncGenerator[dict[str, Any], None]:
        """The stream as chunk dicts (the in-process API)."""
        async with aclosing(self._frames()) as frames:
            async for frame in frames:
                if isinstance(frame, GatewayError):
                    raise frame
                yield frame if type(frame) is dict else orjson.loads(frame)  # type: ignore[arg-type]

    async def _frames(self) -> AsyncGenerator[bytes | dict[str, Any] | GatewayError, None]:
        assert self.stream is not None
        call = self.call
        want_usage = _wants_usage(call.request)
        chunk_hooks = self.pipeline._chunk_hooks
        if chunk_hooks and self.reached < self.pipeline._last_index:
            chunk_hooks = tuple(i for i in chunk_hooks if i.index <= self.reached)
        usage_frame: bytes | dict[str, Any] | None = None
        error: BaseException | None = None
        try:
            async for chunk in self.stream.chunks:
                if call.ttft is None:
                    call.ttft = time.perf_counter() - call.started
                if chunk_hooks:
                    chunk = chunk if isinstance(chunk, dict) else orjson.loads(chunk)
                    for impl in chunk_hooks:
                        chunk = impl.call_sync(call=call, chunk=chunk)
                        if chunk is None:
                            break
                    if chunk is None:
                        continue
                if isinstance(chunk, bytes):
                    # (`find`: ``bytes in bytes`` formats and clears a TypeError first.)
                    if chunk.find(_USAGE_KEYS[0]) >= 0 or chunk.find(_USAGE_KEYS[1]) >= 0:
                        parsed = orjson.loads(chunk)
                        call.usage = Usage.from_openai(parsed.get("usage"))
                        if not parsed.get("choices"):
                            usage_frame = chunk  # sent after on_stream_end's tail
                            continue
                elif chunk.get("usage"):
                    call.usage = Usage.from_openai(chunk["usage"])
                    if not chunk.get("choices"):
                        usage_frame = chunk
                        continue
                yield chunk
            tail: list[dict[str, Any]] = []
            for impl in self.pipeline._end_hooks:
                if impl.index <= self.reached:
                    changed = await impl(call=call, tail=tail)
                    tail = tail if changed is None else changed
            for extra in tail:
                yield extra
            if usage_frame is not None and want_usage:
                yield usage_frame
            call.status = 200
        except (Exception, asyncio.CancelledError, GeneratorExit) as exc:
            if isinstance(exc, Exception):
                error = as_gateway_error(exc, call)
                if isinstance(exc, _RETRYABLE) and call.attempts:
                    # The upstream failed mid-stream: its attempt failed, however it began.
                    call.attempts[-1].status, call.attempts[-1].error = error.status, error.code
                yield error
            else:
                error = exc
                raise
        finally:
            await self.stream.aclose()
            await self.finish(error)


async def _within(
    limit: float, answer: Awaitable[Reply | ReplyStream], pre_read: bool
) -> Reply | ReplyStream:
    """`answer` (and with `pre_read`, a stream's first chunk) within `limit` seconds."""
    try:
        async with asyncio.timeout(limit):
            outcome = await answer
            if pre_read and isinstance(outcome, ReplyStream):
                outcome = await _read_ahead(outcome)
    except TimeoutError:
        raise UpstreamTimeout(f"no answer within {limit:g}s") from None
    return outcome


async def _read_ahead(stream: ReplyStream) -> ReplyStream:
    """The same stream with its first chunk already read (so its failure is the attempt's)."""
    chunks = stream.chunks
    try:
        first = await anext(chunks)
    except StopAsyncIteration:
        return stream
    except BaseException:
        await stream.aclose()
        raise

    async def replay() -> AsyncIterator[Chunk]:
        yield first
        async for chunk in chunks:
            yield chunk

    return ReplyStream(replay(), close=stream.aclose, headers=stream.headers)


def _wants_usage(request: dict[str, Any]) -> bool:
    options = request.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def _unauthenticated() -> GatewayError:
    return GatewayError(
        401,
        "Missing or invalid API key. Send it as 'Authorization: Bearer <key>' or 'x-api-key'.",
        code="invalid_api_key",
    )


def _client_gone() -> GatewayError:
    return GatewayError(499, "The client closed the connection.", code="client_disconnected")


def as_gateway_error(exc: BaseException, call: Call | None = None) -> GatewayError:
    """Any failure as the error the client sees; unexpected ones are logged, never shown."""
    if isinstance(exc, GatewayError):
        return exc
    where = ""
    if call is not None and call.deployment is not None:
        where = f" '{call.deployment.provider}' (deployment '{call.deployment.id}')"
    if isinstance(exc, UpstreamTimeout):
        return GatewayError(
            504, f"The upstream provider{where} timed out.", code="upstream_timeout"
        )
    if isinstance(exc, UpstreamInvalidResponse) or (
        isinstance(exc, orjson.JSONDecodeError) and call is not None and call.deployment
    ):
        # An adapter's parse failing on an upstream answer is the upstream's fault.
        log.warning("invalid upstream answer in request %s: %s", call.id if call else "?", exc)
        return GatewayError(
            502,
            f"The upstream provider{where} sent an invalid answer"
            + (f": {exc}." if isinstance(exc, UpstreamInvalidResponse) else "."),
            code="upstream_invalid_response",
        )
    if isinstance(exc, UpstreamConnectionError):
        return GatewayError(
            502,
            f"The upstream provider{where} could not be reached: {exc}",
            code="upstream_unavailable",
        )
    request_id = call.id if call is not None else "?"
    log.error(
        "internal error in request %s", request_id, exc_info=(type(exc), exc, exc.__traceback__)
    )
    return GatewayError(
        500,
        f"The gateway failed while handling this request (request id {request_id}); "
        "its log has the details.",
        code="internal_error",
    )
