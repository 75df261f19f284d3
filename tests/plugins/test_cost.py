"""The cost plugin over real HTTP, in front of fake OpenAI, Anthropic and Gemini upstreams:
each call's cost matches the price table to the cent (exactly, in fact), in the
``x-litegate-cost`` header of whole answers and in the spend ledger for every call."""

from __future__ import annotations

from decimal import Decimal

import openai
import pytest

from litegate.plugins.providers.anthropic import AnthropicProvider
from litegate.plugins.providers.gemini import GeminiProvider
from litegate.pricing import default_table
from litegate.testing.fake_anthropic import FakeAnthropic
from litegate.testing.fake_gemini import FakeGemini

from .spend_support import ledger_rows, wait_for

KEY = "sk-test-master-0123456789"
MILLION = Decimal(1_000_000)
#: alias -> (provider, upstream model, USD per million input / output tokens, as published).
MODELS = {
    "gpt": ("openai", "gpt-4o", Decimal("2.5"), Decimal("10")),
    "claude": ("anthropic", "claude-3-5-sonnet-20241022", Decimal("3"), Decimal("15")),
    "gemini": ("gemini", "gemini-2.0-flash", Decimal("0.1"), Decimal("0.4")),
}


@pytest.fixture(scope="module")
def upstreams():
    with FakeAnthropic() as claude, FakeGemini() as gemini:
        yield claude, gemini


@pytest.fixture
def gateway(serve_gateway, fake_openai, upstreams, tmp_path):
    claude, gemini = upstreams
    db = f"sqlite:///{tmp_path}/records.db"
    server = serve_gateway(
        f"""
[state]
kv = "memory:"
db = "{db}"

[[pipeline]]
plugin = "auth"
master_key = "{KEY}"

[[pipeline]]
plugin = "cost"

[[pipeline]]
plugin = "spend"
flush_interval = "50ms"

[[models]]
name = "gpt"
provider = "openai"
model = "gpt-4o"
api_base = "{fake_openai.base_url}"
api_key = "sk-upstream"

[[models]]
name = "claude"
provider = "anthropic"
model = "claude-3-5-sonnet-20241022"
api_base = "{claude.base_url}"
api_key = "sk-ant-upstream"

[[models]]
name = "gemini"
provider = "gemini"
model = "gemini-2.0-flash"
api_base = "{gemini.url}"
api_key = "{gemini.api_key}"

[[models]]
name = "house"
provider = "openai"
model = "gpt-4o"
api_base = "{fake_openai.base_url}"
api_key = "sk-upstream"
pricing = {{ input_per_million = 1, output_per_million = 1000 }}
""",
        providers={"anthropic": AnthropicProvider, "gemini": GeminiProvider},
    )
    return server, db


def expected(alias: str, usage) -> Decimal:
    provider, model, input_price, output_price = MODELS[alias]
    price = default_table().lookup(provider, model)
    assert price is not None
    # The table holds the published prices...
    assert (price.input, price.output) == (input_price, output_price)
    cached = (usage.prompt_tokens_details.cached_tokens or 0) if usage.prompt_tokens_details else 0
    cached_price = price.cached_input if price.cached_input is not None else input_price
    # ...and the cost is tokens times them.
    cost = (usage.prompt_tokens - cached) * input_price + cached * cached_price
    return (cost + usage.completion_tokens * output_price) / MILLION


@pytest.mark.parametrize("alias", list(MODELS))
def test_cost_of_a_whole_answer_and_of_a_stream(gateway, alias):
    server, db = gateway
    with openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0) as client:
        messages = [{"role": "user", "content": "Say hello to the cost plugin"}]
        raw = client.chat.completions.with_raw_response.create(model=alias, messages=messages)
        reply = raw.parse()
        whole_cost = expected(alias, reply.usage)
        assert whole_cost > 0
        assert Decimal(raw.headers["x-litegate-cost"]) == whole_cost
        whole_id = raw.headers["x-request-id"]

        raw_stream = client.chat.completions.with_raw_response.create(
            model=alias, messages=messages, stream=True, stream_options={"include_usage": True}
        )
        # A stream's headers leave before its usage arrives: no cost header.
        assert "x-litegate-cost" not in raw_stream.headers
        usage = [chunk.usage for chunk in raw_stream.parse() if chunk.usage][-1]
        stream_cost = expected(alias, usage)
        stream_id = raw_stream.headers["x-request-id"]

    rows = wait_for(lambda: (r := ledger_rows(db)) and {whole_id, stream_id} <= r.keys() and r)
    for request_id, cost, tokens in (
        (whole_id, whole_cost, reply.usage),
        (stream_id, stream_cost, usage),
    ):
        row = rows[request_id]
        assert row.cost == cost
        assert round(row.cost, 2) == round(cost, 2)  # "to the cent", trivially
        assert (row.prompt_tokens, row.completion_tokens) == (
            tokens.prompt_tokens,
            tokens.completion_tokens,
        )
        assert row.alias == alias and row.provider == MODELS[alias][0]
        assert row.key_id == "master" and row.status == "success" and not row.cache_hit
        assert row.latency_ms is not None and row.deployment == f"{alias}#0"


def test_a_deployment_pricing_overrides_the_table(gateway):
    server, _db = gateway
    with openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0) as client:
        raw = client.chat.completions.with_raw_response.create(
            model="house", messages=[{"role": "user", "content": "hi"}]
        )
    usage = raw.parse().usage
    cost = (usage.prompt_tokens * 1 + usage.completion_tokens * 1000) / MILLION
    assert Decimal(raw.headers["x-litegate-cost"]) == cost


def test_refused_calls_are_recorded_at_no_cost(gateway):
    server, db = gateway
    with (
        openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0) as client,
        pytest.raises(openai.NotFoundError) as missing,
    ):
        client.chat.completions.create(
            model="no-such-model", messages=[{"role": "user", "content": "hi"}]
        )
    request_id = missing.value.response.headers["x-request-id"]
    row = wait_for(lambda: ledger_rows(db).get(request_id))
    assert row.status == "model_not_found" and row.cost == 0 and row.deployment is None


def test_the_messages_api_gets_the_header_too(gateway):
    import anthropic

    server, db = gateway
    with anthropic.Anthropic(base_url=server.url, api_key=KEY, max_retries=0) as client:
        raw = client.messages.with_raw_response.create(
            model="claude", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
        )
    usage = raw.parse().usage
    price = default_table().lookup("anthropic", "claude-3-5-sonnet-20241022")
    assert price is not None and price.input is not None and price.output is not None
    assert price.cached_input is not None
    # Anthropic's input_tokens leave out the tokens read from and written to its prompt
    # cache; writes are charged at the input price (the canonical usage folds them in).
    cached = usage.cache_read_input_tokens or 0
    written = usage.cache_creation_input_tokens or 0
    cost = (usage.input_tokens + written) * price.input + cached * price.cached_input
    cost = (cost + usage.output_tokens * price.output) / MILLION
    assert Decimal(raw.headers["x-litegate-cost"]) == cost
    request_id = raw.headers["x-request-id"]
    assert wait_for(lambda: ledger_rows(db).get(request_id)).cost == cost
