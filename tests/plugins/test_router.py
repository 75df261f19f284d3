"""The router's choices, deterministic: seeded randomness and a fake clock."""

from __future__ import annotations

import random
import re
from collections import Counter
from pathlib import Path

import pytest

from litegate import ConfigError, Gateway, GatewayError
from litegate.plugins.router import RouterPlugin
from litegate.plugins.router.config import RouterConfig
from litegate.plugins.router.retries import backoff, fallback_aliases, is_retryable
from litegate.plugins.router.stats import LocalStats
from litegate.plugins.router.strategies import Chooser

MESSAGES = [{"role": "user", "content": "hi"}]


def deployments(*models: str, alias: str = "m", weights: tuple[int, ...] = ()) -> str:
    return "".join(
        f'[[models]]\nname = "{alias}"\nprovider = "mock"\nmodel = "{model}"\n'
        + (f"router = {{ weight = {weights[index]} }}\n" if weights else "")
        for index, model in enumerate(models)
    )


def router(options: str, models: str) -> Gateway:
    return Gateway.from_toml(
        f'[state]\nkv = "memory:"\n[[pipeline]]\nplugin = "router"\n{options}\n{models}', {}
    )


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def chooser(clock=None, seed=1):
    stats = LocalStats(failures=2, window=10, cooldown=30, clock=clock or FakeClock())
    return Chooser(stats, random.Random(seed)), stats


@pytest.fixture(scope="module")
def three():
    return router("", deployments("a", "b", "c", weights=(6, 3, 1))).deployments["m"]


def test_round_robin_takes_turns(three):
    choose, _ = chooser()
    found = [choose.choose("round-robin", three).model for _ in range(6)]
    assert found == ["a", "b", "c", "a", "b", "c"]


def test_shuffle_follows_the_weights_with_a_seed(three):
    choose, _ = chooser()
    counts = Counter(choose.choose("shuffle", three).model for _ in range(10_000))
    assert counts["a"] == pytest.approx(6000, rel=0.05)
    assert counts["b"] == pytest.approx(3000, rel=0.08)
    assert counts["c"] == pytest.approx(1000, rel=0.15)


def test_the_same_seed_gives_the_same_choices(three):
    picks = []
    for _ in range(2):
        choose, _ = chooser(seed=42)
        picks.append([choose.choose("shuffle", three).id for _ in range(20)])
    assert picks[0] == picks[1]


def test_least_busy_picks_the_fewest_in_flight(three):
    choose, stats = chooser()
    stats.begin("m#0")
    stats.begin("m#0")
    stats.begin("m#2")
    assert choose.choose("least-busy", three).id == "m#1"
    stats.end("m#0")
    stats.end("m#0")
    stats.begin("m#1")
    assert choose.choose("least-busy", three).id == "m#0"


def test_least_latency_measures_the_unmeasured_first_then_picks_the_fastest(three):
    choose, stats = chooser()
    stats.record("m#0", 0.5, ok=True)
    stats.record("m#1", 0.2, ok=True)
    assert choose.choose("least-latency", three).id == "m#2"
    stats.record("m#2", 0.9, ok=True)
    assert choose.choose("least-latency", three).id == "m#1"
    for _ in range(10):
        stats.record("m#1", 2.0, ok=True)  # the moving average follows
    assert choose.choose("least-latency", three).id == "m#0"


def test_cooldown_after_failures_in_the_window_then_back():
    clock = FakeClock()
    _, stats = chooser(clock)
    stats.record("m#0", 0.1, ok=False)
    clock.now += 11  # outside the 10 s window: the first failure no longer counts
    stats.record("m#0", 0.1, ok=False)
    assert not stats.cooling("m#0")
    stats.record("m#0", 0.1, ok=False)
    assert stats.cooling("m#0")
    clock.now += 29.9
    assert stats.cooling("m#0")
    clock.now += 0.2
    assert not stats.cooling("m#0")


async def test_a_cooling_deployment_is_skipped_unless_all_are():
    gw = router('strategy = "round-robin"\ncooldown_failures = 1', deployments("a", "b"))
    plugin = gw.plugins[0]
    assert isinstance(plugin, RouterPlugin)
    plugin.stats.record("m#0", 0.1, ok=False)
    async with gw:
        models = [(await gw.chat(model="m", messages=MESSAGES))["model"] for _ in range(4)]
        assert models == ["b"] * 4
        plugin.stats.record("m#1", 0.1, ok=False)
        models = [(await gw.chat(model="m", messages=MESSAGES))["model"] for _ in range(2)]
        assert sorted(models) == ["a", "b"]


async def test_per_alias_strategy_override():
    gw = router(
        'strategy = "shuffle"\nseed = 3\nstrategies = { m = "round-robin" }',
        deployments("a", "b", "c"),
    )
    async with gw:
        models = [(await gw.chat(model="m", messages=MESSAGES))["model"] for _ in range(3)]
    assert models == ["a", "b", "c"]


def test_retry_policy_by_error_class():
    config = RouterConfig()
    for status in (400, 401, 403, 404, 422):
        assert not is_retryable(config, GatewayError(status, "no"))
    for status in (408, 409, 429, 500, 502, 503, 504):
        assert is_retryable(config, GatewayError(status, "again"))
    context = GatewayError(400, "too long", code="context_length_exceeded")
    assert not is_retryable(config, context)
    config = RouterConfig(
        fallbacks={"m": ["x"]},
        default_fallbacks=["d"],
        context_window_fallbacks={"m": ["big"]},
        content_policy_fallbacks={"m": ["lenient"]},
    )
    assert fallback_aliases(config, "m", context) == ["big"]
    policy = GatewayError(400, "no", code="content_policy_violation")
    assert fallback_aliases(config, "m", policy) == ["lenient"]
    assert fallback_aliases(config, "m", GatewayError(502, "down")) == ["x"]
    assert fallback_aliases(config, "other", GatewayError(502, "down")) == ["d"]
    assert fallback_aliases(config, "m", GatewayError(400, "bad")) == []


def test_backoff_doubles_with_jitter_honours_retry_after_and_is_capped():
    config = RouterConfig(backoff_base=1.0, backoff_max=5.0)  # type: ignore[arg-type]
    rng = random.Random(0)
    plain = GatewayError(502, "down")
    for retry, (low, high) in enumerate([(0.5, 1), (1, 2), (2, 4), (2.5, 5), (2.5, 5)], 1):
        assert low <= backoff(config, retry, plain, rng) <= high
    limited = GatewayError(429, "slow down", headers={"retry-after": "3"})
    assert backoff(config, 1, limited, rng) == 3
    patient = GatewayError(429, "slow down", headers={"retry-after": "60"})
    assert backoff(config, 1, patient, rng) == 5


def test_bad_strategy_names_the_key():
    with pytest.raises(ConfigError) as raised:
        router('strategy = "fastest"', deployments("a"))
    assert "strategy" in str(raised.value) and "least-latency" in str(raised.value)
    with pytest.raises(ConfigError):
        router('strategies = { m = "fastest" }', deployments("a"))


def test_the_routing_docs_examples_load():
    text = (Path(__file__).parents[2] / "docs" / "routing.md").read_text()
    blocks = re.findall(r"```toml\n(.*?)```", text, re.DOTALL)
    assert len(blocks) >= 5
    env = {"OPENAI_API_KEY": "sk-a", "AZURE_API_KEY": "az-b", "ANTHROPIC_API_KEY": "sk-c"}
    for block in blocks:
        if "[[models]]" not in block:
            block += '[[models]]\nname = "gpt-4o"\nprovider = "mock"\n'
        gateway = Gateway.from_toml(block, env)
        assert isinstance(gateway.plugins[0], RouterPlugin)
