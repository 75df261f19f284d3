"""`litegate serve` and plain Hypercorn on litegate.asgi:app, as operators run them."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from litegate.testing import free_port

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "pipeline.example.toml"
BIN = Path(sys.executable).parent


def _wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited: {process.stderr.read().decode()}")
        try:
            if httpx.get(url + "/health/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("server did not become ready")


def _chat(url: str) -> httpx.Response:
    return httpx.post(
        url + "/v1/chat/completions",
        headers={"authorization": "Bearer sk-litegate-local"},
        json={"model": "demo", "messages": [{"role": "user", "content": "hello"}]},
        timeout=10,
    )


@pytest.fixture
def env(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LITEGATE_", "OPENAI_"))}
    return env


@pytest.mark.parametrize("workers", [1, 2])
def test_litegate_serve_answers_from_the_mock_with_no_provider_key(env, tmp_path, workers):
    port = free_port()
    process = subprocess.Popen(
        [str(BIN / "litegate"), "serve", "--config", str(EXAMPLE), "--port", str(port),
         "--workers", str(workers)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_ready(url, process)
        response = _chat(url)
        assert response.status_code == 200
        assert "hello" in response.json()["choices"][0]["message"]["content"]
    finally:
        process.terminate()
        out, _err = process.communicate(timeout=20)
    assert process.returncode == 0
    log_line = out.decode().strip().splitlines()[-1]
    assert '"status":200' in log_line and "sk-litegate-local" not in out.decode()


def test_plain_hypercorn_reads_litegate_config(env, tmp_path):
    port = free_port()
    process = subprocess.Popen(
        [str(BIN / "hypercorn"), "litegate.asgi:app", "--bind", f"127.0.0.1:{port}"],
        cwd=tmp_path, env={**env, "LITEGATE_CONFIG": str(EXAMPLE)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_ready(url, process)
        assert _chat(url).status_code == 200
    finally:
        process.terminate()
        process.communicate(timeout=20)


def test_serve_with_a_bad_config_exits_2_without_traceback(env, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[server]\nport = "x"\n')
    result = subprocess.run(
        [str(BIN / "litegate"), "serve", "--config", str(bad)],
        env=env, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 2
    assert "server.port: expected an integer" in result.stderr
    assert "Traceback" not in result.stderr


def test_oversized_request_head_is_refused(env, tmp_path):
    config = tmp_path / "small.toml"
    config.write_text(
        '[server]\nmax_header_size = "4KiB"\n[[models]]\nname = "m"\nprovider = "mock"\n'
    )
    port = free_port()
    process = subprocess.Popen(
        [str(BIN / "litegate"), "serve", "--config", str(config), "--port", str(port)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_ready(url, process)
        small = httpx.get(url + "/health", headers={"x-pad": "a" * 1000})
        assert small.status_code == 200
        big = httpx.get(url + "/health", headers={"x-pad": "a" * 8000})
        assert big.status_code == 431
        assert big.json()["error"]["code"] == "headers_too_large"
    finally:
        process.terminate()
        process.communicate(timeout=20)


def test_serve_on_a_busy_port_says_so(env, tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [str(BIN / "litegate"), "serve", "--config", str(EXAMPLE), "--port", str(port)],
            env=env, capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
