"""litegate.pricing: the shipped table, lookups, costs in exact decimals, LiteLLM's format,
per-deployment overrides, and ``litegate pricing``."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from litegate import Call, Deployment, Usage, parse_config, pricing
from litegate.cli import main
from litegate.deployment import DeploymentPricing
from litegate.pricing import ModelPrice, PriceTable, Tier, convert, cost_of, default_table

LITELLM = {
    "sample_spec": {"input_cost_per_token": 0.0, "litellm_provider": "docs"},
    "gpt-4o": {
        "input_cost_per_token": 2.5e-06,
        "output_cost_per_token": 1e-05,
        "cache_read_input_token_cost": 1.25e-06,
        "litellm_provider": "openai",
        "max_input_tokens": 128000,
        "max_output_tokens": 16384,
        "mode": "chat",
    },
    "gemini/gemini-2.5-pro": {
        "input_cost_per_token": 1.25e-06,
        "input_cost_per_token_above_200k_tokens": 2.5e-06,
        "output_cost_per_token": 1e-05,
        "output_cost_per_token_above_200k_tokens": 1.5e-05,
        "output_cost_per_reasoning_token": 1.2e-05,
        "litellm_provider": "gemini",
        "max_input_tokens": 1048576,
        "mode": "chat",
    },
    "vertex_ai/imagen": {
        "output_cost_per_image": 0.04,
        "litellm_provider": "vertex_ai-image-models",
    },
    "whisper-1": {"input_cost_per_second": 0.0001, "litellm_provider": "openai"},
    "tts-1": {"input_cost_per_character": 1.5e-05, "litellm_provider": "openai"},
    "no-price": {"litellm_provider": "openai", "mode": "chat"},
}


@pytest.fixture
def table() -> PriceTable:
    return convert(LITELLM, source="test")


def test_convert_from_litellm(table):
    assert sorted(table.entries) == [
        "gemini/gemini-2.5-pro",
        "openai/gpt-4o",
        "openai/tts-1",
        "openai/whisper-1",
        "vertex/imagen",
    ]
    gpt = table.entries["openai/gpt-4o"]
    # Per token in, per million out, exactly.
    assert (gpt.input, gpt.output, gpt.cached_input) == (
        Decimal("2.5"),
        Decimal(10),
        Decimal("1.25"),
    )
    assert (gpt.context_window, gpt.max_output, gpt.mode) == (128000, 16384, "chat")
    pro = table.entries["gemini/gemini-2.5-pro"]
    assert pro.tiers == (Tier(200_000, input=Decimal("2.5"), output=Decimal(15)),)
    assert pro.reasoning == Decimal(12)
    assert table.entries["vertex/imagen"].image == Decimal("0.04")
    assert table.entries["openai/whisper-1"].second == Decimal("0.0001")
    assert table.entries["openai/tts-1"].character == Decimal(15)


def test_lookup_normalises(table):
    gpt = table.entries["openai/gpt-4o"]
    assert table.lookup("openai", "gpt-4o") is gpt
    assert table.lookup("openai", "GPT-4o-2024-08-06") is gpt  # case and date suffix
    assert table.lookup("openai", "openai/gpt-4o") is gpt  # provider prefix
    assert table.lookup("azure", "gpt-4o") is gpt  # same model, another provider
    assert table.lookup("gemini", "models/gemini-2.5-pro") is table.entries["gemini/gemini-2.5-pro"]
    assert table.lookup("openai", "gpt-5-unknown") is None


def test_costs_are_exact(table):
    gpt = table.entries["openai/gpt-4o"]
    usage = Usage(prompt_tokens=1000, completion_tokens=200, cached_tokens=400)
    # 600 x 2.5 + 400 x 1.25 + 200 x 10, per million.
    assert cost_of(gpt, endpoint="chat", usage=usage) == Decimal("0.004")
    pro = table.entries["gemini/gemini-2.5-pro"]
    thinking = Usage(prompt_tokens=10, completion_tokens=100, reasoning_tokens=60)
    # Reasoning tokens (within completion) at 12, the other 40 at 10.
    assert cost_of(pro, endpoint="chat", usage=thinking) == Decimal("0.0011325")
    long = Usage(prompt_tokens=300_000, completion_tokens=1000)
    assert cost_of(pro, endpoint="chat", usage=long) == Decimal("0.765")  # the >200k tier
    image = table.entries["vertex/imagen"]
    assert cost_of(image, endpoint="images", usage=None, request={"n": 3}) == Decimal("0.12")
    whisper = table.entries["openai/whisper-1"]
    answer = {"text": "hi", "usage": {"type": "duration", "seconds": 90}}
    assert cost_of(whisper, endpoint="transcriptions", usage=None, response=answer) == Decimal(
        "0.009"
    )
    tts = table.entries["openai/tts-1"]
    assert cost_of(tts, endpoint="speech", usage=None, request={"input": "x" * 1000}) == Decimal(
        "0.015"
    )


def test_the_shipped_table():
    table = default_table()
    assert len(table) > 2000 and "litellm" in table.source
    for provider, model, prices in [
        ("openai", "gpt-4o", ("2.5", "10")),
        ("anthropic", "claude-3-5-sonnet-20241022", ("3", "15")),
        ("gemini", "gemini-2.0-flash", ("0.1", "0.4")),
    ]:
        price = table.lookup(provider, model)
        assert price is not None
        assert (price.input, price.output) == tuple(Decimal(p) for p in prices)
        assert price.context_window and price.context_window >= 128_000


def _deployment(provider: str, model: str, override: DeploymentPricing | None) -> Deployment:
    return Deployment(
        alias="a",
        provider=provider,
        model=model,
        id="a#0",
        api_key=None,
        api_base=None,
        timeout=1,
        connect_timeout=1,
        options=None,
        pricing=override,
    )


def test_deployment_overrides(table):
    config = parse_config(
        """
[[models]]
name = "a"
provider = "mock"
model = "gpt-4o"
pricing = { output_per_million = 20, per_image = 0.5 }
"""
    )
    override = config.models[0].pricing
    assert override == DeploymentPricing(output_per_million=20, per_image=0.5)
    price = table.for_deployment(_deployment("mock", "gpt-4o", override))
    assert price is not None
    # The override's prices, the table's for the rest.
    assert (price.input, price.output, price.image) == (Decimal("2.5"), Decimal(20), Decimal("0.5"))
    own = table.for_deployment(
        _deployment("mock", "house-model", DeploymentPricing(input_per_million=1))
    )
    assert own == ModelPrice(input=Decimal(1))
    assert table.for_deployment(_deployment("mock", "house-model", None)) is None


def test_call_cost_is_computed_once():
    call = Call(id="c", endpoint="chat", request={}, alias="a")
    assert pricing.call_cost(call) == 0 and call.cost == 0.0  # no deployment: free
    call = Call(id="c", endpoint="chat", request={}, alias="a")
    call.deployment = _deployment("openai", "gpt-4o", None)
    call.usage = Usage(prompt_tokens=1_000_000)
    assert pricing.call_cost(call) == Decimal("2.5") and call.cost == 2.5
    call.usage = Usage(prompt_tokens=2)
    assert pricing.call_cost(call) == Decimal("2.5")  # already known
    assert pricing.format_cost(Decimal("0.0000525000")) == "0.0000525"


def test_round_trip_and_cli_update(table, tmp_path, capsys):
    source = tmp_path / "model_prices.json"
    source.write_text(json.dumps(LITELLM))
    output = tmp_path / "prices.json"
    assert main(["pricing", "update", str(source), "--output", str(output)]) == 0
    assert "5 models" in capsys.readouterr().out
    written = pricing.load_table(output)
    assert written.entries == table.entries
    # Our own format loads too (and converts to itself).
    pricing.write_table(written, tmp_path / "again.json")
    assert pricing.load_table(tmp_path / "again.json").entries == table.entries
    assert main(["pricing", "show", "openai", "gpt-4o-mini"]) == 0
    assert json.loads(capsys.readouterr().out)["input"] == 0.15
    assert main(["pricing", "show", "openai", "no-such-model"]) == 1
