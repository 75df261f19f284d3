"""Recognizers: one per entity type, each a precompiled regex plus an optional check.

A recognizer's regex finds *candidates*; its check (Luhn, mod-97, `ipaddress`,
`phonenumbers`, entropy) keeps the real ones. Every regex starts with a narrow character
class or literal so that `re` skips most of a text in C without entering the pattern:
that, not a combined alternation, is what keeps a 2 KB prompt cheap to scan.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import ipaddress
import math
import operator
import os
import re
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple, Protocol

import attrs

from .survey import LETTERS_DIGITS, TOKEN_CLASS, TOKEN_DIGIT, TOKEN_DIGIT_AFTER, clusters, survey

__all__ = [
    "BUILTIN_ENTITIES",
    "Finder",
    "Finding",
    "Recognizer",
    "Scanner",
    "builtin_recognizers",
    "custom_recognizer",
    "iban_valid",
    "luhn_valid",
    "shannon_entropy",
    "ssn_valid",
]

Check = Callable[[str], bool]
#: `Recognizer.needs` for values that always hold a digit.
ANY_DIGIT = "<any digit>"


class Finding(NamedTuple):
    """One detected value: ``text[start:end]`` is of type `entity`. A named tuple: a scan
    makes one per value, and a tuple is built several times faster than a frozen class."""

    entity: str
    start: int
    end: int


#: Builds a `Finding` in C: the named tuple's own ``__new__`` is a Python function, a frame
#: per value found.
_new_finding = tuple.__new__


class Finder(Protocol):
    """What a `Scanner` runs: a `Recognizer`, or another detector (a contrib package's
    Presidio recognizers) that finds values of its own."""

    @property
    def needs(self) -> str | None: ...

    @property
    def gate(self) -> str | None: ...

    @property
    def digits(self) -> bool: ...

    def find(self, text: str, pos: int = 0, endpos: int | None = None) -> Iterable[Finding]: ...


@attrs.frozen
class Recognizer:
    """Finds one entity type. `group` names the part of a match that is the value (for a
    URL's credentials, the ``user:password`` between ``://`` and ``@``)."""

    entity: str
    pattern: re.Pattern[str]
    check: Check | None = None
    group: int | str = 0
    #: A substring every match contains (or `ANY_DIGIT`): when absent from a text, the
    #: regex is skipped.
    needs: str | None = None
    #: One character every match contains, tested before `needs` (a one-character test is
    #: a memchr; a longer substring costs more).
    gate: str | None = None
    #: With a literal `needs`: a character every match holds `anchor_at` characters after
    #: the start of that literal. A scanner looks for the literal only where this character
    #: is (a memchr each), not by a substring search over the whole text (~1.5 us a literal
    #: on 2 KB); pick a character prose rarely has.
    anchor: str | None = None
    anchor_at: int = 0
    #: With `anchor`: how many characters before its `needs` literal a match may start.
    lead: int = 0
    #: The character every match of `pattern` starts with: `find` jumps to its next place
    #: (a memchr) instead of letting the regex engine walk there.
    starts_with: str | None = None
    #: A value must not follow a letter, a digit or one of these characters.
    boundary: str | None = None
    #: A value may start up to `back_max` characters before its match, over these
    #: characters: patterns then start at a rare character (an email's ``@``, an IPv6
    #: address's first ``:``) instead of at every letter of a text.
    back_chars: str | None = None
    back_max: int = 0
    #: At least this many `back_chars` must come before the match (an email's local part).
    back_min: int = 0
    #: After a candidate fails its check, search again from its second character (a real
    #: value may start inside it); False goes on after it (a token is judged whole).
    rescan: bool = True

    #: The pattern only ever matches digits and ``+-.() `` (and starts with one of
    #: ``+(`` or a digit): it is run only inside the text's digit clusters.
    digits: bool = False
    #: With `digits`: a value has at least this many digits (fewer fail the check), and
    #: holds `cluster_needs`: a cluster without them is passed over.
    min_digits: int = 0
    cluster_needs: str | None = None
    #: With `digits`: search the pattern once before calling `find` (worth it when most
    #: clusters hold no match: an SSN's shape; not a phone number's, which most fit).
    probe: bool = True
    #: A pattern every match starts with, whose own match ends at or before a digit of
    #: the match: `find` then looks for matches only where it matches before the text's
    #: last digit (`last_digit`), instead of searching on to the end of the text.
    head: re.Pattern[str] | None = None
    #: How many characters past the text's last digit `head`'s look-ahead reads.
    head_after: int = 0

    def find(
        self, text: str, pos: int = 0, endpos: int | None = None, *, last_digit: int = -1
    ) -> list[Finding]:
        """The values in ``text[pos:endpos]`` (the rest of `text` is context). With `head`,
        `last_digit` (when not -1) is where the last digit of an ASCII `text` is. A list,
        not a generator: most calls find nothing, and a list costs less to make."""
        found: list[Finding] = []
        needs = self.needs
        if needs is not None and needs is not ANY_DIGIT and needs not in text:
            return found
        check, group, boundary, back = self.check, self.group, self.boundary, self.back_chars
        search = self.pattern.search
        end_at = len(text) if endpos is None else endpos
        head = self.head if last_digit >= 0 else None
        first = self.starts_with
        while True:
            if first is not None:
                pos = text.find(first, pos, end_at)
                if pos < 0:
                    return found
                match = self.pattern.match(text, pos, end_at)
                if match is None:
                    pos += 1
                    continue
            elif head is None:
                match = search(text, pos, end_at)
            else:
                match = _match_after_head(
                    self.pattern, head, text, pos, end_at, last_digit + self.head_after
                )
            if match is None:
                return found
            start, end = match.start(group), match.end(group)
            if back is not None:
                matched, floor = start, max(0, start - self.back_max)
                # The run of `back` characters just before the match, walked in C.
                start = floor + len(text[floor:start].rstrip(back))
                while start < matched and text[start] == ".":
                    start += 1  # a value never starts with a dot
                if matched - start < self.back_min:
                    pos = match.start() + 1
                    continue
            if boundary is not None and start > 0:
                before = text[start - 1]
                if before.isalnum() or before in boundary:
                    pos = match.start() + 1
                    continue
            if check is None or check(text[start:end]):
                found.append(_new_finding(Finding, (self.entity, start, end)))
                pos = match.end()
            elif self.rescan:
                # A candidate that fails its check may hide a real value just after its
                # start ("45 (415) 555-2671"): look again from the next character.
                pos = match.start() + 1
            else:
                pos = match.end()


def _match_after_head(
    pattern: re.Pattern[str], head: re.Pattern[str], text: str, pos: int, end: int, last: int
) -> re.Match[str] | None:
    """``pattern.search(text, pos, end)``, trying `pattern` only where `head` matches in
    ``text[:last + 1]``: every match of `pattern` starts there, and a regex searching a
    2 KB text to its end costs ~10 us even when nothing is left to find."""
    match_at = pattern.match
    probe = head.search
    while True:
        found = probe(text, pos, last + 1)
        if found is None:
            return None
        match = match_at(text, found.start(), end)
        if match is not None:
            return match
        pos = found.start() + 1


# -- checks -----------------------------------------------------------------------------------


def luhn_valid(number: str) -> bool:
    """The Luhn checksum of payment card numbers (separators ignored)."""
    digits = [int(c) for c in number if c.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for position, digit in enumerate(reversed(digits)):
        if position % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18,
    "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip


def iban_valid(value: str) -> bool:
    """ISO 13616: the country's length and the mod-97 checksum (spaces ignored)."""
    iban = value.replace(" ", "").upper()
    if _IBAN_LENGTHS.get(iban[:2]) != len(iban):
        return False
    moved = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def ssn_valid(value: str) -> bool:
    """A US SSN's area, group and serial are never 000/666/9xx, 00 and 0000."""
    digits = "".join(c for c in value if c.isdigit())
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def _ip_valid(value: str) -> bool:
    try:
        ipaddress.ip_address(value.split("%", 1)[0])
    except ValueError:
        return False
    return True


def shannon_entropy(text: str) -> float:
    """Bits per character of `text`'s own character distribution."""
    length = len(text)
    counts: dict[str, int] = {}
    for char in text:
        counts[char] = counts.get(char, 0) + 1
    return -sum(n / length * math.log2(n / length) for n in counts.values())


def _entropy_check(min_entropy: float) -> Check:
    def check(value: str) -> bool:
        if not 32 <= len(value) <= 512:
            return False
        # A key mixes letters and digits; a long word or a hex hash of one case is not enough.
        has_digit = any(c.isdigit() for c in value)
        has_upper = any(c.isupper() for c in value)
        has_lower = any(c.islower() for c in value)
        return has_digit and has_upper and has_lower and shannon_entropy(value) >= min_entropy

    return check


def _phone_check(region: str) -> Check:
    try:
        import phonenumbers  # noqa: F401 - only to fail early with a clear message
    except ImportError:  # pragma: no cover - checked at config time
        raise ValueError(
            "the PHONE entity needs the phonenumbers package: pip install 'litegate[pii]' "
            "(or leave PHONE out of entities)"
        ) from None
    from .phones import PhoneCheck

    # Chat clients resend the whole conversation every turn, so the same candidates come
    # back again and again: remember the verdicts (bounded). A new number costs a few
    # microseconds (`PhoneCheck`'s fast path) instead of phonenumbers' tens.
    return functools.lru_cache(maxsize=4096)(PhoneCheck(region))


# -- the built-in recognizers -------------------------------------------------------------------
# No pattern starts with a lookbehind or \b: `re` only skips ahead in C to a pattern's first
# character class when the pattern starts with one. Word boundaries before a match are
# checked in Python instead (`Recognizer.boundary`), on the few candidates.

# From the "@" on; the local part before it is taken by walking back (`back_chars`).
_EMAIL_LOCAL = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-"
_EMAIL = re.compile(
    r"@[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?)*"
    r"\.[A-Za-z]{2,24}(?![\w\-])"
)
# A phone number: optional + or (, then digits with the usual separators; phonenumbers decides.
_PHONE = re.compile(r"[+(\d][\d \-.()]{5,18}\d(?![\w@])")
_CARD = re.compile(r"\d(?:[ \-]?\d){12,18}(?![\w\-])")
_IBAN = re.compile(r"[A-Z][A-Z]\d\d(?: ?[A-Z0-9]){11,30}(?!\w)")
_SSN = re.compile(r"\d\d\d([\- ])\d\d\1\d{4}(?![\w\-])")
_IPV4 = re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?![\w.]*\d)")
_HEX = "0123456789abcdefABCDEF"
_IPV6 = re.compile(
    r":[0-9A-Fa-f]{0,4}:(?:[0-9A-Fa-f]{0,4}:){0,5}"
    r"(?:[0-9A-Fa-f]{1,4}|\d{1,3}(?:\.\d{1,3}){3})?(?:%[\w.]+)?(?![\w:])"
)
_SCHEME_MAX = 16
_URL_CREDENTIALS = re.compile(
    r"[A-Za-z][A-Za-z0-9+.\-]{1,15}://(?P<cred>[^\s/:@]{1,256}:[^\s/@]{1,256})@"
)
#: Keys by their published prefixes: (the literal every one holds, its pattern, the anchor:
#: a character every match holds at this offset from the literal's start, and how far
#: before the literal a match may start). A scanner looks for each literal only where its
#: anchor is (a memchr; prose rarely has "_", "-", "J", "K", "S" or "z"); one pattern for all
#: would enter at every "s", "e" or "h" of a text.
SECRET_PREFIXES = (
    ("sk-ant-", r"sk-ant-[A-Za-z0-9_\-]{20,}", "-", 2, 0),  # Anthropic
    ("sk-", r"sk-[A-Za-z0-9_\-]{20,}", "-", 2, 0),  # OpenAI (sk-proj-, sk-svcacct-, ...)
    ("AKIA", r"AKIA[0-9A-Z]{16}", "K", 1, 0),  # AWS access key ids
    ("ASIA", r"ASIA[0-9A-Z]{16}", "S", 1, 0),
    ("gh", r"gh[pousr]_[A-Za-z0-9]{36,255}", "_", 3, 0),  # GitHub tokens
    ("github_pat_", r"github_pat_[A-Za-z0-9_]{22,255}", "_", 6, 0),
    ("glpat-", r"glpat-[A-Za-z0-9_\-]{20,}", "-", 5, 0),  # GitLab
    ("xox", r"xox[abposr]-[A-Za-z0-9\-]{10,}", "-", 4, 0),  # Slack
    ("AIza", r"AIza[0-9A-Za-z_\-]{35}", "z", 2, 0),  # Google API keys
    ("k_live_", r"[sr]k_live_[0-9A-Za-z]{16,}", "_", 1, 1),  # Stripe
    ("sk_test_", r"sk_test_[0-9A-Za-z]{16,}", "_", 2, 0),
    ("hf_", r"hf_[A-Za-z0-9]{30,}", "_", 2, 0),  # Hugging Face
    ("npm_", r"npm_[A-Za-z0-9]{36}", "_", 3, 0),
    ("eyJ", r"eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}", "J", 2, 0),  # JWTs
    (
        "PRIVATE KEY-----",
        r"-----BEGIN[A-Z ]{0,20} PRIVATE KEY-----[\s\S]{1,8192}?"
        r"-----END[A-Z ]{0,20} PRIVATE KEY-----",
        "K",
        8,
        31,  # "-----BEGIN", up to 20 more, a space
    ),
)
# A random key has digits: the pattern starts at a token's first digit (prose has few) and
# takes the rest of the token; the part before the digit is taken by walking back. Its
# head (`TOKEN_DIGIT`, in survey.py) finds the digits of long tokens only.
_SECRET_ENTROPY = re.compile(r"\d" + TOKEN_CLASS + "*={0,2}")
_TOKEN = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/_-"

#: The built-in entity types, in the order they claim overlapping text.
BUILTIN_ENTITIES = (
    "SECRET",
    "URL_CREDENTIALS",
    "EMAIL",
    "IBAN",
    "CREDIT_CARD",
    "US_SSN",
    "IP_ADDRESS",
    "PHONE",
)


def builtin_recognizers(
    entities: Iterable[str], *, phone_region: str = "US", min_entropy: float = 4.3
) -> list[Recognizer]:
    """The recognizers of `entities`, in `BUILTIN_ENTITIES` order. Raises ValueError for a
    name that is not built in or when PHONE is asked for without ``phonenumbers``."""
    wanted = set(entities)
    unknown = wanted - set(BUILTIN_ENTITIES)
    if unknown:
        raise ValueError(
            f"unknown entities {sorted(unknown)}; built in: {', '.join(BUILTIN_ENTITIES)} "
            "(add your own under custom)"
        )
    made: list[Recognizer] = []
    for entity in BUILTIN_ENTITIES:
        if entity not in wanted:
            continue
        if entity == "SECRET":
            made += [
                Recognizer(
                    "SECRET",
                    re.compile(pattern + r"(?![\w\-])"),
                    needs=literal,
                    anchor=anchor,
                    anchor_at=anchor_at,
                    lead=lead,
                    boundary="_-",
                )
                for literal, pattern, anchor, anchor_at, lead in SECRET_PREFIXES
            ]
            if min_entropy > 0:
                made.append(
                    Recognizer(
                        "SECRET",
                        _SECRET_ENTROPY,
                        _entropy_check(min_entropy),
                        needs=ANY_DIGIT,
                        head=TOKEN_DIGIT,
                        head_after=TOKEN_DIGIT_AFTER,
                        back_chars=_TOKEN,
                        back_max=512,
                        rescan=False,
                    )
                )
        elif entity == "URL_CREDENTIALS":
            made.append(
                Recognizer(
                    entity,
                    _URL_CREDENTIALS,
                    group="cred",
                    needs="://",
                    anchor=":",
                    lead=_SCHEME_MAX,
                )
            )
        elif entity == "EMAIL":
            made.append(
                Recognizer(
                    entity,
                    _EMAIL,
                    starts_with="@",
                    back_chars=_EMAIL_LOCAL,
                    back_max=64,
                    back_min=1,
                )
            )
        elif entity == "IBAN":
            made.append(
                Recognizer(
                    entity, _IBAN, iban_valid, boundary="_", needs=ANY_DIGIT, head=LETTERS_DIGITS
                )
            )
        elif entity == "CREDIT_CARD":
            made.append(
                Recognizer(entity, _CARD, luhn_valid, boundary="_-.", digits=True, min_digits=13)
            )
        elif entity == "US_SSN":
            made.append(
                Recognizer(entity, _SSN, ssn_valid, boundary="_-.", digits=True, min_digits=9)
            )
        elif entity == "IP_ADDRESS":
            made.append(
                Recognizer(
                    entity,
                    _IPV4,
                    _ip_valid,
                    boundary="_.",
                    digits=True,
                    min_digits=4,
                    cluster_needs=".",
                )
            )
            made.append(
                Recognizer(
                    entity,
                    _IPV6,
                    _ip_valid,
                    starts_with=":",
                    boundary="_:.",
                    back_chars=_HEX,
                    back_max=4,
                )
            )
        elif entity == "PHONE":
            made.append(
                Recognizer(
                    entity,
                    _PHONE,
                    _phone_check(phone_region),
                    boundary="_+-.",
                    digits=True,
                    min_digits=7,  # the check's own minimum
                    probe=False,
                )
            )
    return made


_NAME = re.compile(r"[A-Z][A-Z_]*[A-Z]|[A-Z]")


def custom_recognizer(name: str, pattern: str, ignore_case: bool = False) -> Recognizer:
    """A recognizer for an operator's regex. Names are upper-case letters and underscores
    (no digits: ``<NAME_1>`` must never look like another entity's placeholder)."""
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"custom entity name {name!r}: use upper-case letters and underscores, like EMPLOYEE_ID"
        )
    try:
        compiled = re.compile(pattern, re.IGNORECASE if ignore_case else 0)
    except re.error as exc:
        raise ValueError(f"custom entity {name}: bad pattern: {exc}") from None
    if compiled.match(""):
        raise ValueError(f"custom entity {name}: the pattern matches the empty string")
    return Recognizer(name, compiled)


#: Texts at least this long have their findings remembered (`Scanner.scan_remembered`); a
#: shorter one costs less to scan than to look up.
REMEMBER_FROM = 256
#: How many texts' findings are remembered, per scanner (the least recently used go).
REMEMBERED = 4096

#: Where a survey reports on the built-in heads (`survey_python` says what), and its marks.
_HEAD_FACTS = {TOKEN_DIGIT: 2, LETTERS_DIGITS: 3}
_MARKS_AT = 4
#: Whether Python's string hash is keyed by a secret of this process (PYTHONHASHSEED unset
#: or "random", the default): nobody outside can predict or see it, so nobody can make one
#: text's remembered findings answer for another's.
KEYED_STRING_HASH = os.environ.get("PYTHONHASHSEED", "random") == "random"


def remember_key(text: str) -> object:
    """What a text's findings are remembered by. Python's keyed string hash (SipHash) and
    the length when the hash's key is secret: a few times cheaper than a digest, most of all
    in a busy server, where hashlib's code is cold (~8 us against ~2 for 2 KB). With a fixed
    PYTHONHASHSEED anyone could compute that hash, so then a SHA-256 digest."""
    if KEYED_STRING_HASH:
        return (hash(text), len(text))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


class Scanner:
    """Runs a fixed set of recognizers over texts; findings never overlap (the earlier
    recognizer wins, then the earlier match). Digit-led recognizers (cards, SSNs, IPv4,
    phones) share one pass that finds the text's digit clusters; prose has few."""

    __slots__ = (
        "_remembered",
        "anchored",
        "digit_led",
        "digit_led_rules",
        "heads",
        "literals",
        "literals_at",
        "marks",
        "recognizers",
        "rest",
        "rest_rules",
        "unanchored_rules",
    )

    def __init__(self, recognizers: Sequence[Finder]) -> None:
        self.recognizers = tuple(recognizers)
        # digest of a text -> its findings: see `scan_remembered`.
        self._remembered: collections.OrderedDict[object, list[Finding]] = collections.OrderedDict()
        self.rest = tuple(r for r in recognizers if not r.digits)
        self.digit_led = tuple(r for r in recognizers if r.digits)
        #: Each digit-led finder with the digits and the substring a cluster must have, and
        #: its pattern's search (a cheap first look, in C) unless it matches most clusters.
        self.digit_led_rules = tuple(
            (r, r.min_digits, r.cluster_needs, r.pattern.search if r.probe else None)
            if isinstance(r, Recognizer)
            else (r, 0, None, None)
            for r in self.digit_led
        )
        # (place in `rest`, literal, anchor, anchor_at, lead) of each anchored recognizer
        anchored: list[tuple[int, str, str, int, int]] = []
        for index, r in enumerate(self.rest):
            if _anchored(r):
                assert isinstance(r, Recognizer) and isinstance(r.needs, str) and r.anchor
                if not _markable(r.anchor):
                    raise ValueError(
                        f"recognizer {r.entity}: anchor {r.anchor!r} must be one ASCII "
                        "character other than a digit"
                    )
                anchored.append((index, r.needs, r.anchor, r.anchor_at, r.lead))
        gates = {gate for r in self.rest if (gate := _gate(r)) is not None and _markable(gate)}
        #: The characters `survey` reports on: anchors, and gates it can (ASCII, no digit).
        self.marks = "".join(sorted({anchor for _, _, anchor, _, _ in anchored} | gates))
        #: Each other finder with its gate's place in a survey (-1: none there) or else the
        #: gate itself (looked for with `in`), its needs, itself again when it has a `head`
        #: (searched only up to the text's last digit) and that head's place in a survey
        #: (-1: not a built-in head), and its place in `rest` when it has an anchor (else
        #: -1): read once here, not once per text.
        self.rest_rules = tuple(
            (
                r,
                self._place(gate),
                None if _markable(gate) else gate,
                r.needs,
                r if isinstance(r, Recognizer) and head is not None else None,
                _HEAD_FACTS.get(head, -1) if head is not None else -1,
                index if _anchored(r) else -1,
            )
            for index, r in enumerate(self.rest)
            for gate, head in [(_gate(r), r.head if isinstance(r, Recognizer) else None)]
        )
        #: The rules to run when no anchored literal is in a text (most texts).
        self.unanchored_rules = tuple(rule for rule in self.rest_rules if rule[6] < 0)
        #: The anchored recognizers' literals, for `survey` ...
        self.literals = tuple(
            (literal, self.marks.index(anchor), anchor_at)
            for _, literal, anchor, anchor_at, _ in anchored
        )
        #: ... and for each, its place in `rest` and how far before it a match may start.
        self.anchored = tuple((index, lead) for index, _, _, _, lead in anchored)
        #: Where a survey's literal places begin.
        self.literals_at = _MARKS_AT + len(self.marks)
        #: Whether the survey looks for the built-in heads (some recognizer has one).
        self.heads = any(rule[5] >= 0 for rule in self.rest_rules)

    def _place(self, char: str | None) -> int:
        """Where a survey reports `char`; -1 when it does not."""
        at = -1 if char is None or not _markable(char) else self.marks.find(char)
        return -1 if at < 0 else _MARKS_AT + at

    def scan_remembered(self, text: str) -> list[Finding]:
        """`scan`, remembering the findings of the last `REMEMBERED` long texts. Chat clients
        send the whole conversation again on every turn, so most of a request's messages
        were scanned already. Kept by `remember_key`: positions and entity types only,
        never a value or the text. Do not change the list returned."""
        if len(text) < REMEMBER_FROM:
            return self.scan(text)
        key = remember_key(text)
        remembered = self._remembered
        found = remembered.get(key)
        if found is not None:
            remembered.move_to_end(key)
            return found
        found = remembered[key] = self.scan(text)
        if len(remembered) > REMEMBERED:
            remembered.popitem(last=False)
        return found

    def scan(self, text: str) -> list[Finding]:
        found: list[Finding] = []
        # Where the text's digits and marks are (`survey`): values that hold a digit are
        # looked for only from a little before the first digit to a little after the last,
        # and not at all in a text without digits; a gate's absence skips its finder.
        seen = survey(text, self.marks, self.literals, self.heads)
        first, last = seen[0], seen[1]
        # `Recognizer.head` needs `\d` to mean the ASCII digits found above.
        bound = last if text.isascii() else -1
        starts = self._anchored_starts(seen) if self.anchored else None
        for recognizer, marked, gate, needs, bounded, fact, place in (
            self.unanchored_rules if starts is None else self.rest_rules
        ):
            if place >= 0:
                begin = starts.get(place) if starts is not None else None
                if begin is None:
                    continue
                findings = recognizer.find(text, begin)
            elif (marked >= 0 and seen[marked] < 0) or (gate is not None and gate not in text):
                continue  # a character every match holds is not in the text
            elif needs is ANY_DIGIT:
                if first < 0:
                    continue
                if bounded is not None:
                    # The head alone first (the survey's answer for the built-in heads): it
                    # rarely matches, and `find` costs more to call.
                    if bound >= 0 and (
                        seen[fact] < 0
                        if fact >= 0
                        else not bounded.head.search(  # type: ignore[union-attr]
                            text, max(0, first - 2), bound + 1 + bounded.head_after
                        )
                    ):
                        continue
                    findings = bounded.find(text, max(0, first - 2), last_digit=bound)
                else:
                    findings = recognizer.find(text, max(0, first - 2))
            elif needs is not None and needs not in text:
                continue  # most texts: no generator made, no regex entered
            else:
                findings = recognizer.find(text)
            for finding in findings:
                _add(found, finding)
        if self.digit_led and first >= 0:
            for start, end, digits in clusters(text, max(0, first - 4), last + 1):
                # One character more: the patterns' look-aheads see what follows.
                end = min(end + 1, len(text))
                for recognizer, min_digits, needs, probe in self.digit_led_rules:
                    if digits < min_digits or (needs is not None and needs not in text[start:end]):
                        continue
                    if probe is not None and probe(text, start, end) is None:
                        continue  # no candidate at all: `find` not called
                    for finding in recognizer.find(text, start, end):
                        _add(found, finding)
        if len(found) > 1:
            found.sort(key=_START)
        return found

    def _anchored_starts(self, seen: tuple[int, ...]) -> dict[int, int] | None:
        """For each anchored recognizer whose literal the survey `seen` found: its place in
        `rest` -> where its matches may start. None when there is none (most texts)."""
        places = seen[self.literals_at :]
        if max(places) < 0:
            return None
        starts: dict[int, int] = {}
        for begin, (place, lead) in zip(places, self.anchored, strict=True):
            if begin >= 0:
                starts[place] = max(0, begin - lead)
        return starts


def _gate(finder: Finder) -> str | None:
    """The character every match of `finder` holds, if any: its gate or first character."""
    return finder.gate or (finder.starts_with if isinstance(finder, Recognizer) else None)


def _markable(char: str | None) -> bool:
    """Whether a survey can report on `char`: one ASCII character, not a digit."""
    return char is not None and len(char) == 1 and char.isascii() and not char.isdigit()


def _anchored(finder: Finder) -> bool:
    return isinstance(finder, Recognizer) and finder.anchor is not None and bool(finder.needs)


def _add(found: list[Finding], finding: Finding) -> None:
    for other in found:
        if finding.start < other.end and other.start < finding.end:
            return
    found.append(finding)


_START = operator.itemgetter(1)
