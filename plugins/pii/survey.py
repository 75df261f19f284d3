"""A scanner's first look at a text: where its digits are, where a few rare characters are,
and its digit clusters -- the facts that decide which recognizers run, and where.

Two implementations give the same answers: the compiled one (`_survey.c`, built with the
package when a C compiler is at hand) and this module's Python. The compiled one makes one
pass over the text; the Python one asks ~30 str methods (each ~1,000 machine instructions of
argument parsing in CPython 3.11, whatever the text's length) and runs a regex: for the
benchmark's 2 KB prompt ~68,000 instructions against ~10,000. `NATIVE` says which is in use;
``LITEGATE_PII_PURE_PYTHON=1`` chooses the Python one (the tests run both).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable

__all__ = [
    "CLUSTER",
    "LETTERS_DIGITS",
    "NATIVE",
    "TOKEN_CLASS",
    "TOKEN_DIGIT",
    "TOKEN_DIGIT_AFTER",
    "Literal",
    "clusters",
    "clusters_python",
    "survey",
    "survey_python",
]

_DIGITS = "0123456789"

#: Where digit-led values can be: a run of digits and separators, at least 7 long.
CLUSTER = re.compile(r"[+(\d][\d \-.()+]{5,}\d")
#: Where an IBAN can start: two capital letters, then its two check digits.
LETTERS_DIGITS = re.compile(r"[A-Z][A-Z]\d\d")
#: A character of a token (an API key, a random secret).
TOKEN_CLASS = r"[A-Za-z0-9+/_\-]"
#: A random secret is at least 30 token characters: any digit of it has 15 token characters
#: before it or 15 after it. Digits in short tokens (prices, dates, phone numbers) do not.
TOKEN_DIGIT_AFTER = 15
TOKEN_DIGIT = re.compile(
    rf"\d(?:(?<={TOKEN_CLASS}{{{TOKEN_DIGIT_AFTER + 1}}})"  # 15 before it (and itself)
    rf"|(?={TOKEN_CLASS}{{{TOKEN_DIGIT_AFTER}}}))"  # or 15 after it
)


#: A literal to look for: (the literal, the place in `marks` of its anchor -- a character
#: every match holds -- and how many characters after the literal's start the anchor is).
Literal = tuple[str, int, int]
#: Anchors looked at one by one before one substring search takes over (a text full of "-").
_ANCHOR_TRIES = 4


def survey_python(
    text: str, marks: str, literals: tuple[Literal, ...], heads: bool
) -> tuple[int, ...]:
    """What a scanner needs to know of `text` first, as a flat tuple (no object to build):
    its first and last ASCII digit; when `heads` and the text is ASCII, where `TOKEN_DIGIT`
    and `LETTERS_DIGITS` first match (else -1); the first place of each character of
    `marks` (distinct ASCII non-digits); for each of `literals`, the first place of the
    literal with its anchor at `anchor_at` after it -- here a lower bound once
    `_ANCHOR_TRIES` anchors did not have it, exact in the compiled version. -1 for "none"
    everywhere (for a literal: no match can hold it)."""
    last = max(map(text.rfind, _DIGITS))
    # With the digits appended every digit is "found" (a copy costs less than skipping
    # the -1s in Python), and only up to the last digit is searched.
    first = min(map((text[: last + 1] + _DIGITS).find, _DIGITS)) if last >= 0 else -1
    found = [first, last, -1, -1]
    if heads and first >= 0 and text.isascii():
        # Both match only from a digit (two characters before one) to the last digit: the
        # regex searches that span alone (to its end it costs ~10 us on 2 KB). Its
        # look-ahead reads 15 characters past the digit.
        token = TOKEN_DIGIT.search(text, first, last + 1 + TOKEN_DIGIT_AFTER)
        letters = LETTERS_DIGITS.search(text, max(0, first - 2), last + 1)
        found[2] = -1 if token is None else token.start()
        found[3] = -1 if letters is None else letters.start()
    find = text.find
    for char in marks:
        # `in` first: most marks are in no text, and `in` costs a third of `find`.
        found.append(find(char) if char in text else -1)
    # The literals' places: -1 unless their anchor is in the text (most texts: none is).
    places = [-1] * len(literals)
    for mark, members in _by_anchor(literals):
        at = found[4 + mark]
        if at < 0:
            continue
        anchor = marks[mark]
        if find(anchor, at + 1) < 0:  # prose with one "-": is each literal next to it?
            for index, literal, anchor_at in members:
                begin = at - anchor_at
                if begin >= 0 and text[begin : begin + len(literal)] == literal:
                    places[index] = begin
        else:
            for index, literal, anchor_at in members:
                places[index] = _literal_start(text, literal, anchor, anchor_at, at)
    return (*found, *places)


_grouped: dict[int, tuple[tuple[Literal, ...], list[tuple[int, list[tuple[int, str, int]]]]]] = {}
#: Groupings kept (one per scanner; a config reload makes new scanners).
_GROUPINGS_KEPT = 256


def _by_anchor(literals: tuple[Literal, ...]) -> list[tuple[int, list[tuple[int, str, int]]]]:
    """`literals` grouped by their anchor: (mark, [(place in literals, literal, anchor_at),
    ...]). Computed once per tuple (a scanner's, which lives as long as its policy); kept by
    the tuple's id and checked to be the same tuple, since ids are reused."""
    cached = _grouped.get(id(literals))
    if cached is not None and cached[0] is literals:
        return cached[1]
    groups: dict[int, list[tuple[int, str, int]]] = {}
    for index, (literal, mark, anchor_at) in enumerate(literals):
        groups.setdefault(mark, []).append((index, literal, anchor_at))
    grouped = list(groups.items())
    if len(_grouped) >= _GROUPINGS_KEPT:
        _grouped.clear()
    _grouped[id(literals)] = (literals, grouped)
    return grouped


def _literal_start(text: str, literal: str, anchor: str, anchor_at: int, at: int) -> int:
    """The first place from which `literal` may begin a match (`anchor` `anchor_at` after
    it), given the anchor's first place `at`; -1 when nowhere. A lower bound, not a proof."""
    for _ in range(_ANCHOR_TRIES):
        begin = at - anchor_at
        if begin >= 0 and text[begin : begin + len(literal)] == literal:
            return begin
        at = text.find(anchor, at + 1)
        if at < 0:
            return -1
    # Every match's literal begins `anchor_at` before an anchor: none did before `at`.
    return text.find(literal, max(0, at - anchor_at))


def clusters_python(text: str, pos: int, endpos: int) -> list[tuple[int, int, int]]:
    """`CLUSTER`'s matches in ``text[pos:endpos]`` as (start, end, count): `count` is how
    many characters of ``text[start:end + 1]`` (the character after the match too, when
    there is one) are not one of ``+-.() ``."""
    found = []
    for match in CLUSTER.finditer(text, pos, endpos):
        start, end = match.start(), match.end()
        run = text[start : end + 1]
        # `str.replace` parses its arguments faster than `str.count` (~300 instructions
        # against ~1,000 in CPython 3.11): one count, five replaces.
        kept = run.replace(" ", "").replace("-", "").replace(".", "").replace("(", "")
        found.append((start, end, len(kept.replace(")", "")) - kept.count("+")))
    return found


def _compiled() -> tuple[Surveyor, ClusterFinder] | None:
    if os.environ.get("LITEGATE_PII_PURE_PYTHON") == "1":
        return None
    try:
        from . import _survey
    except ImportError:
        return None
    return _survey.survey, _survey.clusters


Surveyor = Callable[[str, str, tuple[Literal, ...], bool], tuple[int, ...]]
ClusterFinder = Callable[[str, int, int], list[tuple[int, int, int]]]
_found = _compiled()
#: Whether `survey` and `clusters` are the compiled ones.
NATIVE = _found is not None
survey: Surveyor
clusters: ClusterFinder
survey, clusters = _found or (survey_python, clusters_python)
