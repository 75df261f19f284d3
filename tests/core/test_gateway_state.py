"""The gateway owns the `[state] kv` backend: opened once when a plugin asks, closed by
`aclose`."""

from __future__ import annotations

import asyncio

from litegate import Gateway

MOCK = '[[models]]\nname = "m"\nprovider = "mock"\n'


async def test_open_state_is_opened_once_and_closed_by_aclose(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    gw = Gateway.from_toml(f'[state]\nkv = "disk:kv"\nprefix = "t:"\n{MOCK}', {})
    first, second = await asyncio.gather(gw.open_state(), gw.open_state())
    assert first is second and first.prefix == "t:"
    await first.set("k", b"v")
    assert (tmp_path / "kv").is_dir()  # relative to the working directory
    await gw.aclose()
    again = Gateway.from_toml(f'[state]\nkv = "disk:{tmp_path / "kv"}"\nprefix = "t:"\n{MOCK}', {})
    async with again:
        assert await (await again.open_state()).get("k") == b"v"


async def test_a_gateway_whose_plugins_do_not_ask_writes_no_state(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    async with Gateway.from_toml(MOCK, {}) as gw:
        await gw.chat(model="m", messages=[{"role": "user", "content": "hi"}])
    assert list(tmp_path.iterdir()) == []
