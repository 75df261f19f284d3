from __future__ import annotations

import contextlib
import json

from litegate import Gateway, GatewayError

SECRET = "sk-master-should-never-be-logged"


async def test_one_json_line_per_call_without_contents_or_secrets(tmp_path):
    log = tmp_path / "calls.log"
    toml = f"""
[[pipeline]]
plugin = "auth"
master_key = "{SECRET}"

[[pipeline]]
plugin = "logging"
path = "{log}"

[[models]]
name = "m"
provider = "mock"
"""
    async with Gateway.from_toml(toml, {}) as gw:
        headers = {"authorization": f"Bearer {SECRET}"}
        messages = [{"role": "user", "content": "my private prompt"}]
        ok = gw.new_call("chat", {"model": "m", "messages": messages}, headers=headers)
        run = await gw.run(ok)
        await run.finish()
        bad = gw.new_call("chat", {"model": "nope", "messages": messages}, headers=headers)
        with contextlib.suppress(GatewayError):
            await gw.run(bad)
        stream = gw.new_call(
            "chat", {"model": "m", "messages": messages, "stream": True}, headers=headers
        )
        run = await gw.run(stream)
        [_ async for _ in run.sse()]

    text = log.read_text()
    lines = [json.loads(line) for line in text.splitlines()]
    assert len(lines) == 3
    first, second, third = lines
    assert first["request_id"] == ok.id and first["status"] == 200
    assert first["principal"] == "master" and first["model"] == "m"
    assert first["deployment"] == "m#0" and first["total_tokens"] > 0
    assert first["latency_ms"] >= 0 and first["ttft_ms"] is not None
    assert second["status"] == 404 and second["error_code"] == "model_not_found"
    assert third["stream"] is True and third["completion_tokens"] > 0
    assert SECRET not in text
    assert "my private prompt" not in text


async def test_include_messages_opt_in(tmp_path):
    log = tmp_path / "calls.log"
    toml = f'[[pipeline]]\nplugin = "logging"\npath = "{log}"\ninclude_messages = true\n'
    toml += '[[models]]\nname = "m"\nprovider = "mock"\n'
    async with Gateway.from_toml(toml, {}) as gw:
        await gw.chat(model="m", messages=[{"role": "user", "content": "visible"}])
    assert "visible" in log.read_text()


def test_timestamps_and_milliseconds_in_a_line():
    from litegate.plugins.access_log import _timestamp, milliseconds

    assert _timestamp(1_795_000_000.25) == "2026-11-18T11:06:40.250Z"
    assert _timestamp(1_795_000_000.5) == "2026-11-18T11:06:40.500Z"  # the same second, cached
    assert _timestamp(1_795_000_001.0) == "2026-11-18T11:06:41.000Z"
    assert _timestamp(1_795_000_000.75) == "2026-11-18T11:06:40.750Z"  # back: not the cache
    assert milliseconds(0.0123456) == 12.35 and milliseconds(0.5) == 500.0
    assert milliseconds(None) is None
