"""The alerts plugin against a tiny webhook receiver on 127.0.0.1: error-rate spikes and
circuit openings, generic and Slack bodies, de-duplication, `send_alert` for other plugins."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from litegate.plugins.alerts import AlertsPlugin, send_alert


class Receiver:
    def __init__(self) -> None:
        self.received: list[tuple[str, dict, dict]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                outer.received.append((self.path, body, dict(self.headers)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait(self, count: int, seconds: float = 20) -> list[tuple[str, dict, dict]]:
        deadline = time.monotonic() + seconds
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.received)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def webhooks(url: str) -> str:
    return (
        f'webhooks = [{{ url = "{url}/generic", headers = {{ x-alert-token = "tok" }} }}, '
        f'{{ url = "{url}/slack?token=secret", format = "slack" }}]\n'
    )


def test_an_error_rate_spike_alerts_once_per_webhook(serve_gateway, receiver, tmp_path):
    server = serve_gateway(
        f'[state]\nkv = "disk:{tmp_path}/kv"\n'
        '[[pipeline]]\nplugin = "alerts"\nmin_calls = 5\nerror_rate = 0.5\ncircuit = false\n'
        + webhooks(receiver.url)
        + '[[models]]\nname = "bad"\nprovider = "mock"\nfailure_rate = 1.0\n'
        '[[models]]\nname = "good"\nprovider = "mock"\n'
    )
    for model in ["good"] * 5 + ["bad"] * 12:
        httpx.post(
            server.base_url + "/chat/completions",
            json={"model": model, "messages": [{"role": "user", "content": "x"}]},
            timeout=30,
        )
    received = receiver.wait(2)
    time.sleep(0.5)  # anything more would be a duplicate
    assert len(receiver.received) == 2, receiver.received
    by_path = {path.split("?")[0]: (body, headers) for path, body, headers in received}
    generic, headers = by_path["/generic"]
    assert generic["alert"] == "error_rate" and generic["subject"] == "bad"
    assert generic["details"]["rate"] >= 0.5 and generic["details"]["calls"] >= 5
    assert headers["x-alert-token"] == "tok"
    slack, _ = by_path["/slack"]
    assert set(slack) == {"text"} and "bad" in slack["text"]


def test_a_circuit_opening_alerts(serve_gateway, receiver, fake_openai, tmp_path):
    base = fake_openai.base_url
    server = serve_gateway(
        f'[state]\nkv = "disk:{tmp_path}/kv"\n'
        '[[pipeline]]\nplugin = "alerts"\nerror_rate = 0\ncheck_interval = "50ms"\n'
        + webhooks(receiver.url)
        + '[[pipeline]]\nplugin = "router"\nretries = 0\ncooldown_failures = 1\ncooldown = "10m"\n'
        + f'[[models]]\nname = "flaky"\nprovider = "openai"\nmodel = "error-500"\napi_base = "{base}"\napi_key = "sk-x"\n'
    )
    httpx.post(
        server.base_url + "/chat/completions",
        json={"model": "flaky", "messages": [{"role": "user", "content": "x"}]},
        timeout=30,
    )
    received = receiver.wait(2)
    assert len(received) == 2
    generic = next(body for path, body, _ in received if path == "/generic")
    assert generic["alert"] == "circuit_open" and generic["subject"] == "flaky#0"
    [plugin] = [p for p in server.gateway.plugins if isinstance(p, AlertsPlugin)]
    assert plugin.sent == [("circuit_open", "flaky#0")]


async def test_send_alert_for_other_plugins_is_deduplicated(make_gateway, receiver, tmp_path):
    gateway = make_gateway(
        f'[state]\nkv = "disk:{tmp_path}/kv"\n'
        '[[pipeline]]\nplugin = "alerts"\ncircuit = false\ndedup_window = "1h"\n'
        + webhooks(receiver.url)
        + '[[models]]\nname = "m"\nprovider = "mock"\n'
    )
    async with gateway:
        assert await send_alert(gateway, "budget", "team-a", "team-a spent 90% of its budget")
        assert not await send_alert(gateway, "budget", "team-a", "team-a spent 90% again")
        assert await send_alert(gateway, "budget", "team-b", "team-b spent 90%")
    # A second gateway on the same kv store (another worker) does not repeat it either.
    other = make_gateway(
        f'[state]\nkv = "disk:{tmp_path}/kv"\n'
        '[[pipeline]]\nplugin = "alerts"\ncircuit = false\ndedup_window = "1h"\n'
        + webhooks(receiver.url)
        + '[[models]]\nname = "m"\nprovider = "mock"\n'
    )
    async with other:
        assert not await send_alert(other, "budget", "team-a", "team-a spent 90% of its budget")
    assert len(receiver.received) == 4
    assert {body.get("subject") for _, body, _ in receiver.received if "subject" in body} == {
        "team-a",
        "team-b",
    }


async def test_send_alert_without_the_plugin_only_logs(make_gateway):
    gateway = make_gateway('[[models]]\nname = "m"\nprovider = "mock"\n')
    assert not await send_alert(gateway, "budget", "x", "message")


def test_webhook_urls_are_checked_and_never_shown(make_gateway):
    from litegate.config_errors import ConfigError

    with pytest.raises(ConfigError) as info:
        make_gateway(
            '[[pipeline]]\nplugin = "alerts"\nwebhooks = [{ url = "ftp://h/secret-token" }]\n'
        )
    assert "secret-token" not in str(info.value.render())
