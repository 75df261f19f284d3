from __future__ import annotations

import time

import pytest

from litegate import Gateway, GatewayError

MESSAGES = [{"role": "user", "content": "same question"}]


async def test_deterministic_replies_and_embeddings():
    async with Gateway.from_toml('[[models]]\nname = "m"\nprovider = "mock"\n', {}) as gw:
        one = await gw.chat(model="m", messages=MESSAGES)
        two = await gw.chat(model="m", messages=MESSAGES)
        assert one["choices"] == two["choices"] and one["usage"] == two["usage"]
        assert "same question" in one["choices"][0]["message"]["content"]
        first = await gw.embeddings(model="m", input="text", dimensions=4)
        again = await gw.embeddings(model="m", input="text", dimensions=4)
        assert first["data"] == again["data"] and len(first["data"][0]["embedding"]) == 4


async def test_latency_and_failures():
    toml = (
        '[[models]]\nname = "slow"\nprovider = "mock"\nlatency = "100ms"\n'
        '[[models]]\nname = "bad"\nprovider = "mock"\nfailure_rate = 1.0\nfailure_status = 503\n'
        '[[models]]\nname = "limited"\nprovider = "mock"\nfailure_rate = 1.0\nfailure_status = 429\n'
    )
    async with Gateway.from_toml(toml, {}) as gw:
        started = time.perf_counter()
        await gw.chat(model="slow", messages=MESSAGES)
        assert time.perf_counter() - started >= 0.1
        with pytest.raises(GatewayError) as raised:
            await gw.chat(model="bad", messages=MESSAGES)
        assert raised.value.status == 502
        with pytest.raises(GatewayError) as raised:
            await gw.chat(model="limited", messages=MESSAGES)
        assert raised.value.status == 429
