"""`tracing`: an OpenTelemetry span per call, following the GenAI semantic conventions.

Each call gets a span named ``"{operation} {model}"`` (``chat gpt-4o``) carrying
``gen_ai.*`` attributes (operation, provider, request and response model, request
parameters, token usage, finish reasons), with one child span per upstream attempt (retries
and fallbacks show as siblings). A client's W3C ``traceparent`` becomes the span's parent,
and the call's own ``traceparent`` goes upstream with every provider request.

Never in a span: headers, API keys, request or response bodies. Not in the pipeline means
not loaded: no tracer, no per-call cost at all.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Mapping
from contextvars import Token
from typing import Any
from urllib.parse import urlsplit

import attrs
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Span, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased, TraceIdRatioBased
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from litegate import Call, Deployment, Gateway, StashKey, hookimpl
from litegate.config_types import Secret
from litegate.logs import TRACE_ID as LOG_TRACE_ID
from litegate.transport import UPSTREAM_HEADERS

from .access_log import TRACE_ID

__all__ = ["TracingPlugin", "gen_ai_request_attributes"]

log = logging.getLogger("litegate.tracing")

_EXPORTERS = ("none", "console", "otlp-http", "otlp-grpc")
#: Our endpoint names as GenAI operation names.
_OPERATIONS = {
    "chat": "chat",
    "completions": "text_completion",
    "embeddings": "embeddings",
    "images": "generate_content",
}
#: Request parameter -> GenAI attribute.
_PARAMS = {
    "temperature": "gen_ai.request.temperature",
    "top_p": "gen_ai.request.top_p",
    "max_tokens": "gen_ai.request.max_tokens",
    "max_completion_tokens": "gen_ai.request.max_tokens",
    "frequency_penalty": "gen_ai.request.frequency_penalty",
    "presence_penalty": "gen_ai.request.presence_penalty",
    "seed": "gen_ai.request.seed",
    "n": "gen_ai.request.choice.count",
}
_PROPAGATOR = TraceContextTextMapPropagator()
_SPAN = StashKey[Span]("tracing.span")
_FINISH = StashKey[list[str]]("tracing.finish_reasons")
#: The span's attributes, gathered during the call and set once at its end.
_ATTRIBUTES = StashKey[dict[str, Any]]("tracing.attributes")


class TracingPlugin:
    """GenAI spans for every call; see docs/observability.md."""

    @attrs.frozen
    class Config:
        #: Where spans go: "otlp-http", "otlp-grpc", "console" (stdout) or "none" (spans are
        #: made but not exported; for tests that add their own processor).
        exporter: str = attrs.field(default="otlp-http", validator=attrs.validators.in_(_EXPORTERS))
        #: The collector's address; by default the exporter's own default (the
        #: ``OTEL_EXPORTER_OTLP_*`` environment variables, else localhost:4318 / 4317).
        endpoint: str | None = None
        #: Headers sent to the collector (for example an ingest token).
        headers: dict[str, Secret] = attrs.field(factory=dict)
        #: ``service.name`` of the spans' resource.
        service_name: str = "litegate"
        #: Share of new traces recorded (0..1); a client's sampled ``traceparent`` is honoured.
        sample_ratio: float = attrs.field(
            default=1.0,
            validator=attrs.validators.and_(attrs.validators.ge(0.0), attrs.validators.le(1.0)),
        )
        #: Send the call's W3C ``traceparent`` upstream with every provider request.
        propagate: bool = True
        #: Read finish reasons and the response id from answers. This makes the core parse
        #: responses and stream chunks (no byte passthrough); turn it off to keep passthrough.
        response_details: bool = True

    def __new__(cls, config: Config) -> TracingPlugin:
        # The response-reading hooks cost every call something, so they exist only when
        # asked for: the dispatcher sees exactly the hooks the object has.
        chosen = _DetailedTracing if config.response_details and cls is TracingPlugin else cls
        return super().__new__(chosen)

    def __init__(self, config: Config) -> None:
        self.config = config
        self.provider = TracerProvider(
            resource=Resource.create({"service.name": config.service_name}),
            sampler=ParentBased(
                ALWAYS_ON if config.sample_ratio >= 1 else TraceIdRatioBased(config.sample_ratio)
            ),
        )
        exporter = _exporter(config)
        if exporter is not None:
            processor = (
                SimpleSpanProcessor(exporter)
                if config.exporter == "console"
                else BatchSpanProcessor(exporter)
            )
            self.provider.add_span_processor(processor)
        self.tracer = self.provider.get_tracer("litegate")
        #: Deployment id -> deployment, filled at start-up (for the attempt spans).
        self.deployments: dict[str, Deployment] = {}

    @hookimpl
    def startup(self, gateway: Gateway) -> None:
        self.deployments.update(
            (deployment.id, deployment)
            for group in gateway.deployments.values()
            for deployment in group
        )

    @hookimpl
    def call_scope(self, call: Call) -> _CallSpan:
        return _CallSpan(self, call)

    @hookimpl
    def shutdown(self) -> None:
        self.provider.shutdown()  # flushes what the batch processor holds

    def _start(self, call: Call) -> tuple[Span, Token[Mapping[str, str] | None] | None]:
        parent = _PROPAGATOR.extract(call.headers) if "traceparent" in call.headers else None
        operation = _OPERATIONS.get(call.endpoint, call.endpoint)
        span: Span = self.tracer.start_span(  # type: ignore[assignment]
            f"{operation} {call.alias}".strip(), context=parent, kind=SpanKind.SERVER
        )
        call.stash[_SPAN] = span
        context = span.get_span_context()
        token = None
        if context.is_valid:
            call.stash[TRACE_ID] = trace_id = format(context.trace_id, "032x")
            LOG_TRACE_ID.set(trace_id)  # the gateway's log records carry it (litegate.logs)
            if self.config.propagate:
                flags = int(context.trace_flags)
                headers = {"traceparent": f"00-{trace_id}-{context.span_id:016x}-{flags:02x}"}
                if context.trace_state:
                    headers["tracestate"] = context.trace_state.to_header()
                token = UPSTREAM_HEADERS.set(headers)
        if span.is_recording():
            call.stash[_ATTRIBUTES] = gen_ai_request_attributes(call, operation)
        return span, token

    def _end(self, call: Call, span: Span, error: BaseException | None) -> None:
        end = time.time_ns()
        if span.is_recording():
            attributes = call.stash.get(_ATTRIBUTES) or {}
            for name, value in gen_ai_response_attributes(call).items():
                attributes.setdefault(name, value)  # the answer's own model wins
            reasons = call.stash.get(_FINISH)
            if reasons:
                attributes["gen_ai.response.finish_reasons"] = reasons
            failure = call.error
            if failure is not None:
                attributes["error.type"] = failure.code or failure.type
                span.set_status(Status(StatusCode.ERROR, failure.type))
            elif error is not None:
                attributes["error.type"] = type(error).__name__
                span.set_status(Status(StatusCode.ERROR))
            span.set_attributes(attributes)
            self._attempt_spans(call, span)
        span.end(end)

    def _attempt_spans(self, call: Call, parent: Span) -> None:
        """Child spans for the upstream attempts, timed from what the core recorded."""
        if not call.attempts or call.deployment is None:
            return
        context = trace.set_span_in_context(parent)
        by_id = self.deployments or {call.deployment.id: call.deployment}
        origin = call.started_at - call.started  # perf_counter -> epoch seconds
        for number, attempt in enumerate(call.attempts, 1):
            deployment = by_id.get(attempt.deployment)
            attributes: dict[str, Any] = {
                "litegate.attempt": number,
                "litegate.deployment": attempt.deployment,
            }
            if deployment is not None:
                attributes["gen_ai.provider.name"] = deployment.provider
                attributes["gen_ai.request.model"] = deployment.model
            if attempt.status is not None:
                attributes["http.response.status_code"] = attempt.status
            span = self.tracer.start_span(
                f"attempt {attempt.deployment}",
                context=context,
                kind=SpanKind.CLIENT,
                attributes=attributes,
                start_time=int((origin + attempt.started) * 1e9),
            )
            if attempt.error is not None:
                span.set_attribute("error.type", attempt.error)
                span.set_status(Status(StatusCode.ERROR))
            ended = attempt.ended if attempt.ended is not None else time.perf_counter()
            span.end(int((origin + ended) * 1e9))


class _CallSpan:
    """The call's span, open from the request to the last byte of the answer (a plain
    class: cheaper than a generator-based context manager on every call)."""

    __slots__ = ("call", "plugin", "span", "token")

    def __init__(self, plugin: TracingPlugin, call: Call) -> None:
        self.plugin = plugin
        self.call = call

    async def __aenter__(self) -> None:
        self.span, self.token = self.plugin._start(self.call)

    async def __aexit__(self, _type: object, error: BaseException | None, _tb: object) -> None:
        if self.token is not None:
            # A stream ends in another context: there is nothing to undo there.
            with contextlib.suppress(ValueError):
                UPSTREAM_HEADERS.reset(self.token)
        self.plugin._end(self.call, self.span, error)


class _DetailedTracing(TracingPlugin):
    """`TracingPlugin` that also reads finish reasons and the response id."""

    @hookimpl
    def post_call(self, call: Call, response: dict[str, Any]) -> None:
        attributes = call.stash.get(_ATTRIBUTES)
        if attributes is None:
            return  # not recorded (sampled out)
        reasons = [
            choice["finish_reason"]
            for choice in response.get("choices") or ()
            if isinstance(choice, dict) and isinstance(choice.get("finish_reason"), str)
        ]
        if reasons:
            call.stash[_FINISH] = reasons
        _response_ids(attributes, response)

    @hookimpl
    def on_stream_chunk(self, call: Call, chunk: dict[str, Any]) -> dict[str, Any]:
        for choice in chunk.get("choices") or ():
            if isinstance(choice, dict) and isinstance(choice.get("finish_reason"), str):
                reasons = call.stash.get(_FINISH)
                if reasons is None:
                    reasons = call.stash[_FINISH] = []
                reasons.append(choice["finish_reason"])
        attributes = call.stash.get(_ATTRIBUTES)
        if attributes is not None and "gen_ai.response.id" not in attributes:
            _response_ids(attributes, chunk)
        return chunk


def _response_ids(attributes: dict[str, Any], body: dict[str, Any]) -> None:
    if isinstance(body.get("id"), str):
        attributes["gen_ai.response.id"] = body["id"]
    if isinstance(body.get("model"), str):
        attributes["gen_ai.response.model"] = body["model"]


def gen_ai_request_attributes(call: Call, operation: str) -> dict[str, Any]:
    """What is known when the call starts: operation, requested model, parameters."""
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": operation,
        "litegate.request_id": call.id,
        "litegate.stream": call.stream,
    }
    if call.alias:
        attributes["gen_ai.request.model"] = call.alias
    request = call.request
    for name, attribute in _PARAMS.items():
        value = request.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            attributes[attribute] = value
    stop = request.get("stop")
    if isinstance(stop, str):
        attributes["gen_ai.request.stop_sequences"] = [stop]
    elif isinstance(stop, list) and all(isinstance(item, str) for item in stop):
        attributes["gen_ai.request.stop_sequences"] = stop
    return attributes


def gen_ai_response_attributes(call: Call) -> dict[str, Any]:
    """What is known when the call ended: provider, models, usage, status."""
    attributes: dict[str, Any] = {"litegate.cache_hit": call.cache_hit}
    deployment = call.deployment
    if deployment is not None:
        attributes["gen_ai.provider.name"] = deployment.provider
        attributes["gen_ai.response.model"] = deployment.model
        attributes["litegate.deployment"] = deployment.id
        if deployment.api_base:
            parts = urlsplit(deployment.api_base)
            if parts.hostname:
                attributes["server.address"] = parts.hostname
            if parts.port:
                attributes["server.port"] = parts.port
    usage = call.usage
    if usage is not None:
        attributes["gen_ai.usage.input_tokens"] = usage.prompt_tokens
        attributes["gen_ai.usage.output_tokens"] = usage.completion_tokens
    if call.status is not None:
        attributes["http.response.status_code"] = call.status
    if call.cost is not None:
        attributes["litegate.cost"] = call.cost
    if len(call.attempts) > 1:
        attributes["litegate.attempts"] = len(call.attempts)
    return attributes


def _exporter(config: TracingPlugin.Config) -> SpanExporter | None:
    if config.exporter == "none":
        return None
    if config.exporter == "console":
        return ConsoleSpanExporter()
    headers = _revealed(config.headers)
    options: dict[str, Any] = {"headers": headers or None}
    if config.endpoint:
        options["endpoint"] = config.endpoint
    try:
        if config.exporter == "otlp-grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
                OTLPSpanExporter as GrpcExporter,
            )

            return GrpcExporter(**options)
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter as HttpExporter,
        )

        return HttpExporter(**options)
    except ImportError:
        raise ValueError(
            f"exporter {config.exporter!r} needs the OTLP exporters: pip install 'litegate[otlp]'"
        ) from None


def _revealed(headers: Mapping[str, Secret]) -> dict[str, str]:
    return {name: value.reveal() for name, value in headers.items()}
