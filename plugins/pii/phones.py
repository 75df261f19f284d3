"""The PHONE check: `phonenumbers`' verdict on a candidate, at a fraction of its cost.

`phonenumbers.parse` + `is_valid_number` take tens of microseconds a number in a tight
loop, and several times that in a busy server (cold caches). Most of it is overhead, not
decisions: a per-character normalisation loop, a pattern-cache look-up for every metadata
regex it touches, objects built and thrown away. The candidates the PHONE recognizer finds
are plain -- ASCII digits, ``space - . ( )``, a leading ``+`` -- and for those
`PhoneCheck.fast` walks the same steps as `parse` (international prefix, country calling
code, national prefix and carrier code, the length tests) and as `is_valid_number` (the
region for the calling code, then the number's type), over phonenumbers' own metadata
(`PhoneMetadata`: its patterns compiled once, its possible lengths). Anything else, and any
step this port does not cover, goes to `PhoneCheck.full`: the library itself.
``tests/plugins/pii/test_phones.py`` checks that both give the same verdict on a large
generated corpus and under hypothesis.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

__all__ = ["TESTED_MAJOR_VERSIONS", "PhoneCheck", "without_separators"]


def without_separators(number: str) -> str:
    """`number` without ``space - . ( )`` -- what `parse` does with the characters the fast
    path allows. Five `str.replace` calls, each one pass in C, cost a third of
    `str.translate`, which looks every character up in a dict."""
    return (
        number.replace(" ", "").replace("-", "").replace(".", "").replace("(", "").replace(")", "")
    )


#: `parse` refuses national numbers shorter or longer than these.
_MIN_NSN, _MAX_NSN = 2, 17

# `_test_number_length` results the fast path needs (names as in phonenumbers).
_POSSIBLE, _LOCAL_ONLY, _TOO_SHORT, _INVALID_LENGTH, _TOO_LONG = range(5)
# After stripping a national prefix, these mean "keep the prefix" (see `parse`).
_KEEP_PREFIX = frozenset((_TOO_SHORT, _LOCAL_ONLY, _INVALID_LENGTH))

#: The phonenumbers releases whose steps the fast path follows (checked by the tests'
#: corpus); with any other, every candidate goes to the library. Metadata updates within
#: a release series are data the fast path reads, not steps.
TESTED_MAJOR_VERSIONS = ("9",)

#: `region_code_for_country_code` for a non-geographic calling code (+800, +882, ...).
_NON_GEO = "001"


class _Undecided(Exception):
    """The fast path does not cover this case: ask the library."""


class _Refused(Exception):
    """Where `parse` raises NumberParseException: not a phone number."""


class _Desc:
    """A `PhoneNumberDesc`: its possible lengths and its national-number pattern's text
    (`_Region.is_valid` folds the patterns of a length into one regex)."""

    __slots__ = ("lengths", "pattern")

    def __init__(self, desc: Any) -> None:
        self.lengths = frozenset(desc.possible_length) if desc.possible_length else None
        self.pattern: str | None = desc.national_number_pattern or None


class _Region:
    """One region's (or non-geographic calling code's) metadata, compiled once."""

    __slots__ = (
        "country_code",
        "country_code_text",
        "general",
        "general_desc",
        "idd",
        "leading_digits",
        "local_lengths",
        "national_prefix",
        "possible_lengths",
        "transform",
        "types",
        "valid_patterns",
    )

    def __init__(self, metadata: Any) -> None:
        self.country_code: int = metadata.country_code
        self.country_code_text = str(metadata.country_code)
        idd = metadata.international_prefix
        self.idd = re.compile(idd) if idd is not None else None
        prefix = metadata.national_prefix_for_parsing
        self.national_prefix = re.compile(prefix) if prefix else None
        self.transform: str | None = metadata.national_prefix_transform_rule or None
        general = metadata.general_desc
        self.general = re.compile(general.national_number_pattern or "(?!)")
        if not general.possible_length:
            raise _Undecided  # `_test_number_length` would fail on it
        self.possible_lengths: tuple[int, ...] = tuple(general.possible_length)
        self.local_lengths = frozenset(general.possible_length_local_only)
        self.general_desc = _Desc(general)
        # `_number_type_helper` answers "some type" when one of these matches, whatever
        # their order: the common types first. Mobile only when its pattern differs from
        # fixed line's (when it does not, the library never tries it).
        descs = [metadata.fixed_line]
        if not metadata.same_mobile_and_fixed_line_pattern:
            descs.append(metadata.mobile)
        descs += [
            metadata.toll_free,
            metadata.premium_rate,
            metadata.shared_cost,
            metadata.voip,
            metadata.personal_number,
            metadata.pager,
            metadata.uan,
            metadata.voicemail,
        ]
        self.types = tuple(_Desc(desc) for desc in descs if desc is not None)
        leading = metadata.leading_digits
        self.leading_digits = re.compile(leading) if leading is not None else None
        #: Number length -> `is_valid` as one regex (None: no number of that length is
        #: valid), made the first time a number of that length comes.
        self.valid_patterns: dict[int, re.Pattern[str] | None] = {}

    def is_valid(self, number: str) -> bool:
        """`_number_type_helper(number, metadata) != UNKNOWN`: one dict look-up and one
        regex, not a method call and a `fullmatch` per type (a third of the cost)."""
        try:
            pattern = self.valid_patterns[len(number)]
        except KeyError:
            pattern = self.valid_patterns[len(number)] = self._valid_pattern(len(number))
        return pattern is not None and pattern.match(number) is not None

    def _valid_pattern(self, length: int) -> re.Pattern[str] | None:
        """A regex that matches a number of `length` digits exactly when the library's
        steps call it valid (`general_desc` matches, then one of `types` does): the general
        pattern as a look-ahead, then the types whose possible lengths allow `length`, in
        one alternation anchored at the end."""
        general = self.general_desc
        if general.pattern is None or (
            general.lengths is not None and length not in general.lengths
        ):
            return None
        types = [
            desc.pattern
            for desc in self.types
            if desc.pattern is not None and (desc.lengths is None or length in desc.lengths)
        ]
        if not types:
            return None
        alternatives = "|".join(f"(?:{text})" for text in types)
        return re.compile(rf"(?=(?:{general.pattern})\Z)(?:{alternatives})\Z")

    def matches_general(self, number: str) -> bool:
        """`_match_national_number(number, general_desc, False)`."""
        return self.general.fullmatch(number) is not None

    def length(self, number: str) -> int:
        """`_test_number_length(number, metadata)`."""
        actual = len(number)
        if actual in self.local_lengths:
            return _LOCAL_ONLY
        lengths = self.possible_lengths
        if lengths[0] == actual:
            return _POSSIBLE
        if lengths[0] > actual:
            return _TOO_SHORT
        if lengths[-1] < actual:
            return _TOO_LONG
        return _POSSIBLE if actual in lengths[1:] else _INVALID_LENGTH

    def strip_national_prefix(self, number: str) -> str:
        """`_maybe_strip_national_prefix_carrier_code(number, metadata)[1]`."""
        pattern = self.national_prefix
        if not number or pattern is None:
            return number
        match = pattern.match(number)
        if match is None:
            return number
        viable = self.matches_general(number)
        groups = match.groups()
        if self.transform is not None and not groups:
            raise _Undecided  # the library raises IndexError here
        if self.transform is None or groups[-1] is None:
            stripped = number[match.end() :]
        else:
            stripped = pattern.sub(self.transform, number, count=1)
        if viable and not self.matches_general(stripped):
            return number
        return stripped


#: One step in choosing the region of a calling code shared by several: (an alternation of
#: leading digits, the regions in it) or (None, (the region,), its metadata to validate).
_Step = tuple[Any, tuple[str, ...], Any]


class PhoneCheck:
    """Whether a candidate is a valid phone number, as `phonenumbers` decides, reading
    numbers without a ``+`` in `region`. Built once per recognizer; compiles a region's
    metadata the first time a number needs it."""

    def __init__(self, region: str) -> None:
        import phonenumbers  # the caller has checked that it is installed
        from phonenumbers import PhoneMetadata
        from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE

        self._phonenumbers = phonenumbers
        self._metadata = PhoneMetadata
        self._regions_for_code: dict[int, tuple[str, ...]] = COUNTRY_CODE_TO_REGION_CODE
        self.region = region
        self.home_code = phonenumbers.country_code_for_region(region)
        self._compiled: dict[tuple[int, str], _Region | None] = {}
        self._choosers: dict[int, tuple[_Step, ...]] = {}
        home = None
        tested = phonenumbers.__version__.split(".")[0] in TESTED_MAJOR_VERSIONS
        if tested and region in phonenumbers.SUPPORTED_REGIONS:
            with contextlib.suppress(_Undecided):
                home = self._region(self.home_code, region)
        self._home = home
        # Calling codes form a prefix code (no code begins another), so a number that starts
        # with the home code's digits has that code: `_calling_code`'s loop is not needed.
        # Checked here against the metadata rather than assumed.
        prefix = str(self.home_code)
        shorter = (int(prefix[:size]) for size in range(1, len(prefix)))
        self._home_prefix = (
            prefix
            if home is not None
            and prefix[0] != "0"
            and not any(s in self._regions_for_code for s in shorter)
            else None
        )
        #: Whether the fast path is on (off: every candidate goes to the library).
        self.fast_path = home is not None

    def __call__(self, value: str) -> bool:
        verdict = self.fast(value)
        return self.full(value) if verdict is None else verdict

    def full(self, value: str) -> bool:
        """The library's own verdict (what `__call__` must always agree with)."""
        digits = sum(map(str.isdigit, value))
        if digits < 7 or digits > 15:
            return False
        return self._full(value)

    def fast(self, value: str) -> bool | None:
        """The fast path's verdict, or None where it leaves the decision to the library."""
        if self._home is None or not value.isascii():
            return None
        plus = value[:1] == "+"
        digits = without_separators(value[1:] if plus else value)
        if not digits.isdigit():
            return None  # a "+" elsewhere, or characters the port does not cover
        if not 7 <= len(digits) <= 15:
            return False
        try:
            return self._fast(plus, digits)
        except _Refused:
            return False
        except _Undecided:
            return None

    def _full(self, value: str) -> bool:
        phonenumbers = self._phonenumbers
        try:
            number = phonenumbers.parse(value, self.region)
        except phonenumbers.NumberParseException:
            return False
        # Most numbers are of the default region: checking its metadata alone is much
        # cheaper than is_valid_number, which tries every region sharing the country code
        # (some 25 for +1).
        if number.country_code == self.home_code and phonenumbers.is_valid_number_for_region(
            number, self.region
        ):
            return True
        return bool(phonenumbers.is_valid_number(number))

    # -- the fast path: phonenumbers' steps, for ASCII digits and separators ---------------

    def _fast(self, plus: bool, digits: str) -> bool:
        """`value`'s verdict from its leading "+" and its digits (ASCII, separators gone)."""
        home = self._home
        assert home is not None
        # `parse`: the calling code and the number after it.
        if plus:
            if len(digits) <= _MIN_NSN:
                return False
            prefix = self._home_prefix
            # A slice compare: `startswith` parses its arguments from a tuple (~1,000
            # instructions in CPython 3.11, more than the rest of this test).
            if prefix is not None and digits[: len(prefix)] == prefix:
                code, national = self.home_code, digits[len(prefix) :]
            else:
                code, national = _calling_code(digits, self._regions_for_code)
            if code == 0:
                # The library tries again without the "+".
                code, national = self._code_without_plus(digits)
                if code == 0:
                    return False
        else:
            code, national = self._code_without_plus(digits)
        if code:
            main = self._regions_for_code.get(code, ("ZZ",))[0]
            region = home if main == self.region else self._region(code, main)
            if region is None:
                raise _Undecided
        else:
            code, national, region = home.country_code, digits, home
        if len(national) < _MIN_NSN:
            return False
        stripped = region.strip_national_prefix(national)
        # (Most numbers have no national prefix: nothing stripped, nothing to decide.)
        if stripped != national and region.length(stripped) not in _KEEP_PREFIX:
            national = stripped
        if not _MIN_NSN <= len(national) <= _MAX_NSN:
            return False
        # The check's own order: the default region first, then `is_valid_number`.
        if code == self.home_code and home.is_valid(national):
            return True
        return self._is_valid_number(code, national)

    def _code_without_plus(self, digits: str) -> tuple[int, str]:
        """`_maybe_extract_country_code` for a number without a "+": (0, "") when it has
        none; raises `_Refused` where `parse` raises."""
        home = self._home
        assert home is not None
        idd = home.idd
        match = idd.match(digits) if idd is not None else None
        if match is not None and digits[match.end() : match.end() + 1] != "0":
            rest = digits[match.end() :]
            if len(rest) <= _MIN_NSN:
                raise _Refused
            code, national = _calling_code(rest, self._regions_for_code)
            if code == 0:
                raise _Refused
            return code, national
        prefix = home.country_code_text
        if digits.startswith(prefix):
            national = home.strip_national_prefix(digits[len(prefix) :])
            if (not home.matches_general(digits) and home.matches_general(national)) or home.length(
                digits
            ) == _TOO_LONG:
                return home.country_code, national
        return 0, ""

    def _is_valid_number(self, code: int, national: str) -> bool:
        """`is_valid_number` for the number `code` `national`."""
        regions = self._regions_for_code.get(code)
        if regions is None:
            return False
        chosen: str | None = regions[0] if len(regions) == 1 else None
        if chosen is None:
            steps = self._choosers.get(code)
            if steps is None:
                steps = self._choosers[code] = self._chooser(code, regions)
            for pattern, names, region in steps:
                if pattern is None:
                    if region.is_valid(national):
                        chosen = names[0]
                        break
                else:
                    match = pattern.match(national)
                    if match is not None:
                        chosen = names[int(match.lastgroup[1:])]  # r0, r1, ...
                        break
        if chosen is None:
            return False
        region = self._region(code, chosen)
        if region is None:
            return False
        if chosen != _NON_GEO and code != region.country_code:
            return False
        return region.is_valid(national)

    def _chooser(self, code: int, names: tuple[str, ...]) -> tuple[_Step, ...]:
        """`_region_code_for_number_from_list` as steps: a region without leading digits is
        a validity test; a run of regions with leading digits is one alternation, which
        tries them in order (+1 has 24 such regions after US: one regex, not 24)."""
        steps: list[_Step] = []
        run: list[tuple[str, str]] = []

        def close_run() -> None:
            if run:
                alternation = "|".join(f"(?P<r{i}>{lead})" for i, (_, lead) in enumerate(run))
                steps.append((re.compile(alternation), tuple(n for n, _ in run), None))
                run.clear()

        for name in names:
            # It reads plain region metadata: a non-geographic entity has none.
            region = None if name == _NON_GEO else self._region(code, name)
            if region is None:
                continue
            if region.leading_digits is not None:
                run.append((name, region.leading_digits.pattern))
            else:
                close_run()
                steps.append((None, (name,), region))
        close_run()
        return tuple(steps)

    def _region(self, code: int, name: str) -> _Region | None:
        """`metadata_for_region_or_calling_code(code, name)`, compiled (None: no metadata)."""
        key = (code, name) if name == _NON_GEO else (0, name)
        try:
            return self._compiled[key]
        except KeyError:
            pass
        if name == _NON_GEO:
            metadata = self._metadata.metadata_for_nongeo_region(code, None)
        else:
            metadata = self._metadata.metadata_for_region(name, None)
        compiled = None if metadata is None else _Region(metadata)
        self._compiled[key] = compiled
        return compiled


def _calling_code(digits: str, regions_for_code: dict[int, Any]) -> tuple[int, str]:
    """`_extract_country_code`: (0, digits) when `digits` does not start with one."""
    if not digits or digits[0] == "0":
        return 0, digits
    for size in (1, 2, 3):
        if size > len(digits):
            break
        if int(digits[:size]) in regions_for_code:
            return int(digits[:size]), digits[size:]
    return 0, digits
