"""The scanner's first pass: the compiled and the Python `survey`/`clusters` agree with each
other and with a plain reading of what they promise."""

from __future__ import annotations

import os
import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from litegate.plugins.pii import survey as survey_module
from litegate.plugins.pii.survey import (
    CLUSTER,
    LETTERS_DIGITS,
    TOKEN_DIGIT,
    clusters_python,
    survey_python,
)

try:
    from litegate.plugins.pii import _survey
except ImportError:  # pragma: no cover - a machine without a C compiler
    _survey = None  # type: ignore[assignment]

needs_native = pytest.mark.skipif(
    _survey is None,
    reason="the C extension is not built (no C compiler at install time?): "
    "pip install -e . with gcc present builds it",
)

MARKS = "-:@J_"
#: (literal, its anchor's place in MARKS, where the anchor is after the literal's start)
LITERALS = (("sk-", 0, 2), ("xox", 0, 4), ("://", 1, 0), ("eyJ", 3, 2), ("ab_", 4, 2))
# Characters that matter (digits, separators, marks, the literals' letters) and some that
# make a text 2- or 4-byte wide, among them digits of other scripts.
_ALPHABET = [
    *"0123456789 -.()+:@J_skxoyeab/\n",
    "\u00e9",
    "\u0100",
    "\u0663",
    "\U0001d7d8",
    "\uff11",
]
TEXTS = st.text(alphabet=st.sampled_from(_ALPHABET), max_size=80)
# Long tokens with digits here and there, for TOKEN_DIGIT's 15 characters on either side.
_TOKENS = st.text(alphabet=st.sampled_from([*"aB1/+_-", " "]), min_size=10, max_size=50)
WITH_TOKENS = st.lists(st.one_of(TEXTS, _TOKENS), max_size=4).map("".join)


def exact_literal_start(text: str, literal: str, anchor: str, anchor_at: int) -> int:
    for begin in range(len(text)):
        if (
            text.startswith(literal, begin)
            and text[begin + anchor_at : begin + anchor_at + 1] == anchor
        ):
            return begin
    return -1


def plain_survey(text: str, heads: bool = True) -> tuple[int, ...]:
    """What `survey` promises, the slow way (literals exact)."""
    digits = [i for i, c in enumerate(text) if c in "0123456789"]
    token = letters = -1
    if heads and text.isascii():
        token = next((m.start() for m in TOKEN_DIGIT.finditer(text)), -1)
        letters = next((m.start() for m in LETTERS_DIGITS.finditer(text)), -1)
    marks = [text.find(mark) for mark in MARKS]
    literals = [
        exact_literal_start(text, literal, MARKS[mark], at) for literal, mark, at in LITERALS
    ]
    first, last = (digits[0], digits[-1]) if digits else (-1, -1)
    return (first, last, token, letters, *marks, *literals)


@settings(max_examples=1500, deadline=None)
@given(WITH_TOKENS, st.booleans())
@example("sk- sk-x -- xox- ab_ 1", True)
@example("- - - - - - sk-", True)  # past the Python version's tries at one anchor
@example("aaaaaaaaaaaaaaa1 DE12", True)  # a digit with 15 token characters before it
@example("1aaaaaaaaaaaaaaa", True)  # and after it
@example("aaaaaaaaaaaaaa1 aaaaaaaaaaaaaa", False)
def test_python_survey_is_exact_but_for_literals_after_many_anchors(text, heads):
    got, want = survey_python(text, MARKS, LITERALS, heads), plain_survey(text, heads)
    fixed = 4 + len(MARKS)
    assert got[:fixed] == want[:fixed]
    for have, exact in zip(got[fixed:], want[fixed:], strict=True):
        # A lower bound: never past the first real place, -1 only when there is none.
        assert (have == -1) <= (exact == -1)
        assert exact == -1 or 0 <= have <= exact


@needs_native
@settings(max_examples=2000, deadline=None)
@given(WITH_TOKENS, st.booleans())
@example("- - - - - - sk-", True)
@example("sk" + "-" * 40 + "sk-", True)
@example("aaaaaaaaaaaaaaa1 DE12", True)
@example("aaaaaaaaaaaaaa1 x", True)  # 14 before it: no
@example("1aaaaaaaaaaaaaaa", True)
@example("1aaaaaaaaaaaaaa", True)  # 14 after it: no
@example("x" * 20 + "1" + "\u00e9", True)  # not ASCII: no heads
def test_compiled_survey_is_exact(text, heads):
    assert _survey.survey(text, MARKS, LITERALS, heads) == plain_survey(text, heads)


def plain_clusters(text: str, pos: int, endpos: int) -> list[tuple[int, int, int]]:
    found = []
    for match in CLUSTER.finditer(text, pos, endpos):
        after = text[match.start() : match.end() + 1]
        found.append((match.start(), match.end(), len(re.sub(r"[ \-.()+]", "", after))))
    return found


@settings(max_examples=1500, deadline=None)
@given(TEXTS, st.integers(-3, 90), st.integers(-3, 90))
@example("+1 (415) 555-0100 x", 0, 100)
@example("12 + 34567 8", 2, 12)
@example("١٢٣٤٥٦٧٨", 0, 8)  # Arabic-Indic digits are \d to the regex
def test_clusters_are_the_regex_matches(text, pos, endpos):
    want = plain_clusters(text, pos, endpos)
    assert clusters_python(text, pos, endpos) == want
    if _survey is not None:
        assert _survey.clusters(text, pos, endpos) == want


@needs_native
def test_the_compiled_functions_refuse_bad_arguments():
    with pytest.raises(TypeError):
        _survey.survey(b"bytes", MARKS, LITERALS, True)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        _survey.survey("text", MARKS, LITERALS)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="distinct non-digits"):
        _survey.survey("text", "-1", (), True)
    with pytest.raises(ValueError, match="ASCII"):
        _survey.survey("text", "\u00e9", (), True)
    with pytest.raises(ValueError, match="not in marks"):
        _survey.survey("text", "-", (("sk-", 3, 2),), True)
    with pytest.raises(TypeError, match="literals"):
        _survey.survey("text", "-", ("sk-",), True)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        _survey.clusters("text", "0", 4)  # type: ignore[arg-type]


def test_ci_builds_the_extension():
    """CI installs with a C compiler: the scanner must use the compiled survey there, or a
    broken build would hide behind the Python one."""
    if os.environ.get("LITEGATE_REQUIRE_SERVICES") != "1":
        pytest.skip("only required in CI (LITEGATE_REQUIRE_SERVICES=1)")
    assert _survey is not None and survey_module.NATIVE


def test_an_anchor_the_survey_cannot_report_is_refused_with_its_entity():
    import re as regex

    from litegate.plugins.pii.detectors import Recognizer, Scanner

    odd = Recognizer(
        "ODD", regex.compile("x\u00e9y"), needs="x\u00e9y", anchor="\u00e9", anchor_at=1
    )
    with pytest.raises(ValueError, match="recognizer ODD: anchor"):
        Scanner([odd])
