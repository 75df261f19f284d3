"""The ratelimit plugin's hooks on the memory backend: each scope, each kind of limit,
giving back, settling with real usage, headers and the refusals' wording."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from litegate import Call, Gateway, GatewayError, Limits, Principal, Usage
from litegate.plugins.ratelimit import RateLimitPlugin
from litegate.testing import make_call, run_hook

MODELS = '[[models]]\nname = "m"\nprovider = "mock"\n[[models]]\nname = "n"\nprovider = "mock"\n'


@pytest.fixture
async def limiter() -> AsyncIterator[Callable[[str], object]]:
    """``plugin = await limiter('key_limits = { rpm = 2 }')``: a started ratelimit plugin on
    a memory store."""
    gateways: list[Gateway] = []

    async def make(options: str) -> RateLimitPlugin:
        toml = f'[state]\nkv = "memory:"\n[[pipeline]]\nplugin = "ratelimit"\n{options}\n{MODELS}'
        gateway = Gateway.from_toml(toml, {})
        await gateway.start()
        gateways.append(gateway)
        plugin: RateLimitPlugin = gateway.plugins[0]
        return plugin

    yield make
    for gateway in gateways:
        await gateway.aclose()


def principal(
    id: str = "k1", user: str | None = None, team: str | None = None, **limits: int
) -> Principal:
    return Principal(
        id, "virtual", user=user, team=team, limits=Limits(**limits) if limits else None
    )


def chat(who: Principal | None = None, model: str = "m", **params: object) -> Call:
    request = {"model": model, "messages": [{"role": "user", "content": "hello"}], **params}
    return make_call(request, principal=who)


async def admitted(plugin: RateLimitPlugin, call: Call) -> bool:
    try:
        await run_hook(plugin, "pre_call", call=call)
    except GatewayError as error:
        assert error.status == 429 and error.code == "rate_limit_exceeded"
        return False
    return True


async def count(plugin: RateLimitPlugin, calls: list[Call]) -> int:
    return sum([await admitted(plugin, call) for call in calls])


# -- requests per minute, per scope ---------------------------------------------------------


async def test_rpm_per_key(limiter):
    plugin = await limiter("key_limits = { rpm = 2 }")
    assert await count(plugin, [chat(principal("a")) for _ in range(4)]) == 2
    assert await count(plugin, [chat(principal("b")) for _ in range(4)]) == 2


async def test_rpm_per_user(limiter):
    plugin = await limiter("user_limits = { rpm = 2 }")
    same_user = [chat(principal(f"key{i}", user="u1")) for i in range(4)]
    assert await count(plugin, same_user) == 2
    assert await admitted(plugin, chat(principal("key9", user="u2")))
    assert await admitted(plugin, chat(principal("key8")))  # no user: no user limit


async def test_rpm_per_team(limiter):
    plugin = await limiter("team_limits = { rpm = 3 }\nteams = { big = { rpm = 5 } }")
    assert await count(plugin, [chat(principal(f"k{i}", team="t1")) for i in range(6)]) == 3
    assert await count(plugin, [chat(principal(f"k{i}", team="big")) for i in range(6)]) == 5


async def test_rpm_per_alias(limiter):
    plugin = await limiter("aliases = { m = { rpm = 2 } }")
    assert await count(plugin, [chat(principal(f"k{i}")) for i in range(4)]) == 2
    assert await count(plugin, [chat(principal("k1"), model="n") for i in range(4)]) == 4


async def test_rpm_global(limiter):
    plugin = await limiter("global_limits = { rpm = 3 }")
    calls = [chat(principal(f"k{i}", user=f"u{i}"), model="mn"[i % 2]) for i in range(5)]
    calls.append(chat(None))  # no principal (no auth plugin): global and alias limits only
    assert await count(plugin, calls) == 3


async def test_a_keys_own_limits_replace_the_default_kind_by_kind(limiter):
    plugin = await limiter("key_limits = { rpm = 3, max_parallel = 1 }")
    own = [chat(principal("vk", rpm=1)) for _ in range(3)]
    assert await count(plugin, own[:1]) == 1
    assert await count(plugin, own[1:]) == 0
    assert await count(plugin, [chat(principal("plain")) for _ in range(4)]) == 1  # parallel 1


async def test_a_limit_of_zero_admits_nothing(limiter):
    plugin = await limiter("key_limits = { rpm = 5 }\naliases = { n = { rpm = 0 } }")
    assert not await admitted(plugin, chat(principal("a"), model="n"))
    for limits in ({"rpm": 0}, {"tpm": 0}, {"max_parallel": 0}):
        with pytest.raises(GatewayError) as raised:
            await run_hook(plugin, "pre_call", call=chat(principal("zero", **limits)))
        assert raised.value.status == 429 and "a limit of 0" in raised.value.message
        assert "retry-after" not in raised.value.headers
    assert await admitted(plugin, chat(principal("zero")))


async def test_named_key_limits(limiter):
    plugin = await limiter("key_limits = { rpm = 5 }\nkeys = { ci-bot = { rpm = 1 } }")
    assert await count(plugin, [chat(principal("ci-bot")) for _ in range(3)]) == 1


async def test_a_refusal_gives_back_what_the_other_scopes_took(limiter):
    plugin = await limiter("key_limits = { rpm = 1 }\nglobal_limits = { rpm = 3 }")
    assert await admitted(plugin, chat(principal("a")))
    for _ in range(5):
        assert not await admitted(plugin, chat(principal("a")))  # key refuses; global untouched
    assert await count(plugin, [chat(principal(k)) for k in "bcd"]) == 2


# -- tokens per minute ------------------------------------------------------------------------


async def test_tpm_takes_the_estimate_and_settles_with_usage(limiter):
    plugin = await limiter("key_limits = { tpm = 1000 }")
    calls = [chat(principal("a"), max_tokens=400) for _ in range(3)]
    assert await count(plugin, calls) == 2  # ~410 tokens each
    calls[0].usage = Usage(prompt_tokens=8, completion_tokens=2, total_tokens=10)
    await run_hook(plugin, "on_success", call=calls[0])
    # 400 tokens came back; settled usage counts instead of the estimate.
    assert await admitted(plugin, chat(principal("a"), max_tokens=400))
    assert not await admitted(plugin, chat(principal("a"), max_tokens=400))


async def test_tpm_a_failed_call_gives_its_tokens_back(limiter):
    plugin = await limiter("key_limits = { tpm = 500 }")
    first = chat(principal("a"), max_tokens=400)
    assert await admitted(plugin, first)
    assert not await admitted(plugin, chat(principal("a"), max_tokens=400))
    await run_hook(plugin, "on_failure", call=first, error=GatewayError(502, "upstream down"))
    assert await admitted(plugin, chat(principal("a"), max_tokens=400))


async def test_tpm_usage_above_the_estimate_charges_more(limiter):
    plugin = await limiter("key_limits = { tpm = 1000 }")
    first = chat(principal("a"), max_tokens=10)
    assert await admitted(plugin, first)
    first.usage = Usage(prompt_tokens=5, completion_tokens=900, total_tokens=905)
    await run_hook(plugin, "on_success", call=first)
    assert not await admitted(plugin, chat(principal("a"), max_tokens=200))


async def test_a_request_larger_than_the_tpm_limit_is_refused_outright(limiter):
    plugin = await limiter("aliases = { m = { tpm = 100 } }")
    with pytest.raises(GatewayError) as raised:
        await run_hook(plugin, "pre_call", call=chat(principal("a"), max_tokens=500))
    assert raised.value.status == 429
    assert "Request too large for model 'm'" in raised.value.message
    assert "retry-after" not in raised.value.headers


# -- parallel requests ------------------------------------------------------------------------


async def test_max_parallel_holds_a_slot_until_the_call_ends(limiter):
    plugin = await limiter("team_limits = { max_parallel = 2 }")
    calls = [chat(principal(f"k{i}", team="t")) for i in range(3)]
    assert await count(plugin, calls) == 2
    with pytest.raises(GatewayError) as raised:
        await run_hook(plugin, "pre_call", call=chat(principal("k9", team="t")))
    assert "2 parallel requests" in raised.value.message
    await run_hook(plugin, "on_failure", call=calls[0], error=GatewayError(499, "gone"))
    await run_hook(plugin, "on_success", call=calls[1])
    assert await count(plugin, [chat(principal("k5", team="t")) for _ in range(3)]) == 2


async def test_a_parallel_refusal_gives_back_the_windows(limiter):
    plugin = await limiter("key_limits = { rpm = 2, max_parallel = 1 }")
    first = chat(principal("a"))
    assert await admitted(plugin, first)
    assert not await admitted(plugin, chat(principal("a")))  # parallel: took no request
    await run_hook(plugin, "on_success", call=first)
    assert await admitted(plugin, chat(principal("a")))


# -- what the client sees ---------------------------------------------------------------------


async def test_headers_name_the_tightest_limit(limiter):
    plugin = await limiter(
        "key_limits = { rpm = 10, tpm = 10000 }\nglobal_limits = { rpm = 3, tpm = 100000 }"
    )
    call = chat(principal("a"), max_tokens=90)
    await run_hook(plugin, "pre_call", call=call)
    headers = call.response_headers
    assert headers["x-ratelimit-limit-requests"] == "3"
    assert headers["x-ratelimit-remaining-requests"] == "2"
    assert headers["x-ratelimit-reset-requests"] == "20s"
    assert headers["x-ratelimit-limit-tokens"] == "10000"
    assert 9890 <= int(headers["x-ratelimit-remaining-tokens"]) < 9910
    assert headers["x-ratelimit-reset-tokens"].endswith("ms")


async def test_no_applicable_limit_adds_no_headers(limiter):
    plugin = await limiter("team_limits = { rpm = 1 }")
    call = chat(principal("a"))
    await run_hook(plugin, "pre_call", call=call)
    assert call.response_headers == {}


async def test_the_refusal_names_the_scope_and_when_to_retry(limiter):
    plugin = await limiter("key_limits = { rpm = 1 }")
    secret_id = "vk-7f3a"
    await run_hook(plugin, "pre_call", call=chat(principal(secret_id)))
    with pytest.raises(GatewayError) as raised:
        await run_hook(plugin, "pre_call", call=chat(principal(secret_id)))
    error = raised.value
    assert error.message == (
        "Rate limit reached for this API key: 1 requests per minute. Try again in 60s."
    )
    assert secret_id not in error.message
    assert error.headers["retry-after"] == "60"
    assert error.headers["x-ratelimit-remaining-requests"] == "0"


def test_bad_options_are_config_errors():
    from litegate import ConfigError

    bad = [
        "key_limits = { rpm = -1 }",
        'on_unavailable = "maybe"',
        'tokenizer = "exact"',
        "aliases = { m = { rpd = 5 } }",
    ]
    for options in bad:
        with pytest.raises(ConfigError):
            Gateway.from_toml(f'[[pipeline]]\nplugin = "ratelimit"\n{options}\n{MODELS}', {})


def test_the_toml_examples_in_the_docs_load():
    import re
    from pathlib import Path

    page = Path(__file__).parents[2] / "docs" / "ratelimits.md"
    blocks = re.findall(r"```toml\n(.*?)```", page.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 2
    env = {"LITEGATE_MASTER_KEY": "sk-m-123456", "CI_KEY": "sk-ci-123456", "OPENAI_API_KEY": "x"}
    for block in blocks:
        toml = block if "[[models]]" in block else block + MODELS
        gateway = Gateway.from_toml(toml, env)
        assert any(isinstance(p, RateLimitPlugin) for p in gateway.plugins)


def test_the_commented_example_in_pipeline_example_toml_loads():
    from pathlib import Path

    text = (Path(__file__).parents[2] / "pipeline.example.toml").read_text(encoding="utf-8")
    start = text.index('# plugin = "ratelimit"') - len("# [[pipeline]]\n")
    lines = []
    for line in text[start:].splitlines():
        if not line.startswith("# "):
            break
        lines.append(line[2:])
    gateway = Gateway.from_toml("\n".join(lines) + "\n" + MODELS, {})
    assert isinstance(gateway.plugins[0], RateLimitPlugin)


async def test_tokens_given_back_are_written_a_little_later(limiter):
    """A call whose usage was below its estimate gives tokens back: gathered for
    `give_back_delay`, then written; a call that needs them gets them at once."""
    plugin = await limiter('key_limits = { tpm = 1000 }\ngive_back_delay = "50ms"')
    state = await plugin.store._shared()
    key = "ratelimit:key:a:tpm"

    async def remaining() -> int:
        return (await state.window_acquire(key, 1000, 60, cost=0)).remaining

    first = chat(principal("a"), max_tokens=400)
    assert await admitted(plugin, first)
    taken = await remaining()
    first.usage = Usage(prompt_tokens=8, completion_tokens=2, total_tokens=10)
    await run_hook(plugin, "on_success", call=first)
    assert await remaining() == taken  # not written yet: the window is stricter meanwhile
    second = chat(principal("a"), max_tokens=5)
    assert await admitted(plugin, second)
    # ...but the headers count what this worker owes the window: ~400 back, ~15 taken.
    assert int(second.response_headers["x-ratelimit-remaining-tokens"]) > taken + 350
    await asyncio.sleep(0.2)
    assert await remaining() > taken + 350  # ~400 tokens came back

    immediate = await limiter('key_limits = { tpm = 1000 }\ngive_back_delay = "0s"')
    state = await immediate.store._shared()
    first = chat(principal("a"), max_tokens=400)
    assert await admitted(immediate, first)
    taken = await remaining()
    first.usage = Usage(prompt_tokens=8, completion_tokens=2, total_tokens=10)
    await run_hook(immediate, "on_success", call=first)
    assert await remaining() > taken + 350
