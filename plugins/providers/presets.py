"""OpenAI-compatible providers (Groq, Together, Mistral, Ollama, ...) as presets.

The providers themselves are data: ``presets.toml``, read once at import. Each preset becomes a
class below, built on `OpenAICompatibleProvider` (the shared passthrough) and registered under
its name in the ``litegate.providers`` entry-point group.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import attrs

from .openai_compatible import PATHS, OpenAICompatibleProvider, Preset

__all__ = ["PRESETS", "OpenAICompatibleProvider", "Preset", "preset_class"]


# -- the presets, from data ------------------------------------------------------------------

_PRESET_KEYS = frozenset(attrs.fields_dict(Preset)) - {"name", "watched"}


def _load_presets(text: str) -> dict[str, Preset]:
    presets: dict[str, Preset] = {}
    for name, table in tomllib.loads(text).items():
        unknown = set(table) - _PRESET_KEYS
        if unknown:
            raise ValueError(f"presets.toml [{name}]: unknown keys {sorted(unknown)}")
        endpoints = frozenset(table.pop("endpoints", PATHS))
        if not endpoints <= PATHS.keys():
            raise ValueError(f"presets.toml [{name}]: unknown endpoints {sorted(endpoints)}")
        presets[name] = Preset(
            name=name,
            api_key_env=table.pop("api_key_env", None) or None,
            endpoints=endpoints,
            rejects=frozenset(table.pop("rejects", ())),
            only={key: tuple(values) for key, values in table.pop("only", {}).items()},
            **table,
        )
    return presets


#: Every preset, by provider name.
PRESETS: dict[str, Preset] = _load_presets(
    Path(__file__).with_name("presets.toml").read_text(encoding="utf-8")
)


def preset_class(name: str, class_name: str) -> type[OpenAICompatibleProvider]:
    """The adapter class for the preset `name`, its defaults taken from the data."""
    preset = PRESETS[name]
    return type(
        class_name,
        (OpenAICompatibleProvider,),
        {
            "__doc__": _describe(preset),
            "__module__": __name__,
            "__qualname__": class_name,
            "preset": preset,
            "default_api_base": preset.api_base,
            "api_key_env": preset.api_key_env,
        },
    )


def _describe(preset: Preset) -> str:
    """A one-paragraph summary of the preset, for its class docstring (and the docs)."""
    served = ", ".join(sorted(preset.endpoints, key=list(PATHS).index))
    parts = [f"`{preset.name}`: an OpenAI-compatible API, passed through; serves {served}."]
    if preset.rejects:
        parts.append(f"Does not take {', '.join(f'`{p}`' for p in sorted(preset.rejects))}.")
    for key, values in preset.only.items():
        parts.append(f"Takes `{key}` only as {' or '.join(repr(v) for v in values)}.")
    for old, new in preset.renames.items():
        parts.append(f"Sends `{old}` as `{new}`.")
    if not preset.stream_options:
        parts.append("Streams go without `stream_options` (the upstream reports usage itself).")
    return " ".join(parts)


Groq = preset_class("groq", "Groq")
Together = preset_class("together", "Together")
OpenRouter = preset_class("openrouter", "OpenRouter")
DeepSeek = preset_class("deepseek", "DeepSeek")
XAI = preset_class("xai", "XAI")
Fireworks = preset_class("fireworks", "Fireworks")
Mistral = preset_class("mistral", "Mistral")
Perplexity = preset_class("perplexity", "Perplexity")
Cerebras = preset_class("cerebras", "Cerebras")
Ollama = preset_class("ollama", "Ollama")
VLLM = preset_class("vllm", "VLLM")
LMStudio = preset_class("lmstudio", "LMStudio")
