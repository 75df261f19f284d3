"""`metrics`: request, latency, token, cost, error, cache and circuit metrics.

Served on a Prometheus ``GET /metrics`` and, optionally, pushed through OpenTelemetry
(OTLP). Under `litegate serve` every worker writes its values to files in a directory
shared by the run's workers (prometheus_client's multiprocess mode: the server sets
``PROMETHEUS_MULTIPROC_DIR`` before the workers start), and ``/metrics`` on any worker
reads them all: the numbers are the server's, not one worker's. In a single process with
no such directory (tests, the in-process API) the values live in memory.

Labels: model alias, provider, status class ("2xx"...), endpoint; never key or team ids
unless `tenant_labels` is on. ``/metrics`` needs an admin or viewer caller, or the
`metrics_token` bearer.
"""

from __future__ import annotations

import functools
import hmac
import os
from typing import Any

import attrs
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from litegate import Call, Gateway, GatewayError, Principal, hookimpl
from litegate.config_types import Secret
from litegate.route_auth import guarded

__all__ = ["MetricsPlugin", "circuit_states"]

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
TTFT_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_EXPORTERS = ("none", "otlp-http", "otlp-grpc", "console")


class MetricsPlugin:
    """Prometheus and OpenTelemetry metrics; see docs/observability.md."""

    @attrs.frozen
    class Config:
        #: Where the Prometheus text is served.
        path: str = "/metrics"
        #: A bearer token that may scrape `path` without an API key (for Prometheus).
        metrics_token: Secret | None = None
        #: Roles of API keys that may scrape `path`.
        roles: list[str] = attrs.field(factory=lambda: ["admin", "viewer"])
        #: Serve `path` to anyone, unauthenticated (only behind a private network).
        public: bool = False
        #: Add the caller's key id and team as labels (many series with many keys).
        tenant_labels: bool = False
        #: Also push the metrics through OpenTelemetry: "otlp-http", "otlp-grpc", "console"
        #: or "none".
        exporter: str = attrs.field(default="none", validator=attrs.validators.in_(_EXPORTERS))
        #: The OTLP collector's address (default: the exporter's own default).
        endpoint: str | None = None
        #: Headers sent to the collector.
        headers: dict[str, Secret] = attrs.field(factory=dict)
        #: Seconds between two OTLP pushes.
        export_interval: float = 60.0

    def __init__(self, config: Config) -> None:
        self.config = config
        tenant = bool(config.tenant_labels)
        #: Where prometheus_client keeps every worker's values (multiprocess mode), if so.
        self.multiprocess_dir = _multiprocess_dir()
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            # Under `litegate serve`: one set of metrics per process, kept across reloads.
            self.metrics = _process_instruments(tenant, files=bool(self.multiprocess_dir))
        else:  # tests, the in-process API: each Gateway counts for itself
            self.metrics = _Instruments(CollectorRegistry(), tenant)
        self.otel = _OtelMetrics(config) if config.exporter != "none" else None

    # -- hooks ---------------------------------------------------------------------------

    @hookimpl
    def call_scope(self) -> _InFlight:
        return _InFlight(self.metrics.in_flight)

    @hookimpl
    def on_success(self, call: Call) -> None:
        self._record(call, None)

    @hookimpl
    def on_failure(self, call: Call, error: GatewayError) -> None:
        self._record(call, error)

    @hookimpl
    def routes(self, gateway: Gateway) -> list[BaseRoute]:
        async def scrape(_request: Request, _principal: Principal | None = None) -> Response:
            for deployment, alias, is_open in circuit_states(gateway):
                self.metrics.circuit_open.labels(deployment, alias).set(1 if is_open else 0)
            return Response(self.exposition(), media_type=CONTENT_TYPE_LATEST)

        protected = guarded(gateway, scrape, roles=self.config.roles)
        token = self.config.metrics_token.reveal().encode() if self.config.metrics_token else None

        async def endpoint(request: Request) -> Response:
            if self.config.public:
                return await scrape(request)
            if token is not None:
                presented = request.headers.get("authorization", "")
                if presented[:7].lower() == "bearer " and hmac.compare_digest(
                    presented[7:].strip().encode(), token
                ):
                    return await scrape(request)
            return await protected(request)

        return [Route(self.config.path, endpoint, methods=["GET"])]

    @hookimpl
    def shutdown(self) -> None:
        if self.otel is not None:
            self.otel.shutdown()

    # -- helpers -------------------------------------------------------------------------

    def exposition(self) -> bytes:
        """The Prometheus text: every worker's values in multiprocess mode."""
        registry = self.metrics.registry
        if registry is None:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=self.multiprocess_dir)
        return generate_latest(registry)

    def _labels(self, call: Call) -> list[str]:
        deployment = call.deployment
        # Only configured aliases become label values: a client can send any model name.
        model = deployment.alias if deployment is not None else "none"
        labels = [model, deployment.provider if deployment else "none", call.endpoint]
        if self.config.tenant_labels:
            principal = call.principal
            labels += [principal.id if principal else "", principal.team or "" if principal else ""]
        return labels

    def _record(self, call: Call, error: GatewayError | None) -> None:
        labels = self._labels(call)
        series = self.metrics.series(tuple(labels))
        status = call.status or (error.status if error else 200)
        series.child(self.metrics.requests, f"{status // 100}xx").inc()
        if error is not None:
            series.child(self.metrics.errors, error.code or error.type).inc()
        if call.latency is not None:
            series.latency.observe(call.latency)
        if call.stream and call.ttft is not None:
            series.ttft.observe(call.ttft)
        usage = call.usage
        if usage is not None:
            if usage.prompt_tokens:
                series.input_tokens.inc(usage.prompt_tokens)
            if usage.completion_tokens:
                series.output_tokens.inc(usage.completion_tokens)
        if call.cost:
            series.cost.inc(call.cost)
        if call.cache_hit:
            series.cache_hits.inc()
        provider = labels[1]
        for attempt in call.attempts:
            attempt_status = attempt.status or 500
            self.metrics.attempts.labels(
                attempt.deployment, provider, f"{attempt_status // 100}xx"
            ).inc()
        if self.otel is not None:
            self.otel.record(call, labels, status, error)


class _Instruments:
    """The Prometheus metrics, registered in `registry` (None: multiprocess mode, where the
    values live in the run directory's files and scrapes read those)."""

    def __init__(self, registry: CollectorRegistry | None, tenant: bool) -> None:
        self.registry = registry
        self._series: dict[tuple[str, ...], _Series] = {}
        tenant_names = ["key", "team"] if tenant else []
        labels = ["model", "provider", "endpoint", *tenant_names]
        self.requests = Counter(
            "litegate_requests",
            "Calls finished, by status class.",
            [*labels, "status_class"],
            registry=registry,
        )
        self.errors = Counter(
            "litegate_errors",
            "Calls that ended with an error, by error code.",
            [*labels, "error_type"],
            registry=registry,
        )
        self.latency = Histogram(
            "litegate_request_duration_seconds",
            "Time from the request to the last byte of the answer.",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.ttft = Histogram(
            "litegate_time_to_first_token_seconds",
            "Time from the request to the first streamed chunk.",
            labels,
            buckets=TTFT_BUCKETS,
            registry=registry,
        )
        self.tokens = Counter(
            "litegate_tokens",
            "Tokens, by type (input, output).",
            [*labels, "type"],
            registry=registry,
        )
        self.cost = Counter("litegate_cost_usd", "Cost of calls in USD.", labels, registry=registry)
        self.cache_hits = Counter(
            "litegate_cache_hits", "Calls answered from the cache.", labels, registry=registry
        )
        self.attempts = Counter(
            "litegate_upstream_attempts",
            "Upstream attempts (retries and fallbacks included), by deployment.",
            ["deployment", "provider", "status_class"],
            registry=registry,
        )
        self.in_flight = Gauge(
            "litegate_requests_in_flight",
            "Calls being served now.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.circuit_open = Gauge(
            "litegate_deployment_circuit_open",
            "1 while a deployment is cooling down after failures (router plugin), else 0.",
            ["deployment", "model"],
            registry=registry,
            multiprocess_mode="livemax",
        )

    def series(self, labels: tuple[str, ...]) -> _Series:
        found = self._series.get(labels)
        if found is None:
            found = self._series[labels] = _Series(self, labels)
        return found


class _Series:
    """One label set's metric children, looked up once: ``metric.labels(...)`` takes a lock
    and validates its arguments on every call."""

    __slots__ = (
        "_children",
        "cache_hits",
        "cost",
        "input_tokens",
        "labels",
        "latency",
        "output_tokens",
        "ttft",
    )

    def __init__(self, instruments: _Instruments, labels: tuple[str, ...]) -> None:
        self.labels = labels
        self.latency = instruments.latency.labels(*labels)
        self.ttft = instruments.ttft.labels(*labels)
        self.input_tokens = instruments.tokens.labels(*labels, "input")
        self.output_tokens = instruments.tokens.labels(*labels, "output")
        self.cost = instruments.cost.labels(*labels)
        self.cache_hits = instruments.cache_hits.labels(*labels)
        self._children: dict[tuple[int, str], Any] = {}

    def child(self, metric: Any, last: str) -> Any:
        """`metric`'s child for these labels plus `last` (status class, error type)."""
        key = (id(metric), last)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*self.labels, last)
        return found


@functools.cache
def _process_instruments(tenant: bool, files: bool) -> _Instruments:
    """Under `litegate serve`, one set of metric objects per process, shared by the Gateways
    a hot reload builds, so counts go on across reloads (and, in files, two objects for one
    series would overwrite each other's values)."""
    return _Instruments(None if files else CollectorRegistry(), tenant)


def _multiprocess_dir() -> str | None:
    """PROMETHEUS_MULTIPROC_DIR when prometheus_client really writes there. It decides at
    its import: with one worker, `litegate serve` imported it (loading the config) before
    it set the directory, and the values stay in this process's memory -- which, with one
    process, is all of them."""
    from prometheus_client import values

    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return path if path and values.ValueClass is not values.MutexValue else None


class _InFlight:
    """The in-flight gauge up for the call's lifetime (a plain class: cheaper than a
    generator-based context manager on every call)."""

    __slots__ = ("gauge",)

    def __init__(self, gauge: Gauge) -> None:
        self.gauge = gauge

    async def __aenter__(self) -> None:
        self.gauge.inc()

    async def __aexit__(self, *exc_info: object) -> None:
        self.gauge.dec()


def circuit_states(gateway: Gateway) -> list[tuple[str, str, bool]]:
    """``(deployment id, alias, open)`` for every deployment, from any plugin exposing the
    router's public ``stats.cooling(deployment_id)``; empty when none does."""
    for plugin in gateway.plugins:
        cooling = getattr(getattr(plugin, "stats", None), "cooling", None)
        if callable(cooling):
            return [
                (deployment.id, alias, bool(cooling(deployment.id)))
                for alias, group in gateway.deployments.items()
                for deployment in group
            ]
    return []


class _OtelMetrics:
    """The same measurements as OpenTelemetry instruments, pushed by a periodic reader."""

    def __init__(self, config: MetricsPlugin.Config) -> None:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import (
            ConsoleMetricExporter,
            MetricExporter,
            PeriodicExportingMetricReader,
        )
        from opentelemetry.sdk.resources import Resource

        exporter: MetricExporter
        if config.exporter == "console":
            exporter = ConsoleMetricExporter()
        else:
            exporter = _otlp_metric_exporter(config)
        reader = PeriodicExportingMetricReader(
            exporter, export_interval_millis=config.export_interval * 1000
        )
        self.provider = MeterProvider(
            resource=Resource.create({"service.name": "litegate"}), metric_readers=[reader]
        )
        meter = self.provider.get_meter("litegate")
        self.requests = meter.create_counter("litegate.requests", "{request}")
        self.errors = meter.create_counter("litegate.errors", "{request}")
        self.duration = meter.create_histogram("gen_ai.server.request.duration", "s")
        self.ttft = meter.create_histogram("gen_ai.server.time_to_first_token", "s")
        self.tokens = meter.create_counter("gen_ai.client.token.usage", "{token}")
        self.cost = meter.create_counter("litegate.cost", "USD")

    def record(
        self, call: Call, labels: list[str], status: int, error: GatewayError | None
    ) -> None:
        attributes: dict[str, Any] = {
            "gen_ai.request.model": labels[0],
            "gen_ai.provider.name": labels[1],
            "litegate.endpoint": labels[2],
            "http.response.status_code": status,
        }
        self.requests.add(1, attributes)
        if error is not None:
            self.errors.add(1, {**attributes, "error.type": error.code or error.type})
        if call.latency is not None:
            self.duration.record(call.latency, attributes)
        if call.stream and call.ttft is not None:
            self.ttft.record(call.ttft, attributes)
        if call.usage is not None:
            self.tokens.add(call.usage.prompt_tokens, {**attributes, "gen_ai.token.type": "input"})
            self.tokens.add(
                call.usage.completion_tokens, {**attributes, "gen_ai.token.type": "output"}
            )
        if call.cost:
            self.cost.add(call.cost, attributes)

    def shutdown(self) -> None:
        self.provider.shutdown()


def _otlp_metric_exporter(config: MetricsPlugin.Config) -> Any:
    options: dict[str, Any] = {
        "headers": {name: value.reveal() for name, value in config.headers.items()} or None
    }
    if config.endpoint:
        options["endpoint"] = config.endpoint
    try:
        if config.exporter == "otlp-grpc":
            from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
                OTLPMetricExporter as Grpc,
            )

            return Grpc(**options)
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
            OTLPMetricExporter as Http,
        )

        return Http(**options)
    except ImportError:
        raise ValueError(
            f"exporter {config.exporter!r} needs the OTLP exporters: pip install 'litegate[otlp]'"
        ) from None
