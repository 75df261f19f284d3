"""`PhoneCheck`'s fast path gives phonenumbers' own verdict, for every candidate it decides."""

from __future__ import annotations

import contextlib
import random
import re

import attrs
import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from litegate.plugins.pii import phones
from litegate.plugins.pii.detectors import Scanner, builtin_recognizers
from litegate.plugins.pii.phones import TESTED_MAJOR_VERSIONS, PhoneCheck

#: The default region, regions with a national prefix (GB, DE, IN), national-prefix
#: transform rules (AR, BR, MX), a region sharing +1 that is not its main one (CA), one
#: sharing +7 (KZ), and a country with a leading zero kept (IT).
REGIONS = ("US", "GB", "DE", "IN", "AR", "BR", "MX", "CA", "KZ", "IT")
_TYPES = (
    PhoneNumberType.FIXED_LINE,
    PhoneNumberType.MOBILE,
    PhoneNumberType.TOLL_FREE,
    PhoneNumberType.PREMIUM_RATE,
    PhoneNumberType.SHARED_COST,
    PhoneNumberType.VOIP,
    PhoneNumberType.PERSONAL_NUMBER,
    PhoneNumberType.PAGER,
    PhoneNumberType.UAN,
    PhoneNumberType.VOICEMAIL,
)
#: What the PHONE pattern can hand the check: ASCII digits and these, a "+" or "(" first.
_ALLOWED = frozenset("0123456789 -.()+")


def _example_numbers() -> list[phonenumbers.PhoneNumber]:
    numbers = [
        number
        for region in sorted(phonenumbers.SUPPORTED_REGIONS)
        for kind in _TYPES
        if (number := phonenumbers.example_number_for_type(region, kind)) is not None
    ]
    numbers += [
        number
        for code in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS)
        if (number := phonenumbers.example_number_for_non_geo_entity(code)) is not None
    ]
    return numbers


def _formats(rnd: random.Random, digits: str) -> list[str]:
    """`digits` as people write them: grouped by spaces, dashes or dots, or not at all."""
    written = [digits]
    for separator in (" ", "-", "."):
        parts, rest = [], digits
        while rest:
            size = rnd.choice((2, 3, 3, 4))
            parts.append(rest[:size])
            rest = rest[size:]
        written.append(separator.join(parts))
    if len(digits) > 6:
        written.append(f"({digits[:3]}) {digits[3:6]}-{digits[6:]}")
    return written


def _corpus() -> list[str]:
    rnd = random.Random(7)
    values: list[str] = []
    for number in _example_numbers():
        code, national = str(number.country_code), phonenumbers.national_significant_number(number)
        written = [
            phonenumbers.format_number(number, style).replace("\u2011", "-")
            for style in (
                PhoneNumberFormat.E164,
                PhoneNumberFormat.INTERNATIONAL,
                PhoneNumberFormat.NATIONAL,
            )
        ]
        written += [f"{code} {national}", f"00{code}{national}", f"011 {code} {national}"]
        written += [f"+{code} (0) {national}", f"+{code} 0{national}", f"0{national}"]
        for text in written:
            values.append(text)
            # Near misses: a digit changed, dropped or added.
            places = [i for i, c in enumerate(text) if c.isdigit()]
            for _ in range(2):
                at = rnd.choice(places)
                values.append(text[:at] + rnd.choice("0123456789") + text[at + 1 :])
            at = rnd.choice(places)
            values.append(text[:at] + text[at + 1 :])
            at = rnd.choice(places)
            values.append(text[:at] + rnd.choice("0123456789") + text[at:])
    # Random digits in the usual shapes, national and with a "+" or an IDD.
    for _ in range(6000):
        digits = "".join(rnd.choice("0123456789") for _ in range(rnd.randint(6, 16)))
        shape = rnd.choice(_formats(rnd, digits))
        values += [shape, "+" + shape, "00" + shape, "1 " + shape, "0" + shape]
    # What else has digits: dates, times, amounts, versions, ids.
    values += ["2024-01-15", "15.01.2024", "12:30:45", "1,234,567.89", "v1.2.3.4567"]
    values += [f"{rnd.randrange(10**9):09d}" for _ in range(500)]
    return [v for v in values if set(v) <= _ALLOWED and 7 <= sum(c.isdigit() for c in v) <= 15]


CORPUS = _corpus()


def test_the_fast_path_is_on_for_the_installed_phonenumbers():
    # Off (every candidate to the library) for a release series not listed as tested:
    # run this file against it, then add it to TESTED_MAJOR_VERSIONS.
    major = phonenumbers.__version__.split(".")[0]
    assert major in TESTED_MAJOR_VERSIONS, f"phonenumbers {phonenumbers.__version__}"
    assert PhoneCheck("US").fast_path


@pytest.mark.parametrize(("region", "prefix"), [("US", "1"), ("GB", "44"), ("IN", "91")])
def test_numbers_with_the_home_calling_code_skip_the_code_search(region, prefix):
    # Calling codes are a prefix code, so the home code's digits alone decide the code;
    # the corpus tests check the verdicts that lane gives.
    check = PhoneCheck(region)
    assert check._home_prefix == prefix
    national = phonenumbers.national_significant_number(phonenumbers.example_number(region))
    assert check.fast(f"+{prefix} {national}") is True


def _valid_step_by_step(region: phones._Region, number: str) -> bool:
    """The library's `_number_type_helper` steps over the region's metadata: the general
    description, then each type, each as `_is_number_matching_desc` tests it."""

    def matches(desc: phones._Desc) -> bool:
        if desc.lengths is not None and len(number) not in desc.lengths:
            return False
        return desc.pattern is not None and re.fullmatch(desc.pattern, number) is not None

    return matches(region.general_desc) and any(matches(desc) for desc in region.types)


def test_one_regex_per_length_decides_validity_as_the_steps_do():
    # `_Region.is_valid` folds the general pattern and every type's into one regex per
    # number length: for every region, on its example numbers, on those numbers with a
    # digit changed, cut or added, and on random digits of every length a national
    # number can have.
    check = PhoneCheck("US")
    rnd = random.Random(7)
    compared = valid = 0
    for number in _example_numbers():
        code = number.country_code
        name = phonenumbers.region_code_for_country_code(code)
        region = check._region(code, name)
        if region is None:
            continue
        national = phonenumbers.national_significant_number(number)
        values = [national, national[:-1], national + "5"]
        values += [f"{national[:i]}{rnd.randrange(10)}{national[i + 1 :]}" for i in range(3)]
        values += ["".join(rnd.choices("0123456789", k=n)) for n in range(2, 18)]
        for value in values:
            expected = _valid_step_by_step(region, value)
            assert region.is_valid(value) is expected, (name, value)
            compared += 1
            valid += expected
    assert compared > 5000 and valid > 1000


@pytest.mark.parametrize("region", REGIONS)
def test_fast_path_agrees_with_phonenumbers_on_a_generated_corpus(region, monkeypatch):
    # Whatever the installed release, compare the steps (that is how a new one is vetted).
    monkeypatch.setattr(phones, "TESTED_MAJOR_VERSIONS", (phonenumbers.__version__.split(".")[0],))
    check = PhoneCheck(region)
    # The default region sees the whole corpus; the others a sample (the library is slow).
    values = CORPUS if region == "US" else random.Random(region).sample(CORPUS, 4000)
    undecided, disagreements, valid = 0, [], 0
    for value in values:
        fast, full = check.fast(value), check.full(value)
        valid += full
        if fast is None:
            undecided += 1
        elif fast != full:
            disagreements.append((value, fast, full))
    assert disagreements == []
    # It decides every plain candidate itself, and the corpus has plenty of valid numbers.
    assert undecided == 0
    assert valid > len(values) // 10


def test_corpus_covers_many_countries():
    codes = set()
    for value in CORPUS:
        if value.startswith("+"):
            with contextlib.suppress(phonenumbers.NumberParseException):
                codes.add(phonenumbers.parse(value).country_code)
    assert len(codes) > 200


PLAIN = st.builds(
    lambda lead, body: lead + body,
    st.sampled_from(["", "+", "(", "00", "011", "0", "1"]),
    st.text(alphabet=st.sampled_from(list("0123456789  -.()")), min_size=6, max_size=20),
)


@settings(max_examples=400, deadline=None)
@given(value=PLAIN, region=st.sampled_from(REGIONS))
def test_fast_path_agrees_with_phonenumbers_on_generated_text(value, region):
    check = PhoneCheck(region)
    fast = check.fast(value)
    assert fast is None or fast == check.full(value)
    assert check(value) == check.full(value)


@pytest.mark.parametrize(
    "value",
    [
        "+٤٤ ٢٠ ٧٩٤٦ ٠٩٥٨",  # Arabic-Indic digits: the library normalises them
        "(+44) 20 7946 0958",  # a "+" after the "(": left to the library
        "+44 20+7946 0958",
    ],
)
def test_what_the_fast_path_does_not_cover_goes_to_the_library(value):
    check = PhoneCheck("US")
    assert check.fast(value) is None
    assert check(value) == check.full(value)


def test_unknown_region_uses_the_library_for_everything():
    check = PhoneCheck("XX")
    assert not check.fast_path
    assert check.fast("+44 20 7946 0958") is None
    assert check("+44 20 7946 0958") is True
    assert check("(212) 736-5000") is False  # no region to read it in


def test_phone_findings_in_text_match_the_library_check():
    rnd = random.Random(3)
    text = " ".join(rnd.choice(CORPUS) + rnd.choice([" and ", ", ", " call "]) for _ in range(400))
    (recognizer,) = builtin_recognizers(["PHONE"])
    fast = Scanner([recognizer])
    library = Scanner([attrs.evolve(recognizer, check=PhoneCheck("US").full)])
    found = fast.scan(text)
    assert found == library.scan(text)
    assert len(found) > 50
