"""What calls cost: a price table shipped with the package, looked up by provider and model.

The table (``prices.json`` beside this module) is derived from LiteLLM's
``model_prices_and_context_window`` file (MIT); `convert` turns a file of that format into
ours, and ``litegate pricing update FILE`` writes the result. Token prices are USD per
million tokens; images per image, audio per second, speech per million characters.
Nothing is fetched from the network: prices change when the table (or a deployment's
``pricing`` in ``[[models]]``) does.

Money is computed in `Decimal`, so a cost matches the table to the last digit; the result
is rounded to 10 decimal places (the ledger's scale).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from ..call import StashKey

if TYPE_CHECKING:
    from ..call import Call, Usage
    from ..deployment import Deployment

__all__ = [
    "CALL_COST",
    "DEFAULT_PATH",
    "ModelPrice",
    "PriceTable",
    "Tier",
    "call_cost",
    "convert",
    "cost_of",
    "default_table",
    "format_cost",
    "load_table",
    "write_table",
]

#: The table shipped with litegate.
DEFAULT_PATH = Path(__file__).with_name("prices.json")
MILLION = Decimal(1_000_000)
#: The ledger's scale: costs are rounded to this.
QUANTUM = Decimal("1e-10")

#: LiteLLM's provider names -> litegate's provider names (those that differ).
PROVIDER_NAMES = {
    "text-completion-openai": "openai",
    "vertex_ai": "vertex",
    "bedrock_converse": "bedrock",
    "azure_text": "azure",
    "cohere_chat": "cohere",
    "together_ai": "together",
    "fireworks_ai": "fireworks",
}
#: When only the model name matches, prefer the price of the model's maker.
_FIRST_PARTY = ("openai", "anthropic", "gemini", "mistral", "cohere", "deepseek", "xai")
_DATE_SUFFIX = re.compile(r"[-@](\d{4}-\d{2}-\d{2}|\d{8})$")
_VERSION_SUFFIX = re.compile(r":\d+$")


def _money(value: Any) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"expected a price, got {value!r}")
    # repr of a float is its shortest exact decimal: 2.5e-06 -> Decimal("0.0000025").
    return Decimal(repr(value) if isinstance(value, float) else str(value))


@attrs.frozen
class Tier:
    """Prices that apply instead when the prompt is longer than `above` tokens."""

    above: int
    input: Decimal | None = None
    output: Decimal | None = None
    cached_input: Decimal | None = None


@attrs.frozen
class ModelPrice:
    """One model's prices. Token prices are USD per million tokens; None: not priced."""

    input: Decimal | None = None
    output: Decimal | None = None
    #: Prompt tokens read from the provider's prompt cache (default: `input`).
    cached_input: Decimal | None = None
    #: Prompt tokens written to the cache (Anthropic). Listed only: litegate's usage counts
    #: them among the prompt tokens, which are charged at `input`.
    cache_write: Decimal | None = None
    #: Reasoning tokens, where priced apart from output (default: `output`).
    reasoning: Decimal | None = None
    #: USD per generated image.
    image: Decimal | None = None
    #: USD per second of audio (transcription).
    second: Decimal | None = None
    #: USD per million characters (speech).
    character: Decimal | None = None
    #: Longest prompt, in tokens.
    context_window: int | None = None
    max_output: int | None = None
    #: chat, embedding, completion, image_generation, audio_speech, ...
    mode: str | None = None
    tiers: tuple[Tier, ...] = ()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelPrice:
        tiers = tuple(
            Tier(
                above=int(tier["above"]),
                input=_money(tier.get("input")),
                output=_money(tier.get("output")),
                cached_input=_money(tier.get("cached_input")),
            )
            for tier in data.get("tiers", ())
        )
        return cls(
            **{name: _money(data.get(name)) for name in _MONEY_FIELDS},
            context_window=data.get("context_window"),
            max_output=data.get("max_output"),
            mode=data.get("mode"),
            tiers=tuple(sorted(tiers, key=lambda tier: tier.above, reverse=True)),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.mode:
            out["mode"] = self.mode
        for name in _MONEY_FIELDS:
            value = getattr(self, name)
            if value is not None:
                out[name] = _number(value)
        if self.context_window is not None:
            out["context_window"] = self.context_window
        if self.max_output is not None:
            out["max_output"] = self.max_output
        if self.tiers:
            out["tiers"] = [
                {"above": tier.above}
                | {
                    name: _number(getattr(tier, name))
                    for name in ("input", "output", "cached_input")
                    if getattr(tier, name) is not None
                }
                for tier in self.tiers
            ]
        return out

    def merged(self, override: Mapping[str, Any]) -> ModelPrice:
        """These prices with `override`'s non-None fields (same names) taking their place."""
        changes: dict[str, Any] = {
            name: _money(value) if name in _MONEY_FIELDS else value
            for name, value in override.items()
            if value is not None
        }
        return attrs.evolve(self, **changes) if changes else self


_MONEY_FIELDS = (
    "input",
    "output",
    "cached_input",
    "cache_write",
    "reasoning",
    "image",
    "second",
    "character",
)


def _number(value: Decimal) -> int | float:
    normal = value.normalize()
    return int(normal) if normal == normal.to_integral_value() else float(normal)


class PriceTable:
    """Prices by ``provider/model``, with a by-model fallback for deployments of other
    providers (Azure, OpenAI-compatible servers, the mock) serving a known model."""

    def __init__(self, entries: Mapping[str, ModelPrice], source: str = "") -> None:
        self.entries = dict(entries)
        self.source = source
        self._by_model: dict[str, ModelPrice] = {}
        ranked = sorted(
            self.entries.items(),
            key=lambda item: (
                _FIRST_PARTY.index(item[0].split("/", 1)[0])
                if item[0].split("/", 1)[0] in _FIRST_PARTY
                else len(_FIRST_PARTY)
            ),
        )
        for key, price in ranked:
            self._by_model.setdefault(key.split("/", 1)[1].lower(), price)

    def __len__(self) -> int:
        return len(self.entries)

    def lookup(self, provider: str, model: str) -> ModelPrice | None:
        """The price of `model` at `provider`: exact, then with the model name normalised
        (case, ``models/`` and provider prefixes, date and ``:N`` version suffixes), then
        the same model at any provider (its maker's price first)."""
        names = list(_candidates(provider, model))
        for name in names:
            found = self.entries.get(f"{provider}/{name}")
            if found is not None:
                return found
        for name in names:
            found = self._by_model.get(name)
            if found is not None:
                return found
        return None

    def for_deployment(self, deployment: Deployment) -> ModelPrice | None:
        """The deployment's price: the table's, with its ``[[models]] pricing`` on top."""
        found = self.lookup(deployment.provider, deployment.model)
        override = getattr(deployment, "pricing", None)
        if override is None:
            return found
        fields = override.price_fields()
        if not any(value is not None for value in fields.values()):
            return found
        return (found or ModelPrice()).merged(fields)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "models": {key: self.entries[key].to_dict() for key in sorted(self.entries)},
        }


def _candidates(provider: str, model: str) -> Iterator[str]:
    seen: set[str] = set()
    name = model.lower()
    for step in (
        lambda n: n,
        lambda n: n.removeprefix("models/"),
        lambda n: n.removeprefix(f"{provider}/"),
        lambda n: _VERSION_SUFFIX.sub("", n),
        lambda n: _DATE_SUFFIX.sub("", n),
    ):
        name = step(name)
        if name not in seen:
            seen.add(name)
            yield name


def cost_of(
    price: ModelPrice,
    *,
    endpoint: str,
    usage: Usage | None,
    request: Mapping[str, Any] | None = None,
    response: Mapping[str, Any] | None = None,
) -> Decimal:
    """What one call cost, in USD, rounded to `QUANTUM`.

    Tokens: uncached prompt tokens at `input`, cached ones at `cached_input`, completion
    tokens at `output` (reasoning tokens, counted within them, at `reasoning` when priced
    apart); a tier applies to the whole call when the prompt is longer than its threshold.
    Images: per image asked for (``n``). Speech: per character of ``input``. Transcription:
    per second, when the answer says how long the audio was.
    """
    request = request or {}
    total = Decimal(0)
    if usage is not None:
        total += _token_cost(price, usage)
    if endpoint == "images" and price.image is not None:
        count = request.get("n")
        images = count if isinstance(count, int) and count > 0 else 1
        if response is not None and isinstance(response.get("data"), list):
            images = len(response["data"])
        total += price.image * images
    elif endpoint == "speech" and price.character is not None:
        text = request.get("input")
        if isinstance(text, str):
            total += price.character * len(text) / MILLION
    elif endpoint == "transcriptions" and price.second is not None and response is not None:
        seconds = _audio_seconds(response)
        if seconds is not None:
            total += price.second * seconds
    return total.quantize(QUANTUM)


def _token_cost(price: ModelPrice, usage: Usage) -> Decimal:
    input_price, output_price, cached_price = price.input, price.output, price.cached_input
    for tier in price.tiers:  # highest threshold first
        if usage.prompt_tokens > tier.above:
            input_price = tier.input if tier.input is not None else input_price
            output_price = tier.output if tier.output is not None else output_price
            cached_price = tier.cached_input if tier.cached_input is not None else cached_price
            break
    input_price = input_price or Decimal(0)
    output_price = output_price or Decimal(0)
    cached = min(usage.cached_tokens, usage.prompt_tokens)
    cost = (usage.prompt_tokens - cached) * input_price
    cost += cached * (cached_price if cached_price is not None else input_price)
    cost += usage.completion_tokens * output_price
    if price.reasoning is not None and usage.reasoning_tokens:
        cost += usage.reasoning_tokens * (price.reasoning - output_price)
    return cost / MILLION


def _audio_seconds(response: Mapping[str, Any]) -> Decimal | None:
    usage = response.get("usage")
    if isinstance(usage, dict) and usage.get("type") == "duration":
        seconds = usage.get("seconds")
    else:
        seconds = response.get("duration")
    if isinstance(seconds, int | float) and not isinstance(seconds, bool):
        return Decimal(repr(seconds)) if isinstance(seconds, float) else Decimal(seconds)
    return None


# -- the file format ----------------------------------------------------------------------


def load_table(path: str | Path | None = None) -> PriceTable:
    """A table from our JSON format, or from LiteLLM's (converted on the way in)."""
    path = Path(path or DEFAULT_PATH)
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    if isinstance(data.get("models"), dict):
        models = data["models"]
        return PriceTable(
            {key: ModelPrice.from_dict(value) for key, value in models.items()},
            str(data.get("source", "")),
        )
    return convert(data, source=path.name)


@functools.cache
def default_table() -> PriceTable:
    """The shipped table, read once per process (it is never changed in place)."""
    return load_table(DEFAULT_PATH)


def convert(litellm: Mapping[str, Any], source: str = "") -> PriceTable:
    """A `PriceTable` from LiteLLM's ``model_prices_and_context_window.json`` format (USD per
    token, keys ``model`` or ``provider/model``, the provider in ``litellm_provider``).
    Entries without any price or context window are left out."""
    entries: dict[str, ModelPrice] = {}
    for key, raw in litellm.items():
        if key == "sample_spec" or not isinstance(raw, dict):
            continue
        litellm_provider = raw.get("litellm_provider")
        if not isinstance(litellm_provider, str):
            continue
        provider, model = _provider_and_model(key, litellm_provider)
        price = _from_litellm(raw)
        if price is not None:
            entries.setdefault(f"{provider}/{model}", price)
    return PriceTable(entries, source)


def _provider_and_model(key: str, litellm_provider: str) -> tuple[str, str]:
    family = litellm_provider.split("-", 1)[0]
    provider = PROVIDER_NAMES.get(litellm_provider) or PROVIDER_NAMES.get(family, family)
    first, slash, rest = key.partition("/")
    if slash and first in (family, litellm_provider, provider):
        key = rest
    return provider, key.lower()


def _per_million(raw: Mapping[str, Any], *names: str) -> Decimal | None:
    for name in names:
        value = raw.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return (_money(value) or Decimal(0)) * MILLION
    return None


def _per_unit(raw: Mapping[str, Any], *names: str) -> Decimal | None:
    for name in names:
        value = raw.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return _money(value)
    return None


def _from_litellm(raw: Mapping[str, Any]) -> ModelPrice | None:
    tiers = []
    for above in (128_000, 200_000):
        suffix = f"_above_{above // 1000}k_tokens"
        tier = Tier(
            above=above,
            input=_per_million(raw, f"input_cost_per_token{suffix}"),
            output=_per_million(raw, f"output_cost_per_token{suffix}"),
            cached_input=_per_million(raw, f"cache_read_input_token_cost{suffix}"),
        )
        if tier.input is not None or tier.output is not None:
            tiers.append(tier)
    context = raw.get("max_input_tokens")
    max_output = raw.get("max_output_tokens")
    price = ModelPrice(
        input=_per_million(raw, "input_cost_per_token"),
        output=_per_million(raw, "output_cost_per_token"),
        cached_input=_per_million(raw, "cache_read_input_token_cost"),
        cache_write=_per_million(raw, "cache_creation_input_token_cost"),
        reasoning=_per_million(raw, "output_cost_per_reasoning_token"),
        image=_per_unit(raw, "output_cost_per_image", "input_cost_per_image"),
        second=_per_unit(raw, "input_cost_per_second", "output_cost_per_second"),
        character=_per_million(raw, "input_cost_per_character"),
        context_window=context if isinstance(context, int) else None,
        max_output=max_output if isinstance(max_output, int) else None,
        mode=raw.get("mode") if isinstance(raw.get("mode"), str) else None,
        tiers=tuple(sorted(tiers, key=lambda tier: tier.above, reverse=True)),
    )
    priced = any(getattr(price, name) is not None for name in _MONEY_FIELDS)
    return price if priced or price.context_window is not None else None


def write_table(table: PriceTable, path: str | Path) -> None:
    """Write `table` in our format: one model per line, so diffs show what changed."""
    data = table.to_dict()
    lines = [f'{{"source": {json.dumps(data["source"])}, "models": {{']
    items = list(data["models"].items())
    for index, (key, value) in enumerate(items):
        comma = "," if index < len(items) - 1 else ""
        lines.append(f"{json.dumps(key)}: {json.dumps(value, separators=(',', ':'))}{comma}")
    lines.append("}}")
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")


# -- calls --------------------------------------------------------------------------------

#: The exact cost of a call, once computed (`call.cost` holds it as a float).
CALL_COST: StashKey[Decimal] = StashKey("pricing.cost")


def call_cost(
    call: Call,
    price: ModelPrice | None = None,
    response: Mapping[str, Any] | None = None,
) -> Decimal:
    """The cost of `call`, computed once: later calls answer the same (from ``call.stash``).

    `price` defaults to the shipped table's for the call's deployment. A cache hit, a call
    that never reached a deployment, or an unpriced model cost 0. Sets ``call.cost``.
    """
    known = call.stash.get(CALL_COST)
    if known is not None:
        return known
    if call.cache_hit or call.deployment is None:
        cost = Decimal(0)
    else:
        if price is None:
            price = default_table().for_deployment(call.deployment)
        cost = Decimal(0)
        if price is not None:
            cost = cost_of(
                price,
                endpoint=call.endpoint,
                usage=call.usage,
                request=call.request,
                response=response,
            )
    call.stash[CALL_COST] = cost
    call.cost = float(cost)
    return cost


def format_cost(cost: Decimal) -> str:
    """`cost` as plain decimal text without trailing zeros (``"0.0000525"``)."""
    text = format(cost.normalize(), "f")
    return text if text != "-0" else "0"
