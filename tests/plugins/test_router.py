"""The router's choices, deterministic: seeded randomness and a fake clock."""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections import Counter
from pathlib import Path

import pytest

from litegate import ConfigError, Gateway, GatewayError, Principal
from litegate.plugins.router import RouterPlugin
from litegate.plugins.router.config import RouterConfig
from litegate.plugins.router.plugin import _priority
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


# -- usage, cost and ab ------------------------------------------------------------------


def models_with(*routers: str, alias: str = "m") -> str:
    return "".join(
        f'[[models]]\nname = "{alias}"\nprovider = "mock"\nmodel = "d{index}"\n'
        f"router = {{ {options} }}\n"
        for index, options in enumerate(routers)
    )


def test_usage_picks_the_lowest_share_of_its_limits_used():
    group = router("", models_with("rpm = 10", "rpm = 100", "tpm = 1000")).deployments["m"]
    choose, stats = chooser()
    for _ in range(2):
        stats.begin("m#0")  # 2/10 = 20%
    for _ in range(10):
        stats.begin("m#1")  # 10/100 = 10%
    stats.charge("m#2", 300)  # 30%
    assert choose.choose("usage", group).id == "m#1"
    stats.charge("m#1", 5)  # no tpm limit: tokens do not count against it
    for _ in range(20):
        stats.begin("m#1")  # 30/100 = 30%
    assert choose.choose("usage", group).id == "m#0"


def test_usage_forgets_after_a_minute():
    clock = FakeClock()
    group = router("", models_with("rpm = 10", "rpm = 10")).deployments["m"]
    choose, stats = chooser(clock)
    for _ in range(5):
        stats.begin("m#0")
    stats.begin("m#1")
    assert choose.choose("usage", group).id == "m#1"
    clock.now += 59
    stats.begin("m#1")
    stats.begin("m#1")
    clock.now += 2  # m#0's five and m#1's first are out of the window (1 s buckets)
    assert (stats.requests("m#0"), stats.requests("m#1")) == (0, 2)
    assert choose.choose("usage", group).id == "m#0"


def test_cost_picks_the_cheapest_for_the_expected_tokens_and_unpriced_last():
    group = router(
        "",
        models_with(
            "input_cost_per_token = 1e-6, output_cost_per_token = 1e-4",  # cheap prompts
            "input_cost_per_token = 1e-4, output_cost_per_token = 1e-6",  # cheap answers
            "weight = 1",  # unpriced
        ),
    ).deployments["m"]
    choose, _ = chooser()
    gw = router("", models_with("weight = 1"))
    long_prompt = gw.new_call(
        "chat",
        {"model": "m", "messages": [{"role": "user", "content": "x" * 4000}], "max_tokens": 5},
    )
    long_answer = gw.new_call("chat", {"model": "m", "messages": MESSAGES, "max_tokens": 4000})
    assert choose.choose("cost", group, long_prompt).id == "m#0"
    assert choose.choose("cost", group, long_answer).id == "m#1"
    assert choose.choose("cost", [group[2], group[1]], long_answer).id == "m#1"


def test_ab_is_sticky_per_caller_and_splits_by_weight():

    group = router("", models_with("weight = 3", "weight = 1")).deployments["m"]
    gw = router("", models_with("weight = 1"))
    choose, _ = chooser()
    arms = Counter()
    for user in range(2000):
        call = gw.new_call("chat", {"model": "m", "messages": MESSAGES})
        call.principal = Principal(f"key-{user % 7}", "key", user=f"user-{user}")
        first = choose.choose("ab", group, call).id
        assert all(choose.choose("ab", group, call).id == first for _ in range(3))
        arms[first] += 1
    assert arms["m#0"] == pytest.approx(1500, rel=0.1)
    keyed = gw.new_call("chat", {"model": "m", "messages": MESSAGES})
    keyed.principal = Principal("key-1", "key")  # no user: the key is the caller
    assert len({choose.choose("ab", group, keyed).id for _ in range(20)}) == 1
    by_field = gw.new_call("chat", {"model": "m", "messages": MESSAGES, "user": "u-42"})
    assert len({choose.choose("ab", group, by_field).id for _ in range(20)}) == 1


# -- circuits --------------------------------------------------------------------------


def test_a_circuit_opens_on_a_failure_rate_then_half_opens_and_a_probe_decides():
    clock = FakeClock()
    stats = LocalStats(
        failures=0, window=10, cooldown=30, failure_rate=0.5, min_calls=4, clock=clock
    )
    for ok in (True, False, True):
        stats.record("m#0", 0.1, ok=ok)
    assert stats.circuit("m#0") == "closed"  # 1 in 3: too few calls to judge
    stats.record("m#0", 0.1, ok=False)  # 2 in 4: 50%
    assert stats.circuit("m#0") == "open" and stats.cooling("m#0")
    clock.now += 30
    assert stats.circuit("m#0") == "half-open" and not stats.cooling("m#0")
    assert stats.begin("m#0")  # a probe
    assert stats.cooling("m#0")  # one probe at a time
    assert not stats.begin("m#1")  # a closed circuit: no probe
    stats.record("m#0", None, ok=False, probe=True)
    stats.end("m#0")
    assert stats.circuit("m#0") == "open"  # the probe failed: open again for 30 s
    clock.now += 29
    assert stats.cooling("m#0")
    clock.now += 1
    assert stats.begin("m#0")
    stats.record("m#0", 0.1, ok=True, probe=True)
    stats.end("m#0")
    assert stats.circuit("m#0") == "closed" and not stats.cooling("m#0")
    stats.record("m#0", 0.1, ok=False)  # counting starts afresh
    assert stats.circuit("m#0") == "closed"


def test_an_attempt_that_began_before_the_circuit_opened_changes_nothing():
    clock = FakeClock()
    stats = LocalStats(failures=1, window=10, cooldown=30, clock=clock)
    stats.record("m#0", 0.1, ok=False)
    clock.now += 1
    stats.record("m#0", 0.1, ok=True)  # a late success while open does not close it
    assert stats.circuit("m#0") == "open"


# -- limits, priority groups, tags, the queue ------------------------------------------


async def test_rpm_limits_are_respected_then_429_with_retry_after():
    gw = router('strategy = "round-robin"\nqueue_timeout = "0s"', models_with("rpm = 2", "rpm = 1"))
    async with gw:
        models = [(await gw.chat(model="m", messages=MESSAGES))["model"] for _ in range(3)]
        assert sorted(models) == ["d0", "d0", "d1"]
        with pytest.raises(GatewayError) as raised:
            await gw.chat(model="m", messages=MESSAGES)
    assert raised.value.status == 429 and raised.value.code == "rate_limit_exceeded"
    assert 55 <= int(raised.value.headers["retry-after"]) <= 61


async def test_tpm_limits_count_the_tokens_used():
    gw = router('queue_timeout = "0s"', models_with("tpm = 5", "weight = 1, priority = 1"))
    async with gw:
        first = await gw.chat(model="m", messages=MESSAGES)
        assert first["model"] == "d0" and first["usage"]["total_tokens"] >= 5
        assert (await gw.chat(model="m", messages=MESSAGES))["model"] == "d1"


async def test_lower_priority_numbers_are_preferred_while_they_can_take_calls():
    gw = router(
        'strategy = "round-robin"', models_with("priority = 1", "priority = 0, max_parallel = 1")
    )
    async with gw:
        assert [(await gw.chat(model="m", messages=MESSAGES))["model"] for _ in range(3)] == [
            "d1"
        ] * 3
        plugin = gw.plugins[0]
        plugin.stats.begin("m#1")  # m#1 is at its max_parallel: m#0 takes the call
        assert (await gw.chat(model="m", messages=MESSAGES))["model"] == "d0"


async def run_chat(gw: Gateway, headers: dict[str, str] | None = None) -> dict:
    call = gw.new_call("chat", {"model": "m", "messages": MESSAGES}, headers=headers)
    run = await gw.run(call)
    await run.finish()
    assert run.reply is not None
    return {"model": run.reply.data["model"], "headers": call.response_headers}


async def test_calls_ask_for_tags_by_header_or_key_metadata():

    gw = router("", models_with('tags = ["us"]', 'tags = ["eu", "gdpr"]', "weight = 1"))
    async with gw:
        for _ in range(5):
            assert (await run_chat(gw, {"x-litegate-tags": "gdpr"}))["model"] == "d1"
        call = gw.new_call("chat", {"model": "m", "messages": MESSAGES})
        call.principal = Principal("k", "key", metadata={"tags": ["us"]})
        run = await gw.run(call)
        await run.finish()
        assert run.reply is not None and run.reply.data["model"] == "d0"
        # A tag nobody carries: any deployment.
        found = {(await run_chat(gw, {"x-litegate-tags": "apac"}))["model"] for _ in range(30)}
        assert found == {"d0", "d1", "d2"}


async def test_the_queue_serves_higher_priority_first():
    gw = router(
        'queue_timeout = "5s"',
        '[[models]]\nname = "m"\nprovider = "mock"\nlatency = "150ms"\n'
        "router = { max_parallel = 1 }\n",
    )
    done: list[str] = []

    async def one(name: str, priority: int) -> None:
        await run_chat(gw, {"x-litegate-priority": str(priority)})
        done.append(name)

    async with gw:
        tasks = []
        for name, priority in (("first", 0), ("low", 0), ("high", 9), ("middle", 5)):
            tasks.append(asyncio.create_task(one(name, priority)))
            await asyncio.sleep(0.02)
        await asyncio.gather(*tasks)
    assert done == ["first", "high", "middle", "low"]


async def test_a_key_caps_the_priority_its_calls_may_ask_for():

    config = RouterConfig()
    gw = router("", models_with("weight = 1"))
    call = gw.new_call(
        "chat", {"model": "m", "messages": MESSAGES}, headers={"x-litegate-priority": "9"}
    )
    assert _priority(call, config) == 9
    call.principal = Principal("k", "key", metadata={"priority": 3})
    assert _priority(call, config) == 3
    call = gw.new_call("chat", {"model": "m", "messages": MESSAGES})
    call.principal = Principal("k", "key", metadata={"priority": 3})
    assert _priority(call, config) == 3
    bad = gw.new_call(
        "chat", {"model": "m", "messages": MESSAGES}, headers={"x-litegate-priority": "hi"}
    )
    with pytest.raises(GatewayError):
        _priority(bad, config)


async def test_a_call_waiting_longer_than_the_queue_timeout_gets_429():
    gw = router(
        'queue_timeout = "100ms"',
        '[[models]]\nname = "m"\nprovider = "mock"\nlatency = "1s"\n'
        "router = { max_parallel = 1 }\n",
    )
    async with gw:
        holder = asyncio.create_task(gw.chat(model="m", messages=MESSAGES))
        await asyncio.sleep(0.05)
        started = time.monotonic()
        with pytest.raises(GatewayError) as raised:
            await gw.chat(model="m", messages=MESSAGES)
        assert 0.09 <= time.monotonic() - started < 0.9
        assert raised.value.status == 429 and raised.value.headers["retry-after"] == "1"
        await holder


async def test_the_total_timeout_stops_retries():
    gw = router(
        'retries = 5\nbackoff_base = "200ms"\ntotal_timeout = "250ms"\ncooldown_failures = 0',
        '[[models]]\nname = "m"\nprovider = "mock"\nfailure_rate = 1.0\nfailure_status = 503\n',
    )
    async with gw:
        call = gw.new_call("chat", {"model": "m", "messages": MESSAGES})
        started = time.monotonic()
        with pytest.raises(GatewayError):
            await gw.run(call)
        assert time.monotonic() - started < 1.0
        assert 1 <= len(call.attempts) <= 3


async def test_a_per_attempt_timeout_fails_the_attempt_as_a_504():
    gw = router(
        "retries = 0",
        '[[models]]\nname = "m"\nprovider = "mock"\nlatency = "2s"\n'
        'router = { timeout = "100ms" }\n',
    )
    async with gw:
        started = time.monotonic()
        with pytest.raises(GatewayError) as raised:
            await gw.chat(model="m", messages=MESSAGES)
        assert time.monotonic() - started < 1.5
    assert raised.value.status == 504 and raised.value.code == "upstream_timeout"


def test_a_probe_without_an_outcome_frees_its_slot_and_decides_nothing():
    clock = FakeClock()
    stats = LocalStats(failures=1, window=10, cooldown=30, clock=clock)
    stats.record("m#0", None, ok=False)
    clock.now += 30
    assert stats.begin("m#0") and stats.cooling("m#0")
    stats.end("m#0")
    stats.abandon("m#0", probe=True)  # the client went away mid-probe
    assert stats.circuit("m#0") == "half-open" and not stats.cooling("m#0")


async def test_a_client_gone_mid_attempt_releases_the_deployment_without_judging_it():
    gw = router(
        "cooldown_failures = 1",
        '[[models]]\nname = "m"\nprovider = "mock"\nlatency = "5s"\n',
    )
    plugin = gw.plugins[0]
    async with gw:
        task = asyncio.create_task(gw.chat(model="m", messages=MESSAGES))
        await asyncio.sleep(0.1)
        assert plugin.stats.in_flight("m#0") == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert plugin.stats.in_flight("m#0") == 0
        assert plugin.stats.circuit("m#0") == "closed" and plugin.stats.latency("m#0") is None


async def test_fallbacks_skip_aliases_the_caller_may_not_use():
    """A key allowed only `m` and `cheap` is never answered by `premium`, whatever the
    fallbacks say: the router passes over it to the next fallback, or gives up."""
    models = (
        deployments("failing", alias="m").replace(
            'provider = "mock"\n', 'provider = "mock"\nfailure_rate = 1.0\n'
        )
        + deployments("p", alias="premium")
        + deployments("c", alias="cheap")
    )
    gw = router('retries = 0\nfallbacks = { m = ["premium", "cheap"] }', models)
    kept = Principal(id="k", kind="virtual", models=("m", "cheap"))
    anyone = Principal(id="a", kind="virtual")
    async with gw:
        run = await gw.run(
            gw.new_call("chat", {"model": "m", "messages": MESSAGES}, principal=kept)
        )
        await run.finish()
        assert run.reply.data["model"] == "c"
        run = await gw.run(
            gw.new_call("chat", {"model": "m", "messages": MESSAGES}, principal=anyone)
        )
        await run.finish()
        assert run.reply.data["model"] == "p"
        only_m = Principal(id="o", kind="virtual", models=("m",))
        with pytest.raises(GatewayError) as failed:
            run = await gw.run(
                gw.new_call("chat", {"model": "m", "messages": MESSAGES}, principal=only_m)
            )
            await run.finish()
        assert failed.value.status == 502
