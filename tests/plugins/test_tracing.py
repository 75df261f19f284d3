"""The tracing plugin over real HTTP: GenAI attributes of a chat call, a failed attempt plus
fallback, a stream; the client's traceparent is the parent and goes upstream."""

from __future__ import annotations

import time

import httpx
import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from litegate.plugins.tracing import TracingPlugin

SECRET = "sk-upstream-secret-abcdef"
CLIENT_TRACE = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{CLIENT_TRACE}-b7ad6b7169203331-01"


def model(alias: str, upstream: str, base_url: str) -> str:
    return (
        f'[[models]]\nname = "{alias}"\nprovider = "openai"\nmodel = "{upstream}"\n'
        f'api_base = "{base_url}"\napi_key = "{SECRET}"\n'
    )


def serve_traced(serve_gateway, extra: str, *models: str, options: str = ""):
    toml = f'[[pipeline]]\nplugin = "tracing"\nexporter = "none"\n{options}\n{extra}' + "".join(
        models
    )
    server = serve_gateway(toml)
    tracing = next(p for p in server.gateway.plugins if isinstance(p, TracingPlugin))
    exporter = InMemorySpanExporter()
    tracing.provider.add_span_processor(SimpleSpanProcessor(exporter))
    return server, exporter


def finished(exporter: InMemorySpanExporter, name: str) -> list:
    """The spans named `name`, once there are any: a call's span ends just after the
    response went out (the events run then), so the client may see it first."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        spans = [s for s in exporter.get_finished_spans() if s.name == name]
        if spans:
            return spans
        time.sleep(0.02)
    raise AssertionError(f"no span {name!r}")


def assert_no_secrets(exporter: InMemorySpanExporter) -> None:
    for span in exporter.get_finished_spans():
        text = repr(dict(span.attributes or {}))
        assert SECRET not in text
        assert "authorization" not in text.lower()
        assert "hello there" not in text  # no bodies


def test_a_chat_call_has_the_gen_ai_attributes(serve_gateway, fake_openai):
    server, exporter = serve_traced(
        serve_gateway, "", model("gpt", "gpt-4o-mini", fake_openai.base_url)
    )
    before = len(fake_openai.requests)
    response = httpx.post(
        server.base_url + "/chat/completions",
        json={
            "model": "gpt",
            "messages": [{"role": "user", "content": "hello there"}],
            "temperature": 0.3,
            "max_tokens": 50,
            "top_p": 0.9,
            "stop": "END",
        },
        headers={"traceparent": TRACEPARENT, "authorization": "Bearer client-secret"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    [span] = finished(exporter, "chat gpt")
    attributes = span.attributes
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.provider.name"] == "openai"
    assert attributes["gen_ai.request.model"] == "gpt"
    assert attributes["gen_ai.response.model"] == "gpt-4o-mini"
    assert attributes["gen_ai.request.temperature"] == 0.3
    assert attributes["gen_ai.request.max_tokens"] == 50
    assert attributes["gen_ai.request.top_p"] == 0.9
    assert tuple(attributes["gen_ai.request.stop_sequences"]) == ("END",)
    assert attributes["gen_ai.usage.input_tokens"] > 0
    assert attributes["gen_ai.usage.output_tokens"] > 0
    assert tuple(attributes["gen_ai.response.finish_reasons"]) == ("stop",)
    assert attributes["gen_ai.response.id"]
    assert attributes["server.address"] == "127.0.0.1"
    assert attributes["http.response.status_code"] == 200
    assert attributes["litegate.request_id"] == response.headers["x-request-id"]
    # The client's trace continues here, and goes on upstream.
    assert format(span.context.trace_id, "032x") == CLIENT_TRACE
    assert format(span.parent.span_id, "016x") == "b7ad6b7169203331"
    upstream = fake_openai.requests[before]["headers"]
    assert upstream["traceparent"].split("-")[1] == CLIENT_TRACE
    assert upstream["traceparent"].split("-")[2] == format(span.context.span_id, "016x")
    # One attempt span under the call span.
    [attempt] = [s for s in exporter.get_finished_spans() if s.name.startswith("attempt ")]
    assert attempt.parent.span_id == span.context.span_id
    assert attempt.attributes["litegate.deployment"] == "gpt#0"
    assert attempt.start_time >= span.start_time and attempt.end_time <= span.end_time
    assert_no_secrets(exporter)


def test_a_failed_attempt_and_its_fallback_are_child_spans(serve_gateway, fake_openai):
    base = fake_openai.base_url
    router = '[[pipeline]]\nplugin = "router"\nretries = 0\nshared = false\nfallbacks = { m = ["backup"] }\n'
    server, exporter = serve_traced(
        serve_gateway, router, model("m", "error-500", base), model("backup", "ok", base)
    )
    response = httpx.post(
        server.base_url + "/chat/completions",
        json={"model": "m", "messages": [{"role": "user", "content": "hello there"}]},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    [call_span] = finished(exporter, "chat m")
    attempts = sorted(
        (s for s in exporter.get_finished_spans() if s.name.startswith("attempt ")),
        key=lambda s: s.attributes["litegate.attempt"],
    )
    assert [a.attributes["litegate.deployment"] for a in attempts] == ["m#0", "backup#0"]
    failed, fallback = attempts
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.attributes["http.response.status_code"] >= 500
    assert failed.attributes["error.type"]
    assert failed.attributes["gen_ai.request.model"] == "error-500"
    assert failed.attributes["gen_ai.provider.name"] == "openai"
    assert fallback.status.status_code is StatusCode.UNSET
    assert fallback.attributes["http.response.status_code"] == 200
    assert all(a.parent.span_id == call_span.context.span_id for a in attempts)
    assert call_span.attributes["litegate.attempts"] == 2
    assert call_span.attributes["gen_ai.response.model"] == "ok"
    assert call_span.status.status_code is StatusCode.UNSET
    assert_no_secrets(exporter)


def test_a_stream_is_one_span_ending_with_the_stream(serve_gateway, fake_openai):
    server, exporter = serve_traced(
        serve_gateway, "", model("gpt", "gpt-4o-mini", fake_openai.base_url)
    )
    with httpx.stream(
        "POST",
        server.base_url + "/chat/completions",
        json={
            "model": "gpt",
            "messages": [{"role": "user", "content": "hello there"}],
            "stream": True,
            "stream_options": {"include_usage": True},
        },
        timeout=30,
    ) as response:
        assert response.status_code == 200
        body = response.read().decode()
    assert "[DONE]" in body
    [span] = finished(exporter, "chat gpt")
    assert span.attributes["litegate.stream"] is True
    assert span.attributes["gen_ai.usage.output_tokens"] > 0
    assert tuple(span.attributes["gen_ai.response.finish_reasons"]) == ("stop",)
    assert span.attributes["gen_ai.provider.name"] == "openai"
    assert_no_secrets(exporter)


def test_a_failed_call_is_an_error_span(serve_gateway, fake_openai):
    server, exporter = serve_traced(
        serve_gateway, "", model("bad", "error-503", fake_openai.base_url)
    )
    response = httpx.post(
        server.base_url + "/chat/completions",
        json={"model": "bad", "messages": [{"role": "user", "content": "x"}]},
        timeout=30,
    )
    assert response.status_code >= 500
    [span] = finished(exporter, "chat bad")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"]
    assert span.attributes["http.response.status_code"] == response.status_code


def test_without_response_details_streams_stay_passthrough(make_gateway):
    gateway = make_gateway(
        '[[pipeline]]\nplugin = "tracing"\nexporter = "none"\nresponse_details = false\n'
        '[[models]]\nname = "m"\nprovider = "mock"\n'
    )
    assert gateway.pipeline.passthrough_streams
    assert not gateway.dispatcher.impls("post_call")
    assert gateway.dispatcher.impls("call_scope")


@pytest.mark.parametrize("exporter", ["console", "otlp-http", "otlp-grpc"])
def test_exporters_are_built_from_config(make_gateway, exporter):
    gateway = make_gateway(
        f'[[pipeline]]\nplugin = "tracing"\nexporter = "{exporter}"\n'
        'endpoint = "http://127.0.0.1:1/v1/traces"\nheaders = { x-token = "t" }\n'
        '[[models]]\nname = "m"\nprovider = "mock"\n'
    )
    [plugin] = gateway.plugins
    assert plugin.provider._active_span_processor._span_processors
