"""The metrics plugin: what /metrics shows after real traffic, who may scrape it, and the
sum over 2 Hypercorn workers (`litegate serve`, prometheus_client multiprocess mode)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from litegate.testing import free_port

MASTER = "sk-master-metrics-test"
ADMIN = {"authorization": f"Bearer {MASTER}"}
MEMBER_KEY = "sk-member-metrics-test"
AUTH = f"""
[[pipeline]]
plugin = "auth"
master_key = "{MASTER}"
keys = [{{ name = "member-key", key = "{MEMBER_KEY}" }}, {{ name = "viewer-key", key = "sk-viewer-metrics", role = "viewer" }}]
"""
BIN = Path(sys.executable).parent


def samples(text: str, name: str) -> list:
    return [
        sample
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    ]


def total(text: str, name: str, **labels: str) -> float:
    return sum(
        s.value for s in samples(text, name) if all(s.labels.get(k) == v for k, v in labels.items())
    )


def scrape_when(url: str, ready) -> str:
    """/metrics once `ready(text)`: a call is counted just after its response went out."""
    deadline = time.monotonic() + 10
    while True:
        response = httpx.get(url + "/metrics", headers=ADMIN, timeout=10)
        assert response.status_code == 200
        if ready(response.text):
            return response.text
        assert time.monotonic() < deadline, response.text
        time.sleep(0.05)


def chat(url: str, model: str, key: str = MASTER, **extra) -> httpx.Response:
    return httpx.post(
        url + "/v1/chat/completions",
        headers={"authorization": f"Bearer {key}"},
        json={"model": model, "messages": [{"role": "user", "content": "hi there"}], **extra},
        timeout=30,
    )


def test_metrics_after_traffic(serve_gateway, fake_openai):
    server = serve_gateway(
        AUTH
        + '[[pipeline]]\nplugin = "metrics"\nmetrics_token = "scrape-token"\n'
        + f'[[models]]\nname = "gpt"\nprovider = "openai"\nmodel = "gpt-4o"\napi_base = "{fake_openai.base_url}"\napi_key = "sk-up"\n'
        + f'[[models]]\nname = "broken"\nprovider = "openai"\nmodel = "error-503"\napi_base = "{fake_openai.base_url}"\napi_key = "sk-up"\n'
    )
    for _ in range(3):
        assert chat(server.url, "gpt").status_code == 200
    assert chat(server.url, "gpt", key=MEMBER_KEY, stream=True).status_code == 200
    assert chat(server.url, "broken").status_code >= 500
    assert chat(server.url, "no-such-model").status_code == 404
    text = scrape_when(server.url, lambda t: total(t, "litegate_requests_total") == 6)
    assert (
        total(text, "litegate_requests_total", model="gpt", provider="openai", status_class="2xx")
        == 4
    )
    assert total(text, "litegate_requests_total", model="broken", status_class="5xx") == 1
    assert total(text, "litegate_requests_total", model="none", status_class="4xx") == 1
    assert total(text, "litegate_errors_total", error_type="model_not_found") == 1
    assert total(text, "litegate_request_duration_seconds_count", model="gpt") == 4
    assert total(text, "litegate_time_to_first_token_seconds_count", model="gpt") == 1
    assert total(text, "litegate_tokens_total", model="gpt", type="input") > 0
    assert total(text, "litegate_tokens_total", model="gpt", type="output") > 0
    assert (
        total(text, "litegate_upstream_attempts_total", deployment="broken#0", status_class="5xx")
        == 1
    )
    assert total(text, "litegate_requests_in_flight") == 0
    # No tenant labels, no secrets, no client-chosen model names.
    assert "member-key" not in text and MEMBER_KEY not in text and "no-such-model" not in text
    assert 'key="' not in text

    url = server.url + "/metrics"
    assert httpx.get(url, timeout=10).status_code == 401
    assert (
        httpx.get(url, headers={"authorization": f"Bearer {MEMBER_KEY}"}, timeout=10).status_code
        == 403
    )
    assert (
        httpx.get(
            url, headers={"authorization": "Bearer sk-viewer-metrics"}, timeout=10
        ).status_code
        == 200
    )
    assert (
        httpx.get(url, headers={"authorization": "Bearer scrape-token"}, timeout=10).status_code
        == 200
    )
    assert httpx.get(url, headers={"authorization": "Bearer wrong"}, timeout=10).status_code == 401


def test_tenant_labels_and_circuit_states(serve_gateway, fake_openai):
    base = fake_openai.base_url
    server = serve_gateway(
        AUTH
        + '[[pipeline]]\nplugin = "metrics"\ntenant_labels = true\n'
        + '[[pipeline]]\nplugin = "router"\nretries = 0\nshared = false\ncooldown_failures = 1\ncooldown = "10m"\n'
        + f'[[models]]\nname = "flaky"\nprovider = "openai"\nmodel = "error-500"\napi_base = "{base}"\napi_key = "sk-up"\n'
        + f'[[models]]\nname = "fine"\nprovider = "openai"\nmodel = "gpt-4o"\napi_base = "{base}"\napi_key = "sk-up"\n'
    )
    assert chat(server.url, "flaky", key=MEMBER_KEY).status_code >= 500
    assert chat(server.url, "fine").status_code == 200
    text = scrape_when(server.url, lambda t: total(t, "litegate_requests_total") == 2)
    assert total(text, "litegate_requests_total", key="member-key") == 1
    assert total(text, "litegate_deployment_circuit_open", deployment="flaky#0") == 1
    assert total(text, "litegate_deployment_circuit_open", deployment="fine#0") == 0


def test_otel_console_exporter_builds(make_gateway):
    gateway = make_gateway(
        '[[pipeline]]\nplugin = "metrics"\npublic = true\nexporter = "console"\n'
        '[[models]]\nname = "m"\nprovider = "mock"\n'
    )
    [plugin] = gateway.plugins
    assert plugin.otel is not None
    gateway.chat_sync(model="m", messages=[{"role": "user", "content": "x"}])
    assert (
        b'litegate_requests_total{endpoint="chat",model="m",provider="mock",status_class="2xx"} 1.0'
        in plugin.exposition()
    )


def serve(tmp_path, workers: int, env_extra: dict[str, str]) -> tuple[subprocess.Popen, str]:
    config = tmp_path / "pipeline.toml"
    config.write_text(
        AUTH + '[[pipeline]]\nplugin = "metrics"\n[[models]]\nname = "demo"\nprovider = "mock"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LITEGATE_", "PROMETHEUS_"))}
    env.update(env_extra)
    port = free_port()
    process = subprocess.Popen(
        [str(BIN / "litegate"), "serve", "-c", str(config), "--port", str(port),
         "--workers", str(workers)],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90  # a loaded machine starts Python slowly
    while True:
        if process.poll() is not None:
            raise AssertionError(process.stderr.read().decode())
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError("server did not start")
        try:
            if httpx.get(url + "/health/ready", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)


@pytest.mark.timeout(300)
def test_counts_survive_a_hot_reload(tmp_path):
    process, url = serve(tmp_path, 1, {})
    try:
        for _ in range(3):
            assert chat(url, "demo").status_code == 200
        scrape_when(url, lambda t: total(t, "litegate_requests_total") == 3)
        process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 30
        while (
            httpx.get(url + "/admin/v1/config", headers=ADMIN, timeout=10).json()["generation"] < 2
        ):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        for _ in range(2):
            assert chat(url, "demo").status_code == 200
        text = scrape_when(url, lambda t: total(t, "litegate_requests_total") == 5)
        assert total(text, "litegate_requests_total", model="demo") == 5
    finally:
        process.terminate()
        process.communicate(timeout=30)


@pytest.mark.timeout(300)
def test_two_workers_metrics_are_the_sum_of_both(tmp_path):
    metrics_dir = tmp_path / "prom"
    metrics_dir.mkdir()
    process, url = serve(tmp_path, 2, {"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)})
    try:
        sent = 0
        # New connections until both workers have served calls (each writes its own file).
        while sent < 400 and (sent < 40 or len(list(metrics_dir.glob("counter_*.db"))) < 2):
            assert chat(url, "demo").status_code == 200
            sent += 1
        per_worker = list(metrics_dir.glob("counter_*.db"))
        assert len(per_worker) == 2, "one worker served everything"
        for _ in range(4):  # whichever worker answers, the sum of both
            text = scrape_when(url, lambda t: total(t, "litegate_requests_total") >= sent)
            assert total(text, "litegate_requests_total", model="demo", status_class="2xx") == sent
    finally:
        process.terminate()
        process.communicate(timeout=30)
    assert process.returncode == 0
