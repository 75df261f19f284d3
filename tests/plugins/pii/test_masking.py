"""Properties of the placeholder vault and of unmasking across stream chunks."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from litegate.plugins.pii.detectors import BUILTIN_ENTITIES, Scanner, builtin_recognizers
from litegate.plugins.pii.masking import PLACEHOLDER, Vault
from litegate.plugins.pii.stream_unmask import StreamUnmasker

SCANNER = Scanner(builtin_recognizers(BUILTIN_ENTITIES))

# Texts made of pieces that the scanner finds, pieces that look like placeholders, and
# arbitrary text around them (including "<", ">" and "_", so that collisions get tried).
VALUES = st.sampled_from(
    [
        "jane@example.com",
        "bob.smith@mail.co",
        "4111 1111 1111 1111",
        "123-45-6789",
        "10.0.0.1",
        "2001:db8::1",
        "+1 212-736-5000",
        "AKIAIOSFODNN7EXAMPLE",
        "postgres://u:p@h/db",
        "DE89 3704 0044 0532 0130 00",
    ]
)
LOOKALIKES = st.builds(
    lambda name, number: f"<{name}_{number}>",
    st.sampled_from(["EMAIL", "US_SSN", "PHONE", "SECRET", "X"]),
    st.integers(0, 12),
)
FILLER = st.text(alphabet=st.sampled_from(list("ab <>_-.:@ 1\n")), max_size=12)
TEXTS = st.lists(st.one_of(VALUES, LOOKALIKES, FILLER), max_size=10).map(" ".join)


def mask(texts: list[str]) -> tuple[Vault, list[str]]:
    vault = Vault()
    vault.reserve(texts)
    return vault, [vault.mask(text, SCANNER.scan(text), frozenset()) for text in texts]


@settings(max_examples=300, deadline=None)
@given(st.lists(TEXTS, min_size=1, max_size=3))
def test_unmask_of_mask_is_the_identity(texts):
    vault, masked = mask(texts)
    assert [vault.unmask(text) for text in masked] == texts


@settings(max_examples=300, deadline=None)
@given(st.lists(TEXTS, min_size=1, max_size=3))
def test_placeholders_never_collide_with_the_callers_text(texts):
    vault, masked = mask(texts)
    for placeholder in vault.by_placeholder:
        assert all(placeholder not in text for text in texts)
    # And every value that was found is gone from the masked text.
    for text, out in zip(texts, masked, strict=True):
        for finding in SCANNER.scan(text):
            value = text[finding.start : finding.end]
            if vault.by_value.get((finding.entity, value)):
                assert PLACEHOLDER.search(out)


@settings(max_examples=300, deadline=None)
@given(TEXTS, st.lists(st.integers(1, 7), min_size=1, max_size=40))
def test_a_stream_unmasks_whatever_the_chunk_boundaries(text, sizes):
    vault, [masked] = mask([text])
    unmasker = StreamUnmasker(vault)
    pieces, start, turn = [], 0, 0
    while start < len(masked):
        size = sizes[turn % len(sizes)]
        pieces.append(masked[start : start + size])
        start, turn = start + size, turn + 1
    out = []
    for piece in pieces:
        chunk = {"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
        out.append(unmasker.chunk(chunk)["choices"][0]["delta"]["content"])
        # Never a piece of one of this call's placeholders on the wire.
        for placeholder in vault.by_placeholder:
            assert placeholder not in out[-1]
    end = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    out.append(unmasker.chunk(end)["choices"][0]["delta"].get("content") or "")
    assert "".join(out) == text


def test_the_same_value_keeps_its_placeholder_and_types_count_apart():
    vault = Vault()
    assert vault.placeholder("EMAIL", "a@b.io") == "<EMAIL_1>"
    assert vault.placeholder("PHONE", "+1 212-736-5000") == "<PHONE_1>"
    assert vault.placeholder("EMAIL", "c@d.io") == "<EMAIL_2>"
    assert vault.placeholder("EMAIL", "a@b.io") == "<EMAIL_1>"


def test_held_back_text_is_sent_when_the_stream_ends_without_a_finish_reason():
    vault, [masked] = mask(["mail jane@example.com"])
    unmasker = StreamUnmasker(vault)
    chunk = {"choices": [{"index": 0, "delta": {"content": masked[:-3]}, "finish_reason": None}]}
    assert unmasker.chunk(chunk)["choices"][0]["delta"]["content"] == "mail "
    assert unmasker.rest() == {0: "<EMAIL"}  # a lone fragment, never a value


def test_tool_call_arguments_are_json_escaped():
    vault = Vault()
    placeholder = vault.placeholder("CUSTOM", 'say "hi"\\')
    assert vault.unmask_json(f'{{"a": "{placeholder}"}}') == '{"a": "say \\"hi\\"\\\\"}'


@settings(max_examples=300, deadline=None)
@given(TEXTS, st.lists(st.integers(1, 9), min_size=1, max_size=40), st.booleans())
def test_streamed_tool_arguments_unmask_whatever_the_boundaries_and_escapes(text, sizes, upper):
    # The model's tool-call arguments are a JSON text; a Go server writes its "<" and ">"
    # as \u003c and \u003e (upper-case hex from some encoders), and streams it in pieces.
    vault, [masked] = mask([text])
    escapes = ("\\u003C", "\\u003E") if upper else ("\\u003c", "\\u003e")
    arguments = json.dumps({"text": masked}).replace("<", escapes[0]).replace(">", escapes[1])
    unmasker = StreamUnmasker(vault)
    out, start, turn = [], 0, 0
    while start < len(arguments):
        size = sizes[turn % len(sizes)]
        piece = arguments[start : start + size]
        start, turn = start + size, turn + 1
        call = {"index": 0, "function": {"arguments": piece}}
        chunk = {"choices": [{"index": 0, "delta": {"tool_calls": [call]}, "finish_reason": None}]}
        sent = unmasker.chunk(chunk)["choices"][0]["delta"]["tool_calls"][0]
        out.append(sent["function"]["arguments"])
    end = {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}
    for call in unmasker.chunk(end)["choices"][0]["delta"].get("tool_calls") or ():
        out.append(call["function"]["arguments"])
    assert json.loads("".join(out)) == {"text": text}
