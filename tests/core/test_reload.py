"""Hot reload with the real server (`litegate serve` subprocesses): a changed file is served
without dropping a request; an invalid edit is rejected and the old config keeps serving;
SIGHUP and the admin API reload; with 2 workers each worker reloads."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from litegate.reload import mask_config
from litegate.testing import free_port

BIN = Path(sys.executable).parent
MASTER = "sk-master-reload-test"
ADMIN = {"authorization": f"Bearer {MASTER}"}
MEMBER = {"authorization": "Bearer sk-member-reload-test"}


def config(reload: str, *aliases: str, broken: bool = False) -> str:
    text = f"""
[server]
reload = "{reload}"

[[pipeline]]
plugin = "auth"
master_key = "{MASTER}"
keys = [{{ name = "member", key = "sk-member-reload-test" }}]
"""
    if broken:
        text += '\n[[pipeline]]\nplugin = "no-such-plugin"\n'
    for alias in aliases:
        text += f'\n[[models]]\nname = "{alias}"\nprovider = "mock"\n'
    return text


class Server:
    def __init__(self, path: Path, process: subprocess.Popen[bytes], url: str) -> None:
        self.path = path
        self.process = process
        self.url = url

    def chat(self, alias: str, client: httpx.Client | None = None) -> httpx.Response:
        send = client.post if client is not None else httpx.post
        return send(
            self.url + "/v1/chat/completions",
            headers=ADMIN,
            json={"model": alias, "messages": [{"role": "user", "content": "hi"}]},
            timeout=20,
        )

    def status(self) -> dict:
        response = httpx.get(self.url + "/admin/v1/config", headers=ADMIN, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def write(self, text: str) -> None:
        # Like an editor: a new file renamed over the old one.
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(text)
        os.replace(temporary, self.path)


@pytest.fixture
def start(tmp_path) -> Iterator[Callable[..., Server]]:
    started: list[subprocess.Popen[bytes]] = []
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LITEGATE_", "PROMETHEUS_"))}

    def run(text: str, workers: int = 1) -> Server:
        path = tmp_path / "pipeline.toml"
        path.write_text(text)
        port = free_port()
        process = subprocess.Popen(
            [str(BIN / "litegate"), "serve", "-c", str(path), "--port", str(port),
             "--workers", str(workers)],
            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        started.append(process)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90  # a loaded machine starts Python slowly
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(process.stderr.read().decode())
            try:
                if httpx.get(url + "/health/ready", timeout=1).status_code == 200:
                    return Server(path, process, url)
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError("server did not start")

    yield run
    for process in started:
        process.terminate()
        try:
            process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


def wait_for(check: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


class Load:
    """Sends chat requests continuously from a thread; records every status."""

    def __init__(self, server: Server, alias: str) -> None:
        self.statuses: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(server, alias), daemon=True)

    def _run(self, server: Server, alias: str) -> None:
        with httpx.Client() as client:
            while not self._stop.is_set():
                try:
                    self.statuses.append(server.chat(alias, client).status_code)
                except httpx.HTTPError as exc:
                    self.statuses.append(-1)
                    print("request failed:", exc)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(30)


@pytest.mark.timeout(300)
def test_a_changed_file_is_served_under_load_and_a_bad_edit_is_rejected(start):
    server = start(config("watch", "demo"))
    assert server.chat("fresh").status_code == 404
    with Load(server, "demo") as load:
        wait_for(lambda: len(load.statuses) >= 5)
        server.write(config("watch", "demo", "fresh"))
        wait_for(lambda: server.chat("fresh").status_code == 200)
        seen = len(load.statuses)
        wait_for(lambda: len(load.statuses) >= seen + 5)
        # An invalid edit: rejected, logged, visible in the admin API; the old one serves.
        server.write(config("watch", "demo", "other", broken=True))
        wait_for(lambda: server.status()["last_error"] is not None)
        seen = len(load.statuses)
        wait_for(lambda: len(load.statuses) >= seen + 5)
    assert load.statuses and set(load.statuses) == {200}, load.statuses
    status = server.status()
    assert "no-such-plugin" in status["last_error"]["message"]
    assert status["generation"] == 2
    assert server.chat("fresh").status_code == 200
    assert server.chat("other").status_code == 404
    # Fixed again: served, and the error is cleared.
    server.write(config("watch", "demo", "other"))
    wait_for(lambda: server.chat("other").status_code == 200)
    assert server.status()["last_error"] is None


@pytest.mark.timeout(300)
def test_sighup_and_the_admin_api_reload(start):
    server = start(config("signal", "demo"))
    server.write(config("signal", "demo", "after-hup"))
    time.sleep(0.5)
    assert server.chat("after-hup").status_code == 404  # "signal" mode does not watch
    server.process.send_signal(signal.SIGHUP)
    wait_for(lambda: server.chat("after-hup").status_code == 200)

    server.write(config("signal", "demo", "after-api"))
    url = server.url + "/admin/v1/config/reload"
    assert httpx.post(url, timeout=10).status_code == 401
    assert httpx.post(url, headers=MEMBER, timeout=10).status_code == 403
    response = httpx.post(url, headers=ADMIN, timeout=20)
    assert response.status_code == 200, response.text
    assert response.json()["generation"] == 3
    assert server.chat("after-api").status_code == 200

    server.write(config("signal", "demo", broken=True))
    response = httpx.post(url, headers=ADMIN, timeout=20)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_config"
    assert server.chat("after-api").status_code == 200
    shown = server.status()
    assert MASTER not in str(shown) and "sk-member-reload-test" not in str(shown)
    assert shown["config"]["pipeline"][0]["master_key"] == "********"
    assert server.process.poll() is None


@pytest.mark.timeout(300)
def test_with_two_workers_each_worker_reloads(start):
    server = start(config("watch", "demo"), workers=2)

    def generations() -> dict[int, int]:
        seen: dict[int, int] = {}
        for _ in range(40):  # new connections spread over both workers
            status = server.status()
            seen[status["worker_pid"]] = status["generation"]
            if len(seen) == 2:
                break
        return seen

    wait_for(lambda: len(generations()) == 2)
    server.write(config("watch", "demo", "fresh"))
    wait_for(lambda: set(generations().values()) == {2} and len(generations()) == 2)
    for _ in range(10):
        assert server.chat("fresh").status_code == 200
    # The admin API asks one worker; the kv channel tells the other.
    server.write(
        config("watch", "demo", "fresh", "api").replace('reload = "watch"', 'reload = "watch" ')
    )
    response = httpx.post(server.url + "/admin/v1/config/reload", headers=ADMIN, timeout=20)
    assert response.status_code == 200
    wait_for(lambda: all(g >= 3 for g in generations().values()))
    # SIGHUP to the supervisor reaches both workers.
    before = generations()
    server.process.send_signal(signal.SIGHUP)
    # Each worker's own generation moves on (the workers need not be at the same number:
    # the file change and the API reload may have reached one of them twice).
    wait_for(lambda: all(g > before.get(pid, 0) for pid, g in generations().items()))
    assert server.process.poll() is None


def test_mask_config_hides_secret_looking_values():
    raw = {
        "state": {"db": "postgresql://user:hunter2@127.0.0.1/db"},
        "pipeline": [{"plugin": "tracing", "headers": {"x-ingest": "abc"}, "master_key": "k"}],
        "models": [{"name": "m", "api_key": "sk-123", "timeout": 3}],
    }
    masked = mask_config(raw)
    assert "hunter2" not in str(masked) and "sk-123" not in str(masked) and "abc" not in str(masked)
    assert masked["models"][0]["timeout"] == 3 and masked["models"][0]["name"] == "m"


@pytest.mark.timeout(300)
def test_a_stream_in_flight_finishes_on_the_old_config(start):
    slow = '\n[[models]]\nname = "slow"\nprovider = "mock"\nchunk_delay = "300ms"\n'
    server = start(config("watch", "demo") + slow)
    with httpx.stream(
        "POST",
        server.url + "/v1/chat/completions",
        headers=ADMIN,
        json={
            "model": "slow",
            "stream": True,
            "messages": [{"role": "user", "content": "one two three four five six seven eight"}],
        },
        timeout=60,
    ) as response:
        assert response.status_code == 200
        lines = response.iter_lines()
        next(lines)  # the stream is under way on generation 1
        # The new config drops the "slow" alias altogether.
        server.write(config("watch", "demo", "fresh"))
        wait_for(lambda: server.chat("fresh").status_code == 200)
        rest = list(lines)
    assert "data: [DONE]" in rest
    assert server.chat("slow").status_code == 404
    assert server.status()["generation"] == 2


async def test_the_old_gateway_closes_when_its_last_request_ends(tmp_path, caplog):
    import asyncio

    from litegate import Gateway
    from litegate.reload import ReloadableApp

    path = tmp_path / "pipeline.toml"
    slow = '\n[[models]]\nname = "slow"\nprovider = "mock"\nlatency = "500ms"\n'
    path.write_text(config("signal", "demo") + slow)
    old = Gateway.from_config(path)
    app = ReloadableApp(path, old)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        body = {"model": "slow", "messages": [{"role": "user", "content": "x"}]}
        pending = asyncio.ensure_future(
            client.post("/v1/chat/completions", json=body, headers=ADMIN)
        )
        await asyncio.sleep(0.2)
        assert app.current.active == 1
        path.write_text(config("signal", "demo", "fresh"))
        assert await app.reload("test")
        assert app.gateway is not old and old.ready  # still serving its request
        response = await pending
        assert response.status_code == 200
        for _ in range(50):
            await asyncio.sleep(0.02)
            if not old.ready:
                break
        assert not old.ready  # closed once its last request ended
        fresh = await client.post(
            "/v1/chat/completions",
            json={"model": "fresh", "messages": [{"role": "user", "content": "x"}]},
            headers=ADMIN,
        )
        assert fresh.status_code == 200
        # Invalid: refused, the running one stays.
        path.write_text("not toml [")
        current = app.gateway
        assert not await app.reload("test")
        assert app.gateway is current
        assert app.last_error is not None and "Expected" in app.last_error["message"]
        assert "config reload (test) failed; still serving the old config" in caplog.text
    await app.gateway.aclose()
