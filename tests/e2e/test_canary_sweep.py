"""The canary sweep (hardening issue): every credential the gateway handles is given a
recognisable canary value — master key, a static key, a virtual key, a JWT, the provider key,
the metrics token, keys that are wrong — and a matrix of traffic runs through a gateway with
every plugin that records anything (auth, admin, rate limits, budgets, cost, spend ledger,
cache, PII, tracing to the console, metrics, request log, access log). Then every response
body and header, every line the server printed, the access log, and every byte of every file
in its state and records stores are searched: no canary may appear, except the virtual key's
secret in the one answer that creates it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from litegate.testing import free_port
from tests.plugins.auth.test_tokens import AUDIENCE, ISSUER, IdentityProvider

BIN = Path(sys.executable).parent
MASTER = "sk-CANARY-master-8c1d2e3f4a5b6c7d"
STATIC = "sk-CANARY-static-1a2b3c4d5e6f7a8b"
PROVIDER = "sk-CANARY-provider-9f8e7d6c5b4a3f2e"
METRICS = "CANARY-metrics-token-77aa88bb99cc"
WRONG = "sk-CANARY-wrong-0000111122223333"
MESSAGES = [{"role": "user", "content": "Hello, write to jane.doe@example.com please."}]


def _config(state: Path, upstream: str, idp: IdentityProvider) -> str:
    return f"""
[server]
log_format = "json"

[state]
kv = "disk:{state}/kv"
db = "sqlite:///{state}/records.db"

[[pipeline]]
plugin = "auth"
master_key = "{MASTER}"
keys = [{{ name = "ci-static", key = "{STATIC}", role = "member" }}]
virtual_keys = true
jwt = {{ jwks_url = "{idp.url}", issuer = "{ISSUER}", audience = "{AUDIENCE}" }}

[[pipeline]]
plugin = "admin"

[[pipeline]]
plugin = "ratelimit"
key_limits = {{ rpm = 1000 }}

[[pipeline]]
plugin = "budget"

[[pipeline]]
plugin = "cost"

[[pipeline]]
plugin = "spend"

[[pipeline]]
plugin = "pii"

[[pipeline]]
plugin = "cache"

[[pipeline]]
plugin = "tracing"
exporter = "console"

[[pipeline]]
plugin = "metrics"
metrics_token = "{METRICS}"

[[pipeline]]
plugin = "request_log"
flush_interval = "100ms"

[[pipeline]]
plugin = "logging"
path = "{state}/access.log"

[[models]]
name = "gpt-4o"
provider = "openai"
api_base = "{upstream}"
api_key = "{PROVIDER}"

[[models]]
name = "text-embedding-3-small"
provider = "openai"
api_base = "{upstream}"
api_key = "{PROVIDER}"

[[models]]
name = "error-401"
provider = "openai"
api_base = "{upstream}"
api_key = "{PROVIDER}"

[[models]]
name = "error-500"
provider = "openai"
api_base = "{upstream}"
api_key = "{PROVIDER}"
"""


class Gateway:
    """A `litegate serve` process, and every answer the sweep got from it."""

    def __init__(self, config: Path, cwd: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.seen: list[str] = []
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LITEGATE_", "OPENAI_"))}
        self.process = subprocess.Popen(
            [str(BIN / "litegate"), "serve", "--config", str(config), "--port", str(self.port)],
            cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.output = ""
        deadline = time.monotonic() + 60
        while True:
            if self.process.poll() is not None:
                raise AssertionError(self.stop())
            try:
                if httpx.get(self.url + "/health/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "server did not become ready"
            time.sleep(0.1)

    def call(self, method: str, path: str, key: str | None = None, **kwargs) -> httpx.Response:
        headers = kwargs.pop("headers", {})
        if key is not None:
            headers["authorization"] = f"Bearer {key}"
        answer = httpx.request(method, self.url + path, headers=headers, timeout=30, **kwargs)
        self.seen.append(f"{answer.status_code} {answer.headers!r}\n{answer.text}")
        return answer

    def stop(self) -> str:
        """Stop gracefully (writers flush) and return everything the server printed."""
        if self.process.poll() is None:
            self.process.terminate()
        try:
            out, _ = self.process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, _ = self.process.communicate()
        self.output += out.decode(errors="replace")
        return self.output


@pytest.fixture
def sweep(tmp_path, fake_openai) -> Iterator[tuple[Gateway, Path, IdentityProvider]]:
    state = tmp_path / "state"
    state.mkdir()
    idp = IdentityProvider()
    with idp.server:
        config = tmp_path / "pipeline.toml"
        config.write_text(_config(state, fake_openai.base_url, idp))
        gateway = Gateway(config, tmp_path)
        try:
            yield gateway, state, idp
        finally:
            gateway.stop()


def _traffic(gw: Gateway, idp: IdentityProvider) -> tuple[str, str]:
    """Runs the matrix; returns the virtual key's secret and the JWT."""
    chat = {"model": "gpt-4o", "messages": MESSAGES}
    # The master key: whole answers, streams, embeddings, the Anthropic API.
    assert gw.call("POST", "/v1/chat/completions", MASTER, json=chat).status_code == 200
    assert gw.call("POST", "/v1/chat/completions", MASTER, json=chat).status_code == 200  # cached
    stream = {**chat, "stream": True, "stream_options": {"include_usage": True}}
    assert gw.call("POST", "/v1/chat/completions", MASTER, json=stream).status_code == 200
    embed = {"model": "text-embedding-3-small", "input": "canary"}
    assert gw.call("POST", "/v1/embeddings", MASTER, json=embed).status_code == 200
    anthropic = {"model": "gpt-4o", "max_tokens": 16, "messages": MESSAGES}
    answer = gw.call("POST", "/v1/messages", headers={"x-api-key": MASTER}, json=anthropic)
    assert answer.status_code == 200
    # A static key; a virtual key made through the admin API; a JWT.
    assert gw.call("POST", "/v1/chat/completions", STATIC, json=chat).status_code == 200
    team = gw.call("POST", "/admin/v1/teams", MASTER, json={"name": "canaries"}).json()
    created = httpx.post(
        gw.url + "/admin/v1/keys",
        headers={"authorization": f"Bearer {MASTER}"},
        json={"name": "canary", "team_id": team["id"], "allowed_models": ["gpt-4o"]},
        timeout=30,
    )  # the one answer that shows a secret, on purpose: not recorded
    assert created.status_code in (200, 201), created.text
    virtual, key_id = created.json()["key"], created.json()["id"]
    assert gw.call("POST", "/v1/chat/completions", virtual, json=chat).status_code == 200
    forbidden = {"model": "text-embedding-3-small", "input": "x"}
    assert gw.call("POST", "/v1/embeddings", virtual, json=forbidden).status_code == 403
    token = idp.token(sub="canary-user")
    assert gw.call("POST", "/v1/chat/completions", token, json=chat).status_code == 200
    # Refusals: wrong keys in every place a key can go, a revoked key, a forged token.
    assert gw.call("POST", "/v1/chat/completions", WRONG, json=chat).status_code == 401
    wrong_header = {"x-api-key": WRONG}
    assert (
        gw.call("POST", "/v1/chat/completions", headers=wrong_header, json=chat).status_code == 401
    )
    assert gw.call("GET", "/v1/models", WRONG).status_code == 401
    assert gw.call("GET", "/admin/v1/keys", WRONG).status_code == 401
    assert gw.call("GET", "/admin/v1/keys", STATIC).status_code in (200, 403)
    forged = token[:-6] + ("AAAAAA" if not token.endswith("AAAAAA") else "BBBBBB")
    assert gw.call("POST", "/v1/chat/completions", forged, json=chat).status_code == 401
    assert gw.call("POST", f"/admin/v1/keys/{key_id}/revoke", MASTER).status_code == 200
    assert gw.call("POST", "/v1/chat/completions", virtual, json=chat).status_code == 401
    # A client trying to send credentials of its own, and upstream failures.
    sneaky = {**chat, "api_key": WRONG, "metadata": {"x": {"api_base": "http://x"}}}
    assert gw.call("POST", "/v1/chat/completions", MASTER, json=sneaky).status_code == 400
    for model, status in (("error-401", 401), ("error-500", 502)):
        body = {"model": model, "messages": MESSAGES}
        assert gw.call("POST", "/v1/chat/completions", MASTER, json=body).status_code == status
    # What operators read: metrics, the request log, spend, the audit log, key lists.
    assert gw.call("GET", "/metrics", METRICS).status_code == 200
    time.sleep(1.0)  # the request log and ledger writers flush
    for path in ("/admin/v1/requests", "/admin/v1/spend?group_by=key", "/admin/v1/audit",
                 "/admin/v1/keys", "/admin/v1/config"):  # fmt: skip
        assert gw.call("GET", path, MASTER).status_code == 200, path
    return virtual, token


@pytest.mark.timeout(240)
def test_no_canary_anywhere(sweep):
    gateway, state, idp = sweep
    virtual, token = _traffic(gateway, idp)
    output = gateway.stop()
    assert "trace_id" in output and "gen_ai.operation.name" in output  # logs and spans printed
    canaries = {
        "master key": MASTER,
        "static key": STATIC,
        "provider key": PROVIDER,
        "metrics token": METRICS,
        "wrong key": WRONG,
        "virtual key": virtual,
        "virtual key's hidden part": virtual[12:],
        "JWT": token,
        "JWT signature": token.rsplit(".", 1)[1],
    }
    places = {f"answer {i}": text for i, text in enumerate(gateway.seen)}
    places["server output"] = output
    for path in state.rglob("*"):  # records db, kv store, access log: every byte
        if path.is_file():
            places[str(path.relative_to(state))] = path.read_bytes().decode("latin-1")
    assert any("records.db" in where for where in places)
    hits = [
        f"{name} in {where}"
        for where, text in places.items()
        for name, value in canaries.items()
        if value in text
    ]
    assert not hits, hits
